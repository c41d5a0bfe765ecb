"""explain --missing: the cheapest sets of facts that would make the outcome allow (or a given code valid).

The facts that may be assumed (policies/assumable.yaml, solver/explore/assumable.py) enter the program as choices
with a cost (solver/explore/overlay.py, kb/search/missing.lp); clingo minimises the cost, then enumerates every set
of that cost, projected on the facts assumed. Each set is applied to the encounter and checked for real;
only those that reach the target are kept (a dropped one is named in the notes)."""
from __future__ import annotations

from clingo import Function, Number, String

from solver.explore.assumable import assumable, spec_for
from solver.encounter import Encounter
from solver.explore.common import (OUTCOME_LP, SEARCH_DIR, check_variants, line_text, parse_asked, rules_satisfied,
                                   slot_for, summary)
from solver.explore import overlay

MISSING_LP = SEARCH_DIR / "missing.lp"
MAX_ALTERNATIVES = 12
OPTIONS = ["--opt-strategy=usc", "--opt-mode=opt"]


def missing(engine, enc: Encounter, target: str | None = None, change_service: bool = False) -> dict:
    """The answer of `explain --missing` (JSON shape: notes/explore.md)."""
    pol = engine.policies
    spec = spec_for(engine.policies_dir)
    changes = assumable(pol, enc, spec, change_service)
    code_target = None
    if target and target.lower() != "allow":
        code, mods = parse_asked(target, "--target")
        code_target = (slot_for(engine, enc, code, "--target"), code, mods)
        goal = {"code": code, "modifiers": mods}
    else:
        goal = {"outcome": "allow"}
    ov = overlay.build(engine, enc, changes, (OUTCOME_LP, MISSING_LP), OPTIONS)
    notes = [f"not assumed: {ch.path} ({why})" for ch, why in ov.skipped if why != "changes no fact the rules read"]
    if not change_service:
        notes.append("the service itself is not changed (no muscle or diagnosis added); --change-service allows it")
    if code_target:
        _add_target(ov, *code_target, spec.get("denial_categories", []))
    ov.ctl.ground([("base", [])])
    baseline = overlay.baseline(engine, enc, ov)
    out = {"encounter": enc.id, "target": goal, "baseline": summary(baseline)}
    if code_target:
        ov.ctl.assign_external(Function("goal_code"), True)
        out["alternatives"] = _search(engine, enc, ov, baseline, lambda r: _carries(r, code_target), notes)
        if not out["alternatives"]:
            notes.append(f"no set of the facts that may be assumed makes {target} valid")
    else:
        ov.ctl.assign_external(Function("goal_outcome", [Function("allow")]), True)
        out["alternatives"] = _search(engine, enc, ov, baseline, lambda r: r["outcome"] == "allow", notes)
        if not out["alternatives"]:
            out["reachable"] = False
            notes.append("allow is not reachable with the facts that may be assumed (a coding error of the submitted claim "
                         "that no documentation fixes, or a rule no documentation meets)")
            if enc.claim is None:
                notes.append("no claim was submitted, so modify (a submitted claim corrected) is no outcome here")
            else:
                ov.ctl.assign_external(Function("goal_outcome", [Function("allow")]), False)
                ov.ctl.assign_external(Function("goal_outcome", [Function("modify")]), True)
                nearest = _search(engine, enc, ov, baseline, lambda r: r["outcome"] == "modify", notes)
                out["nearest"] = {"target": {"outcome": "modify"}, "alternatives": nearest}
                if not nearest:
                    notes.append("modify is not reachable either")
    out["searched"] = {"assumable": sorted({ch.path for ch in ov.changes}), "notes": notes}
    return out


def _add_target(ov: overlay.Overlay, slot, code: str, mods: list[str], denial: list[str]) -> None:
    E = Number(0)
    with ov.ctl.backend() as bk:
        for sym in [Function("target_slot", [E, slot]), Function("target_code", [E, slot, String(code)]),
                    *(Function("target_modifier", [E, slot, String(m)]) for m in mods),
                    *(Function("denial_category", [String(c)]) for c in denial)]:
            bk.add_rule([bk.add_atom(sym)])


def _carries(result: dict, target) -> bool:
    _slot, code, mods = target
    return any(line["code"] == code and sorted(line["modifiers"]) == sorted(mods) for line in result["claim"])


_BOUND = ("#external bound_on(k).\n"
          ":- bound_on(k), encounter(E), #sum{ W,A : change(E,A), change_cost(E,A,W) } > n.")


def _search(engine, enc: Encounter, ov: overlay.Overlay, baseline: dict, reached, notes: list[str]) -> list[dict]:
    """Minimise the cost, enumerate every set of that cost (projected on the facts assumed), verify each."""
    ctl = ov.ctl
    ctl.configuration.solve.opt_mode = "opt"
    ctl.configuration.solve.models = "0"
    ctl.configuration.solve.project = "no"
    best: list[int] = []
    res = ctl.solve(on_model=lambda m: best.__setitem__(slice(None), [m.cost[0] if m.cost else 0]))
    if not res.satisfiable:
        return []
    k = ov.searches = getattr(ov, "searches", 0) + 1
    if k == 1:
        ctl.add("bound", ["k", "n"], _BOUND)
    ctl.ground([("bound", [Number(k), Number(best[0])])])
    guard = Function("bound_on", [Number(k)])
    ctl.assign_external(guard, True)
    ctl.configuration.solve.opt_mode = "ignore"
    ctl.configuration.solve.project = "project"
    sets: list[frozenset[int]] = []
    with ctl.solve(yield_=True) as handle:
        for model in handle:
            sets.append(overlay.chosen(model))
            if len(sets) >= MAX_ALTERNATIVES:
                notes.append(f"only the first {MAX_ALTERNATIVES} alternatives of the lowest cost are listed")
                break
    ctl.assign_external(guard, False)
    found = []
    ordered = sorted(sets, key=lambda s: (len(s), sorted(ov.changes[a].path for a in s)))
    for chs, _variant, result in check_variants(engine, enc, [[ov.changes[a] for a in sorted(s)] for s in ordered]):
        if reached(result):
            found.append({"facts": [c.as_dict() for c in chs], "outcome": result["outcome"], "claim": result["claim"],
                          "rules": rules_satisfied(baseline, result), "cost": sum(c.cost for c in chs)})
        else:
            notes.append("dropped (the real check does not reach the target): "
                         + ", ".join(f"{c.path}={c.value}" for c in chs)
                         + f" -> {result['outcome']} " + " ".join(line_text(x) for x in result["claim"]))
    return found
