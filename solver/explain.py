"""Answer atoms -> the result object of contract/result.md. Every finding is built here, in one place,
from a violation atom, its evidence and detail atoms, and the rule's YAML (message, citations, severity)."""
from __future__ import annotations

from collections import defaultdict

from clingo import Symbol, SymbolType

from solver.dates import from_day_number
from solver.encounter import Encounter
from solver.coverage import coverage_finding, version_gap_finding
from solver.facts import EncounterFacts
from solver.policy import DOCUMENTATION_ELEMENTS, Policies, RuleInstance
from solver.symbols import Term, handle, term

MODIFIER_ORDER = {m: i for i, m in enumerate(["50", "RT", "LT", "25", "XE", "XS", "XP", "XU", "59", "GA", "GZ"])}
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
SLOT_ORDER = {"tpi": 0, "dry_needling": 1, "em": 2, "proc": 3, "extra": 4}
_ORDINALS = ["", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"]
_STATUS_TEXT = {"header": "a header code, not billable", "invalid": "not an ICD-10-CM code in force"}


_NUMBER, _FUNCTION = SymbolType.Number.value, SymbolType.Function.value


class _Missing(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _slot_sort(t: Term):
    return (SLOT_ORDER.get(t.name, 9), [a.value for a in t.args if a.type == _NUMBER])


class _Arg:
    """One argument of an evidence term, rendered by the kind its reading names ({0:muscle}, {1:date}, ...)."""

    __slots__ = ("sym", "enc", "ef", "pol")

    def __init__(self, sym: Term, enc: Encounter, ef: EncounterFacts, pol: Policies):
        self.sym, self.enc, self.ef, self.pol = sym, enc, ef, pol

    def __format__(self, kind: str) -> str:
        sym = self.sym
        inner = sym.args[0] if sym.type == _FUNCTION and len(sym.args) == 1 else sym
        if kind == "muscle":
            m = sym.py
            return self.pol.vocabulary.muscles.get(m, {}).get("name", m).lower()
        if kind == "injection":
            i = inner.value
            return f"{i} ({self.ef.injections.get(i) or 'no muscle documented'})"
        if kind == "date":
            return from_day_number(inner.value).isoformat()
        if kind == "element":
            e = sym.py
            return DOCUMENTATION_ELEMENTS.get(e, e)
        if kind == "status":
            s = sym.py
            return _STATUS_TEXT.get(s, s)
        if kind == "ordinal":
            n = inner.value
            return _ORDINALS[n] if 0 < n < len(_ORDINALS) else f"{n}th"
        if kind == "rule":
            inst = self.pol.instances[inner.value]
            return f"{inst.id} ({inst.version})"
        return str(sym.py)


def _evidence(terms: list[Term], enc: Encounter, ef: EncounterFacts, pol: Policies, family: str) -> list[str]:
    """Evidence terms in words, by the readings of kb/families.yaml; a term listed once is joined. Order (the
    README's output section): by the family's spec order of the term, then by the text shown, so it never
    depends on the solver or on how values are numbered inside it."""
    rendered: list[tuple[int, str, str | None]] = []
    order = {t: i for i, t in enumerate(pol.families.get(family, {}).get("evidence", ()))}
    for term in terms:
        sig = f"{term.name}/{len(term.args)}"
        spec = pol.evidence_terms.get(sig)
        if spec is None:  # kb/families.yaml names every term a family derives (a test checks it)
            rendered.append((len(order), term.text, None))
            continue
        text = spec.each.format(*(_Arg(a, enc, ef, pol) for a in term.args), dos=enc.date_of_service.isoformat())
        rendered.append((order.get(sig, len(order)), text, spec.joined))
    out: list[str] = []
    joined: dict[str, list[str]] = {}
    for _rank, text, template in sorted(rendered, key=lambda r: (r[0], r[1])):
        if template is None:
            out.append(text)
        else:
            joined.setdefault(template, []).append(text)
    out += [template.format(all="; ".join(items)) for template, items in joined.items()]
    return out


def _line_text(line: dict) -> str:
    mods = "-".join(line["modifiers"])
    return line["code"] + (f"-{mods}" if mods else "") + (f" x{line['units']}" if line["units"] != 1 else "")


def _claim_lines(line_atoms: list[tuple[str, tuple[Term, ...]]], enc: Encounter, ef: EncounterFacts) -> list[dict]:
    lines: dict[Term, dict] = {}
    for name, args in line_atoms:
        slot = args[2]
        ln = lines.setdefault(slot, {"code": None, "modifiers": [], "units": 1, "diagnoses": []})
        v = args[3].py
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
        ln["diagnoses"].sort(key=lambda d: (rank.get(d, 99), d))
    first_line = {}
    for n, slot in ef.slot_of_line.items():
        first_line.setdefault(term(handle(slot)), n)
    order = sorted(lines, key=lambda s: (first_line.get(s, 10**6), _slot_sort(s)))
    return [dict(lines[s], slot=s) for s in order]


def _alternatives(claim: list[dict], alternatives: list[tuple]) -> list[list[dict]]:
    """Other valid claims: a modifier swapped for an equal choice the solver found (alternative/4), once each."""
    out: list[list[dict]] = []
    for slot, m, other in sorted(alternatives):
        for n, line in enumerate(claim):
            if line["slot"] == slot and m in line["modifiers"]:
                alt = [_public_line(x) for x in claim]
                mods = [other if x == m else x for x in line["modifiers"]]
                alt[n] = dict(alt[n], modifiers=sorted(mods, key=lambda z: (MODIFIER_ORDER.get(z, 99), z)))
                if alt not in out:
                    out.append(alt)
    return out


def _public_line(line: dict) -> dict:
    return {k: line[k] for k in ("code", "modifiers", "units", "diagnoses")}


def _citations(inst: RuleInstance) -> list[dict]:
    return [dict(c) for c in inst.citation_dicts]


def _finding(pol: Policies, enc: Encounter, ef: EncounterFacts, x: str, k: int, ln: Term, details: dict,
             terms: list[Term], sub_lines: dict, cand_code: dict, cand_rule_ids: set) -> dict:
    """One finding: the rule's YAML (message, citations, severity) filled from the violation's details and evidence.
    x = omit: a documented service the returned claim leaves off, a warning with the rule's reason."""
    inst = pol.instances[k]
    line_no = ln.value if x == "sub" else None
    code = sub_lines[line_no]["code"] if line_no else details.get("code") or cand_code.get(ln)
    fields = _Missing(details)
    fields.setdefault("code", code or "the service")
    fields.setdefault("line", line_no or "")
    try:
        message = inst.rule.message.format_map(fields)
    except (ValueError, IndexError):
        message = inst.rule.message
    if x == "omit":
        message = f"{code or 'A documented service'} is left off the claim: {message}"
    ev = _evidence(terms, enc, ef, pol, inst.rule.family)
    if line_no:
        ev.append(f"claim line {line_no}: {_line_text(sub_lines[line_no])}")
    f = {"rule": inst.id, "category": inst.rule.category, "severity": "warning" if x == "omit" else inst.rule.severity,
         "line": line_no, "code": code, "message": message, "citations": _citations(inst), "evidence": ev,
         "confidence": inst.rule.confidence, "policy_version": inst.version}
    if inst.rule.review and x != "omit":
        f["review"] = True
    if x == "sub":
        f["corrected"] = k not in cand_rule_ids
    return f


def _unknown_muscle(text: str) -> dict:
    return {"rule": "vocabulary.unknown-muscle", "category": "documentation", "severity": "warning",
            "line": None, "code": None, "confidence": "high", "policy_version": None,
            "message": f"{text!r} is not a muscle the vocabulary knows, so it was not counted; correct the name or add it to policies/tables/muscles.yaml.",
            "citations": [], "evidence": [f"injection documented as {text!r}"]}


def _later_session(n: int, day: str, dos: str) -> dict:
    return {"rule": "input.history-after-date-of-service", "category": "documentation", "severity": "warning",
            "line": None, "code": None, "confidence": "high", "policy_version": None,
            "message": f"history[{n}] is dated {day}, after the date of service {dos}: it is no earlier session, so no "
                       "frequency or interval rule counted it; correct its date or leave it out.",
            "citations": [], "evidence": [f"history[{n}] dated {day}; date of service {dos}"]}


def _repeated_session(enc: Encounter, n: int, k: int) -> dict:
    h = enc.history[n]
    return {"rule": "input.history-repeated-session", "category": "documentation", "severity": "warning",
            "line": None, "code": None, "confidence": "high", "policy_version": None,
            "message": f"history[{n}] repeats history[{k}] ({h.date.isoformat()}, {h.code}): one session a day and code, "
                       "so it was counted once (its muscles with the first's); remove the repeat if it is one.",
            "citations": [], "evidence": [f"history[{n}] and history[{k}] dated {h.date.isoformat()}, code {h.code}"]}


def outcome_of(findings: list[dict]) -> str:
    """deny: an error no coding fixes; review: a point for a person; modify: coding errors the claim fixes; else allow."""
    if any(f["severity"] == "error" and not f.get("corrected") for f in findings):
        return "deny"
    if any(f.get("review") for f in findings):
        return "review"
    if any(f["severity"] == "error" and f.get("corrected") for f in findings):
        return "modify"
    return "allow"


def build_result(pol: Policies, enc: Encounter, ef: EncounterFacts, atoms: list[Symbol | int]) -> dict:
    """The result of an encounter from its answer atoms (Symbols, or their handles: solver/symbols.py)."""
    return result_of_terms(pol, enc, ef, [term(a if isinstance(a, int) else handle(a)) for a in atoms])


def result_of_terms(pol: Policies, enc: Encounter, ef: EncounterFacts, atoms: list[Term]) -> dict:
    applies = pol.in_force(enc.payer, enc.date_of_service)
    violations: set[tuple] = set()
    details: dict[tuple, dict] = defaultdict(dict)
    evidence: dict[tuple, list[Term]] = defaultdict(list)
    values: dict[tuple, dict[str, set]] = defaultdict(dict)
    line_atoms = []
    alternatives = []
    for s in atoms:
        n = s.name
        args = s.args
        if n.startswith("line"):
            line_atoms.append((n, args))
            continue
        if n == "alternative":
            alternatives.append((args[1], args[2].py, args[3].py))
            continue
        key = (args[1].name, args[2].value, args[3])
        if n == "violation":
            violations.add(key)
        elif n == "evidence":
            evidence[key].append(args[4])
        elif n == "detail":
            values[key].setdefault(args[4].name, set()).add(args[5])
    for key, by_name in values.items():  # a field with several values lists them by their text (README: output)
        details[key] = {name: vals.pop().py if len(vals) == 1 else ", ".join(sorted({str(v.py) for v in vals}))
                        for name, vals in by_name.items()}
    claim = _claim_lines(line_atoms, enc, ef)
    submitted = enc.claim is not None
    sub_lines = {n: {"code": l.code, "modifiers": l.modifiers, "units": l.units} for n, l in enumerate(enc.claim or [], start=1)}
    cand_code = {line["slot"]: line["code"] for line in claim}
    cand_rule_ids = {k for (x, k, _ln) in violations if x == "cand"}
    sub_rule_ids = {k for (x, k, _ln) in violations if x == "sub"}
    findings = []
    for x, k, ln in sorted(violations, key=lambda v: (v[0] != "enc", v[0], v[1], v[2].text)):
        if submitted and x in ("cand", "omit") and k in sub_rule_ids:
            continue  # reported on the submitted line already
        findings.append(_finding(pol, enc, ef, x, k, ln, details.get((x, k, ln), {}), evidence.get((x, k, ln), []),
                                 sub_lines, cand_code, cand_rule_ids))
    findings += [_unknown_muscle(text) for text in ef.unknown_muscles]
    findings += [_later_session(n, day, enc.date_of_service.isoformat()) for n, day in ef.later_sessions]
    findings += [_repeated_session(enc, n, k) for n, k in ef.repeated_sessions]
    gap = version_gap_finding(pol, enc.payer, enc.date_of_service)
    if gap:
        findings.append(gap)
    stretched = coverage_finding(pol, enc.date_of_service)
    if stretched:
        findings.append(stretched)
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f["severity"]], f["line"] or 0, f["rule"]))
    return {
        "encounter": enc.id,
        "payer": enc.payer,
        "date_of_service": enc.date_of_service.isoformat(),
        "outcome": outcome_of(findings),
        "claim": [_public_line(x) for x in claim],
        "alternatives": _alternatives(claim, alternatives),
        "findings": findings,
        "policy": _policy(pol, enc.payer, applies),
    }


def _policy(pol: Policies, payer: str, applies: list[RuleInstance]) -> dict:
    """The rules and versions that decided a result (worked out once per list of rules in force; a fresh copy)."""
    cache = pol.__dict__.setdefault("_policy_of_rules", {})
    got = cache.get(id(applies))
    if got is None or got[0] is not applies:
        got = cache[id(applies)] = (applies, sorted({i.id for i in applies}), sorted({i.version for i in applies}),
                                    pol.version_hash(applies))
    return {"payer": payer, "rules": list(got[1]), "versions": list(got[2]), "version": got[3]}
