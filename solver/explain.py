"""Answer atoms -> the result object of contract/result.md. Every finding is built here, in one place,
from a violation atom, its evidence and detail atoms, and the rule's YAML (message, citations, severity)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from clingo import Symbol, SymbolType

from solver.dates import day_number, from_day_number
from solver.encounter import Encounter
from solver.facts import EncounterFacts
from solver.policy import DOCUMENTATION_ELEMENTS, Policies, RuleInstance

MODIFIER_ORDER = {m: i for i, m in enumerate(["50", "RT", "LT", "25", "XE", "XS", "XP", "XU", "59", "GA", "GZ"])}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SLOT_ORDER = {"tpi": 0, "dry_needling": 1, "em": 2, "proc": 3, "extra": 4}
_STATUS_TEXT = {"header": "a header code, not billable", "invalid": "not an ICD-10-CM code in force"}


def _py(sym: Symbol):
    if sym.type == SymbolType.Number:
        return sym.number
    if sym.type == SymbolType.String:
        return sym.string
    if sym.type == SymbolType.Supremum:
        return None
    return str(sym)


class _Missing(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _slot_sort(sym: Symbol):
    return (SLOT_ORDER.get(sym.name, 9), [a.number for a in sym.arguments if a.type == SymbolType.Number])


def _render(term: Symbol, enc: Encounter, ef: EncounterFacts, pol: Policies) -> str:
    name, args = term.name, term.arguments
    a = [_py(x) for x in args]
    if name == "injected":
        muscle = pol.vocabulary.muscles.get(a[0], {}).get("name", a[0]).lower()
        return f"injected {muscle} {a[1]}"
    if name == "unnamed":
        return f"injection documented as {a[0]!r} names no muscle" if a[0] else "an injection names no muscle"
    if name == "also_billed":
        return f"also billed: {a[1]}"
    if name == "modifier":
        return f"modifier {a[0]}"
    if name == "same_claim":
        return f"{a[0]} on the same claim"
    if name == "same_session":
        return f"{a[0]} in the same session"
    if name == "new_patient_only":
        return "new-patient status alone does not make an E/M separately identifiable"
    if name == "separately_identifiable":
        return "a significant, separately identifiable E/M is documented"
    if name == "column1":
        return f"NCCI PTP edit: column 1 {a[0]}, column 2 {a[1]}, modifier indicator {a[2]}"
    if name == "not_covered_by":
        inst = pol.instances[args[0].number]
        return f"denial expected under {inst.id} ({inst.version})"
    if name == "abn_on_file":
        return "ABN on file"
    if name == "diagnosis":
        return f"{a[0]} is {_STATUS_TEXT.get(a[1], a[1])} on {enc.date_of_service.isoformat()}"
    if name == "excludes1":
        return f"Excludes1 note at {a[0]} names {a[1]}"
    if name == "pointed":
        return f"the line points to {a[0]}"
    if name == "prior_session":
        day = args[0].arguments[0].number
        return f"earlier session {from_day_number(day).isoformat()} ({a[1]})"
    if name == "missing":
        if len(args) == 2:
            i = args[0].arguments[0].number
            return f"injection {i} ({ef.injections.get(i) or 'no muscle'}): {a[1]} not documented"
        el = args[0]
        if el.type == SymbolType.Function and el.name == "therapy_weeks":
            return f"conservative therapy for at least {el.arguments[0].number} weeks not documented"
        if el.type == SymbolType.Function and el.name == "one_of":
            name = el.arguments[0].string
            return f"one of: {DOCUMENTATION_ELEMENTS.get(name, name)}"
        return f"not documented: {DOCUMENTATION_ELEMENTS.get(a[0], a[0])}"
    if name == "relief":
        return f"prior relief documented: {a[0]}% for {a[1]} weeks"
    if name == "no_relief_documented":
        return "no response to the previous TPI documented"
    if name == "region":
        return f"region {a[0]}"
    if name in ("substance", "guidance"):
        i = args[0].arguments[0].number
        return f"injection {i} ({ef.injections.get(i) or 'no muscle'}): {name} {a[1]}"
    return str(term)


def _line_text(line: dict) -> str:
    mods = "-".join(line["modifiers"])
    return line["code"] + (f"-{mods}" if mods else "") + (f" x{line['units']}" if line["units"] != 1 else "")


def _claim_lines(line_atoms: list[tuple[str, list[Symbol]]], enc: Encounter, ef: EncounterFacts) -> list[dict]:
    lines: dict[Symbol, dict] = {}
    for name, args in line_atoms:
        slot = args[2]
        ln = lines.setdefault(slot, {"code": None, "modifiers": [], "units": 1, "diagnoses": []})
        v = _py(args[3])
        if name == "line":
            ln["code"] = v
        elif name == "line_units":
            ln["units"] = v
        elif name == "line_modifier":
            ln["modifiers"].append(v)
        else:
            ln["diagnoses"].append(v)
    rank = {d: i for i, d in enumerate(enc.diagnoses)}
    for ln in lines.values():
        ln["modifiers"].sort(key=lambda m: (MODIFIER_ORDER.get(m, 99), m))
        ln["diagnoses"].sort(key=lambda d: rank.get(d, 99))
    first_line = {}
    for n, slot in ef.slot_of_line.items():
        first_line.setdefault(slot, n)
    order = sorted(lines, key=lambda s: (first_line.get(s, 10**6), _slot_sort(s)))
    return [dict(lines[s], slot=s) for s in order]


def _alternatives(pol: Policies, claim: list[dict], in_force: list[RuleInstance]) -> list[list[dict]]:
    """Other valid claims: a distinct-procedure modifier swapped for another of its group."""
    groups = [pol.tables.modifier_groups[i.params["modifier_group"]] for i in in_force
              if i.rule.family == "ptp_modifier_required"]
    out = []
    for n, line in enumerate(claim):
        for group in groups:
            for m in line["modifiers"]:
                if m in group:
                    for other in group:
                        if other != m:
                            alt = [dict(x) for x in claim]
                            mods = [other if x == m else x for x in line["modifiers"]]
                            alt[n] = dict(line, modifiers=sorted(mods, key=lambda z: (MODIFIER_ORDER.get(z, 99), z)))
                            out.append([_public_line(x) for x in alt])
    return out


def _public_line(line: dict) -> dict:
    return {k: line[k] for k in ("code", "modifiers", "units", "diagnoses")}


def _citations(inst: RuleInstance) -> list[dict]:
    return [dict(c) for c in inst.citation_dicts]


def _finding(pol: Policies, enc: Encounter, ef: EncounterFacts, x: str, k: int, ln: Symbol, details: dict,
             terms: list[Symbol], sub_lines: dict, cand_code: dict, cand_rule_ids: set) -> dict:
    """One finding: the rule's YAML (message, citations, severity) filled from the violation's details and evidence."""
    inst = pol.instances[k]
    line_no = ln.number if x == "sub" else None
    code = sub_lines[line_no]["code"] if line_no else cand_code.get(ln)
    fields = _Missing(details)
    fields.setdefault("code", code or "the service")
    fields.setdefault("line", line_no or "")
    try:
        message = inst.rule.message.format_map(fields)
    except (ValueError, IndexError):
        message = inst.rule.message
    ev = [_render(t, enc, ef, pol) for t in terms]
    alternatives = [e[len("one of: "):] for e in ev if e.startswith("one of: ")]
    if alternatives:
        ev = [e for e in ev if not e.startswith("one of: ")] + [f"none of these documented (one is needed): {'; '.join(alternatives)}"]
    if line_no:
        ev.append(f"claim line {line_no}: {_line_text(sub_lines[line_no])}")
    if inst.start and inst.rule.family == "sessions_per_window":
        start = day_number(inst.start)
        if any(t.name == "prior_session" and t.arguments[0].arguments[0].number < start for t in terms):
            ev.append(f"sessions before this policy's start ({inst.start.isoformat()}) are counted (set count_from to change this)")
    again = _allowed_again(inst, enc, terms, details)
    if again:
        ev.append(f"allowed again under this rule from {again.isoformat()}")
    f = {"rule": inst.id, "category": inst.rule.category, "severity": inst.rule.severity, "line": line_no,
         "code": code, "message": message, "citations": _citations(inst), "evidence": ev,
         "confidence": inst.rule.confidence, "policy_version": inst.version}
    if inst.rule.review:
        f["review"] = True
    if x == "sub":
        f["corrected"] = k not in cand_rule_ids
    return f


def _allowed_again(inst: RuleInstance, enc: Encounter, terms: list[Symbol], details: dict):
    """For a frequency finding, the first date of service on which this rule would not fire for the same history."""
    family, params = inst.rule.family, inst.params
    if family == "sessions_per_window":
        days = sorted(t.arguments[0].arguments[0].number for t in terms if t.name == "prior_session")
        drop = len(days) - params["max_sessions"]  # how many counted sessions must leave the window
        if drop >= 0 and days:
            return from_day_number(days[drop] + params["window_days"])
    if family in ("minimum_interval", "minimum_interval_unknown_location") and isinstance(details.get("gap"), int):
        return enc.date_of_service + dt.timedelta(days=params["days"] - details["gap"])
    return None


def _unknown_muscle(text: str) -> dict:
    return {"rule": "vocabulary.unknown-muscle", "category": "documentation", "severity": "warning",
            "line": None, "code": None, "confidence": "high", "policy_version": None,
            "message": f"{text!r} is not a muscle the vocabulary knows, so it was not counted; correct the name or add it to policies/tables/muscles.yaml.",
            "citations": [], "evidence": [f"injection documented as {text!r}"]}


def outcome_of(findings: list[dict]) -> str:
    """deny: an error no coding fixes; review: a point for a person; modify: coding errors the claim fixes; else allow."""
    if any(f["severity"] == "error" and not f.get("corrected") for f in findings):
        return "deny"
    if any(f.get("review") for f in findings):
        return "review"
    if any(f["severity"] == "error" and f.get("corrected") for f in findings):
        return "modify"
    return "allow"


def build_result(pol: Policies, enc: Encounter, ef: EncounterFacts, atoms: list[Symbol]) -> dict:
    applies = pol.in_force(enc.payer, enc.date_of_service)
    violations: set[tuple] = set()
    details: dict[tuple, dict] = defaultdict(dict)
    evidence: dict[tuple, list[Symbol]] = defaultdict(list)
    line_atoms = []
    for s in atoms:
        n = s.name
        args = s.arguments
        if n.startswith("line"):
            line_atoms.append((n, args))
            continue
        key = (args[1].name, args[2].number, args[3])
        if n == "violation":
            violations.add(key)
        elif n == "evidence":
            evidence[key].append(args[4])
        elif n == "detail":
            d = details[key]
            name, val = args[4].name, _py(args[5])
            d[name] = val if name not in d or d[name] == val else f"{d[name]}, {val}"
    claim = _claim_lines(line_atoms, enc, ef)
    submitted = enc.claim is not None
    sub_lines = {n: {"code": l.code, "modifiers": l.modifiers, "units": l.units} for n, l in enumerate(enc.claim or [], start=1)}
    cand_code = {line["slot"]: line["code"] for line in claim}
    cand_rule_ids = {k for (x, k, _ln) in violations if x == "cand"}
    sub_rule_ids = {k for (x, k, _ln) in violations if x == "sub"}
    findings = []
    for x, k, ln in sorted(violations, key=lambda v: (v[0] != "enc", v[0], v[1], str(v[2]))):
        if submitted and x == "cand" and k in sub_rule_ids:
            continue  # reported on the submitted line already
        findings.append(_finding(pol, enc, ef, x, k, ln, details.get((x, k, ln), {}), evidence.get((x, k, ln), []),
                                 sub_lines, cand_code, cand_rule_ids))
    findings += [_unknown_muscle(text) for text in ef.unknown_muscles]
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f["severity"]], f["line"] or 0, f["rule"]))
    return {
        "encounter": enc.id,
        "payer": enc.payer,
        "date_of_service": enc.date_of_service.isoformat(),
        "outcome": outcome_of(findings),
        "claim": [_public_line(x) for x in claim],
        "alternatives": _alternatives(pol, claim, applies),
        "findings": findings,
        "policy": {"payer": enc.payer, "rules": sorted({i.id for i in applies}), "versions": sorted({i.version for i in applies}),
                   "version": pol.version_hash(applies)},
    }
