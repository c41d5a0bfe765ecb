"""explain --missing: the cheapest sets of facts that would make the outcome allow (or a given code valid).

The facts that may be assumed (policies/assumable.yaml, solver/explore/assumable.py) enter the program as choices
with a cost (solver/explore/overlay.py, kb/search/missing.lp); clingo minimises the cost, then enumerates every set
of that cost, projected on the facts assumed. Each set is applied to the encounter and checked for real;
only those that reach the target are kept (a dropped one is named in the notes)."""
from __future__ import annotations

from collections import Counter

from clingo import Function, Number, String

from solver.explore.assumable import assumable, spec_for
from solver.encounter import Encounter
from solver.explore.common import (OUTCOME_LP, SEARCH_DIR, check_variants, line_text, parse_asked, rules_satisfied,
                                   slot_for, summary)
from solver.explore import overlay

MISSING_LP = SEARCH_DIR / "missing.lp"
MAX_ALTERNATIVES = 12
OPTIONS = ["--opt-strategy=usc", "--opt-mode=opt"]


# How many searches of this process ran on a resident search program, and how many on an overlay (a change that
# leaves the shape, a code target, or a solver.engine.Engine): read by bench/resident.py and the tests.
SEARCHED_ON: Counter = Counter()


def missing(engine, enc: Encounter, target: str | None = None, change_service: bool = False,
            resident: bool | None = None) -> dict:
    """The answer of `explain --missing` (JSON shape: notes/explore.md). resident: the search on the shape's resident
    search program where every change keeps the shape (solver/resident/search.py), else on a program grounded for
    this encounter with each change as a choice (solver/explore/overlay.py). By default resident when the engine is
    a ResidentEngine (a service worker's: its programs stay warm; bench/resident.py --only-missing: 4.5x faster
    warm, 1.4x slower when both programs are built for one call), today's way for a solver.engine.Engine."""
    if resident is None:
        from solver.resident import ResidentEngine
        resident = isinstance(engine, ResidentEngine)
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
    space = _ResidentSpace.make(engine, enc, changes) if resident and not code_target else None
    if space is None:
        space = _OverlaySpace(engine, enc, changes, code_target, spec.get("denial_categories", []))
    SEARCHED_ON["resident" if isinstance(space, _ResidentSpace) else "overlay"] += 1
    notes = [f"not assumed: {ch.path} ({why})" for ch, why in space.skipped if why != "changes no fact the rules read"]
    if not change_service:
        notes.append("the service itself is not changed (no muscle or diagnosis added); --change-service allows it")
    baseline = space.baseline()
    out = {"encounter": enc.id, "target": goal, "baseline": summary(baseline)}
    if code_target:
        out["alternatives"] = _search(space, "code", baseline, lambda r: _carries(r, code_target), notes)
        if not out["alternatives"]:
            notes.append(f"no set of the facts that may be assumed makes {target} valid")
    else:
        out["alternatives"] = _search(space, "allow", baseline, lambda r: r["outcome"] == "allow", notes)
        if not out["alternatives"]:
            out["reachable"] = False
            notes.append("allow is not reachable with the facts that may be assumed (a coding error of the submitted claim "
                         "that no documentation fixes, or a rule no documentation meets)")
            if enc.claim is None:
                notes.append("no claim was submitted, so modify (a submitted claim corrected) is no outcome here")
            else:
                nearest = _search(space, "modify", baseline, lambda r: r["outcome"] == "modify", notes)
                out["nearest"] = {"target": {"outcome": "modify"}, "alternatives": nearest}
                if not nearest:
                    notes.append("modify is not reachable either")
    out["searched"] = {"assumable": sorted({ch.path for ch in space.changes}), "notes": notes}
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
_GOALS = {"code": Function("goal_code"), "allow": Function("goal_outcome", [Function("allow")]),
          "modify": Function("goal_outcome", [Function("modify")])}


class _OverlaySpace:
    """The search on a program grounded for this encounter, each change a choice (solver/explore/overlay.py)."""

    def __init__(self, engine, enc: Encounter, changes, code_target, denial: list[str]):
        engine = getattr(engine, "reference", engine)  # a ResidentEngine's reference engine grounds the overlay
        self.engine, self.enc = engine, enc
        self.ov = ov = overlay.build(engine, enc, changes, (OUTCOME_LP, MISSING_LP), OPTIONS)
        self.changes, self.skipped = ov.changes, ov.skipped
        if code_target:
            _add_target(ov, *code_target, denial)
        ov.ctl.ground([("base", [])])
        self.goal = None

    def baseline(self) -> dict:
        return overlay.baseline(self.engine, self.enc, self.ov)

    def check(self, change_sets):
        return check_variants(self.engine, self.enc, change_sets)

    def find(self, goal: str, limit: int) -> tuple[list[frozenset[int]], bool]:
        """Minimise the cost, enumerate every set of that cost (projected on the facts assumed)."""
        ov, ctl = self.ov, self.ov.ctl
        if self.goal is not None:
            ctl.assign_external(_GOALS[self.goal], False)
        ctl.assign_external(_GOALS[goal], True)
        self.goal = goal
        ctl.configuration.solve.opt_mode = "opt"
        ctl.configuration.solve.models = "0"
        ctl.configuration.solve.project = "no"
        best: list[int] = []
        res = ctl.solve(on_model=lambda m: best.__setitem__(slice(None), [m.cost[0] if m.cost else 0]))
        if not res.satisfiable:
            return [], False
        k = ov.searches = getattr(ov, "searches", 0) + 1
        if k == 1:
            ctl.add("bound", ["k", "n"], _BOUND)
        ctl.ground([("bound", [Number(k), Number(best[0])])])
        guard = Function("bound_on", [Number(k)])
        ctl.assign_external(guard, True)
        ctl.configuration.solve.opt_mode = "ignore"
        ctl.configuration.solve.project = "project"
        sets: list[frozenset[int]] = []
        truncated = False
        with ctl.solve(yield_=True) as handle:
            for model in handle:
                sets.append(overlay.chosen(model))
                if len(sets) >= limit:
                    truncated = True
                    break
        ctl.assign_external(guard, False)
        return sets, truncated


class _ResidentSpace:
    """The search on the shape's resident search program, the facts that may be assumed left free externals
    (ResidentEngine.solve_assuming, solver/resident/search.py); the sets found are checked on its check programs."""

    @classmethod
    def make(cls, engine, enc: Encounter, changes):
        """The space, with the search for allow done; None when a change leaves the shape (the overlay answers)."""
        from solver.explore.whatif import resident_engine
        res = resident_engine(engine)
        kept, skipped, _diffs = overlay.select(engine, enc, changes)
        first = res.solve_assuming(enc, assumable=kept, goal="allow", limit=MAX_ALTERNATIVES)
        if first is None:
            return None
        self = cls()
        self.res, self.enc, self.changes, self.skipped, self.found = res, enc, kept, skipped, {"allow": first}
        return self

    def baseline(self) -> dict:
        return self.res.check(self.enc)

    def check(self, change_sets):
        return check_variants(self.res, self.enc, change_sets, check=self.res.check_variants)

    def find(self, goal: str, limit: int) -> tuple[list[frozenset[int]], bool]:
        got = self.found.pop(goal, None) or self.res.solve_assuming(self.enc, assumable=self.changes, goal=goal, limit=limit)
        index = {id(c): n for n, c in enumerate(self.changes)}
        return [frozenset(index[id(c)] for c in s) for s in got["sets"]], got["truncated"]


def _search(space, goal: str, baseline: dict, reached, notes: list[str]) -> list[dict]:
    """The cheapest sets of the space for the goal, each verified by a real check."""
    sets, truncated = space.find(goal, MAX_ALTERNATIVES)
    if truncated:
        notes.append(f"only the first {MAX_ALTERNATIVES} alternatives of the lowest cost are listed")
    found = []
    ordered = sorted(sets, key=lambda s: (len(s), sorted(space.changes[a].path for a in s)))
    for chs, _variant, result in space.check([[space.changes[a] for a in sorted(s)] for s in ordered]):
        if reached(result):
            found.append({"facts": [c.as_dict() for c in chs], "outcome": result["outcome"], "claim": result["claim"],
                          "rules": rules_satisfied(baseline, result), "cost": sum(c.cost for c in chs)})
        else:
            notes.append("dropped (the real check does not reach the target): "
                         + ", ".join(f"{c.path}={c.value}" for c in chs)
                         + f" -> {result['outcome']} " + " ".join(line_text(x) for x in result["claim"]))
    return found
