"""payerkb verify: what the rules in force for a payer on a date do over the bounded encounter space
(solver/verify/space.py), each finding with a minimal witness encounter confirmed by a real check.

One grounding of the knowledge base with kb/search/space.lp and kb/search/verify.lp, then: one solve with brave
consequences (which rules can fire, which can decide the outcome alone); per rule that can fire, a witness (a
model found with facts tried false first, narrowed by optimization to the fewest facts); per pair of rules that
fired together in every model seen, one solve for a model with the first and without the second (none:
subsumed); the witnesses are checked in one batch by the real check. See verify() for the result.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from clingo import Function, Number, String

from solver.casetest import find_case_files, load_case_files
from solver.encounter import Encounter
from solver.paths import KB_DIR
from solver.verify import gaps
from solver.verify.space import SPACE_FILE, Space, SpaceFacts, control, decode, load_space, space_facts

VERIFY_LP = KB_DIR / "search" / "verify.lp"
CONFLICT_PROPOSALS = 24
DIVERSE_MODELS = 40  # models enumerated in one solve to refute candidate pairs of subsumption  # encounters the conflict search proposes to the check, at most


class Search:
    """The grounded space for one payer and date, and the solves verify makes over it."""

    def __init__(self, engine, sf: SpaceFacts):
        self.engine, self.sf = engine, sf
        self.ctl = control(engine, sf, extra=(VERIFY_LP,), options=["--opt-mode=ignore", "--heuristic=Domain"])
        self.ctl.ground([("base", [])])
        self.picks = [a.symbol for a in self.ctl.symbolic_atoms.by_signature("pick", 1)]
        self.solves = 0
        self.models_seen: list[list] = []

    def _run(self, assumptions, enum_mode="auto", models="1", opt="ignore") -> list:
        conf = self.ctl.configuration.solve
        conf.enum_mode, conf.models, conf.opt_mode = enum_mode, models, opt
        self.solves += 1
        found: list = []
        with self.ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
            for m in handle:
                found.append(m.symbols(shown=True))
        return found

    def brave(self, assumptions=()) -> set:
        """The atoms shown in some model (brave consequences) under the assumptions."""
        found = self._run(assumptions, "brave", "0")
        return set(found[-1]) if found else set()

    def model(self, assumptions=()) -> list | None:
        """One model under the assumptions (facts tried false first): its shown atoms, None when there is none."""
        found = self._run(assumptions)
        if found:
            self.models_seen.append(found[0])
        return found[0] if found else None

    def least(self, assumptions=()) -> list | None:
        """A model under the assumptions whose facts are as few as can be: the facts of one model are narrowed
        by optimization to the fewest that still meet the assumptions (a subset-minimal encounter: no fact of
        it can be dropped)."""
        first = self.model(assumptions)
        if first is None:
            return None
        chosen = {s for s in first if s.name == "pick"}
        fix = [(p, False) for p in self.picks if p not in chosen]
        found = self._run(list(assumptions) + fix, "auto", "0", "opt")
        best = found[-1] if found else first
        self.models_seen.append(best)
        return best

    def models(self, assumptions=(), limit: int = 10) -> list[list]:
        """Up to `limit` models in one solve, each with other rules firing than the others (projected on
        fired/1), facts tried false first; they are kept as models seen."""
        conf = self.ctl.configuration.solve
        conf.project = "project"
        try:
            found = self._run(assumptions, "auto", str(limit))
        finally:
            conf.project = "no"
        self.models_seen += found
        return found


def _atoms(symbols, name: str, arity: int = 1) -> set:
    return {tuple(a.number for a in s.arguments) if arity > 1 else s.arguments[0].number
            for s in symbols if s.name == name and len(s.arguments) == arity}


def _fired(k: int):
    return Function("fired", [Number(k)])


def cover(search: Search, targets: set[int], name: str) -> tuple[dict[int, list], set[int]]:
    """For each target key, a model in which name(key) holds (a model found for one key covers the others it
    holds for), and the keys for which there is none."""
    found: dict[int, list] = {}
    for m in search.models_seen:
        for k in _atoms(m, name) & targets:
            found.setdefault(k, m)
    none = set()
    for k in sorted(targets):
        if k in found:
            continue
        m = search.model([(Function(name, [Number(k)]), True)])
        if m is None:
            none.add(k)
            continue
        for k2 in _atoms(m, name) & targets:
            found.setdefault(k2, m)
    return found, none


def subsumptions(search: Search, alive: set[int]) -> set[tuple[int, int]]:
    """(K, K2): no encounter of the space has K fire without K2. Candidates are the pairs that hold in every
    model seen so far; each is then asked of the solver (a model with K and without K2, or none)."""
    fired_sets = [_atoms(m, "fired") for m in search.models_seen]
    out = set()
    for k in sorted(alive):
        for k2 in sorted(alive - {k}):
            if not all(k2 in f for f in fired_sets if k in f):
                continue
            m = search.model([(_fired(k), True), (_fired(k2), False)])
            if m is None:
                out.add((k, k2))
            else:
                fired_sets.append(_atoms(m, "fired"))
    return out


def _rule(pol, k: int) -> dict:
    inst = pol.instances[k]
    return {"rule": inst.id, "version": inst.version, "family": inst.rule.family, "severity": inst.rule.severity,
            "category": inst.rule.category, "citations": inst.citation_dicts}


def _case_coverage(pol) -> tuple[set[str], set[str]]:
    """The rule ids the shipped cases list as violated, and as passed."""
    files = find_case_files(pol.root / "rulesets")
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
    fire_models, dead = cover(search, set(in_force) - not_searched, "fired")
    alive = set(fire_models)
    stakes = {k for k in alive if in_force[k].rule.severity == "error" or in_force[k].rule.review}
    _decide_models, never_decide = cover(search, stakes, "decisive")
    search.models(limit=DIVERSE_MODELS)
    subsumed = subsumptions(search, alive)
    violated, passed = _case_coverage(pol)
    wanted = {k for k, _ in subsumed} | never_decide | {k for k in alive if in_force[k].id not in violated}
    witness_models = {k: search.least([(_fired(k), True)]) or fire_models[k] for k in sorted(wanted)}
    pass_models = _passing(search, {k for k in in_force if in_force[k].id not in passed})
    proposals = conflict_proposals(search, sf)
    t2 = time.perf_counter()

    # every witness is checked, in one batch: a finding stands only when the check shows it
    batch = [decode(m, sf, id=f"verify:{in_force[k].id}") for k, m in witness_models.items()]
    batch += [decode(m, sf, id=f"verify:passes:{in_force[k].id}") for k, m in pass_models.items()]
    batch += [decode(m, sf, id=f"verify:conflict-{i + 1}") for i, m in enumerate(proposals)]
    models = list(witness_models.values()) + list(pass_models.values()) + proposals
    costs = {enc["id"]: sum(1 for x in m if x.name == "pick") for enc, m in zip(batch, models)}
    results = engine.check_many([Encounter.model_validate(e) for e in batch]) if batch else []
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
    need = [(Function("any_inj"), True), (Function("pick", [Function("line", [String("inj")])]), True)]
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
    category, an encounter of fewest facts in which the searched claim breaks it."""
    cats = set(sf.space.conflict_categories)
    no_claim = (Function("pick", [Function("claim")]), False)
    found: list[list] = []
    seen: set = set()
    for inst in sorted(sf.in_force, key=lambda i: i.id):
        if inst.rule.category not in cats or inst.rule.severity != "error" or len(found) >= CONFLICT_PROPOSALS:
            continue
        m = search.least([no_claim, (Function("coding_error", [Number(inst.index)]), True)])
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
