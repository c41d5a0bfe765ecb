"""explain --why-not CODE[-MOD...]: the candidate claim forced (kb/search/why_not.lp) to carry exactly the code
and modifiers asked on the slot the code bills, the rest of it chosen by the check's own optimisation, and
the rules that claim breaks, as a check's findings (solver/explain.build_result) with their evidence,
negative conditions included ("no third named muscle is documented")."""
from __future__ import annotations

from clingo import Function, Number, String

from solver.encounter import ClaimLine, Encounter
from solver.explain import build_result
from solver.explore_common import SEARCH_DIR, parse_asked, slot_for, summary

WHY_NOT_LP = SEARCH_DIR / "why_not.lp"


def _derived(enc: Encounter) -> Encounter:
    """The encounter with no submitted claim, so the candidate is the claim (a claim without its note keeps
    its claim: its services are read from it)."""
    return enc if not enc.procedure_note else enc.model_copy(update={"claim": None})


def _forced(engine, enc: Encounter, slot, code: str, mods: list[str]) -> dict | None:
    ctl, facts = engine.control([enc], extra=(WHY_NOT_LP,))
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
    return build_result(engine.policies, enc, facts[0], shown)


def why_not(engine, enc: Encounter, asked: str) -> dict:
    """The answer of `explain --why-not` (JSON shape: notes/explore.md)."""
    code, mods = parse_asked(asked)
    slot = slot_for(engine, enc, code, "--why-not")
    base_enc = _derived(enc)
    baseline = engine.check(base_enc)  # the derived claim: what the forced one is compared with
    forced = _forced(engine, base_enc, slot, code, mods)
    checked = baseline if base_enc is enc else engine.check(enc)
    out = {"encounter": enc.id, "asked": {"code": code, "modifiers": mods}, "baseline": summary(checked)}
    if forced is None:  # no claim carries it: the documentation supports no code for the service
        blocking = [f for f in baseline["findings"] if f["severity"] == "error"]
        out.update(claim=[], outcome="deny", broken=blocking, valid=False,
                   notes=[f"no claim can carry {asked}: the documented service supports no code for it"])
        return out
    before = {(f["rule"], f["severity"]) for f in baseline["findings"]}
    broken = [f for f in forced["findings"] if f["severity"] in ("error", "warning") and (f["rule"], f["severity"]) not in before]
    sent = engine.check(enc.model_copy(update={"claim": [ClaimLine.model_validate(_line(x)) for x in forced["claim"]]}))
    out.update(claim=forced["claim"], outcome=forced["outcome"], broken=broken,
               valid=not any(f["severity"] == "error" for f in broken),
               as_submitted=summary(sent), also=[f for f in forced["findings"] if f not in broken and f["severity"] != "info"])
    return out


def _line(line: dict) -> dict:
    return {k: line[k] for k in ("code", "modifiers", "units", "diagnoses")}
