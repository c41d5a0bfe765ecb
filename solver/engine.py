"""The solver: one knowledge base, parsed once per process, answering batches of encounters.

Every input predicate carries the encounter key, so many encounters share one grounding; a batch of one is
a single check. The knowledge base is parsed to an AST once and the files a batch needs (the core and the
families of the rules in force) are replayed into each Control; rule and code-table facts are built once;
per encounter only its own facts are added, through the backend (the symbol API).
"""
from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import clingo
from clingo import ast as clingo_ast

from solver import policy_cache
from solver.prune import live as live_statements, read as read_statements
from solver.encounter import Encounter, encounter_list, one_encounter
from solver.errors import InputError, Problem
from solver.explain import result_of_terms
from solver.facts import EncounterFacts, encounter_codes, encounter_facts, handles_of, rule_facts, table_facts
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import Policies, load_policies  # noqa: F401 - load_policies: the uncached loader
from solver import symbols
from solver.symbols import handle

SOLVER_OPTIONS = ["--opt-strategy=usc", "--opt-mode=opt"]
_INCLUDE = re.compile(r'^#include\s+"([^"]+)"\s*\.\s*$', re.M)


def kb_parts(kb_dir: Path = KB_DIR) -> list[tuple[str, list]]:
    """(file, parsed statements without comments) for each file kb/main.lp includes, in order."""
    main = (kb_dir / "main.lp").read_text(encoding="utf-8")
    parts = []
    for name in _INCLUDE.findall(main):
        stmts: list = []
        clingo_ast.parse_string((kb_dir / name).read_text(encoding="utf-8"),
                                lambda stmt: stmt.ast_type != clingo_ast.ASTType.Comment and stmts.append(stmt))
        parts.append((name, stmts))
    return parts


@dataclass
class Timings:
    """Where the time goes, in seconds, summed over the calls of one engine."""

    facts: float = 0.0
    ground: float = 0.0
    solve: float = 0.0
    explain: float = 0.0
    encounters: int = 0

    def as_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class Engine:
    policies_dir: Path = POLICIES_DIR
    kb_dir: Path = KB_DIR
    policies: Policies = field(init=False)
    timings: Timings = field(default_factory=Timings)
    # True: a check grounds only the statements that may fire for its facts (solver/prune.py), 4% less CPU a
    # single varied check and 12% a shipped case's; reading the statements for it costs about 0.1 s once, so it
    # is for an engine that lives long (a ResidentEngine's own: the service's workers, the Python API), not for a
    # command's cold start. False: every statement (also the reference of the pruning: tests/test_prune.py).
    prune: bool = False
    # What clingo said while grounding (a warning is a defect of the knowledge base; tests require none).
    messages: list[str] = field(default_factory=list)
    # handles of each rule's facts and of each rule set's (solver/symbols.py), made on first use
    _rule_handles: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _set_handles: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # the statements as solver/prune.py reads them (made on first use), and the pruned programs of the last inputs
    _read_parts: list | None = field(default=None, init=False, repr=False, compare=False)
    _pruned: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        # validated once, then read from the policies cache while no file (nor the code) changes
        self.policies = policy_cache.load(self.policies_dir, self.kb_dir)
        # The knowledge base is parsed once; a batch grounds the core files and the families of the rules
        # in force for its encounters (a family no rule uses derives nothing).
        family_files = {name: "families/" + spec["file"] for name, spec in self.policies.families.items()}
        # `#defined` statements apart: a batch replays only those of predicates it gives no facts of (each
        # statement's kind read once, as it is parsed: the same parts as kb_parts, for less of a cold start)
        comment, defined_kind = clingo_ast.ASTType.Comment, clingo_ast.ASTType.Defined
        self._parts = []
        for name in _INCLUDE.findall((self.kb_dir / "main.lp").read_text(encoding="utf-8")):
            rules: list = []
            defined: list = []

            def keep(stmt, rules=rules, defined=defined) -> None:
                kind = stmt.ast_type
                if kind == defined_kind and stmt.positive:
                    defined.append(((stmt.name, stmt.arity), stmt))
                elif kind != comment:
                    rules.append(stmt)

            clingo_ast.parse_string((self.kb_dir / name).read_text(encoding="utf-8"), keep)
            self._parts.append((name, rules, defined))
        self._family_file = family_files
        self._rule_facts: dict[int, list[clingo.Symbol]] = {}  # built on first use: a single check needs few
        self._table_facts = table_facts(self.policies)

    def _rules(self, k: int) -> list[clingo.Symbol]:
        facts = self._rule_facts.get(k)
        if facts is None:
            facts = self._rule_facts[k] = rule_facts(self.policies, self.policies.instances[k])
        return facts

    # --- public API --------------------------------------------------------------------------------
    def unknown_payer(self, enc: Encounter) -> Problem | None:
        if enc.payer in self.policies.payers:
            return None
        return Problem("(encounter)", "payer", f"unknown payer {enc.payer!r}; the payers are {sorted(self.policies.payers)}")

    def check(self, enc: Encounter) -> dict:
        one_encounter(enc, "Engine.check")
        return self.check_many([enc])[0]

    def check_many(self, encounters: list[Encounter]) -> list[dict]:
        """Answer encounters in one grounding. Payers must be known (see unknown_payer).

        When the batch cannot be grounded or solved, its encounters are answered one by one, so the others
        are still answered; one that fails alone gets a result {"outcome": "error", "errors": [...]}."""
        encounters = encounter_list(encounters, "Engine.check_many")
        for enc in encounters:
            if enc.payer not in self.policies.payers:
                raise InputError([Problem("(encounter)", "payer", f"unknown payer {enc.payer!r} in encounter {enc.id}")])
        try:
            return self._solve(encounters)
        except Exception as exc:  # noqa: BLE001 - any failure of one encounter must not lose the others
            if len(encounters) == 1:
                return [_failure(encounters[0], exc)]
        out = []
        for enc in encounters:
            try:
                out += self._solve([enc])
            except Exception as exc:  # noqa: BLE001
                out.append(_failure(enc, exc))
        return out

    def control(self, encounters: list[Encounter], extra: tuple[Path, ...] = (), options: list[str] | None = None,
                messages: list[str] | None = None, withhold: frozenset = frozenset(),
                parts: list | None = None, pruned: bool = False) -> tuple[clingo.Control, list[EncounterFacts]]:
        """A Control holding the knowledge base (core and the families in force), the tables, rules and facts of
        these encounters (keyed 0..n-1), and the extra program files (e.g. kb/search/*.lp), not yet grounded.

        The search programs (what-if, verify, policy diff) start from this, add their own choices and goals and
        solve with their own options; a check is the same Control with SOLVER_OPTIONS and nothing extra.
        Encounter facts in `withhold` are not added: the caller adds them under its own conditions (a search
        that may remove a fact of the encounter). `parts`: the knowledge base's parsed parts to replay in place of
        the engine's own (the same shape, e.g. fewer statements); the engine is left as it is. `pruned`: leave out
        the statements that cannot fire for these facts (solver/prune.py): only for a program that gets no fact
        nor rule after this (a check's; not with extra, withhold or parts)."""
        sink = messages if messages is not None else []

        def log(code, msg: str) -> None:  # kept for an error of this grounding, and for the engine's record
            sink.append(msg.strip())
            self._log(code, msg)

        ctl = clingo.Control(SOLVER_OPTIONS if options is None else options, logger=log, message_limit=5)
        facts = [encounter_facts(self.policies, enc, n) for n, enc in enumerate(encounters)]
        sets = {self.policies.in_force_set(enc.payer, enc.date_of_service) for enc in encounters}
        in_force = {k for s in sets for k in self.policies.set_members(s)}
        files = {self._family_file[self.policies.instances[k].rule.family] for k in in_force}
        codes = set().union(*(encounter_codes(self.policies, enc) for enc in encounters)) if encounters else set()
        fixed, given = self.fixed_facts(codes, in_force)
        # A `#defined` statement costs the grounder a statement: those of predicates this batch has facts of
        # are left out (the others are kept, so clingo stays silent about inputs no encounter gives).
        given = given.union(*(ef.signatures for ef in facts))
        if sets:
            given.add(("rule_set_member", 2))
        if pruned and not extra and not withhold and parts is None:
            families = frozenset(self.policies.instances[k].rule.family for k in in_force)
            program = self.pruned_statements(files, given, families)
        else:
            program = None
        with clingo_ast.ProgramBuilder(ctl) as builder:
            self.replay(builder, files, program, lambda signature: signature not in given, parts)
            for path in extra:
                for stmt in _parsed(Path(path)):
                    builder.add(stmt)
        add = symbols.builder().add_facts
        with ctl.backend() as backend:
            add(backend, fixed)
            for s in sorted(sets):
                add(backend, self.set_handles(s))
            kept = {handle(sym) for sym in withhold}
            for ef in facts:
                add(backend, [r for r in ef.reps if r not in kept] if kept else ef.reps)
        return ctl, facts

    def fixed_facts(self, codes: set[str], rules) -> tuple[list[int], set[tuple[str, int]]]:
        """The code tables' facts for these codes, then those of these rules (by key), as symbol handles in that
        order, with their signatures; each rule's made once (they never change)."""
        fixed, given = self._table_facts.handles_for_codes(codes)
        by_rule = self._rule_handles
        for k in sorted(rules):
            got = by_rule.get(k)
            if got is None:
                got = by_rule[k] = handles_of(self._rules(k))
            fixed += got[0]
            given |= got[1]
        return fixed, given

    def set_handles(self, set_id: int) -> list[int]:
        """The rule_set_member facts of a rule set, as symbol handles, made once."""
        got = self._set_handles.get(set_id)
        if got is None:
            got = self._set_handles[set_id] = [handle(sym) for sym in self._set_facts(set_id)]
        return got

    def replay(self, builder, files: set, program: list | None, defined, parts: list | None = None) -> None:
        """Add the knowledge base to a ProgramBuilder: the core and these family files (parts: in place of the
        engine's own), or `program` in place of their statements (pruned_statements); and the `#defined`
        statements of the signatures `defined(signature)` is true for."""
        for name, stmts, defs in (self._parts if parts is None else parts):
            if name.startswith("families/") and name not in files:
                continue
            if program is None:
                for stmt in stmts:
                    builder.add(stmt)
            for signature, stmt in defs:
                if defined(signature):
                    builder.add(stmt)
        for stmt in program or ():
            builder.add(stmt)

    def pruned_statements(self, files: set, given: set, families: frozenset) -> list:
        """The statements of the core and of these family files that may fire over facts of the `given` signatures
        with rules of these families in force (solver/prune.py), kept for the last 256 inputs asked. Every
        statement when one is of a form the pruning does not read."""
        key = (frozenset(files), frozenset(given), families)
        got = self._pruned.get(key)
        if got is None:
            parts = [(name, read) for (name, read), (_n, stmts, _d) in zip(self.pruning_parts(), self._parts)
                     if not name.startswith("families/") or name in files]
            if any(read is None for _name, read in parts):
                got = [stmt for name, stmts, _d in self._parts if not name.startswith("families/") or name in files
                       for stmt in stmts]
            else:
                got = live_statements([st for _name, read in parts for st in read], given, families)
            self._pruned[key] = got
            if len(self._pruned) > 256:
                self._pruned.pop(next(iter(self._pruned)), None)  # the oldest (another thread may have taken it)
        return got

    def pruning_parts(self) -> list:
        """(file, its statements as solver/prune.py reads them, or None) for each part, read on first use."""
        if self._read_parts is None:
            self._read_parts = [(name, read_statements(stmts)) for name, stmts, _defined in self._parts]
        return self._read_parts

    def _solve(self, encounters: list[Encounter]) -> list[dict]:
        t0 = time.perf_counter()
        messages: list[str] = []
        ctl, facts = self.control(encounters, messages=messages, pruned=self.prune)
        t1 = time.perf_counter()
        try:
            ctl.ground([("base", [])])
        except RuntimeError as exc:
            raise RuntimeError("; ".join([str(exc)] + messages)) from None
        t2 = time.perf_counter()
        shown: list[int] = []  # the handles of the shown atoms of the last (optimal) model

        def on_model(model: clingo.Model) -> None:
            shown[:] = symbols.model_handles(model)

        ctl.solve(on_model=on_model)
        t3 = time.perf_counter()
        by_encounter: dict[int, list[symbols.Term]] = defaultdict(list)
        for t in map(symbols.term, shown):
            by_encounter[t.args[0].value].append(t)
        results = [result_of_terms(self.policies, enc, ef, by_encounter.get(ef.key, []))
                   for enc, ef in zip(encounters, facts)]
        t4 = time.perf_counter()
        tm = self.timings
        tm.facts += t1 - t0
        tm.ground += t2 - t1
        tm.solve += t3 - t2
        tm.explain += t4 - t3
        tm.encounters += len(encounters)
        return results

    def _log(self, _code, message: str) -> None:
        if len(self.messages) < 100:  # bounded: a long-lived process never grows on a repeated message
            self.messages.append(message)

    def _set_facts(self, set_id: int) -> list[clingo.Symbol]:
        return [clingo.Function("rule_set_member", [clingo.Number(set_id), clingo.Number(k)])
                for k in self.policies.set_members(set_id)]

    def facts_program(self, enc: Encounter) -> str:
        """The facts of one encounter and its payer's policy, as text for `python -m clingo kb/main.lp facts.lp`.

        Text is produced by clingo's own symbol printer (str(Symbol)), never by formatting input values
        into rules, so the replay reads exactly the atoms the engine adds."""
        ef: EncounterFacts = encounter_facts(self.policies, enc, 0)
        set_id = self.policies.in_force_set(enc.payer, enc.date_of_service)
        rules = [sym for k in self.policies.set_members(set_id) for sym in self._rules(k)] + self._set_facts(set_id)
        lines = [f"% payerkb compile: one encounter for payer {enc.payer}, date of service {enc.date_of_service.isoformat()}",
                 f"% replay: python -m clingo {self.kb_dir / 'main.lp'} <this file>",
                 "% rule_name(K,Payer,RuleId,Version) names each rule key K of violation/4."]
        tables = self._table_facts.for_codes(encounter_codes(self.policies, enc))
        lines += [f"{sym}." for sym in tables + rules + ef.symbols]
        return "\n".join(lines) + "\n"


_PARSED: dict[str, tuple[float, list]] = {}  # path -> (its time when parsed, statements): the last version only


def _parsed(path: Path) -> list:
    """The statements of an extra program file, parsed once per process (and again when the file changes)."""
    key, mtime = str(path.resolve()), path.stat().st_mtime
    got = _PARSED.get(key)
    if got is None or got[0] != mtime:
        stmts: list = []
        clingo_ast.parse_string(path.read_text(encoding="utf-8"),
                                lambda stmt: stmt.ast_type != clingo_ast.ASTType.Comment and stmts.append(stmt))
        got = _PARSED[key] = (mtime, stmts)
    return got[1]


def _failure(enc: Encounter, exc: Exception) -> dict:
    """The result of an encounter the solver could not answer: an error of its own, the others unharmed."""
    why = f"{exc.__class__.__name__}: {exc}"[:300]
    return {"encounter": enc.id, "outcome": "error",
            "errors": [{"file": "(encounter)", "record": None, "field": "(record)",
                        "message": f"the solver could not answer this encounter ({why}); check its values, "
                                   "or report the record to the maintainers of payerkb"}]}
