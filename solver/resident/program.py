"""One ground program per (rule set, shape): the knowledge base with the shape's facts, and every other
encounter input an `#external` over the shape's domain (default false), assigned per query and re-solved.

The program grounds the same files, rule facts and code-table rows as the reference engine does for one
encounter of that shape (solver.engine.Engine._solve); only the encounter's own facts differ, as externals.
A Control is not thread-safe: a program belongs to one worker process and answers one query at a time.
"""
from __future__ import annotations

import time
from functools import lru_cache

import clingo
import clingo.ast
from clingo import Function, Number, Symbol

from solver import symbols
from solver.facts import _sym
from solver.param_types import DOCUMENTATION_ELEMENTS
from solver.policy import Policies
from solver.resident.shape import R_PCT, R_TEXT, R_WKS, Shape, known_modifiers, r_day, r_dx, r_gap, r_mod, r_mu, r_note, r_plus
from solver.symbols import handle
from solver.thresholds import thresholds

SIDES = ("left", "right", "midline", "unspecified")
GUIDANCE = ("ultrasound", "fluoroscopy", "ct", "mri")
INJECTION_ELEMENTS = ("muscle", "substance", "dose")
DIAGNOSIS_STATUSES = ("billable", "header", "invalid")


def domain(pol: Policies, shape: Shape) -> tuple[list[tuple], list[tuple]]:
    """(placeholder facts, external atoms) of a shape's program, as (name, args) without the encounter key:
    the form of solver.resident.shape.encode's true externals."""

    def a(name, *args):
        return (name, args)

    th = thresholds(pol, shape.set_id)
    facts = {n: [x for m, x in shape.facts if m == n] for n in ("slot", "claim_line")}
    slots = [x[0] for x in facts["slot"]]
    lines = [x[0] for x in facts["claim_line"]]
    inj_slots = [s for s in slots if s.name in ("tpi", "dry_needling") and not s.arguments]
    regions = sorted({m.get("region") for m in pol.vocabulary.muscles.values() if m.get("region")})
    classes = [c for c, _ in pol.tables.substance_terms_key] + ["other"]
    ext: list[Symbol] = []
    for i in range(1, shape.injections + 1):
        ext += [a("injection_slot", i, s) for s in inj_slots]
        ext += [a("injection_muscle", i, r_mu(k)) for k in range(1, i + 1)]
        ext += [a("injection_side", i, s) for s in SIDES]
        ext += [a("injection_region", i, r) for r in regions]
        ext.append(a("injection_unnamed", i, R_TEXT))
        ext += [a("injection_documented", i, el) for el in INJECTION_ELEMENTS]
        ext += [a("injection_substance_class", i, c) for c in classes]
        ext += [a("injection_guidance", i, g) for g in GUIDANCE]
    for i in range(1, shape.diagnoses + 1):
        d = r_dx(i)
        ext.append(a("diagnosis", d, i))
        ext += [a("diagnosis_status", d, st) for st in DIAGNOSIS_STATUSES]
        ext.append(a("diagnosis_uncertain", d, r_note(i)))
        ext += [a("diagnosis_excludes1", d, r_dx(j)) for j in range(1, shape.diagnoses + 1) if j != i]
        ext += [a("diagnosis_in_list", k, d) for k, _ in th.dx_lists]
        ext += [a("diagnosis_supports_region", k, r, d) for k, r, _ in th.dx_regions]
        ext += [a("claim_diagnosis", ln, d) for ln in lines]
    ext += [a("slot_distinct", s) for s in slots]
    ext += [a("evaluation_separately_identifiable"), a("evaluation_new_patient")]
    ext += [a("documented", el) for el in DOCUMENTATION_ELEMENTS]
    ext += [a("therapy_weeks_at_least", w) for w in th.therapy_weeks]
    ext.append(a("prior_relief", R_PCT, R_WKS))
    ext += [a("relief_at_least", p, w) for p, w in th.relief]
    placeholders: list[Symbol] = []
    for j in range(1, shape.history + 1):
        ext += [a("prior_session", j, c) for c in shape.history_codes]
        ext += [a("prior_gap_below", j, n) for n in th.gap_days]
        ext += [a("prior_on_or_after", j, day) for day in th.from_days]
        ext += [a("prior_session_region", j, r) for r in regions]
        placeholders += [a("prior_session_date", j, r_day(j)), a("prior_session_gap", j, r_gap(j))]
        placeholders += [a("prior_session_plus", j, n, r_plus(j, n)) for n in th.gap_days]
    mods = sorted(known_modifiers(pol)) + [r_mod(k) for k in range(1, shape.unknown_modifiers + 1)]
    ext += [a("claim_modifier", ln, m) for ln in lines for m in mods]
    return placeholders, ext


_STATEMENTS: dict[tuple[str, int], object] = {}
_E0 = Number(0)


@lru_cache(maxsize=200_000)
def _atom(name: str, args: tuple) -> Symbol:
    """The atom of (name, args) for encounter key 0; shapes share most of their domain, so most are made once."""
    return Function(name, [_E0, *map(_sym, args)])


_LOC = clingo.ast.Location(clingo.ast.Position("<resident>", 1, 1), clingo.ast.Position("<resident>", 1, 1))


def _external_statements(signatures: set[tuple[str, int]]) -> list:
    """`#external p(V1,..,Vn) : r_dom_p(V1,..,Vn).` for each input signature, built as AST nodes (no program
    text: the names are the vocabulary's input predicates, and no encounter value is in them), made once."""
    ast = clingo.ast
    out = []
    for name, arity in sorted(signatures):
        stmt = _STATEMENTS.get((name, arity))
        if stmt is None:
            variables = [ast.Variable(_LOC, f"V{i}") for i in range(arity)]
            head = ast.SymbolicAtom(ast.Function(_LOC, name, variables, 0))
            domain = ast.Literal(_LOC, ast.Sign.NoSign, ast.SymbolicAtom(ast.Function(_LOC, f"r_dom_{name}", variables, 0)))
            stmt = _STATEMENTS[(name, arity)] = ast.External(_LOC, head, [domain], ast.SymbolicTerm(_LOC, clingo.Function("false")))
        out.append(stmt)
    return out


class ShapeProgram:
    """A grounded program of one shape; solve(true externals) -> the shown atoms of the optimum."""

    def __init__(self, engine, shape: Shape, extra: tuple = (), options: list[str] | None = None):
        """extra: program files added to the knowledge base (a search program kind: kb/search/*.lp), with the
        clingo options of that search (default: the check's SOLVER_OPTIONS)."""
        from solver.engine import SOLVER_OPTIONS, _parsed
        t0 = time.perf_counter()
        pol: Policies = engine.policies
        self.shape = shape
        messages: list[str] = []  # the logger holds the list, not the program: no cycle keeps an evicted program alive
        self.messages = messages
        ctl = self.ctl = clingo.Control(SOLVER_OPTIONS if options is None else options, logger=lambda _c, m: messages.append(m.strip()), message_limit=5)
        members = pol.set_members(shape.set_id)
        codes = {x[1] for n, x in shape.facts if n in ("slot_code", "claim_line")}
        codes |= set(pol.tables.code_groups.get("tpi", [])) | set(pol.tables.code_groups.get("dry_needling", []))
        files = {engine._family_file[pol.instances[k].rule.family] for k in members}
        placeholders, ext = domain(pol, shape)
        fixed, given = engine.fixed_facts(codes, members)  # as the reference engine adds them, in its order
        fixed += engine.set_handles(shape.set_id)
        program = None
        if not extra and engine.prune:  # a check's program: no fact comes after these, so what cannot fire is left out (solver/prune.py)
            given |= {("rule_set_member", 2)}
            given |= {(name, len(args) + 1) for name, args in shape.facts + tuple(placeholders)}
            given |= {(name, len(args) + 1) for name, args in ext}
            program = engine.pruned_statements(files, given, frozenset(pol.instances[k].rule.family for k in members))
        with clingo.ast.ProgramBuilder(ctl) as builder:  # the reference engine's parts, as it replays them
            # every #defined: the inputs are externals, not facts
            engine.replay(builder, files, program, lambda _signature: True)
            for path in extra:
                for stmt in _parsed(path):
                    builder.add(stmt)
        self.atoms: dict[tuple, int] = {}
        mk = _atom

        with ctl.backend() as backend:  # as handles (solver/symbols.py): no cffi buffer a fact
            facts = list(fixed)
            facts += [handle(mk(name, args)) for name, args in shape.facts + tuple(placeholders)]
            # The externals are declared by the grounder (`#external p(X) : r_dom_p(X).`, _EXTERNALS), over domain
            # facts given through the backend: externals added through the backend itself are not seen as
            # open by the grounder's aggregates (a count over them grounds only some of its values).
            facts += [handle(mk("r_dom_" + name, args)) for name, args in ext]
            symbols.builder().add_facts(backend, facts)
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for stmt in _external_statements({(name, len(args) + 1) for name, args in ext}):
                builder.add(stmt)
        ctl.ground([("base", [])])
        found = symbols.literals(ctl.symbolic_atoms, [handle(mk(name, args)) for name, args in ext])
        for (name, args), lit in zip(ext, found):
            if lit is None:
                raise KeyError(f"external {name}{args} was not grounded")
            self.atoms[(name, args)] = lit
        self.true: set[int] = set()
        self.build_seconds = time.perf_counter() - t0

    def literals(self, true: list[tuple]) -> set[int] | None:
        """The program atoms of the externals to make true; None when one is outside the domain."""
        atoms = self.atoms
        out = set()
        for sym in true:
            atom = atoms.get(sym)
            if atom is None:
                return None
            out.add(atom)
        return out

    def assign(self, lits: set[int]) -> None:
        """Make these externals true and the others false, assigning only those that differ from the last time."""
        ctl = self.ctl
        for atom in self.true - lits:
            ctl.assign_external(atom, False)
        for atom in lits - self.true:
            ctl.assign_external(atom, True)
        self.true = lits

    def solve(self, lits: set[int]) -> list[int]:
        """The shown atoms of the optimum, as symbol handles (solver/symbols.py)."""
        ctl = self.ctl
        self.assign(lits)
        shown: list[int] = []

        def on_model(model: clingo.Model) -> None:
            shown[:] = symbols.model_handles(model)

        ctl.solve(on_model=on_model)
        return shown
