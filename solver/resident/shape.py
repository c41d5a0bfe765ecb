"""The shape of an encounter, and its values renamed, for the resident engine.

An encounter's facts (solver.facts.encounter_facts, the reference engine's own) fall in three kinds:
- shape facts: what makes a ground program large when left open — the rule set in force, the services
  and their codes and units, the submitted lines with their codes, units and the slot each bills, the PTP
  rows in force on the date (kb/vocabulary.lp). They are facts of the shape's program.
- external facts: everything else (muscles, sides, regions, substance classes, guidance, documentation,
  diagnosis status and list memberships, pointers, modifiers, history and its date booleans). Each is an
  `#external` of the shape's program, over a domain fixed by the shape and its position buckets, assigned
  true per query (default false).
- facts no family reads (dos/2, prior_session_muscle/3) and the evidence values of earlier sessions,
  which the program holds as placeholders (r_day(J), r_gap(J), r_plus(J,N)) decoded after the solve.

Values are renamed so the domain never depends on the code sets: diagnoses r_dx(I) (documented ones in
rank order, then those only pointed to), muscles r_mu(K) (in order of first injection), modifiers no rule
or code table names r_mod(K), the prior relief r_pct / r_wks, texts that name no muscle r_text, the note of
an uncertain diagnosis status r_note(I). The renaming is undone on the shown atoms (decode) before the result is built, so the result is the reference
engine's. An encounter whose positions exceed the largest bucket, or with a fact of another kind, has
no shape: the reference engine answers it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from clingo import Function, Number, Symbol, SymbolType

from solver.encounter import Encounter
from solver.facts import EncounterFacts, _sym, encounter_facts
from solver.policy import Policies
from solver.symbols import handle, symbol, term

# Position buckets: a program covers up to the bucket's number of positions (smaller programs solve faster).
INJECTION_BUCKETS = (2, 4, 8, 12)
DIAGNOSIS_BUCKETS = (2, 4, 8, 12)
HISTORY_BUCKETS = (2, 6, 12, 24)
UNKNOWN_MODIFIER_BUCKETS = (0, 2, 4)

SHAPE_PREDICATES = frozenset({"encounter", "note_absent", "payer", "encounter_rules", "slot", "slot_code", "slot_units",
                              "claim_submitted", "claim_line", "claim_line_slot", "ptp_row", "ptp_row_start_unknown"})
# Read by no family (tests/test_resident_differential.py checks it), or held as placeholders by the program.
UNREAD_PREDICATES = frozenset({"dos", "prior_session_muscle"})
PLACEHOLDER_PREDICATES = frozenset({"prior_session_date", "prior_session_gap", "prior_session_plus"})
EXTERNAL_PREDICATES = frozenset({
    "injection_slot", "injection_muscle", "injection_side", "injection_region", "injection_unnamed", "injection_documented",
    "injection_substance_class", "injection_guidance", "diagnosis", "diagnosis_status", "diagnosis_excludes1",
    "diagnosis_in_list", "diagnosis_supports_region", "slot_distinct", "evaluation_separately_identifiable",
    "evaluation_new_patient", "documented", "therapy_weeks_at_least", "prior_relief", "relief_at_least", "prior_session",
    "prior_gap_below", "prior_on_or_after", "prior_session_region", "claim_modifier", "claim_diagnosis",
    "diagnosis_uncertain"})

R_TEXT = Function("r_text")
R_PCT = Function("r_pct")
R_WKS = Function("r_wks")


@lru_cache(maxsize=None)
def r_dx(i: int) -> Symbol:
    return Function("r_dx", [Number(i)])


@lru_cache(maxsize=None)
def r_note(i: int) -> Symbol:
    return Function("r_note", [Number(i)])


@lru_cache(maxsize=None)
def r_mu(k: int) -> Symbol:
    return Function("r_mu", [Number(k)])


@lru_cache(maxsize=None)
def r_mod(k: int) -> Symbol:
    return Function("r_mod", [Number(k)])


@lru_cache(maxsize=None)
def r_day(j: int) -> Symbol:
    return Function("r_day", [Number(j)])


@lru_cache(maxsize=None)
def r_gap(j: int) -> Symbol:
    return Function("r_gap", [Number(j)])


@lru_cache(maxsize=None)
def r_plus(j: int, n: int) -> Symbol:
    return Function("r_plus", [Number(j), Number(n)])


@dataclass(frozen=True)
class Shape:
    """What a program is grounded for: hashable, equal for encounters that share a program."""

    set_id: int
    facts: tuple  # shape facts, without the encounter key: (name, args of Python values and slot symbols)
    injections: int  # bucket of injection positions
    diagnoses: int  # bucket of diagnosis positions (codes in play)
    history: int  # bucket of earlier-session positions
    unknown_modifiers: int  # bucket of renamed modifiers
    history_codes: tuple[str, ...]  # codes of the earlier sessions


@dataclass
class Encoded:
    """One encounter for the resident engine: its shape, the externals true for it, how to decode."""

    shape: Shape
    true: list[tuple]  # externals to assign true, as (name, args) without the encounter key
    decode: dict[Symbol, object]  # renamed value -> the encounter's own (a Python value or a symbol)
    ef: EncounterFacts = field(repr=False)


def _bucket(n: int, buckets: tuple[int, ...]) -> int | None:
    for b in buckets:
        if n <= b:
            return b
    return None


def known_modifiers(pol: Policies) -> frozenset:
    """The modifiers a code table or a rule parameter names: the only ones the rules tell apart."""
    got = pol.__dict__.get("_known_modifiers")
    if got is None:
        mods = {m for ms in pol.tables.modifier_groups.values() for m in ms}
        for inst in pol.instances:
            types = {n.rstrip("?"): t for n, t in (pol.families[inst.rule.family].get("params") or {}).items()}
            mods |= {str(v) for n, v in inst.params.items() if types.get(n) == "modifier"}
        got = pol.__dict__["_known_modifiers"] = frozenset(mods)
    return got


def encode(pol: Policies, enc: Encounter) -> Encoded | None:
    """The shape, true externals and decoding of an encounter; None when it has no shape (reference engine).

    Facts are (name, args) tuples of Python values and slot symbols (encounter_facts(raw=True)), the same
    keys the program holds its externals by, so a warm check creates no clingo symbol before the solve."""
    n_inj = _bucket(len(enc.injections), INJECTION_BUCKETS)
    n_hist = _bucket(len(enc.history), HISTORY_BUCKETS)
    if n_inj is None or n_hist is None:
        return None
    ef = encounter_facts(pol, enc, 0, raw=True)
    dx_codes = list(dict.fromkeys(enc.diagnoses + [d for line in enc.claim or [] for d in line.diagnoses]))
    n_dx = _bucket(len(dx_codes), DIAGNOSIS_BUCKETS)
    if n_dx is None:
        return None
    dx = {d: r_dx(i) for i, d in enumerate(dx_codes, start=1)}
    known = known_modifiers(pol)
    muscles: dict[str, Symbol] = {}
    unknown_mods: dict[str, Symbol] = {}
    decode: dict[Symbol, object] = {}
    shape_facts, true = [], []
    history_codes: set[str] = set()
    set_id = None
    for name, args in ef.symbols:
        if name in SHAPE_PREDICATES:
            shape_facts.append((name, args))
            if name == "encounter_rules":
                set_id = args[0]
            continue
        if name in UNREAD_PREDICATES:
            continue
        if name in PLACEHOLDER_PREDICATES:
            if name == "prior_session_date":
                decode[r_day(args[0])] = args[1]
            elif name == "prior_session_gap":
                decode[r_gap(args[0])] = args[1]
            else:
                decode[r_plus(args[0], args[1])] = args[2]
            continue
        if name not in EXTERNAL_PREDICATES:
            return None  # e.g. diagnosis_uncertain/3: its note is evidence text
        if name == "diagnosis" or name == "diagnosis_status":
            args = (dx[args[0]], *args[1:])
        elif name == "diagnosis_uncertain":  # its note is evidence text: renamed, put back after the solve
            r = dx[args[0]]
            note = r_note(r.arguments[0].number)
            decode[note] = args[1]
            args = (r, note)
        elif name == "diagnosis_in_list" or name == "claim_diagnosis":
            args = (args[0], dx[args[1]])
        elif name == "diagnosis_excludes1":
            if args[0] not in dx or args[1] not in dx:
                return None
            args = (dx[args[0]], dx[args[1]])
        elif name == "diagnosis_supports_region":
            args = (args[0], args[1], dx[args[2]])
        elif name == "injection_muscle":
            r = muscles.get(args[1])
            if r is None:
                r = muscles[args[1]] = r_mu(len(muscles) + 1)
                decode[r] = args[1]
            args = (args[0], r)
        elif name == "injection_unnamed":
            args = (args[0], R_TEXT)
        elif name == "claim_modifier":
            if args[1] not in known:
                r = unknown_mods.get(args[1])
                if r is None:
                    r = unknown_mods[args[1]] = r_mod(len(unknown_mods) + 1)
                    decode[r] = args[1]
                args = (args[0], r)
        elif name == "prior_relief":
            decode[R_PCT], decode[R_WKS] = args
            args = (R_PCT, R_WKS)
        elif name == "prior_session":
            history_codes.add(args[1])
        true.append((name, args))
    for d, r in dx.items():
        decode[r] = d
    n_mod = _bucket(len(unknown_mods), UNKNOWN_MODIFIER_BUCKETS)
    if n_mod is None or set_id is None:
        return None
    shape = Shape(set_id, tuple(shape_facts), n_inj, n_dx, n_hist, n_mod, tuple(sorted(history_codes)))
    return Encoded(shape, true, decode, ef)


def decode_atoms(shown: list[int], decode: dict[Symbol, object]) -> list[int]:
    """The shown atoms (symbol handles, solver/symbols.py) with every renamed value put back; two renamed values
    may stand for one value (two earlier sessions on one day), and the atoms they give are then one, as in the
    reference engine. Only an atom holding a renamed value is rebuilt (found on its decoded Term, not by printing
    it; nothing more is kept per atom: a worker answers new atoms for its whole life)."""
    out: dict[int, None] = {}
    for rep in shown:
        out[handle(decode_symbol(symbol(rep), decode)) if _holds_renamed(term(rep)) else rep] = None
    return list(out)


def _holds_renamed(t) -> bool:
    return t.type == _FUNCTION and (t.name.startswith("r_") or any(_holds_renamed(a) for a in t.args))


_FUNCTION = SymbolType.Function.value


def decode_symbol(sym: Symbol, decode: dict[Symbol, object]) -> Symbol:
    """A shown atom with every renamed value put back (renamed values are r_* function terms)."""
    if sym.type != SymbolType.Function:
        return sym
    got = decode.get(sym)
    if got is not None:
        return got if isinstance(got, Symbol) else _sym(got)
    args = sym.arguments
    if not args:
        return sym
    new = [decode_symbol(a, decode) for a in args]
    if all(a is b or a == b for a, b in zip(new, args)):
        return sym
    return Function(sym.name, new, sym.positive)
