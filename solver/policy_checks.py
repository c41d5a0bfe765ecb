"""The checks of the policies across files (solver/policy.py loads them): includes known and without a cycle, each
rule's family, params, message and citations, rule ids unique across the policies, a use's exclusions and
overrides naming its rules; and what could not be read (solver/policy_read.py), so that what depends on it
is not reported again but named once, with the problem it waits for."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from solver.errors import Problem
from solver.families import Families
from solver.param_types import ParamChecker
from solver.policy_model import RuleSet, Use
from solver.policy_read import SetFile, policy_files, read_ruleset


def include_cycle(name: str, rulesets: dict[str, RuleSet], path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """A chain of includes that leads from a rule set back to itself, if there is one."""
    path = path + (name,)
    for inc in rulesets[name].includes:
        if inc == path[0]:
            return path + (inc,)
        if inc in rulesets and inc not in path:
            found = include_cycle(inc, rulesets, path)
            if found:
                return found
    return None


def included_names(name: str, rulesets: dict[str, RuleSet]) -> set[str]:
    """The names of the rule sets a rule set includes, directly or not (unknown ones too), and its own."""
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(rulesets[n].includes if n in rulesets else ())
    return seen


@dataclass
class Unread:
    """What the loader could not read, so that what depends on it is not reported again."""

    failed: dict[str, SetFile]  # rule sets whose header did not validate: not loaded
    bad_rules: dict[str, set[str]]  # rule set -> ids of its rules that did not validate
    bad_citations: dict[str, set[str]]  # rule set -> names of its citations that did not validate
    dependents: dict[str, list[str]] = field(default_factory=dict)  # failed rule set -> who was not checked


def check_use(use: Use, uw: str, ids: set[str], names: set[str], unsure: bool, file: str, problems: list[Problem]) -> None:
    """A use's exclusions, selections and overrides name rules of its rule set, once, and never both for one
    rule; what it cites in place of a rule set's citation names one. unsure: a rule set it includes did not
    load, so a rule or citation not found may be in it (not reported)."""
    for j, rid in enumerate(use.only):
        if rid not in ids and not unsure:
            problems.append(Problem(file, f"{uw}.only.{j}", f"{rid!r} is not a rule of rule set {use.ruleset}"))
        elif rid in use.exclude:
            problems.append(Problem(file, f"{uw}.only.{j}", f"{rid!r} is both selected and excluded; keep one"))
    for c in use.cite:
        if c not in names and not unsure:
            problems.append(Problem(file, f"{uw}.cite.{c}", f"no citation named {c!r} in rule set {use.ruleset} or the sets it includes"))
    for j, rid in enumerate(use.exclude):
        if rid not in ids and not unsure:
            problems.append(Problem(file, f"{uw}.exclude.{j}", f"{rid!r} is not a rule of rule set {use.ruleset}"))
        elif rid in use.exclude[:j]:
            problems.append(Problem(file, f"{uw}.exclude.{j}", f"{rid!r} is excluded twice; list it once"))
    for rid in use.params:
        if rid not in ids and not unsure:
            problems.append(Problem(file, f"{uw}.params.{rid}", f"{rid!r} is not a rule of rule set {use.ruleset}"))
        elif rid in use.exclude:
            problems.append(Problem(file, f"{uw}.params.{rid}", "the rule is excluded by this use; drop the override or the exclusion"))


def read_rulesets(root: Path, problems: list[Problem], unvalidated: list) -> tuple[list[SetFile], dict, dict]:
    """Every rule set file read (solver/policy_read.py); the rule sets that loaded, by name, and their files."""
    sets = [s for s in (read_ruleset(p, problems, unvalidated) for p in policy_files(root / "rulesets", problems)) if s]
    rulesets, ruleset_files, defined = {}, {}, {}
    for s in sets:
        if s.name in defined:
            problems.append(Problem(s.file, "ruleset", f"the rule set {s.name!r} is also defined in {defined[s.name]}; "
                                    "give each rule set its own name"))
        defined[s.name] = s.file
        if s.ruleset is not None:
            rulesets[s.name], ruleset_files[s.name] = s.ruleset, s.file
    return sets, rulesets, ruleset_files


def duplicate_ids(sets: list[SetFile], problems: list[Problem]) -> set[str]:
    """Rule ids are unique across the policies: each id used twice, named at both places (the rules as written,
    so a rule with other errors counts too)."""
    first: dict[str, tuple[str, int]] = {}
    twice: set[str] = set()
    for s in sets:
        for i, rid in s.ids:
            if rid in first:
                file, j = first[rid]
                there = f"{file} (this file)" if file == s.file else file
                problems.append(Problem(s.file, f"rules.{i}.id", f"rule id {rid!r} is also the id of rules.{j} in {there}; "
                                        "a rule id names one rule across the policies: rename one of the two"))
                twice.add(rid)
            else:
                first[rid] = (s.file, i)
    return twice


def check_rules(s: SetFile, rulesets: dict, checker: ParamChecker, family_specs: Families, read: Unread,
                 normalized: dict, broken: set, problems: list[Problem]) -> None:
    """A rule set's includes, and each of its rules: a known family, valid params and message, resolvable citations."""
    families = family_specs.specs
    for j, inc in enumerate(s.includes):
        if inc in read.failed:
            read.dependents.setdefault(inc, []).append(f"rule set {s.name} (includes.{j})")
        elif inc not in rulesets:
            problems.append(Problem(s.file, f"includes.{j}", f"unknown rule set {inc!r}; the rule sets are {sorted(rulesets)}"))
        elif inc in s.includes[:j]:
            problems.append(Problem(s.file, f"includes.{j}", f"{inc!r} is included twice; list it once"))
    cycle = include_cycle(s.name, rulesets) if s.name in rulesets and rulesets[s.name] is s.ruleset else None
    if cycle:
        problems.append(Problem(s.file, "includes", f"rule set {s.name} includes itself ({' -> '.join(cycle)}); remove one include"))
    for i, r in s.rules:
        where = f"rules.{i}"
        before = len(problems)
        normalized[r.id] = checker.check(r.family, r.params, s.file, where, problems)
        if r.family in families:
            problems.extend(Problem(s.file, f"{where}.message", msg) for msg in family_specs.template_problems(r.family, r.message))
        if len(problems) > before:
            broken.add(r.id)
        for j, c in enumerate(r.citations):
            if isinstance(c, str) and c in s.bad_citations:
                broken.add(r.id)  # its citation has problems of its own, reported where it is defined
            elif isinstance(c, str) and c not in s.citations and s.citations_read:
                problems.append(Problem(s.file, f"{where}.citations.{j}", f"no citation named {c!r} under this file's citations"))


def not_checked(read: Unread, problems: list[Problem]) -> None:
    """Once for each rule set that did not load: what was not checked because of it (not an error each)."""
    for name, s in read.failed.items():
        who = read.dependents.get(name)
        if not who:
            continue
        sets = [w.removeprefix("rule set ") for w in who if w.startswith("rule set ")]
        payers = [w.removeprefix("payer ") for w in who if w.startswith("payer ")]
        parts = ([f"rule set{'s' if len(sets) > 1 else ''} {', '.join(sets)}"] if sets else []) + \
                ([f"payer{'s' if len(payers) > 1 else ''} {', '.join(payers)}"] if payers else [])
        why = s.failed.message if s.failed.field == "(file)" else f"{s.failed.field}: {s.failed.message}"
        problems.append(Problem(s.file, "(file)", f"the rule set {name!r} did not load ({why}); "
                                f"not checked against it until it does: {'; '.join(parts)}; fix the problems of this file first"))
