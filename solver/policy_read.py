"""Reading the rule sets and payers of a policies folder, each part of a file on its own, so that every
independent problem is found in one pass: a rule set whose header is wrong still has its citations and rules
checked, a payer whose header is wrong still has its uses checked, and rule ids are compared as written
(a rule with an error of its own still counts for a duplicate id). What could not be read is recorded, so
that what depends on it is not reported again as a problem of its own (solver/policy.py)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from solver.errors import Problem, pydantic_problems
from solver.policy_model import Citation, Payer, Rule, RuleSet, Use
from solver.yamltext import read_policy_yaml

# Stand-ins for the parts validated on their own, so the header's own checks (keys, types, lengths) still run.
_CITATION = Citation.model_construct(title="-", url="https://-")
_USE = Use.model_construct(ruleset="-")


@dataclass
class SetFile:
    """A rule set file as read: the rule set (None when its header is wrong), its rules with their place."""

    name: str
    file: str
    ruleset: RuleSet | None
    rules: list[tuple[int, Rule]] = field(default_factory=list)
    citations: dict[str, Citation] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    failed: Problem | None = None  # the first problem of the header: the rule set is not loaded
    bad_rules: set[str] = field(default_factory=set)  # ids of rules that did not validate
    bad_citations: set[str] = field(default_factory=set)  # names of citations that did not validate
    citations_read: bool = True  # False: `citations` is not a mapping, so no name can be checked against it
    ids: list[tuple[int, str]] = field(default_factory=list)  # (index, id) of every rule as written


@dataclass
class PayerFile:
    """A payer file as read: the payer (None when its header is wrong) and the uses that validated."""

    pid: str
    file: str
    payer: Payer | None
    uses: list[tuple[int, Use]] = field(default_factory=list)


def policy_files(folder: Path, problems: list[Problem]) -> list[Path]:
    """The policy files of a folder (cases aside); a file that looks like one but would be skipped is a problem."""
    if not folder.is_dir():
        problems.append(Problem(str(folder), "(folder)", "missing folder; a policies folder has rulesets/, payers/ and tables/"))
        return []
    out = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.name.endswith(".cases.yaml"):
            continue
        if path.suffix == ".yaml":
            out.append(path)
        elif path.suffix.lower() in (".yaml", ".yml", ".json"):
            problems.append(Problem(str(path), "(file)", "not read: policy files end in .yaml; rename it"))
    return out


def _validate(model, data, file: str, prefix: str, problems: list[Problem]):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, file, prefix=prefix))
        return None


def _cited_by(name: str, raw_rules: list) -> list[str]:
    return [r["id"] for r in raw_rules if isinstance(r, dict) and isinstance(r.get("id"), str)
            and isinstance(r.get("citations"), list) and name in r["citations"]]


def _name_dates(problems: list[Problem], start: int, owner: str) -> None:
    """Say whose citation a date-order problem is (the field alone gives a place in the file, not the rule)."""
    for k in range(start, len(problems)):
        p = problems[k]
        if p.field.endswith(".last_reviewed") and "is before published" in p.message:
            problems[k] = Problem(p.file, p.field, f"{owner}: {p.message}", p.record)


_UNION = re.compile(r"^(rules\.\d+\.citations\.(\d+))\.(Citation|str)(\.|$)")


def _one_citation_kind(problems: list[Problem], start: int, raw: dict) -> None:
    """A rule's citation is a mapping or the name of one: its problems as the kind it was written as, without
    pydantic's name of each kind tried (rules.3.citations.0.Citation.url, rules.3.citations.0.str: ...)."""
    cites = raw.get("citations") if isinstance(raw, dict) else None
    kept = []
    for p in problems[start:]:
        m = _UNION.match(p.field)
        if m and isinstance(cites, list) and int(m.group(2)) < len(cites):
            written = "str" if isinstance(cites[int(m.group(2))], str) else "Citation"
            if m.group(3) != written and not (written == "Citation" and not isinstance(cites[int(m.group(2))], dict)):
                continue  # the other kind's complaint: not what was written
            p = Problem(p.file, m.group(1) + p.field[m.end(3):], p.message, p.record)
        kept.append(p)
    problems[start:] = kept


def read_ruleset(path: Path, problems: list[Problem], unvalidated: list) -> SetFile | None:
    """One rule set file: its header, each citation and each rule validated on its own."""
    file = str(path)
    before = len(problems)
    data = read_policy_yaml(path, problems)
    if data is not None and not isinstance(data, dict):
        problems.append(Problem(file, "(file)", "a rule set is a mapping with ruleset, title and rules"))
    if not isinstance(data, dict):  # not read: named by its file, so what includes or adopts it is not told it is unknown
        return SetFile(path.stem, file, None, failed=problems[before]) if len(problems) > before else None
    raw_rules, raw_cites = data.get("rules"), data.get("citations")
    header = dict(data)
    if isinstance(raw_rules, list):
        header["rules"] = []
    if isinstance(raw_cites, dict):
        header["citations"] = {k: _CITATION for k in raw_cites}
    name = data["ruleset"] if isinstance(data.get("ruleset"), str) else path.stem
    before = len(problems)
    rs = _validate(RuleSet, header, file, "", problems)
    out = SetFile(name, file, rs, failed=problems[before] if rs is None else None)
    if rs is not None:
        out.includes = list(rs.includes)
    out.citations_read = raw_cites is None or isinstance(raw_cites, dict)
    rules_raw = raw_rules if isinstance(raw_rules, list) else []
    for key, raw in (raw_cites.items() if isinstance(raw_cites, dict) else ()):
        start = len(problems)
        cited = _validate(Citation, raw, file, f"citations.{key}", problems)
        if cited is None:
            out.bad_citations.add(key)
            _name_dates(problems, start, f"citation {key!r} of rule(s) {', '.join(_cited_by(key, rules_raw)) or '(none)'}")
        else:
            out.citations[key] = cited
    for i, raw in enumerate(rules_raw):  # each rule on its own, so every error of every rule is reported
        rid = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
        if rid is not None:
            out.ids.append((i, rid))
        start = len(problems)
        rule = _validate(Rule, raw, file, f"rules.{i}", problems)
        if rule is not None:
            out.rules.append((i, rule))
            continue
        _one_citation_kind(problems, start, raw)
        _name_dates(problems, start, f"rule {rid or f'rules.{i}'}")
        if rid is not None:
            out.bad_rules.add(rid)
        if isinstance(raw, dict) and isinstance(raw.get("family"), str) and isinstance(raw.get("params") or {}, dict):
            unvalidated.append((raw["family"], raw.get("params") or {}, file, f"rules.{i}"))
    if rs is not None:
        out.ruleset = rs.model_copy(update={"rules": [r for _, r in out.rules], "citations": out.citations})
    return out


def read_payer(path: Path, problems: list[Problem]) -> PayerFile | None:
    """One payer file: its header and each use validated on its own."""
    file = str(path)
    data = read_policy_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(file, "(file)", "a payer is a mapping with payer, name, kind and uses"))
        return None
    raw_uses = data.get("uses")
    header = dict(data)
    if isinstance(raw_uses, list) and raw_uses:
        header["uses"] = [_USE] * len(raw_uses)
    payer = _validate(Payer, header, file, "", problems)
    pid = data["payer"] if isinstance(data.get("payer"), str) else path.stem
    out = PayerFile(pid, file, payer)
    for i, raw in enumerate(raw_uses if isinstance(raw_uses, list) else []):
        start = len(problems)
        use = _validate(Use, raw, file, f"uses.{i}", problems)
        if use is None and isinstance(raw, dict):
            _name_dates(problems, start, f"the use of rule set {raw.get('ruleset')} (version {raw.get('version') or raw.get('ruleset')})")
        if use is not None:
            out.uses.append((i, use))
    if payer is not None:
        if payer.payer != path.stem:
            problems.append(Problem(file, "payer", f"the payer id {payer.payer!r} must match the file name {path.stem!r}"))
        if len(out.uses) == len(raw_uses):
            out.payer = payer.model_copy(update={"uses": [u for _, u in out.uses]})
        else:
            out.payer = None  # a use did not validate: the payer is checked, not loaded
    return out
