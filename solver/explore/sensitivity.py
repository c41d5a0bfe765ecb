"""explain --sensitivity: the single facts whose change flips the outcome or the code.

Every single change of one fact (solver/assumable.flips: a fact of the encounter removed, an assumable fact
added) enters the program as a choice of exactly one (solver/explore/overlay.py, kb/search/sensitivity.lp), with the
constraint that the outcome or the codes differ from the check's; all models are enumerated, projected on
the change. A change for which no error-free candidate claim exists is answered deny by the check: those are
the changes with no model when the constraint is off. Each change found is verified by a real check."""
from __future__ import annotations

from clingo import Function, Number

from solver.explore.assumable import flips, spec_for
from solver.encounter import Encounter
from solver.explore.common import OUTCOME_LP, SEARCH_DIR, check_variants, claim_codes, rules_flipped, summary
from solver.explore import overlay

SENSITIVITY_LP = SEARCH_DIR / "sensitivity.lp"
OPTIONS = ["--opt-strategy=usc", "--opt-mode=ignore"]


def sensitivity(engine, enc: Encounter) -> dict:
    """The answer of `explain --sensitivity` (JSON shape: notes/explore.md)."""
    pol = engine.policies
    ov = overlay.build(engine, enc, flips(pol, enc, spec_for(engine.policies_dir)), (OUTCOME_LP, SENSITIVITY_LP), OPTIONS)
    ov.ctl.ground([("base", [])])
    baseline, basis_before = overlay.baseline(engine, enc, ov), _basis_now(ov)
    E = Number(0)
    for sym in [Function("baseline_outcome", [E, Function(baseline["outcome"])]),
                *(Function("baseline_basis", [E, b]) for b in basis_before)]:
        ov.ctl.assign_external(sym, True)
    differs = Function("goal_differs")
    ov.ctl.assign_external(differs, True)
    found = _enumerate(ov)
    ov.ctl.assign_external(differs, False)
    clean = _enumerate(ov)
    if baseline["outcome"] != "deny":  # no error-free candidate: the check answers deny
        found.update({a: set() for a in range(len(ov.changes)) if a not in clean})
    out_flips, dropped = [], []
    before = (baseline["outcome"], claim_codes(baseline))
    order = sorted(found)
    for a, (chs, _variant, result) in zip(order, check_variants(engine, enc, [[ov.changes[a]] for a in order])):
        if (result["outcome"], claim_codes(result)) == before:
            dropped.append(chs[0].path)
            continue
        rules = rules_flipped(baseline, result)
        if claim_codes(result) != before[1]:
            rules += _code_rules(pol, basis_before, found[a], {r["rule"] for r in rules})
        out_flips.append({"facts": [c.as_dict() for c in chs], "outcome": result["outcome"], "claim": result["claim"],
                          "rules": rules})
    notes = [f"{len(ov.changes)} single changes searched"]
    if dropped:
        notes.append("dropped (the real check does not flip): " + ", ".join(dropped))
    return {"encounter": enc.id, "baseline": summary(baseline), "flips": out_flips,
            "searched": {"changes": len(ov.changes), "notes": notes}}


def _code_rules(pol, before: set, after: set, named: set) -> list[dict]:
    """The rules whose expected code the change moves: the rules that decide the code (a service left off
    is named by its own finding)."""
    keys = {b.arguments[0].number for b in before ^ after if b.name == "expected"}
    out = []
    for k in sorted(keys):
        inst = pol.instances[k]
        if inst.id not in named:
            out.append({"rule": inst.id, "citations": [dict(c) for c in inst.citation_dicts], "now": "decides the code"})
    return out


def _basis(model) -> set:
    return {s.arguments[1] for s in model.symbols(shown=True) if s.name == "code_basis"}


def _basis_now(ov: overlay.Overlay) -> set:
    """What decides the codes for the encounter as it is (no change; its facts alone decide it)."""
    ctl = ov.ctl
    ctl.assign_external(Function("no_change"), True)
    ctl.configuration.solve.opt_mode = "ignore"
    ctl.configuration.solve.models = "1"
    found: set = set()
    ctl.solve(on_model=lambda m: found.update(_basis(m)))
    ctl.assign_external(Function("no_change"), False)
    return found


def _enumerate(ov: overlay.Overlay) -> dict[int, set]:
    """Every change with a model, and what decides the codes under it (projected: one model a change)."""
    ctl = ov.ctl
    ctl.configuration.solve.opt_mode = "ignore"
    ctl.configuration.solve.project = "project"
    ctl.configuration.solve.models = "0"
    out: dict[int, set] = {}
    with ctl.solve(yield_=True) as handle:
        for model in handle:
            for a in overlay.chosen(model):
                out[a] = _basis(model)
    return out
