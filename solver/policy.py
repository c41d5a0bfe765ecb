"""Loading the policies: rule sets and payers (YAML), validated strictly against the families of kb/.

Every problem in every file is collected and reported at once as `file: field.path: message`.
Payers compose rule sets; a composed rule instance is keyed r(payer, rule id, version).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from solver import icd10cm
from solver.encounter import MODIFIER, PROCEDURE_CODE
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.families import load_families
from solver.muscles import Vocabulary
from solver.policy_model import Citation, Payer, Rule, RuleSet
from solver.tables import Tables, load_tables

SLOTS = ("tpi", "dry_needling", "em")
DOCUMENTATION_ELEMENTS = {  # element -> how a finding names it when it is missing
    "trigger_points_on_exam": "trigger points on exam (taut band, hyperirritable spot, referred pain)",
    "focal_muscle_pain": "focal skeletal-muscle pain",
    "conservative_therapy_tried": "conservative therapy tried",
    "conservative_therapy_failed": "failed conservative therapy",
    "conservative_therapy_ongoing": "an ongoing conservative / home-exercise program",
    "pain_scores_before_after": "pain scores before and after the injection",
    "pain_scores_same_scale": "the pain scale used",
    "prior_relief_documented": "the response to the previous TPI",
    "prior_relief_same_scale": "prior relief measured on the same scale",
    "prior_relief_dated": "dated measurements of the prior relief",
    "functional_limitation": "functional limitation / limited movement",
    "abn_on_file": "an ABN on file",
}


@dataclass(frozen=True)
class RuleInstance:
    """A rule of a rule set as one payer adopted it: its own dates, parameters and citations."""

    payer: str
    version: str
    version_title: str | None
    rule: Rule
    params: dict[str, Any]
    citations: tuple[Citation, ...]
    start: dt.date | None
    end: dt.date | None
    source: str
    index: int = 0  # the rule key K of the knowledge base
    authored: dict = field(default_factory=dict)  # params as written (before "M54.5*" is expanded), for people

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.payer, self.rule.id, self.version)

    @property
    def citation_dicts(self) -> list[dict]:
        cached = self.__dict__.get("_citation_dicts")
        if cached is None:
            cached = [c.model_dump(mode="json", exclude_none=True) for c in self.citations]
            object.__setattr__(self, "_citation_dicts", cached)
        return cached

    def in_force(self, on: dt.date) -> bool:
        return (self.start is None or self.start <= on) and (self.end is None or on <= self.end)

    def canonical(self) -> dict:
        return {
            "payer": self.payer, "version": self.version, "rule": self.rule.model_dump(mode="json", by_alias=True),
            "params": self.params, "citations": [c.model_dump(mode="json") for c in self.citations],
            "from": self.start.isoformat() if self.start else None, "through": self.end.isoformat() if self.end else None,
        }


@dataclass
class Policies:
    root: Path
    families: dict[str, dict]
    tables: Tables
    vocabulary: Vocabulary
    codeset: icd10cm.CodeSet
    rulesets: dict[str, RuleSet]
    ruleset_files: dict[str, str]
    payers: dict[str, Payer]
    payer_files: dict[str, str]
    instances: list[RuleInstance] = field(default_factory=list)
    evidence_terms: dict = field(default_factory=dict)  # "name/arity" -> how an evidence term reads (kb/families.yaml)
    base_digest: str = ""
    _hashes: dict = field(default_factory=dict)
    _in_force: dict = field(default_factory=dict)
    _sets: dict = field(default_factory=dict)
    _set_list: list = field(default_factory=list)

    def payer_instances(self, payer: str) -> list[RuleInstance]:
        return [i for i in self.instances if i.payer == payer]

    def in_force(self, payer: str, on: dt.date) -> list[RuleInstance]:
        """Effective dating, done once: the payer's rule instances in force on a date (dates inclusive)."""
        key = (payer, on)
        cached = self._in_force.get(key)
        if cached is None:
            cached = self._in_force[key] = [i for i in self.instances if i.payer == payer and i.in_force(on)]
        return cached

    def in_force_set(self, payer: str, on: dt.date) -> int:
        """A small integer naming the set of rule instances in force (shared by encounters with the same set)."""
        keys = tuple(i.index for i in self.in_force(payer, on))
        if keys not in self._sets:
            self._sets[keys] = len(self._set_list)
            self._set_list.append(keys)
        return self._sets[keys]

    def set_members(self, set_id: int) -> tuple[int, ...]:
        return self._set_list[set_id]

    def version_hash(self, instances: list[RuleInstance]) -> str:
        """A hash of exactly the rule instances (and the tables and knowledge base) that decided a result."""
        frozen = frozenset(i.index for i in instances)
        cached = self._hashes.get(frozen)
        if cached is None:
            h = hashlib.sha256(self.base_digest.encode())
            for k in sorted(frozen):
                h.update(json.dumps(self.instances[k].canonical(), sort_keys=True, default=str).encode())
            cached = self._hashes[frozen] = "sha256:" + h.hexdigest()
        return cached


def _read_yaml(path: Path, problems: list[Problem]):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problems.append(Problem(str(path), "(file)", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"))
    return None


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


class _ParamChecker:
    """Checks one rule's params against its family's declared types and normalises them."""

    def __init__(self, policies: Policies):
        self.p = policies

    def check(self, family: str, params: dict, file: str, where: str, problems: list[Problem], params_at: str | None = None) -> dict:
        """Problems name `{where}.family` and `{params_at}.{name}` (params_at defaults to `{where}.params`)."""
        params_at = params_at or f"{where}.params"
        spec = self.p.families.get(family)
        if spec is None:
            problems.append(Problem(file, f"{where}.family", f"unknown family {family!r}; the families are listed in kb/families.yaml"))
            return {}
        declared = {k.rstrip("?"): (t, k.endswith("?")) for k, t in (spec.get("params") or {}).items()}
        out = {}
        for name in params:
            if name not in declared:
                problems.append(Problem(file, f"{params_at}.{name}", f"unknown parameter for family {family}; it takes {sorted(declared) or 'no parameters'}"))
        for name, (typ, optional) in declared.items():
            if name not in params or params[name] is None:
                if not optional:
                    problems.append(Problem(file, f"{params_at}.{name}", f"required parameter of family {family} ({typ}) is missing"))
                continue
            try:
                out[name] = self.value(typ, params[name])
            except ValueError as exc:
                problems.append(Problem(file, f"{params_at}.{name}", str(exc)))
        return out

    def value(self, typ: str, v: Any):
        if typ.startswith("list["):
            if not isinstance(v, list):
                raise ValueError(f"expected a list ({typ})")
            return [self.value(typ[5:-1], x) for x in v]
        if typ.startswith("map["):
            ktyp, vtyp = typ[4:-1].split(",", 1)
            if not isinstance(v, dict):
                raise ValueError(f"expected a mapping ({typ})")
            return {self.value(ktyp, k): self.value(vtyp, x) for k, x in v.items()}
        if typ.startswith("enum["):
            allowed = typ[5:-1].split(",")
            if v not in allowed:
                raise ValueError(f"{v!r} is not one of {allowed}")
            return v
        if typ == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{v!r} is not a whole number")
            return v
        if typ == "str":
            return str(v)
        if typ == "date":
            if isinstance(v, dt.date):
                return v
            try:
                return dt.date.fromisoformat(str(v))
            except ValueError:
                raise ValueError(f"{v!r} is not a date (YYYY-MM-DD)") from None
        if typ == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{v!r} is not true or false")
            return v
        if typ == "slot":
            if v not in SLOTS:
                raise ValueError(f"{v!r} is not a service slot; use one of {list(SLOTS)}")
            return v
        if typ == "group":
            if v not in self.p.tables.code_groups:
                raise ValueError(f"{v!r} is not a code group of policies/tables/code-groups.yaml")
            return v
        if typ == "modifier_group":
            if v not in self.p.tables.modifier_groups:
                raise ValueError(f"{v!r} is not a modifier group of policies/tables/code-groups.yaml")
            return v
        if typ == "modifier":
            v = str(v)
            if not MODIFIER.match(v):
                raise ValueError(f"{v!r} is not a modifier (two characters)")
            return v
        if typ == "code":
            v = str(v)
            if not PROCEDURE_CODE.match(v):
                raise ValueError(f"{v!r} is not a CPT/HCPCS code; quote it")
            return v
        if typ == "region":
            if v not in self.p.vocabulary.regions:
                raise ValueError(f"{v!r} is not a region of policies/tables/muscles.yaml")
            return v
        if typ == "rule_id":
            v = str(v)
            if not any(v == r.id for rs in self.p.rulesets.values() for r in rs.rules):
                raise ValueError(f"{v!r} is not the id of a rule in policies/rulesets/")
            return v
        if typ == "element":
            if v not in DOCUMENTATION_ELEMENTS:
                raise ValueError(f"{v!r} is not a documentation element; use one of {list(DOCUMENTATION_ELEMENTS)}")
            return v
        if typ == "diagnoses":
            if not isinstance(v, list):
                raise ValueError("expected a list of ICD-10-CM codes")
            codes = []
            for pattern in v:
                pattern = str(pattern)
                found = self.p.codeset.expand(pattern)
                if not found:
                    raise ValueError(f"{pattern!r} is not an ICD-10-CM code (use 'M54.5*' for a code and all below it)")
                codes.extend(c for c in found if c not in codes)
            return codes
        if typ == "bands":
            if not isinstance(v, list) or not v:
                raise ValueError("expected a list of {code, min, max}")
            out = []
            for b in v:
                if not isinstance(b, dict) or set(b) - {"code", "min", "max"} or "code" not in b or "min" not in b:
                    raise ValueError("each band is {code, min, max (optional: no upper limit)}")
                out.append({"code": self.value("code", b["code"]), "min": self.value("int", b["min"]),
                            "max": None if b.get("max") is None else self.value("int", b["max"])})
            return out
        raise ValueError(f"kb/families.yaml declares an unknown type {typ!r}")


def _ruleset_rules(name: str, rulesets: dict[str, RuleSet], seen: tuple = ()) -> list[tuple[RuleSet, Rule]]:
    rs = rulesets[name]
    out = []
    for inc in rs.includes:
        if inc in rulesets and inc not in seen:
            out.extend(_ruleset_rules(inc, rulesets, seen + (name,)))
    out.extend((rs, r) for r in rs.rules)
    return out


def _cited(c, rs: RuleSet, use, file: str, where: str, problems: list[Problem], reported: set) -> Citation:
    """A rule's citation as one payer adopts it: a named one the payer cites its own document for (`cite`)."""
    if not isinstance(c, str):
        return c
    if c in use.cite:
        return use.cite[c]
    cited = rs.citations[c]
    if cited.payer_supplies and (where, c) not in reported:
        reported.add((where, c))
        problems.append(Problem(file, f"{where}.cite", f"rule set {rs.ruleset} asks each payer to cite its own document for "
                                                       f"{c!r}: add it under cite"))
    return cited


def _later(a, b):
    return b if a is None else a if b is None else max(a, b)


def _earlier(a, b):
    return b if a is None else a if b is None else min(a, b)


def load_policies(root: Path, kb_dir: Path) -> Policies:
    problems: list[Problem] = []
    fam_file = kb_dir / "families.yaml"
    family_specs = load_families(kb_dir, _read_yaml, problems)
    families = family_specs.specs
    tables = load_tables(root / "tables")
    vocabulary = Vocabulary(root / "tables" / "muscles.yaml")
    codeset = icd10cm.CodeSet(root / "tables" / "icd10cm-changes.yaml")

    rulesets, ruleset_files = {}, {}
    unvalidated: list[tuple[str, dict, str, str]] = []
    position: dict[tuple[str, str], int] = {}  # (rule set, rule id) -> index of the rule in its file
    for path in sorted((root / "rulesets").glob("*.yaml")):
        if path.name.endswith(".cases.yaml"):
            continue
        data = _read_yaml(path, problems)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(str(path), "(file)", "a rule set is a mapping with ruleset, title and rules"))
            continue
        raw_rules = data.get("rules") if isinstance(data.get("rules"), list) else []
        try:
            rs = RuleSet.model_validate({**data, "rules": []})
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, str(path)))
            continue
        good = []
        for i, raw in enumerate(raw_rules):  # each rule on its own, so every error of every rule is reported
            try:
                good.append(Rule.model_validate(raw))
                position[(data.get("ruleset"), good[-1].id)] = i
            except ValidationError as exc:
                problems.extend(pydantic_problems(exc, str(path), prefix=f"rules.{i}"))
                if isinstance(raw, dict) and raw.get("family") and isinstance(raw.get("params", {}), dict):
                    unvalidated.append((raw["family"], raw.get("params") or {}, str(path), f"rules.{i}"))
        rs = rs.model_copy(update={"rules": good})
        if rs.ruleset in rulesets:
            problems.append(Problem(str(path), "ruleset", f"the rule set {rs.ruleset!r} is also defined in {ruleset_files[rs.ruleset]}"))
        rulesets[rs.ruleset], ruleset_files[rs.ruleset] = rs, str(path)

    payers, payer_files = {}, {}
    for path in sorted((root / "payers").glob("*.yaml")):
        if path.name.endswith(".cases.yaml"):
            continue
        data = _read_yaml(path, problems)
        if data is None:
            continue
        try:
            payer = Payer.model_validate(data)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, str(path)))
            continue
        if payer.payer != path.stem:
            problems.append(Problem(str(path), "payer", f"the payer id {payer.payer!r} must match the file name {path.stem!r}"))
        payers[payer.payer], payer_files[payer.payer] = payer, str(path)

    pol = Policies(root, families, tables, vocabulary, codeset, rulesets, ruleset_files, payers, payer_files,
                   evidence_terms=family_specs.terms)
    checker = _ParamChecker(pol)

    # every rule: a known family, valid params, resolvable citations, ids unique across rule sets
    for family, params, file, where in unvalidated:  # rules with other errors: their params are checked too
        checker.check(family, params, file, where, problems)
    rule_home: dict[str, str] = {}
    normalized: dict[str, dict] = {}
    broken: set[str] = set()
    for name, rs in rulesets.items():
        file = ruleset_files[name]
        for inc in rs.includes:
            if inc not in rulesets:
                problems.append(Problem(file, "includes", f"unknown rule set {inc!r}"))
        for r in rs.rules:
            where = f"rules.{position[(name, r.id)]}"
            if r.id in rule_home:
                problems.append(Problem(file, f"{where}.id", f"rule id {r.id!r} is also used in {rule_home[r.id]}; ids are unique"))
            rule_home[r.id] = file
            before = len(problems)
            normalized[r.id] = checker.check(r.family, r.params, file, where, problems)
            if r.family in families:
                problems.extend(Problem(file, f"{where}.message", msg) for msg in family_specs.template_problems(r.family, r.message))
            if len(problems) > before:
                broken.add(r.id)
            for j, c in enumerate(r.citations):
                if isinstance(c, str) and c not in rs.citations:
                    problems.append(Problem(file, f"{where}.citations.{j}", f"no citation named {c!r} under this file's citations"))

    # compose payers
    for pid, payer in payers.items():
        file = payer_files[pid]
        seen_keys = set()
        reported: set = set()
        for u_i, use in enumerate(payer.uses):
            uw = f"uses.{u_i}"
            if use.ruleset not in rulesets:
                problems.append(Problem(file, f"{uw}.ruleset", f"unknown rule set {use.ruleset!r}; the rule sets are {sorted(rulesets)}"))
                continue
            members = _ruleset_rules(use.ruleset, rulesets)
            ids = {r.id for _, r in members}
            names = {c for rs_, _ in members for c in rs_.citations}
            for c in use.cite:
                if c not in names:
                    problems.append(Problem(file, f"{uw}.cite.{c}", f"no citation named {c!r} in rule set {use.ruleset} or the sets it includes"))
            for rid in list(use.params) + list(use.exclude) + list(use.only):
                if rid not in ids:
                    problems.append(Problem(file, f"{uw}", f"{rid!r} is not a rule of rule set {use.ruleset}"))
            version = use.version or use.ruleset
            for rs, r in members:
                if r.id in use.exclude or r.id in broken or (use.only and r.id not in use.only):
                    continue
                key = (pid, r.id, version)
                if key in seen_keys:
                    problems.append(Problem(file, uw, f"rule {r.id} is adopted twice under version {version!r}; give the uses distinct versions"))
                    continue
                seen_keys.add(key)
                if r.id in use.params:  # an override: check the rule's params as this payer sets them
                    norm = checker.check(r.family, {**r.params, **use.params[r.id]}, file, uw, problems,
                                         params_at=f"{uw}.params.{r.id}")
                else:
                    norm = normalized[r.id]
                cites = tuple(use.citations) + tuple(_cited(c, rs, use, file, uw, problems, reported)
                                                     for c in r.citations if not isinstance(c, str) or c in rs.citations)
                start = _later(r.effective.from_, use.from_)
                end = _earlier(r.effective.through, use.through)
                if start and end and end < start:
                    continue  # the rule's own dates and the adoption's do not overlap
                inst = RuleInstance(pid, version, use.title, r, norm, cites, start, end, ruleset_files[rs.ruleset],
                                    index=len(pol.instances), authored={**r.params, **use.params.get(r.id, {})})
                pol.instances.append(inst)
    if problems:
        raise PolicyError(problems)
    digest_files = [p for p in (root / "tables").glob("*") if p.is_file()] + list(kb_dir.rglob("*.lp")) + [fam_file]
    pol.base_digest = _digest(digest_files)
    return pol
