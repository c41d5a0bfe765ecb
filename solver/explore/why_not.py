"""explain --why-not CODE[-MOD...]: the candidate claim forced (kb/search/why_not.lp) to carry exactly the code
and modifiers asked on the slot the code bills, the rest of it chosen by the check's own optimisation, and
the rules that claim breaks, as a check's findings (solver/explain.build_result) with their evidence,
negative conditions included ("no third named muscle is documented")."""
from __future__ import annotations

from collections import defaultdict

from clingo import Function, Number, String

from solver.encounter import ClaimLine, Encounter
from solver.explain import build_result
from solver.explore.common import SEARCH_DIR, parse_asked, slot_for, summary

WHY_NOT_LP = SEARCH_DIR / "why_not.lp"


def _derived(enc: Encounter) -> Encounter:
    """The encounter with no submitted claim, so the candidate is the claim (a claim without its note keeps
    its claim: its services are read from it)."""
    return enc if not enc.procedure_note else enc.model_copy(update={"claim": None})


def _forced(engine, encounters: list[Encounter], slot, code: str, mods: list[str]) -> list[dict] | None:
    """One grounding: encounter 0 forced to carry the asked code, the others checked as they are. None when no
    claim can carry it (the program has no model)."""
    ctl, facts = engine.control(encounters, extra=(WHY_NOT_LP,))
    E = Number(0)
    with ctl.backend() as bk:
        for sym in [Function("asked_slot", [E, slot]), Function("asked_code", [E, slot, String(code)]),
                    *(Function("asked_modifier", [E, slot, String(m)]) for m in mods)]:
            bk.add_rule([bk.add_atom(sym)])
    ctl.ground([("base", [])])
    shown: list = []
    res = ctl.solve(on_model=lambda m: shown.__setitem__(slice(None), m.symbols(shown=True)))
    if not res.satisfiable:
        return None
    by_key: dict[int, list] = defaultdict(list)
    for sym in shown:
        by_key[sym.arguments[0].number].append(sym)
    return [build_result(engine.policies, enc, ef, by_key.get(ef.key, [])) for enc, ef in zip(encounters, facts)]


def why_not(engine, enc: Encounter, asked: str) -> dict:
    """The answer of `explain --why-not` (JSON shape: notes/explore.md)."""
    code, mods = parse_asked(asked)
    slot = slot_for(engine, enc, code, "--why-not")
    base_enc = _derived(enc)
    answers = _forced(engine, [base_enc, base_enc] + ([enc] if base_enc is not enc else []), slot, code, mods)
    if answers is None:  # no claim carries it: the documentation supports no code for the service
        baseline = engine.check(enc)
        blocking = [f for f in baseline["findings"] if f["severity"] == "error"]
        return {"encounter": enc.id, "asked": {"code": code, "modifiers": mods}, "baseline": summary(baseline),
                "claim": [], "outcome": "deny", "broken": blocking, "valid": False,
                "notes": [f"no claim can carry {asked}: the documented service supports no code for it"]}
    forced, derived, checked = answers[0], answers[1], answers[-1]
    before = {(f["rule"], f["severity"]) for f in derived["findings"]}
    broken = [f for f in forced["findings"] if f["severity"] in ("error", "warning") and (f["rule"], f["severity"]) not in before]
    sent = engine.check(enc.model_copy(update={"claim": [ClaimLine.model_validate(_line(x)) for x in forced["claim"]]}))
    return {"encounter": enc.id, "asked": {"code": code, "modifiers": mods}, "baseline": summary(checked),
            "claim": forced["claim"], "outcome": forced["outcome"], "broken": broken,
            "valid": not any(f["severity"] == "error" for f in broken), "as_submitted": summary(sent),
            "also": [f for f in forced["findings"] if f not in broken and f["severity"] != "info"]}


def _line(line: dict) -> dict:
    return {k: line[k] for k in ("code", "modifiers", "units", "diagnoses")}
