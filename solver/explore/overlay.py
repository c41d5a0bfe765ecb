"""Changes of an encounter as choices in one solver program.

Each change (solver/explore/assumable.py, a contract-v1 path and value) is applied to the encounter and its facts
compared with the encounter's own: the facts it adds and the facts it removes. In the program, change(E,A)
is an atom the search program chooses (kb/search/missing.lp, sensitivity.lp); each added fact holds when
one of its changes is chosen, each removable fact of the encounter holds unless one of its changes is
chosen. Facts are symbols throughout (the backend), never ASP text."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import clingo
from clingo import Function, Number

from solver.explore.assumable import Change
from solver.explore.contract_paths import apply_changes
from solver.encounter import Encounter
from solver.errors import InputError
from solver.explain import build_result
from solver.facts import EncounterFacts, encounter_facts


_RESULT_ATOMS = {"violation", "evidence", "detail", "line", "line_units", "line_modifier", "line_diagnosis", "alternative"}


@dataclass
class Overlay:
    ctl: clingo.Control
    changes: list[Change]  # change(0,A) stands for changes[A]
    skipped: list[tuple[Change, str]]  # changes that do not apply to this encounter, and why
    facts: EncounterFacts  # the encounter's own facts (for reading a result back)


def select(engine, enc: Encounter, changes: list[Change]) -> tuple[list[Change], list[tuple[Change, str]], list[tuple[set, set]]]:
    """(the changes kept, those skipped and why, each kept change's facts added and removed)."""
    pol = engine.policies
    base = set(encounter_facts(pol, enc, 0).symbols)
    kept: list[Change] = []
    skipped: list[tuple[Change, str]] = []
    diffs: list[tuple[set, set]] = []
    for ch in changes:
        try:
            variant = apply_changes(enc, [ch.as_change()])
        except InputError as exc:
            skipped.append((ch, str(exc.problems[0])))
            continue
        facts = set(encounter_facts(pol, variant, 0).symbols)
        if facts == base:
            skipped.append((ch, "changes no fact the rules read"))
            continue
        kept.append(ch)
        diffs.append((facts - base, base - facts))
    return kept, skipped, diffs


def build(engine, enc: Encounter, changes: list[Change], extra: tuple[Path, ...], options: list[str]) -> Overlay:
    """A Control with the knowledge base, the encounter, and each change as change_option(0,A)."""
    kept, skipped, diffs = select(engine, enc, changes)
    withhold = frozenset().union(*(removed for _added, removed in diffs)) if diffs else frozenset()
    ctl, facts = engine.control([enc], extra=extra, options=options, withhold=withhold)
    E = Number(0)
    groups = {ch.exclusive for ch in kept if ch.exclusive}
    group_id = {g: n for n, g in enumerate(sorted(groups))}
    with ctl.backend() as bk:
        def fact(sym):
            bk.add_rule([bk.add_atom(sym)])

        retract = {sym: bk.add_atom(Function("retracted", [sym])) for sym in withhold}
        for sym, r in retract.items():
            bk.add_rule([bk.add_atom(sym)], [-r])
        for a, (ch, (added, removed)) in enumerate(zip(kept, diffs)):
            A = Number(a)
            fact(Function("change_option", [E, A]))
            fact(Function("change_cost", [E, A, Number(ch.cost)]))
            if ch.exclusive:
                fact(Function("change_group", [E, Number(group_id[ch.exclusive]), A]))
            chosen = bk.add_atom(Function("change", [E, A]))
            for sym in added:
                bk.add_rule([bk.add_atom(sym)], [chosen])
            for sym in removed:
                bk.add_rule([retract[sym]], [chosen])
    return Overlay(ctl, kept, skipped, facts[0])


def baseline(engine, enc: Encounter, ov: Overlay) -> dict:
    """The check's result for the encounter as it is, from the grounded overlay: no change (the external
    no_change/0 of the search program), the check's own optimisation. Call after grounding."""
    ctl = ov.ctl
    guard = Function("no_change")
    ctl.assign_external(guard, True)
    ctl.configuration.solve.opt_mode = "opt"
    ctl.configuration.solve.project = "no"
    ctl.configuration.solve.models = "0"
    shown: list = []
    ctl.solve(on_model=lambda m: shown.__setitem__(slice(None), m.symbols(shown=True)))
    ctl.assign_external(guard, False)
    return build_result(engine.policies, enc, ov.facts, [s for s in shown if s.name in _RESULT_ATOMS])


def chosen(model: clingo.Model) -> frozenset[int]:
    """The changes a model chose (change(0,A) atoms)."""
    return frozenset(s.arguments[1].number for s in model.symbols(shown=True) if s.name == "change")
