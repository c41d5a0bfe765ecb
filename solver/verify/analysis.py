"""payerkb verify: what the rules in force for a payer on a date do over the bounded encounter space
(solver/verify/space.py), each finding with a minimal witness encounter confirmed by a real check.

One grounding of the knowledge base with kb/search/space.lp and kb/search/verify.lp (facts tried false first,
rules firing tried false first, so a model found fires few rules), then questions asked of many rules at once,
each one enumeration: models one after the other, each after a clause that one of the rules not yet seen fires
(first among encounters with no claim submitted, a far smaller search, then among all), until none is left or
no model has one (the rest are dead); the same for the rules deciding the outcome alone; for the pairs of
rules that fired together in every model seen, models where one of the pairs left has the first without the
second (the pairs never refuted are subsumptions); per finding, a witness narrowed by optimization (unsatisfiable
cores) to the fewest facts of the smallest model seen with its rule; per rule of a coding category, an
encounter of fewest facts whose searched claim breaks it (a conflict when the check's best claim still does),
narrowed the same way from one enumeration of encounters with no claim. Every distinct witness is checked once,
in one batch, by the real check; a finding it does not bear out is listed unconfirmed.
"""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from clingo import Function, Number

from solver.casetest import find_case_files, load_case_files
from solver.encounter import Encounter
from solver.paths import KB_DIR
from solver.verify import gaps
from solver.verify.space import SPACE_FILE, Space, SpaceFacts, control, decode, load_space, space_facts

VERIFY_LP = KB_DIR / "search" / "verify.lp"
CONFLICT_PROPOSALS = 24  # encounters the conflict search proposes to the check, at most
UNCONDITIONAL = ("policy_gap", "service_absent", "note_needed")
FIRES_ASKED, DECIDES_ASKED, PAIR_REFUTED = Function("fires_asked"), Function("decides_asked"), Function("pair_refuted")
CONFLICT_CANDIDATE = Function("conflict_candidate")
NO_CLAIM = (Function("pick", [Function("claim")]), False)  # an encounter with no claim submitted


class Search:
    """The grounded space for one payer and date, and the solves verify makes over it."""

    def __init__(self, engine, sf: SpaceFacts):
        self.engine, self.sf = engine, sf
        self.ctl = control(engine, sf, extra=(VERIFY_LP,), options=["--opt-mode=ignore", "--heuristic=Domain",
                                                                         "--opt-strategy=usc"])
        self.ctl.ground([("base", [])])
        atoms = self.ctl.symbolic_atoms
        self.picks = [(a.symbol, a.literal) for a in atoms.by_signature("pick", 1)]
        self.solves = 0
        self.mode: tuple | None = None
        self.models_seen: list[list] = []
        self._seen_sets: list[frozenset] = []  # the atoms of each model seen, to look one up
        self.marked: dict[str, set[tuple[int, ...]]] = {}

    def mark(self, name: str, keys: set) -> None:
        """Set the externals name(K...) of kb/search/verify.lp true for exactly these keys (rule keys, or tuples
        of them), false for every other."""
        keys = {k if isinstance(k, tuple) else (k,) for k in keys}
        old = self.marked.get(name, set())
        for key in old - keys:
            self.ctl.assign_external(Function(name, [Number(k) for k in key]), False)
        for key in keys - old:
            self.ctl.assign_external(Function(name, [Number(k) for k in key]), True)
        self.marked[name] = keys

    def enumerate(self, assumptions, step) -> None:
        """Models under the assumptions, one after the other in one solve, each kept as a model seen and given to
        step, which answers a clause (program literals) the next models must meet, or None to stop."""
        self._mode("0", "ignore")
        self.solves += 1
        with self.ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
            for m in handle:
                syms = list(m.symbols(shown=True))
                self._seen(syms)
                clause = step(syms)
                if clause is None:
                    break
                m.context.add_clause(clause)

    def _mode(self, models: str, opt: str) -> None:
        if self.mode != (models, opt):  # a change of configuration costs the next solve a setup of its solver
            conf = self.ctl.configuration.solve
            conf.models, conf.opt_mode = models, opt
            self.mode = (models, opt)

    def _seen(self, model: list) -> None:
        self.models_seen.append(model)
        self._seen_sets.append(frozenset(model))

    def _run(self, assumptions, opt: bool = False) -> list:
        """The models of one solve (one model, or with opt each better than the last)."""
        self._mode("0", "opt" if opt else "ignore")  # one configuration for every solve that does not optimize
        self.solves += 1
        found: list = []
        with self.ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
            for m in handle:
                found.append(list(m.symbols(shown=True)))
                if not opt:
                    break
        return found

    def model(self, assumptions=()) -> list | None:
        """One model under the assumptions (facts tried false first): its shown atoms, None when there is none."""
        found = self._run(assumptions)
        if found:
            self._seen(found[0])
        return found[0] if found else None

    def least(self, assumptions=(), start: list | None = None) -> list | None:
        """A model under the assumptions whose facts are as few as can be: the facts of one model (`start`, a
        model that meets the assumptions, or one found) are narrowed by optimization to the fewest that still
        meet the assumptions (a subset-minimal encounter: no fact of it can be dropped)."""
        first = start if start is not None else self.model(assumptions)
        if first is None or _cost(first) == 0:
            return first  # none, or an encounter of no chosen fact: no fewer
        chosen = {s for s in first if s.name == "pick"}
        fix = [-lit for p, lit in self.picks if p not in chosen]  # program literals: no symbol to look up
        found = self._run(list(assumptions) + fix, opt=True)
        best = found[-1] if found else first
        self._seen(best)
        return best

    def smallest(self, atom, without=None) -> list | None:
        """The model seen with the atom (and without the other) that has the fewest facts (None: none seen)."""
        return min((m for m, got in zip(self.models_seen, self._seen_sets) if atom in got and without not in got),
                   key=_cost, default=None)


def _atoms(symbols, name: str, arity: int = 1) -> set:
    return {tuple(a.number for a in s.arguments) if arity > 1 else s.arguments[0].number
            for s in symbols if s.name == name and len(s.arguments) == arity}


def _fired(k: int):
    return Function("fired", [Number(k)])


def _cost(model) -> int:
    return sum(1 for x in model if x.name == "pick")


def possible(search: Search, keys: set[int], atom: str, assumptions: list, mark: str | None = None) -> set[int]:
    """The keys K for which some encounter of the space has atom(K) (fired, decisive, coding_error) under the
    assumptions (the first of them, that one of the keys holds): with mark, those of the models seen, and the
    others marked (the external `mark` of kb/search/verify.lp); then, in one solve, models one after the other,
    each after a clause that one of those not yet seen holds, until none is left or no model has one."""
    found = {k for m in search.models_seen for k in _atoms(m, atom)} & keys if mark else set()
    rest = keys - found
    if rest:
        lits = {a.symbol.arguments[0].number: a.literal for a in search.ctl.symbolic_atoms.by_signature(atom, 1)}
        if mark:
            search.mark(mark, rest)

        def step(m):
            got = _atoms(m, atom) & rest
            found.update(got)
            rest.difference_update(got)
            return [lits[k] for k in rest if k in lits] or None  # a rule with no ground atom never holds

        search.enumerate(assumptions, step)
    return found


def subsumptions(search: Search, alive: set[int]) -> set[tuple[int, int]]:
    """(K, K2): no encounter of the space has K fire without K2. Candidates are the pairs that hold in every
    model seen; with the part pair of kb/search/verify.lp grounded for them, in one solve, models one after the
    other where one of them has K fire without K2, each refuting those it has so, and each after a clause that
    one of the pairs left is refuted, until no model has one: the pairs left are subsumptions."""
    fired_sets = [_atoms(m, "fired") for m in search.models_seen]
    cands = {(k, k2) for k in alive for k2 in alive - {k} if all(k2 in f for f in fired_sets if k in f)}
    if cands:
        search.ctl.ground([("pair", [Number(k), Number(k2)]) for k, k2 in sorted(cands)])
        lits = {tuple(x.number for x in a.symbol.arguments): a.literal for a in search.ctl.symbolic_atoms.by_signature("refutes", 2)}
        asked = {pair for pair in cands if pair in lits}  # no refutes atom: K never fires without K2

        def step(m):
            fired = _atoms(m, "fired")
            refuted = {(k, k2) for k, k2 in asked if k in fired and k2 not in fired}
            if not refuted:
                raise RuntimeError("verify: a model of pair_refuted refutes no pair asked")
            asked.difference_update(refuted)
            cands.difference_update(refuted)
            return [lits[pair] for pair in asked] or None

        if asked:
            search.enumerate([(PAIR_REFUTED, True)], step)
    return cands


def _rule(pol, k: int) -> dict:
    inst = pol.instances[k]
    return {"rule": inst.id, "version": inst.version, "family": inst.rule.family, "severity": inst.rule.severity,
            "category": inst.rule.category, "citations": inst.citation_dicts}


_COVERAGE: dict[tuple, tuple[set[str], set[str]]] = {}


def _case_coverage(pol) -> tuple[set[str], set[str]]:
    """The rule ids the shipped cases list as violated, and as passed (read once while the files are unchanged)."""
    files = find_case_files(pol.root / "rulesets")
    key = tuple((str(f), f.stat().st_mtime_ns) for f in files)
    if key not in _COVERAGE:
        _COVERAGE[key] = _read_coverage(files)
    return _COVERAGE[key]


def _read_coverage(files) -> tuple[set[str], set[str]]:
    violated, passed = set(), set()
    for _path, cases in load_case_files(files):
        for case, _enc in cases:
            violated |= set(case.violates)
            passed |= set(case.passes)
    return violated, passed


def verify(engine, payer: str, date: dt.date, space: Space | None = None, space_file: Path = SPACE_FILE) -> dict:
    """The findings of verify for one payer and date of service (a dict; see README "Explore")."""
    t0 = time.perf_counter()
    pol = engine.policies
    space = space or load_space(space_file, pol)
    sf = space_facts(pol, payer, date, space)
    in_force = {inst.index: inst for inst in sf.in_force}
    not_searched = {k for k, inst in in_force.items() if inst.rule.family in space.not_searched}
    search = Search(engine, sf)
    t1 = time.perf_counter()
    searched = set(in_force) - not_searched
    # first the encounters with no claim submitted (a search of far fewer facts), then any
    possible(search, searched, "fired", [(FIRES_ASKED, True), NO_CLAIM], mark="ask_fires")
    alive = possible(search, searched, "fired", [(FIRES_ASKED, True)], mark="ask_fires")
    dead = searched - alive
    stakes = {k for k in alive if in_force[k].rule.severity == "error" or in_force[k].rule.review}
    never_decide = stakes - possible(search, stakes, "decisive", [(DECIDES_ASKED, True)], mark="ask_decides")
    # a rule that fires on every encounter with its service (a policy gap, a scope note) subsumes everything
    # there and says nothing of the rule it would subsume: it is not asked about as a subsumer
    subsumed = {(k, k2) for k, k2 in subsumptions(search, alive) if in_force[k2].rule.family not in UNCONDITIONAL}
    violated, passed = _case_coverage(pol)
    wanted = {k for k, _ in subsumed} | never_decide | {k for k in alive if in_force[k].id not in violated}
    witness_models = {k: m for k in sorted(wanted) if (m := search.least([(_fired(k), True)], search.smallest(_fired(k)))) is not None}
    pass_models = _passing(search, {k for k in in_force if in_force[k].id not in passed})
    proposals = conflict_proposals(search, sf)
    t2 = time.perf_counter()

    # every witness is checked, in one batch: a finding stands only when the check shows it
    batch = [decode(m, sf, id=f"verify:{in_force[k].id}") for k, m in witness_models.items()]
    batch += [decode(m, sf, id=f"verify:passes:{in_force[k].id}") for k, m in pass_models.items()]
    batch += [decode(m, sf, id=f"verify:conflict-{i + 1}") for i, m in enumerate(proposals)]
    models = list(witness_models.values()) + list(pass_models.values()) + proposals
    costs = {enc["id"]: sum(1 for x in m if x.name == "pick") for enc, m in zip(batch, models)}
    results = _check_each_once(engine, batch)
    checked = list(zip(batch, results))
    n1, n2 = len(witness_models), len(witness_models) + len(pass_models)
    wit = dict(zip(witness_models, checked[:n1]))
    passes = dict(zip(pass_models, checked[n1:n2]))
    t3 = time.perf_counter()

    def rules_of(res) -> set[str]:
        return {f["rule"] for f in res.get("findings", [])}

    def witness(pair) -> dict:
        enc, res = pair
        return {"cost": costs.get(enc["id"]), "encounter": enc, "outcome": res.get("outcome"), "claim": res.get("claim"),
                "findings": sorted(rules_of(res))}

    out: dict = {"payer": payer, "date_of_service": date.isoformat(), "rules": len(in_force),
                 "dead": [], "not_searched": [], "subsumed": [], "masked": [], "conflicts": [], "gaps": [],
                 "generated_cases": [], "unconfirmed": []}
    by_id = lambda k: in_force[k].id  # noqa: E731
    for k in sorted(not_searched, key=by_id):
        out["not_searched"].append({**_rule(pol, k), "reason": space.not_searched[in_force[k].rule.family]})
    for k in sorted(dead, key=by_id):
        out["dead"].append({**_rule(pol, k), "reason": "no encounter of the space makes it fire on this date"})

    def confirmed(k: int, *also: int) -> bool:
        ok = {in_force[k].id, *(in_force[k2].id for k2 in also)} <= rules_of(wit[k][1])
        if not ok:
            out["unconfirmed"].append({**_rule(pol, k), "with": [in_force[k2].id for k2 in also], "witness": witness(wit[k])})
        return ok

    for k, k2 in sorted(subsumed, key=lambda p: (by_id(p[0]), by_id(p[1]))):
        if confirmed(k, k2):
            mutual = (k2, k) in subsumed
            if mutual and by_id(k2) < by_id(k):
                continue  # listed once, as equivalent
            out["subsumed"].append({**_rule(pol, k), "by": _rule(pol, k2), "equivalent": mutual, "witness": witness(wit[k])})
    for k in sorted(never_decide, key=by_id):
        if confirmed(k):
            out["masked"].append({**_rule(pol, k), "witness": witness(wit[k])})
    out["conflicts"] = conflicts_found(sf, space, checked[n2:])
    out["gaps"] = gaps.find(engine, sf)
    for k in sorted(alive, key=by_id):
        rid = in_force[k].id
        if rid not in violated and k in wit and rid in rules_of(wit[k][1]):
            out["generated_cases"].append(_stub(rid, "violates", wit[k][0]))
        if rid not in passed and k in passes and rid not in rules_of(passes[k][1]):
            out["generated_cases"].append(_stub(rid, "passes", passes[k][0]))
    t4 = time.perf_counter()
    out["space"] = sf.describe()
    out["searched"] = {"solves": search.solves, "models": len(search.models_seen), "conflict_proposals": len(proposals),
                       "notes": ["a finding holds over the declared space (policies/verify/space.yaml), not beyond it",
                                 "a witness has no fact that can be dropped (the fewest facts within the model found)",
                                 f"conflicts: {len(proposals)} encounters whose searched claim keeps a coding error were "
                                 "proposed and checked; a conflict is one the real check confirms"]}
    out["timings"] = {"ground": round(t1 - t0, 3), "search": round(t2 - t1, 3), "check": round(t3 - t2, 3),
                      "gaps_and_report": round(t4 - t3, 3), "total": round(t4 - t0, 3)}
    return out


def _check_each_once(engine, batch: list[dict]) -> list[dict]:
    """The real check's answers for the encounters of the batch, each distinct encounter (its id aside) checked
    once, in one batch."""
    def key(enc):
        return json.dumps({k: v for k, v in enc.items() if k != "id"}, sort_keys=True, default=str)
    distinct = {}
    for enc in batch:
        distinct.setdefault(key(enc), enc)
    answers = engine.check_many([Encounter.model_validate(e) for e in distinct.values()]) if distinct else []
    by_key = dict(zip(distinct, answers))
    return [by_key[key(enc)] for enc in batch]


def _stub(rid: str, kind: str, enc: dict) -> dict:
    verb = "is violated" if kind == "violates" else "is not violated"
    return {"rule": rid, "kind": kind,
            "case": {"name": f"{rid} {verb} (generated by payerkb verify; confirm)", kind: [rid],
                     "encounter": {key: v for key, v in enc.items() if key != "id"}}}


def _passing(search: Search, keys: set[int]) -> dict[int, list]:
    """For each key, an encounter of fewest facts with an injection and a claim line for it where the rule does
    not fire (the same encounter for every rule it does not break)."""
    if not keys:
        return {}
    need = [(Function("any_inj"), True), (Function("pick", [Function("line", [Function("inj")])]), True)]
    base = search.least(need)
    if base is None:
        return {}
    fired = _atoms(base, "fired")
    out = {k: base for k in keys if k not in fired}
    for k in sorted(keys & fired):
        m = search.least(need + [(_fired(k), False)])
        if m is not None:
            out[k] = m
    return out


def conflict_proposals(search: Search, sf: SpaceFacts) -> list[list]:
    """Encounters (no claim submitted) whose searched claim keeps a coding error: for each rule of a coding
    category, an encounter of fewest facts in which the searched claim breaks it (narrowed from the smallest
    model with that error of one enumeration of models with an error not yet seen)."""
    cats = set(sf.space.conflict_categories)
    claim = Function("pick", [Function("claim")])
    no_claim = (claim, False)
    rules = {i.index for i in sf.in_force if i.rule.category in cats and i.rule.severity == "error"}
    possible(search, rules, "coding_error", [(CONFLICT_CANDIDATE, True), no_claim])
    found: list[list] = []
    seen: set = set()
    for inst in sorted(sf.in_force, key=lambda i: i.id):
        if inst.index not in rules or len(found) >= CONFLICT_PROPOSALS:
            continue
        error = Function("coding_error", [Number(inst.index)])
        start = search.smallest(error, without=claim)
        m = start and search.least([no_claim, (error, True)], start)
        if m is not None:
            key = frozenset(x for x in m if x.name == "pick")
            if key not in seen:
                seen.add(key)
                found.append(m)
    return found[:CONFLICT_PROPOSALS]


def conflicts_found(sf: SpaceFacts, space: Space, checked: list) -> list[dict]:
    """The proposals whose best claim, as the real check answers, still carries a coding error."""
    cats = set(space.conflict_categories)
    insts = {i.id: i for i in sf.in_force}
    found, seen = [], set()
    for enc, res in checked:
        errors = [f for f in res.get("findings", []) if f["severity"] == "error" and f["category"] in cats]
        rules = tuple(sorted({f["rule"] for f in errors}))
        if errors and rules not in seen:
            seen.add(rules)
            found.append({"rules": [{"rule": r, "citations": insts[r].citation_dicts if r in insts else []} for r in rules],
                          "witness": {"encounter": enc, "outcome": res["outcome"], "claim": res["claim"],
                                      "findings": sorted({f["rule"] for f in res["findings"]})}})
    return found
