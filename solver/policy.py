"""Loading the policies: rule sets and payers (YAML), validated strictly against the families of kb/.

Every problem in every file (the code tables and the muscle table too) is collected and reported at once as
`file: field.path: message`: each part of a file is read on its own (solver/policy_read.py), so problems that
do not depend on one another come in one run, and what depends on a part that could not be read is named once,
not reported again (solver/policy_checks.py). Parameter types are checked by solver/param_types.py. Payers
compose rule sets; a composed rule instance is keyed r(payer, rule id, version), and a rule is in force at most
once on a date for a payer.
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solver import icd10cm
from solver.errors import PolicyError, Problem
from solver.families import Families, load_families
from solver.muscles import Vocabulary
from solver.param_types import DOCUMENTATION_ELEMENTS, SLOTS, ParamChecker, type_problem  # noqa: F401 - re-exported
from solver.policy_model import Citation, Payer, Rule, RuleSet, Use
from solver.policy_checks import Unread, check_rules, check_use, duplicate_ids, included_names, not_checked, read_rulesets
from solver.policy_read import PayerFile, policy_files, read_payer
from solver.tables import Tables, load_tables
from solver.yamltext import read_policy_yaml


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

    @property
    def canonical_text(self) -> str:
        """canonical() as the sorted JSON the version hash reads (made once; kept in the policies cache)."""
        cached = self.__dict__.get("_canonical_text")
        if cached is None:
            cached = json.dumps(self.canonical(), sort_keys=True, default=str)
            object.__setattr__(self, "_canonical_text", cached)
        return cached

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
            cached = self._in_force[key] = self._in_force_span(payer, on)
        return cached

    def _in_force_span(self, payer: str, on: dt.date) -> list[RuleInstance]:
        """The instances in force on a date, shared by every date between two of the payer's start or end dates."""
        spans = self.__dict__.setdefault("_spans", {})
        got = spans.get(payer)
        if got is None or got[0] != len(self.instances):
            mine = [i for i in self.instances if i.payer == payer]
            days = sorted({i.start for i in mine if i.start} | {i.end + dt.timedelta(days=1) for i in mine if i.end})
            got = spans[payer] = (len(self.instances), mine, days, {})
        _, mine, days, by_span = got
        span = bisect.bisect_right(days, on)
        found = by_span.get(span)
        if found is None:
            found = by_span[span] = [i for i in mine if i.in_force(on)]
        return found

    def in_force_set(self, payer: str, on: dt.date) -> int:
        """A small integer naming the set of rule instances in force (shared by encounters with the same set)."""
        applies = self.in_force(payer, on)  # one list for every date of a span: its set is looked up by the list
        by_list = self.__dict__.setdefault("_set_of_list", {})
        got = by_list.get(id(applies))
        if got is not None and got[0] is applies:
            return got[1]
        keys = tuple(i.index for i in applies)
        if keys not in self._sets:
            self._sets[keys] = len(self._set_list)
            self._set_list.append(keys)
        by_list[id(applies)] = (applies, self._sets[keys])  # holds the list, so its id is not reused
        return self._sets[keys]

    def version_gaps(self, payer: str) -> list[tuple[dt.date, dt.date]]:
        """The spans of days (first, last) between the payer's dated policy versions where none of them is in force
        (a version ending 2024-03-31 and the next starting 2024-04-15), worked out once per payer."""
        cache = self.__dict__.setdefault("_version_gaps", {})
        got = cache.get(payer)
        if got is None:
            uses = [u for u in self.payers[payer].uses if u.from_ is not None or u.through is not None]
            lo, hi, day = dt.date.min, dt.date.max, dt.timedelta(days=1)
            spans = sorted((u.from_ or lo, u.through or hi) for u in uses)
            got, reach = [], spans[0][1] if spans else hi
            for start, end in spans[1:]:
                if reach < hi and start > reach + day:
                    got.append((reach + day, start - day))
                reach = max(reach, end)
            cache[payer] = got
        return got

    def set_members(self, set_id: int) -> tuple[int, ...]:
        return self._set_list[set_id]

    def version_hash(self, instances: list[RuleInstance]) -> str:
        """A hash of exactly the rule instances (and the tables and knowledge base) that decided a result."""
        frozen = frozenset(i.index for i in instances)
        cached = self._hashes.get(frozen)
        if cached is None:
            h = hashlib.sha256(self.base_digest.encode())
            for k in sorted(frozen):
                h.update(self.instances[k].canonical_text.encode())
            cached = self._hashes[frozen] = "sha256:" + h.hexdigest()
        return cached


def prepare_for_cache(pol: Policies) -> None:
    """Make what every check reads of the rule instances (their citations as dicts, the text the version hash
    reads), so that a policies cache holds it and a cold start need not build the models' serializers."""
    for inst in pol.instances:
        inst.citation_dicts  # noqa: B018 - made and kept on the instance
        inst.canonical_text  # noqa: B018


def _digest(groups: dict[str, tuple[Path, list[Path]]]) -> str:
    """A hash of files by their path inside their folder: the same content hashes alike wherever it lies."""
    h = hashlib.sha256()
    for label, (folder, paths) in sorted(groups.items()):
        for rel in sorted(p.relative_to(folder).as_posix() for p in paths):
            h.update(f"{label}/{rel}\0".encode())
            h.update((folder / rel).read_bytes())
    return h.hexdigest()




def _load_families(kb_dir: Path, problems: list[Problem]) -> Families:
    """kb/families.yaml (solver/families.py), and each parameter type in the grammar of solver/param_types.py."""
    fams = load_families(kb_dir, read_policy_yaml, problems)
    for name, spec in fams.specs.items():
        if not isinstance(spec["params"], dict):
            problems.append(Problem(str(kb_dir / "families.yaml"), f"families.{name}.params", "the parameters are {name: type}"))
            spec["params"] = {}
        for pname, typ in spec["params"].items():
            why = type_problem(typ)
            if why:
                problems.append(Problem(str(kb_dir / "families.yaml"), f"families.{name}.params.{pname}", why))
    return fams


def _members(name: str, rulesets: dict[str, RuleSet]) -> list[tuple[RuleSet, Rule]]:
    """The rules of a rule set and of the rule sets it includes (each rule set once, included ones first)."""
    order: list[str] = []

    def visit(n: str) -> None:
        if n in order or n not in rulesets or n in visiting:
            return
        visiting.add(n)
        for inc in rulesets[n].includes:
            visit(inc)
        order.append(n)

    visiting: set[str] = set()
    visit(name)
    return [(rulesets[n], r) for n in order for r in rulesets[n].rules]


def _cited(c, rs: RuleSet, use: Use, file: str, where: str, problems: list[Problem], reported: set) -> Citation:
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


def _span(start, end) -> str:
    return f"{start or '(open)'}..{end or '(open)'}"


def _compose(pol: Policies, pf: PayerFile, checker: ParamChecker, normalized: dict, broken: set, read: Unread,
             problems: list[Problem]) -> None:
    """A payer's rule instances: each use's rules, with the use's dates, version, citations and overrides
    (a payer whose file has problems is composed too, for its other problems, but is not loaded)."""
    pid, file = pf.pid, pf.file
    seen_keys: dict = {}  # (payer, rule, version) -> the use that adopted it first
    twice: dict[tuple, list[str]] = {}  # (first use, this use, version) -> the rules both adopt
    reported: set = set()  # (use, citation name) already reported as missing
    labels: dict[str, tuple] = {}  # version label -> (use index, from, through)
    adopted: list[tuple[int, RuleInstance]] = []
    for u_i, use in pf.uses:
        uw = f"uses.{u_i}"
        version = use.version or use.ruleset
        first = labels.setdefault(version, (u_i, use.from_, use.through))
        if first[1:] != (use.from_, use.through):
            problems.append(Problem(file, f"{uw}.version", f"the version {version!r} is also used by uses.{first[0]} with other dates "
                                    f"({_span(*first[1:])}); give each version its own label"))
        if use.ruleset in read.failed:
            read.dependents.setdefault(use.ruleset, []).append(f"payer {pid} ({uw})")
            continue
        if use.ruleset not in pol.rulesets:
            problems.append(Problem(file, f"{uw}.ruleset", f"unknown rule set {use.ruleset!r}; the rule sets are {sorted(pol.rulesets)}"))
            continue
        members = _members(use.ruleset, pol.rulesets)
        reach = included_names(use.ruleset, pol.rulesets)
        unsure = bool(reach & set(read.failed))
        bad = {rid for n in reach for rid in read.bad_rules.get(n, ())}
        check_use(use, uw, {r.id for _, r in members} | bad,
                   {c for rs_, _ in members for c in rs_.citations} | {c for n in reach for c in read.bad_citations.get(n, ())},
                   unsure, file, problems)
        bad_adopted = {b for b in bad if b not in use.exclude and (not use.only or b in use.only)}
        before, skipped_broken = len(adopted), unsure or bool(bad_adopted)
        for rs, r in members:
            if r.id in use.exclude or r.id in broken or (use.only and r.id not in use.only):
                skipped_broken |= r.id in broken and r.id not in use.exclude
                continue
            key = (pid, r.id, version)
            if key in seen_keys:
                twice.setdefault((seen_keys[key], u_i, version), []).append(r.id)
                skipped_broken = True  # said below, not also as a use that adopts no rule
                continue
            seen_keys[key] = u_i
            if r.id in use.params:  # an override: check the rule's params as this payer sets them
                norm = checker.check(r.family, {**r.params, **use.params[r.id]}, file, uw, problems, params_at=f"{uw}.params.{r.id}")
            else:
                norm = normalized[r.id]
            cites = tuple(use.citations) + tuple(_cited(c, rs, use, file, uw, problems, reported)
                                                 for c in r.citations if not isinstance(c, str) or c in rs.citations)
            start, end = _later(r.effective.from_, use.from_), _earlier(r.effective.through, use.through)
            if start and end and end < start:
                continue  # the rule's own dates and the adoption's do not overlap
            inst = RuleInstance(pid, version, use.title, r, norm, cites, start, end, pol.ruleset_files[rs.ruleset],
                                index=len(pol.instances), authored={**r.params, **use.params.get(r.id, {})})
            pol.instances.append(inst)
            adopted.append((u_i, inst))
        if len(adopted) == before and not skipped_broken:
            problems.append(Problem(file, uw, f"adopts no rule: every rule of {use.ruleset} is excluded or dated outside "
                                    f"{_span(use.from_, use.through)}; remove the use or fix its dates"))
    for (ua, ub, version), rids in twice.items():
        many = len(rids) > 1
        problems.append(Problem(file, f"uses.{ub}", f"rule{'s' if many else ''} {', '.join(rids)} {'are' if many else 'is'} "
                                f"adopted by uses.{ua} too, under the same version {version!r}; a rule applies once: remove one "
                                f"of the two uses or exclude {'them' if many else 'it'} from one"))
    _check_overlaps(adopted, file, problems)


def _check_overlaps(adopted: list[tuple[int, RuleInstance]], file: str, problems: list[Problem]) -> None:
    """A rule applies once on a date: two uses of a payer must not put the same rule in force on one day."""
    by_rule: dict[str, list[tuple[int, RuleInstance]]] = {}
    for u_i, inst in adopted:
        by_rule.setdefault(inst.id, []).append((u_i, inst))
    clashes: dict[tuple, list[str]] = {}
    for rid, held in by_rule.items():
        for a, (ua, ia) in enumerate(held):
            for ub, ib in held[a + 1:]:
                start, end = _later(ia.start, ib.start), _earlier(ia.end, ib.end)
                if start is None or end is None or start <= end:
                    clashes.setdefault((ua, ia.version, ub, start, end), []).append(rid)
    for (ua, version, ub, start, end), rids in clashes.items():
        when = (f"from {start}" if start else "on every date") + (f" through {end}" if end else "")
        many = len(rids) > 1
        problems.append(Problem(file, f"uses.{ub}", f"rule{'s' if many else ''} {', '.join(rids)} {'are' if many else 'is'} also in force "
                                f"under version {version!r} (uses.{ua}) {when}; a rule applies once on a date: exclude "
                                f"{'them' if many else 'it'} from one use or make the dates not overlap"))


def load_policies(root: Path, kb_dir: Path) -> Policies:
    """Every policy file of a folder, validated strictly: all problems of all files raise one PolicyError.
    Each part of a file is checked on its own, so the problems that do not depend on one another are all
    found in one run; what depends on a rule set that did not load is named once, not reported again."""
    problems: list[Problem] = []
    family_specs = _load_families(kb_dir, problems)
    families = family_specs.specs
    unchecked: set[str] = set()  # tables that failed to load: values checked against them are not checked
    try:
        tables = load_tables(root / "tables")
    except PolicyError as exc:
        problems.extend(exc.problems)
        tables, unchecked = Tables({}, {}, {}), unchecked | {"code groups", "substances"}
    vocab_problems: list[Problem] = []
    vocabulary = Vocabulary(root / "tables" / "muscles.yaml", vocab_problems)
    if vocab_problems:
        problems.extend(vocab_problems)
        unchecked.add("muscles")
    try:
        codeset = icd10cm.CodeSet(root / "tables" / "icd10cm-changes.yaml")
    except PolicyError as exc:
        problems.extend(exc.problems)
        codeset, unchecked = None, unchecked | {"icd10cm"}

    unvalidated: list[tuple[str, dict, str, str]] = []
    sets, rulesets, ruleset_files = read_rulesets(root, problems, unvalidated)
    payer_reads = [p for p in (read_payer(path, problems) for path in policy_files(root / "payers", problems)) if p]
    payers = {p.pid: p.payer for p in payer_reads if p.payer is not None}
    payer_files = {p.pid: p.file for p in payer_reads if p.payer is not None}
    pol = Policies(root, families, tables, vocabulary, codeset, rulesets, ruleset_files, payers, payer_files,
                   evidence_terms=family_specs.terms)
    checker = ParamChecker(families, tables.code_groups, tables.modifier_groups, tables.substance_terms,
                           vocabulary.regions, codeset, unchecked,
                           rule_ids={rid for s in sets for _, rid in s.ids})
    read = Unread({s.name: s for s in sets if s.ruleset is None and s.name not in rulesets},
                 {s.name: s.bad_rules for s in sets}, {s.name: s.bad_citations for s in sets})

    # every rule: a known family, valid params, resolvable citations, ids unique across rule sets
    for family, params, file, where in unvalidated:  # rules with other errors: their params are checked too
        checker.check(family, params, file, where, problems)
    broken = duplicate_ids(sets, problems)  # neither rule of a duplicate id is adopted (nor said to be adopted twice)
    normalized: dict[str, dict] = {}
    for s in sets:
        check_rules(s, rulesets, checker, family_specs, read, normalized, broken, problems)
    for pf in payer_reads:
        _compose(pol, pf, checker, normalized, broken, read, problems)
    not_checked(read, problems)
    if problems:
        raise PolicyError(problems)
    pol.base_digest = _digest({"tables": (root / "tables", [p for p in (root / "tables").glob("*") if p.is_file()]),
                               "kb": (kb_dir, list(kb_dir.rglob("*.lp")) + [kb_dir / "families.yaml"])})
    return pol
