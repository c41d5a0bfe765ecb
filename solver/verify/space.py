"""The bounded encounter space of `payerkb verify` (and of the witness search of `policy diff --witness`).

API:
- load_space(path) -> Space: policies/verify/space.yaml, validated (a bad field is a PolicyError naming
  file, field and what to do).
- space_facts(policies, payer, date, space) -> SpaceFacts: the space for the rules in force for that payer on
  that date, as clingo symbols (sp_*/N facts, kb/search/space.lp reads them), with the derived parts
  (diagnosis classes, distances, thresholds) and the frame encounter (key 0) whose facts Engine.control adds.
- decode(model_symbols, sf) -> dict: the chosen facts of a model (pick/1) as a contract-v1 encounter that
  `payerkb check` accepts.
- control(engine, sf, extra=(), options=None): an Engine.control over the space, ready to ground.

The facts of a chosen encounter are derived in kb/search/space.lp exactly as solver/facts.py derives them from
the encounter decode() returns; a witness is always confirmed by a real check of that encounter.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import clingo
from clingo import ast as clingo_ast
from clingo import Function, Number, String, Symbol
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from solver.encounter import Encounter
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.facts import _substance_classes, ptp_rows_on, table_facts
from solver.param_types import DOCUMENTATION_ELEMENTS
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import Policies, RuleInstance
from solver.thresholds import thresholds
from solver.yamltext import read_policy_yaml

SPACE_FILE = POLICIES_DIR / "verify" / "space.yaml"
SPACE_LP = KB_DIR / "search" / "space.lp"
KEY = 0  # the encounter key of the abstract encounter


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Injections(_Strict):
    max: int = Field(ge=1, le=6)
    muscles: dict[str, list[str]]
    sides: list[str] = ["left", "right"]
    unnamed: list[str] = []
    substances: list[str] = Field(min_length=1)
    dose: str = "1 mL"
    guidance: list[str] = []


class _Diagnoses(_Strict):
    max: int = Field(ge=0, le=6)
    prefer: list[str] = []
    also: list[str] = []


class _Codes(_Strict):
    max: int = Field(default=1, ge=0, le=4)
    codes: list[str] = []


class _History(_Strict):
    max: int = Field(ge=0, le=8)
    codes: list[str] = Field(min_length=1)
    distances: list[int] = []


class _Documentation(_Strict):
    elements: list[str]


class _Claim(_Strict):
    units: list[int] = Field(default=[1, 2], min_length=1)
    modifiers: list[str] = []
    max_modifiers: int = Field(default=2, ge=0, le=4)


class Space(_Strict):
    version: int
    injections: _Injections
    diagnoses: _Diagnoses
    evaluation: _Codes
    procedures: _Codes
    history: _History
    documentation: _Documentation
    claim: _Claim
    conflict_categories: list[str] = []
    not_searched: dict[str, str] = {}  # family -> why the space holds no encounter it speaks of
    file: str = ""


def load_space(path: Path | str = SPACE_FILE, policies: Policies | None = None) -> Space:
    """The declared space, validated; with policies, its muscles, sides, elements and codes are checked too."""
    path = Path(path)
    problems: list[Problem] = []
    data = read_policy_yaml(path, problems)
    if problems:
        raise PolicyError(problems)
    try:
        space = Space.model_validate({**(data or {}), "file": str(path)})
    except ValidationError as exc:
        raise PolicyError(pydantic_problems(exc, str(path))) from None
    if policies is not None:
        _check(space, policies, str(path))
    return space


def _check(space: Space, pol: Policies, file: str) -> None:
    problems = []
    vocab = pol.vocabulary
    for region, names in space.injections.muscles.items():
        if region not in vocab.regions:
            problems.append(Problem(file, f"injections.muscles.{region}", f"unknown region; the regions are {sorted(vocab.regions)}"))
        for i, name in enumerate(names):
            m = vocab.match(name)
            if m.muscle is None:
                problems.append(Problem(file, f"injections.muscles.{region}.{i}", f"{name!r} names no muscle of policies/tables/muscles.yaml; use a name it lists"))
            elif m.region != region:
                problems.append(Problem(file, f"injections.muscles.{region}.{i}", f"{name!r} is in the region {m.region!r}; list it there"))
    for i, name in enumerate(space.injections.unnamed):
        m = vocab.match(name)
        if m.muscle is not None or not m.recognised:
            problems.append(Problem(file, f"injections.unnamed.{i}", f"{name!r} must be a term that names no muscle (unnamed_terms of muscles.yaml)"))
    for i, side in enumerate(space.injections.sides):
        if side not in ("left", "right", "midline"):
            problems.append(Problem(file, f"injections.sides.{i}", "a side is left, right or midline"))
    for i, g in enumerate(space.injections.guidance):
        if g not in ("ultrasound", "fluoroscopy", "ct", "mri"):
            problems.append(Problem(file, f"injections.guidance.{i}", "guidance is ultrasound, fluoroscopy, ct or mri"))
    for i, el in enumerate(space.documentation.elements):
        if el not in DOCUMENTATION_ELEMENTS:
            problems.append(Problem(file, f"documentation.elements.{i}", f"unknown element; use one of {list(DOCUMENTATION_ELEMENTS)}"))
    for what in ("diagnoses.prefer", "diagnoses.also"):
        for i, code in enumerate(getattr(space.diagnoses, what.split(".")[1])):
            if not pol.codeset.known(code):
                problems.append(Problem(file, f"{what}.{i}", f"{code!r} is not an ICD-10-CM code of any release held"))
    from solver.policy_model import CATEGORIES
    for i, c in enumerate(space.conflict_categories):
        if c not in CATEGORIES:
            problems.append(Problem(file, f"conflict_categories.{i}", f"unknown category; use one of {list(CATEGORIES)}"))
    for fam in space.not_searched:
        if fam not in pol.families:
            problems.append(Problem(file, f"not_searched.{fam}", "unknown rule family; the families are in kb/families.yaml"))
    for i, u in enumerate(space.claim.units):
        if not 1 <= u <= 999:
            problems.append(Problem(file, f"claim.units.{i}", "units are 1 to 999"))
    if problems:
        raise PolicyError(problems)


# --- the space for one payer and date -------------------------------------------------------------------

@dataclass
class SpaceFacts:
    payer: str
    date: dt.date
    space: Space
    in_force: list[RuleInstance]
    symbols: list[Symbol] = field(default_factory=list)
    codes: set[str] = field(default_factory=set)  # procedure codes the space can put on a claim
    muscles: dict[str, tuple[str, str]] = field(default_factory=dict)  # documented text -> (muscle, region)
    diagnoses: list[tuple[str, str, str]] = field(default_factory=list)  # (code, status, class description)
    distances: list[int] = field(default_factory=list)
    relief: list[tuple[int, int]] = field(default_factory=list)
    therapy_weeks: list[int] = field(default_factory=list)
    procedures: list[str] = field(default_factory=list)
    modifiers: list[str] = field(default_factory=list)

    def frame(self) -> Encounter:
        """The encounter whose facts fix key 0 (payer, date, rules in force); the space adds the rest."""
        return Encounter(id="verify", payer=self.payer, date_of_service=self.date)

    def describe(self) -> dict:
        s = self.space
        return {"injections": {"max": s.injections.max, "muscles": s.injections.muscles, "sides": s.injections.sides,
                               "unnamed": s.injections.unnamed, "substances": s.injections.substances,
                               "guidance": s.injections.guidance},
                "diagnoses": [{"code": c, "status": st, "class": cl} for c, st, cl in self.diagnoses],
                "max_diagnoses": s.diagnoses.max,
                "evaluation": s.evaluation.codes, "procedures": self.procedures,
                "history": {"max": s.history.max, "codes": s.history.codes, "distances": self.distances},
                "therapy_weeks": self.therapy_weeks, "prior_relief": [list(r) for r in self.relief],
                "documentation": s.documentation.elements,
                "claim": {"shapes": ["none", "lines for the documented services, any code, units, modifiers, pointers"],
                          "units": s.claim.units, "modifiers": self.modifiers, "max_modifiers": s.claim.max_modifiers}}


def _plusminus(values) -> list[int]:
    return sorted({v + d for v in values for d in (-1, 0, 1) if v + d >= 0})


def _diagnosis_lists(in_force: list[RuleInstance]) -> list[tuple[tuple, list[str]]]:
    """(list name, codes) of each diagnosis list of the rules in force (a region map gives one per region)."""
    out = []
    for inst in in_force:
        for name, value in inst.params.items():
            if name == "diagnoses" and isinstance(value, list):
                out.append(((inst.id, name), value))
            elif name == "regions" and isinstance(value, dict):
                for region, codes in value.items():
                    out.append(((inst.id, region), list(codes)))
    return out


def _modifiers(pol: Policies, in_force: list[RuleInstance], space: Space) -> list[str]:
    """The declared modifiers, then every modifier the rules in force name (a modifier, or one of a modifier group)."""
    out = list(space.claim.modifiers)
    for inst in in_force:
        types = {n.rstrip("?"): t for n, t in (pol.families[inst.rule.family].get("params") or {}).items()}
        for name, value in inst.params.items():
            if types.get(name) == "modifier":
                out.append(value)
            elif types.get(name) == "modifier_group":
                out += pol.tables.modifier_groups.get(value, [])
    return list(dict.fromkeys(out))


def diagnosis_classes(pol: Policies, in_force: list[RuleInstance], on: dt.date, space: Space) -> list[tuple[str, str, str]]:
    """One billable code per class of the rules' diagnosis lists (and one of no list), then the `also` codes."""
    lists = _diagnosis_lists(in_force)
    member: dict[str, set] = {}
    for name, codes in lists:
        for c in codes:
            member.setdefault(c, set()).add(name)
    classes: dict[frozenset, list[str]] = {}
    for c, names in member.items():
        classes.setdefault(frozenset(names), []).append(c)
    prefer = {c: i for i, c in enumerate(space.diagnoses.prefer)}
    out: list[tuple[str, str, str]] = []

    def billable(c):
        return pol.codeset.status(c, on) == "billable"

    for names, codes in sorted(classes.items(), key=lambda kv: sorted(kv[1])[0]):
        ok = sorted((c for c in codes if billable(c)), key=lambda c: (prefer.get(c, len(prefer)), c))
        if ok:
            out.append((ok[0], "billable", "in " + ", ".join(f"{r}:{n}" for r, n in sorted(names))))
    outside = [c for c in space.diagnoses.prefer if c not in member and billable(c)]
    if outside:
        out.append((outside[0], "billable", "in no list of the rules in force"))
    seen = {c for c, _, _ in out}
    for c in space.diagnoses.also:
        if c not in seen:
            out.append((c, pol.codeset.status(c, on), "declared (status on the date)"))
            seen.add(c)
    return out


def threshold_facts(pol: Policies, payer: str, on: dt.date, codes: list[str], key: int, offset: int = 0) -> list[Symbol]:
    """The numbers and lists the rules of `pol` in force compare with (solver/thresholds.py), for encounter key
    `key` (rule keys shifted by `offset`): space.lp turns the chosen distances, weeks, relief and diagnoses into
    the booleans a check computes with them."""
    th = thresholds(pol, pol.in_force_set(payer, on))
    E = Number(key)
    out = [Function("sp_key", [E])]
    out += [Function("sp_gap_days", [E, Number(n)]) for n in th.gap_days]
    out += [Function("sp_from_day", [E, Number(d)]) for d in th.from_days]
    out += [Function("sp_weeks_min", [E, Number(w)]) for w in th.therapy_weeks]
    out += [Function("sp_relief_min", [E, Number(p), Number(w)]) for p, w in th.relief]
    out += [Function("sp_dx_list", [E, Number(k + offset), String(c)]) for k, listed in th.dx_lists for c in codes if c in listed]
    out += [Function("sp_dx_region", [E, Number(k + offset), String(r), String(c)])
            for k, r, listed in th.dx_regions for c in codes if c in listed]
    return out


def space_facts(pol: Policies, payer: str, on: dt.date, space: Space | None = None,
                thresholds_of: Policies | None = None) -> SpaceFacts:
    space = space or load_space(SPACE_FILE, pol)
    in_force = pol.in_force(payer, on)
    sf = SpaceFacts(payer, on, space, in_force)
    add = sf.symbols.append

    def f(name, *args):
        add(Function(name, [a if isinstance(a, Symbol) else Number(a) if isinstance(a, int) else String(str(a)) for a in args]))

    inj = space.injections
    f("sp_max", Function("injections"), inj.max)
    for region, names in inj.muscles.items():
        for name in names:
            m = pol.vocabulary.match(name)
            sf.muscles[name] = (m.muscle, m.region)
            f("sp_muscle", name, m.muscle, m.region)
    for side in inj.sides:
        f("sp_side", side)
    for text in inj.unnamed:
        f("sp_unnamed", text)
    for i, sub in enumerate(inj.substances):
        classes = _substance_classes(pol, sub)
        f("sp_substance", sub, i)
        f("sp_substance_slot", sub, Function("dry_needling" if classes == ["needle_only"] else "tpi"))
        for cl in classes:
            f("sp_substance_class", sub, cl)
    for g in inj.guidance:
        f("sp_guidance", g)
    # diagnoses: the classes of the rules' lists, billable on the date, and the declared others
    sf.diagnoses = diagnosis_classes(pol, in_force, on, space)
    f("sp_max", Function("diagnoses"), space.diagnoses.max)
    codes = [c for c, _, _ in sf.diagnoses]
    for i, (c, status, _cl) in enumerate(sf.diagnoses, start=1):
        f("sp_dx", c, status, i)
        judged = pol.codeset.judge(c, on)
        if judged.flag == "uncertain":
            f("sp_dx_uncertain", c, judged.note or "its status on this date is not known")
    for a, b, _note in pol.codeset.excludes1_pairs(codes):
        f("sp_excludes1", a, b)
    # services
    for c in space.evaluation.codes:
        f("sp_em", c)
    groups = pol.tables.code_groups
    named = [v for inst in in_force for n, v in inst.params.items() if n == "with_group" and v in groups]
    sf.procedures = list(dict.fromkeys(space.procedures.codes + [groups[g][0] for g in named]))
    f("sp_max", Function("procedures"), space.procedures.max)
    for i, c in enumerate(sf.procedures, start=1):
        f("sp_proc", c, i)
    injected = groups.get("tpi", []) + groups.get("dry_needling", [])
    for c in injected:
        f("sp_inj_code", c)
    sf.codes = set(injected) | set(space.evaluation.codes) | set(sf.procedures)
    # earlier sessions at the distances the rules' windows and intervals make
    windows = [inst.params[p] for inst in in_force for p in ("window_days", "days") if isinstance(inst.params.get(p), int)]
    sf.distances = sorted(set(_plusminus(windows)) | set(space.history.distances) - {0}) or [1]
    sf.distances = [d for d in sf.distances if d > 0]
    f("sp_max", Function("history"), space.history.max)
    for d in sf.distances:
        f("sp_distance", d)
    for c in space.history.codes:
        f("sp_hist_code", c)
    for name in dict.fromkeys(n for names in inj.muscles.values() for n in names[:1]):
        f("sp_prior_muscle", name)
    # documentation, with the thresholds of the rules
    for el in space.documentation.elements:
        f("sp_element", el)
    sf.therapy_weeks = _plusminus({inst.params["min_therapy_weeks"] for inst in in_force if isinstance(inst.params.get("min_therapy_weeks"), int)})
    for w in sf.therapy_weeks:
        f("sp_therapy_weeks", w)
    percents = _plusminus({inst.params["min_percent"] for inst in in_force if isinstance(inst.params.get("min_percent"), int)})
    weeks = _plusminus({inst.params["min_weeks"] for inst in in_force if isinstance(inst.params.get("min_weeks"), int)})
    sf.relief = [(p, w) for p in percents for w in weeks if p <= 100]
    for p, w in sf.relief:
        f("sp_relief", p, w)
    # claims (the categories and families named were checked when the space was loaded)
    for i, u in enumerate(space.claim.units):
        f("sp_units", u, i)
    sf.modifiers = _modifiers(pol, in_force, space)
    for m in sf.modifiers:
        f("sp_modifier", m)
    f("sp_max", Function("modifiers"), space.claim.max_modifiers)
    f("sp_max", Function("pointers"), 4)
    for c in space.conflict_categories:
        f("sp_conflict_category", c)
    # the comparisons the rules in force make, as a check states them (solver/thresholds.py)
    sf.symbols += threshold_facts(thresholds_of or pol, payer, on, codes, key=0)
    live, unknown = ptp_rows_on(pol, sf.codes, on)
    for r in live:
        f("sp_ptp", r.column1, r.column2, r.modifier_indicator)
    for r in unknown:
        f("sp_ptp_start_unknown", r.column1, r.column2, r.note)
    # the words of solver/facts.py that space.lp writes into facts (a knowledge-base file holds no such text)
    for key, word in (("muscle", "muscle"), ("substance", "substance"), ("dose", "dose"), ("relief", "prior_relief_documented")):
        f("sp_word", Function(key), word)
    return sf


_TABLES: dict[int, tuple] = {}


def _tables(pol: Policies):
    """The code tables as facts, built once per policies object."""
    got = _TABLES.get(id(pol))
    if got is None or got[0] is not pol:
        got = _TABLES[id(pol)] = (pol, table_facts(pol))
    return got[1]


def control(engine, sf: SpaceFacts, extra: tuple[Path, ...] = (), options: list[str] | None = None,
            messages: list[str] | None = None, lean: bool = True) -> clingo.Control:
    """A Control with the knowledge base for the frame encounter (key 0), kb/search/space.lp and the extra
    programs, the space's facts and the code-table rows of the space's codes; not grounded.

    lean: without the check's optimization statements and #show, and without the rules that derive evidence/5
    and detail/6 (a finding's wording): the search asks only which rules fire; the real check of a witness gives
    the wording. That halves the ground program."""
    parts = getattr(engine, "_parts", None) if lean else None
    given = {} if parts is None else {"parts": _lean(parts)}  # per call: the shared engine is never changed
    ctl, _facts = engine.control([sf.frame()], extra=(SPACE_LP, *extra), options=options, messages=messages, **given)
    with ctl.backend() as backend:
        for sym in _tables(engine.policies).for_codes(sf.codes) + sf.symbols:
            backend.add_rule([backend.add_atom(sym)])
    return ctl


_DROPPED = {"evidence", "detail"}
_LEAN: dict[int, tuple] = {}


def _lean(parts: list) -> list:
    """The engine's parts without the statements the search does not need (built once per parts list)."""
    got = _LEAN.get(id(parts))
    if got is None or got[0] is not parts:
        got = _LEAN[id(parts)] = (parts, [(name, [st for st in stmts if not _wording(st)], *rest)
                                          for name, stmts, *rest in parts])
    return got[1]


def _wording(stmt) -> bool:
    """A statement the search does not need: an optimization or #show statement, a rule deriving evidence or detail."""
    t = stmt.ast_type
    if t in (clingo_ast.ASTType.Minimize, clingo_ast.ASTType.ShowSignature, clingo_ast.ASTType.ShowTerm):
        return True
    if t == clingo_ast.ASTType.Rule:
        head = stmt.head
        if head.ast_type == clingo_ast.ASTType.Literal and head.atom.ast_type == clingo_ast.ASTType.SymbolicAtom:
            sym = head.atom.symbol
            return sym.ast_type == clingo_ast.ASTType.Function and sym.name in _DROPPED
    return False


# --- from a model to an encounter --------------------------------------------------------------------------

def _s(sym: Symbol):
    if sym.type == clingo.SymbolType.String:
        return sym.string
    if sym.type == clingo.SymbolType.Number:
        return sym.number
    return str(sym)


def picks(model_symbols) -> list[Symbol]:
    """The pick(F) atoms of a model, as their arguments F (the chosen facts)."""
    return sorted(s.arguments[0] for s in model_symbols if s.name == "pick" and len(s.arguments) == 1)


def decode(model_symbols, sf: SpaceFacts, id: str = "verify-witness") -> dict:
    """The chosen facts of a model (its pick/1 atoms) as a contract-v1 encounter (a dict)."""
    chosen = picks(model_symbols)
    by: dict[str, list[tuple]] = {}
    for p in chosen:
        by.setdefault(p.name, []).append(tuple(_s(a) for a in p.arguments))
    one = lambda name: by.get(name, [None])[0]  # noqa: E731
    subst = one("substance")
    substance = subst[0] if subst else sf.space.injections.substances[0]
    no_dose = "no_dose" in by
    guidance = one("guidance")
    injections = []
    for i, text, side in sorted((a[0], a[1], a[2]) for a in by.get("inj", [])) + \
            sorted((a[0], a[1], None) for a in by.get("inj_unnamed", [])):
        inj = {"muscle": text, "substance": substance}
        if side:
            inj["side"] = side
        if not no_dose:
            inj["dose"] = sf.space.injections.dose
        injections.append((i, inj))
    injections = [inj for _, inj in sorted(injections, key=lambda x: x[0])]
    if guidance and injections:
        injections[0]["guidance"] = guidance[0]
    order = {c: i for i, (c, _, _) in enumerate(sf.diagnoses)}
    diagnoses = sorted((a[0] for a in by.get("dx", [])), key=lambda c: order.get(c, 99))
    enc: dict = {"id": id, "payer": sf.payer, "date_of_service": sf.date.isoformat(), "injections": injections,
                 "diagnoses": diagnoses}
    em = one("em")
    if em:
        enc["evaluation"] = {"code": em[0], "separately_identifiable": "em_separate" in by, "new_patient": "em_new" in by}
    proc_order = {c: i for i, c in enumerate(sf.procedures)}
    procs = sorted((a[0] for a in by.get("proc", [])), key=lambda c: proc_order.get(c, 99))
    distinct = {a[0] for a in by.get("proc_distinct", [])}
    enc["other_procedures"] = [{"code": c, "units": 1, "distinct": c in distinct} for c in procs]
    docs = {a[0] for a in by.get("doc", [])}
    documentation: dict = {"trigger_points_on_exam": "trigger_points_on_exam" in docs,
                           "focal_muscle_pain": "focal_muscle_pain" in docs,
                           "functional_limitation": "functional_limitation" in docs,
                           "abn_on_file": "abn_on_file" in docs}
    ct: dict = {"tried": ["physical therapy"] if "conservative_therapy_tried" in docs else [],
                "failed": "conservative_therapy_failed" in docs, "ongoing": "conservative_therapy_ongoing" in docs}
    weeks = one("therapy_weeks")
    if weeks:
        ct["weeks"] = weeks[0]
    documentation["conservative_therapy"] = ct
    if {"pain_scores_before_after", "pain_scores_same_scale"} & docs:
        ps: dict = {}
        if "pain_scores_same_scale" in docs:
            ps["scale"] = "NRS"
        if "pain_scores_before_after" in docs:
            ps.update(before=7, after=3)
        documentation["pain_scores"] = ps
    if {"prior_relief_documented", "prior_relief_same_scale", "prior_relief_dated"} & docs:
        pr: dict = {"same_scale": "prior_relief_same_scale" in docs, "dated": "prior_relief_dated" in docs}
        relief = one("relief")
        if relief:
            pr.update(percent=relief[0], weeks=relief[1])
        elif "prior_relief_documented" in docs:
            pr["percent"] = 100
        documentation["prior_relief"] = pr
    enc["documentation"] = documentation
    prior_muscle = {a[0]: a[1] for a in by.get("prior_muscle", [])}
    history = []
    for j, gap, code in sorted(by.get("prior", [])):
        h: dict = {"date": (sf.date - dt.timedelta(days=gap)).isoformat(), "code": code}
        if j in prior_muscle:
            h["muscles"] = [prior_muscle[j]]
        history.append(h)
    enc["history"] = history
    if "claim" in by:
        lines = []
        for kind, code in _line_kinds(by, procs, proc_order):
            if kind in ("inj", "inj2"):
                code = next((a[1] for a in by.get("line_code", []) if a[0] == kind), None)
            units = [a[1] for a in by.get("line_units", []) if a[0] == kind]
            mods = sorted(a[1] for a in by.get("line_mod", []) if a[0] == kind)
            dxs = sorted((a[1] for a in by.get("line_dx", []) if a[0] == kind), key=lambda c: order.get(c, 99))
            lines.append({"code": code, "modifiers": mods, "units": units[0] if units else sf.space.claim.units[0],
                          "diagnoses": dxs})
        enc["claim"] = lines
    return enc


def _line_kinds(by: dict, procs: list[str], proc_order: dict) -> list[tuple[str, str | None]]:
    """The claim's lines in order, as (kind, code): the injection line ("inj"), the E/M line ("em"), one line per
    other procedure billed, documented or not (its kind is its code), in the space's order of procedures."""
    kinds = {a[0] for a in by.get("line", [])}
    out: list[tuple[str, str | None]] = []
    out += [(k, None) for k in ("inj", "inj2") if k in kinds]
    em = by.get("em", [None])[0]
    if "em" in kinds and em:
        out.append(("em", em[0]))
    out += [(c, c) for c in sorted(kinds - {"inj", "inj2", "em"}, key=lambda c: proc_order.get(c, 99))]
    return out
