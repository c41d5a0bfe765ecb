"""explain --sensitivity: the single facts whose change flips the outcome or the code.

Every single change of one fact (solver/assumable.flips: a fact of the encounter removed, an assumable fact
added) enters the program as a choice of exactly one (solver/overlay.py, kb/search/sensitivity.lp), with the
constraint that the outcome or the codes differ from the check's; all models are enumerated, projected on
the change. A change for which no error-free candidate claim exists is answered deny by the check: those are
the changes with no model when the constraint is off. Each change found is verified by a real check."""
from __future__ import annotations

from clingo import Function, Number, String

from solver.assumable import flips, spec_for
from solver.encounter import ClaimLine, Encounter
from solver.explore_common import OUTCOME_LP, SEARCH_DIR, check_variants, claim_codes, rules_flipped, summary
from solver import overlay

SENSITIVITY_LP = SEARCH_DIR / "sensitivity.lp"
OPTIONS = ["--opt-mode=ignore", "--models=0", "--project=project"]


def sensitivity(engine, enc: Encounter) -> dict:
    """The answer of `explain --sensitivity` (JSON shape: notes/explore.md)."""
    pol = engine.policies
    baseline = engine.check(enc)
    ov = overlay.build(engine, enc, flips(pol, enc, spec_for(engine.policies_dir)), (OUTCOME_LP, SENSITIVITY_LP), OPTIONS)
    E = Number(0)
    with ov.ctl.backend() as bk:
        for sym in [Function("baseline_outcome", [E, Function(baseline["outcome"])]),
                    *(Function("baseline_code", [E, String(c)]) for c in claim_codes(baseline))]:
            bk.add_rule([bk.add_atom(sym)])
    ov.ctl.ground([("base", [])])
    differs = Function("goal_differs")
    ov.ctl.assign_external(differs, True)
    found = _enumerate(ov)
    ov.ctl.assign_external(differs, False)
    clean = _enumerate(ov)
    if baseline["outcome"] != "deny":  # no error-free candidate: the check answers deny
        found |= set(range(len(ov.changes))) - clean
    out_flips, dropped = [], []
    before = (baseline["outcome"], claim_codes(baseline))
    checked = check_variants(engine, enc, [[ov.changes[a]] for a in sorted(found)])
    code_rules = _code_rules(engine, baseline, [(v, r) for _c, v, r in checked if claim_codes(r) != before[1]])
    for chs, variant, result in checked:
        if (result["outcome"], claim_codes(result)) == before:
            dropped.append(chs[0].path)
            continue
        out_flips.append({"facts": [c.as_dict() for c in chs], "outcome": result["outcome"], "claim": result["claim"],
                          "rules": rules_flipped(baseline, result) + code_rules.get(id(variant), [])})
    notes = [f"{len(ov.changes)} single changes searched"]
    if dropped:
        notes.append("dropped (the real check does not flip): " + ", ".join(dropped))
    return {"encounter": enc.id, "baseline": summary(baseline), "flips": out_flips,
            "searched": {"changes": len(ov.changes), "notes": notes}}


def _code_rules(engine, baseline: dict, changed: list[tuple[Encounter, dict]]) -> dict[int, list[dict]]:
    """For a change that changes the code: the rules the old claim breaks under the new facts (the rules that
    decide the code), from a real check of the changed encounter with the old claim submitted."""
    old = [ClaimLine.model_validate({k: x[k] for k in ("code", "modifiers", "units", "diagnoses")}) for x in baseline["claim"]]
    results = engine.check_many([v.model_copy(update={"claim": old}) for v, _r in changed]) if changed else []
    out: dict[int, list[dict]] = {}
    for (v, _r), res in zip(changed, results):
        rules = {f["rule"]: f for f in res["findings"] if f["severity"] == "error" and f.get("line") and f.get("corrected")}
        out[id(v)] = [{"rule": r, "citations": f["citations"], "now": "decides the code", "evidence": f["evidence"]}
                      for r, f in rules.items()]
    return out


def _enumerate(ov: overlay.Overlay) -> set[int]:
    out: set[int] = set()
    with ov.ctl.solve(yield_=True) as handle:
        for model in handle:
            out |= overlay.chosen(model)
    return out
