"""Searches on resident programs: the facts that may be assumed are externals left free with a cost, and the
solver chooses the cheapest sets that reach a goal (explain --missing's goal, kb/search/missing.lp).

A search program is a second kind of program per shape: the knowledge base with kb/search/outcome.lp and
kb/search/missing.lp (solver.resident.program.ShapeProgram with extra files and the search's clingo options),
grounded once and kept in the engine's cache beside the check programs (key ("search", shape)). One search:
- each change (a contract-v1 change: solver/explore/assumable.py) is applied to the encounter and encoded; its
  difference from the baseline is the externals it makes true and those it makes false (plan());
- the baseline's externals are assigned as for a check; those some change touches are left free
  (assign_external(lit, None));
- each change is an atom chosen under a guard (an external of this search alone), tied to the free externals by
  constraints (a free external holds iff it is the baseline's and no chosen change removes it, or a chosen change
  adds it: what solver/explore/overlay.py says with rules), its cost in a minimize statement at missing.lp's
  priority 20, changes of one exclusive group never together;
- the goal is missing.lp's external goal_outcome(O).
The cost is minimised, then every set of that cost is enumerated, projected on the change atoms. After the search
the guard is released (its rules hold nothing any more); a search program is dropped after SEARCHES_KEPT searches
(each leaves its released rules behind). A change that leaves the shape (another bucket, an input outside the
program's domain, a renamed value the baseline names otherwise or another change names too) cannot be free
externals: plan() answers None and the caller searches as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import clingo
from clingo import Function

from solver.explore.assumable import Change
from solver.explore.contract_paths import apply_changes
from solver.explore.missing import OPTIONS as MISSING_OPTIONS
from solver.encounter import Encounter
from solver.errors import InputError
from solver.resident.program import ShapeProgram
from solver.resident.shape import Encoded, encode

SEARCH_FILES = ("outcome.lp", "missing.lp")  # in the engine's own kb/search/
SEARCH_OPTIONS = MISSING_OPTIONS  # the options of explain --missing's search on an overlay: the same search
SEARCHES_KEPT = 100
COST_PRIORITY = 20  # kb/search/missing.lp: [W@20,E,A]


@dataclass
class Plan:
    """A search on the baseline's shape: each change as the externals it adds and removes."""

    coded: Encoded
    changes: list[Change]
    adds: list[set[tuple]]
    removes: list[set[tuple]]


@dataclass
class Assumed:
    """What a search found: the sets of changes of the lowest cost (indexes into Plan.changes)."""

    sets: list[frozenset[int]]
    cost: int | None  # None: the goal is out of reach
    truncated: bool  # more sets of that cost than the limit


def plan(pol, enc: Encounter, changes: list[Change]) -> Plan | None:
    """The baseline encoded and each change's externals added and removed; None when one cannot be expressed so."""
    base = encode(pol, enc)
    if base is None:
        return None
    true0 = set(base.true)
    adds, removes = [], []
    named: dict = {}  # renamed value -> (value, change) introduced by a change
    for n, ch in enumerate(changes):
        try:
            variant = apply_changes(enc, [ch.as_change()])
        except InputError:
            return None
        coded = encode(pol, variant)
        if coded is None or coded.shape != base.shape:
            return None
        for key, value in coded.decode.items():
            if key in base.decode:
                if base.decode[key] != value:
                    return None  # the renaming shifted: the baseline's atoms mean other values here
            else:
                seen = named.setdefault(key, (value, n, ch.exclusive))
                if seen[1] != n and (seen[0] != value or ch.exclusive is None or seen[2] != ch.exclusive):
                    return None  # two changes name one renamed value: chosen together they would be one muscle
        true = set(coded.true)
        adds.append(true - true0)
        removes.append(true0 - true)
    return Plan(base, list(changes), adds, removes)


def search_program(engine, shape) -> ShapeProgram:
    """The search program of a shape, from the engine's cache (built when missing)."""
    key = ("search", shape)
    prog = engine.cache.get(key)
    if prog is None or getattr(prog, "searches", 0) >= SEARCHES_KEPT:
        prog = ShapeProgram(engine.reference, shape, extra=tuple(engine.reference.kb_dir / "search" / f for f in SEARCH_FILES), options=SEARCH_OPTIONS)
        prog.searches = 0
        engine.cache.put(key, prog)
    return prog


def fits(prog: ShapeProgram, p: Plan) -> bool:
    """Every external of the baseline and of the changes is in the program's domain."""
    return prog.literals(p.coded.true) is not None and all(k in prog.atoms for k in set().union(*p.adds, *p.removes))


def cheapest(prog: ShapeProgram, p: Plan, goal: str = "allow", limit: int = 12) -> Assumed:
    """The sets of changes of the lowest cost whose facts make the outcome `goal` (allow or modify). The plan fits
    the program (fits())."""
    atoms = prog.atoms
    base = prog.literals(p.coded.true)
    touched = {key: atoms[key] for key in set().union(*p.adds, *p.removes)}
    ctl = prog.ctl
    prog.searches += 1
    base_true = set(p.coded.true)
    with ctl.backend() as bk:
        guard = bk.add_atom()
        bk.add_external(guard, clingo.TruthValue.False_)
        chosen = [bk.add_atom() for _ in p.changes]
        for c in chosen:
            bk.add_rule([c], [guard], choice=True)
        adders: dict[tuple, list[int]] = {k: [] for k in touched}
        removers: dict[tuple, list[int]] = {k: [] for k in touched}
        for c, add, rem in zip(chosen, p.adds, p.removes):
            for k in add:
                adders[k].append(c)
            for k in rem:
                removers[k].append(c)
        for key, x in touched.items():
            a, r = adders[key], removers[key]
            for c in a:  # a chosen change that adds it: it holds
                bk.add_rule([], [guard, -x, c])
            if key in base_true:  # the baseline's: it holds unless a chosen change removes it (and none adds it)
                for c in r:
                    bk.add_rule([], [guard, x, c, *(-y for y in a)])
                bk.add_rule([], [guard, -x, *(-y for y in r)])
            else:  # not the baseline's: it holds only when a chosen change adds it
                bk.add_rule([], [guard, x, *(-y for y in a)])
        groups: dict[str, list[int]] = {}
        for c, ch in zip(chosen, p.changes):
            if ch.exclusive:
                groups.setdefault(ch.exclusive, []).append(c)
        for members in groups.values():
            for i, c in enumerate(members):
                for d in members[i + 1:]:
                    bk.add_rule([], [guard, c, d])
        if chosen:
            bk.add_minimize(COST_PRIORITY, [(c, ch.cost) for c, ch in zip(chosen, p.changes)])
            bk.add_project(chosen)
        over = bk.add_atom()  # the bound of the enumeration: a cost above the optimum
        bound_guard = bk.add_atom()
        bk.add_external(bound_guard, clingo.TruthValue.False_)
    goal_atom = Function("goal_outcome", [Function(goal)])
    prog.assign(base)
    for lit in touched.values():
        ctl.assign_external(lit, None)
    ctl.assign_external(guard, True)
    ctl.assign_external(goal_atom, True)
    try:
        return _enumerate(ctl, chosen, p, over, bound_guard, limit)
    finally:
        ctl.assign_external(goal_atom, False)
        ctl.release_external(guard)
        ctl.release_external(bound_guard)
        for key, lit in touched.items():
            ctl.assign_external(lit, key in base_true)  # the baseline's again, as prog.assign left them


def _enumerate(ctl, chosen: list[int], p: Plan, over: int, bound_guard: int, limit: int) -> Assumed:
    conf = ctl.configuration.solve
    conf.opt_mode, conf.models, conf.project = "opt", "0", "no"
    best: list = []

    def on_model(m: clingo.Model) -> None:
        best[:] = [sum(ch.cost for c, ch in zip(chosen, p.changes) if m.is_true(c))]

    if not ctl.solve(on_model=on_model).satisfiable:
        return Assumed([], None, False)
    if not chosen:
        return Assumed([frozenset()], 0, False)
    with ctl.backend() as bk:  # over :- cost > best.  :- over, bound_guard.
        bk.add_weight_rule([over], best[0] + 1, [(c, ch.cost) for c, ch in zip(chosen, p.changes)])
        bk.add_rule([], [over, bound_guard])
    ctl.assign_external(bound_guard, True)
    conf.opt_mode, conf.project = "ignore", "project"
    sets: list[frozenset[int]] = []
    truncated = False
    with ctl.solve(yield_=True) as handle:
        for m in handle:
            sets.append(frozenset(n for n, c in enumerate(chosen) if m.is_true(c)))
            if len(sets) >= limit:
                truncated = True
                break
    conf.opt_mode, conf.project = "opt", "no"
    return Assumed(sets, best[0], truncated)
