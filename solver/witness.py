"""What a policy change does, with no corpus (`payerkb policy diff OLD --witness`): per payer and date window,
the verdict (equivalent, stricter, looser, incomparable) and, for each difference, a least encounter of the
bounded space (policies/verify/space.yaml) that the two versions decide differently.

The search is the solver's: one program holds both versions (the OLD rules under their own keys, the NEW
rules under keys shifted past them), the abstract encounter kb/search/space.lp chooses (key 0, answered under
OLD) is answered again as key 1 under NEW (kb/search/witness.lp), both bill one common candidate claim, and
a constraint asks that the two outcomes (kb/search/outcome.lp) differ in the direction asked; the witness is
the one of least cost. Each witness is decoded to a contract-v1 encounter and checked for real under OLD
and NEW (Engine.check): one the checks answer alike is refuted, blocked, and the search goes on.

Outcomes are ordered allow < modify < review < deny. NEW is *stricter* when no encounter of the space is
answered more leniently under NEW than under OLD and some is answered more strictly (so every encounter NEW
allows, at any level, OLD allows too); *looser* the other way round; *incomparable* when both happen;
*equivalent* when no encounter is answered differently.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import clingo
from clingo import Function, Number
from clingo import ast as clingo_ast

from solver.case_coverage import deciding_rules
from solver.encounter import Encounter
from solver.engine import Engine, _parsed
from solver.explore.common import OUTCOME_LP
from solver.facts import rule_facts
from solver.icd10cm_data import ICD10_START
from solver.paths import KB_DIR
from solver.verify import space as sp

WITNESS_LP = KB_DIR / "search" / "witness.lp"
NEW_SET = 1_000_000  # the rule-set id of the NEW version's rules (OLD's ids are small)
OPTIONS = ["--opt-mode=opt", "--opt-strategy=usc"]
_DAY = dt.timedelta(days=1)
DIRECTIONS = ("stricter", "looser")
RANK = {"allow": 0, "modify": 1, "review": 2, "deny": 3}


@dataclass
class Window:
    start: dt.date | None
    end: dt.date | None
    date: dt.date  # the day the window is answered on

    def as_dict(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "through": self.end.isoformat() if self.end else None, "date": self.date.isoformat()}


def windows(old, new, payer: str, on: dt.date | None = None) -> list[Window]:
    """The date windows between the policy dates of both versions for a payer (each rule's first day and the
    day after its last); with `on`, the one window holding it, answered on that day."""
    cuts = set()
    for pol in (old, new):
        for inst in pol.payer_instances(payer):
            if inst.start:
                cuts.add(inst.start)
            if inst.end:
                cuts.add(inst.end + _DAY)
    cuts = sorted(cuts)
    spans = list(zip([None] + cuts, [c - _DAY for c in cuts] + [None]))
    if on is not None:
        for a, b in spans:
            if (a is None or a <= on) and (b is None or on <= b):
                return [Window(a, b, on)]
    out = []
    for a, b in spans:
        if b is not None and b < ICD10_START:
            continue  # before ICD-10-CM: no encounter of the space is answerable
        out.append(Window(a, b, max(a or ICD10_START, ICD10_START)))
    return out


def _meaning(inst) -> tuple:
    """What of a rule instance can change an answer (not its citations, title, message or version label)."""
    r = inst.rule
    return (r.id, r.family, r.category, r.severity, r.review, repr(sorted(inst.params.items(), key=lambda kv: kv[0])))


def tables_digest(pol) -> str:
    """The code tables of a policies folder, by file name and content (wherever the folder is)."""
    h = hashlib.sha256()
    for p in sorted((p for p in (pol.root / "tables").iterdir() if p.is_file()), key=lambda p: p.name):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def same_rules(old, new, payer: str, on: dt.date, same_tables: bool | None = None) -> bool:
    """The two versions put rules of the same meaning in force that day, over the same code tables (same_tables:
    whether they are, when the caller has compared them already)."""
    if same_tables is None:
        same_tables = tables_digest(old) == tables_digest(new)
    return (same_tables
            and sorted(map(_meaning, old.in_force(payer, on))) == sorted(map(_meaning, new.in_force(payer, on))))


def _both_space(old: Engine, new: Engine, payer: str, on: dt.date, space) -> sp.SpaceFacts:
    """The space for the rules of both versions in force that day (the diagnosis classes of both versions'
    lists, the distances of both versions' windows, their thresholds), over OLD's tables."""
    both = copy.copy(old.policies)
    both._in_force = {(payer, on): list(old.policies.in_force(payer, on)) + list(new.policies.in_force(payer, on))}
    return sp.space_facts(both, payer, on, space, thresholds_of=old.policies)


def _shifted(sym: clingo.Symbol, off: int) -> clingo.Symbol:
    return Function(sym.name, [Number(sym.arguments[0].number + off), *sym.arguments[1:]])


def build(old: Engine, new: Engine, payer: str, on: dt.date, space, messages: list[str] | None = None,
          changed: list[int] | None = None):
    """The program holding both versions over the space (not grounded): (ctl, space facts, NEW's key offset).
    changed: the keys of _changed for these versions that day, when the caller has them already."""
    sf = _both_space(old, new, payer, on, space)
    # lean: without the check's preferences among candidate claims and the wording of findings (the real
    # checks of a witness give both)
    ctl = sp.control(old, sf, extra=(OUTCOME_LP, WITNESS_LP), options=OPTIONS, messages=messages, lean=True)
    off = len(old.policies.instances)
    new_in_force = new.policies.in_force(payer, on)
    have = {old.policies.families[i.rule.family]["file"] for i in old.policies.in_force(payer, on)}
    missing = sorted({new.policies.families[i.rule.family]["file"] for i in new_in_force} - have)
    if missing:  # families only NEW's rules use
        with clingo_ast.ProgramBuilder(ctl) as builder:
            for name in missing:
                for stmt in _parsed(new.kb_dir / "families" / name):
                    if not sp._wording(stmt):
                        builder.add(stmt)
    with ctl.backend() as backend:
        def add(sym):
            backend.add_rule([backend.add_atom(sym)])
        for inst in new_in_force:
            for sym in rule_facts(new.policies, inst):
                add(_shifted(sym, off))
            add(Function("rule_set_member", [Number(NEW_SET), Number(inst.index + off)]))
        # NEW's thresholds for key 1 (space.lp states the chosen encounter's dates and lists with them)
        for sym in sp.threshold_facts(new.policies, payer, on, [c for c, _, _ in sf.diagnoses], key=1, offset=off):
            add(sym)
        add(Function("encounter_rules", [Number(1), Number(NEW_SET)]))
        if changed is None:
            changed = _changed(old.policies.in_force(payer, on), new_in_force, off)
        for k in changed:
            add(Function("changed", [Number(k)]))
    return ctl, sf, off


def _changed(old_rules, new_rules, off: int) -> list[int]:
    """The keys of the rules in force in one version with no rule of the same meaning in the other."""
    pending: dict[tuple, list[int]] = {}
    for inst in old_rules:
        pending.setdefault(_meaning(inst), []).append(inst.index)
    out = []
    for inst in new_rules:
        held = pending.get(_meaning(inst))
        if held:
            held.pop()
        else:
            out.append(inst.index + off)
    return sorted(k for ks in pending.values() for k in ks) + out


@dataclass
class Search:
    """One payer and window: the witnesses found in each direction, and how the search went."""

    window: Window
    witnesses: list[dict] = field(default_factory=list)
    refuted: int = 0
    complete: dict = field(default_factory=lambda: {d: True for d in DIRECTIONS})
    seconds: float = 0.0
    note: str | None = None
    changed: dict = field(default_factory=lambda: {"old": [], "new": []})  # rule ids in force in one version alone

    def verdict(self) -> str:
        found = {w["direction"] for w in self.witnesses}
        if found == set(DIRECTIONS):
            return "incomparable"
        if found:
            return found.pop()
        return "equivalent" if all(self.complete.values()) else "undecided"

    def caveat(self) -> str | None:
        """What the verdict leaves open: one direction found, the other not searched to the end."""
        found = {w["direction"] for w in self.witnesses}
        open_ = [d for d in DIRECTIONS if d not in found and not self.complete[d]]
        if found and open_:
            return (f"no witness {open_[0]} was found before the search stopped ({self.refuted} candidate(s) refuted): "
                    "the versions may also be incomparable")
        return None


def _side(result: dict) -> dict:
    rules = deciding_rules(result)
    return {"outcome": result["outcome"],
            "claim": result.get("claim", []),
            "deciding_rules": [{"rule": f["rule"], "severity": f["severity"], "policy_version": f.get("policy_version"),
                                "message": f["message"], "citations": f["citations"]}
                               for f in _first_per_rule(result.get("findings", [])) if f["rule"] in rules]}


def _first_per_rule(findings: list[dict]) -> list[dict]:
    """A rule found on several lines is named once (its first finding)."""
    seen: set[str] = set()
    return [f for f in findings if not (f["rule"] in seen or seen.add(f["rule"]))]


def search_window(old: Engine, new: Engine, payer: str, window: Window, space, limit: int = 3,
                  max_refuted: int = 25) -> Search:
    """The witnesses of one payer and window: per direction up to `limit` confirmed ones (each with another pair
    of outcomes), least cost first; a direction whose search met `max_refuted` candidates refuted (or showing a
    pair of outcomes shown already) before any witness is incomplete."""
    t0 = time.perf_counter()
    out = Search(window)
    same_tables = tables_digest(old.policies) == tables_digest(new.policies)  # each folder's tables read once
    if same_rules(old.policies, new.policies, payer, window.date, same_tables):
        out.note = "the same rules are in force under both versions"
        out.seconds = time.perf_counter() - t0
        return out
    old_rules, new_rules = old.policies.in_force(payer, window.date), new.policies.in_force(payer, window.date)
    off = len(old.policies.instances)
    keys = _changed(old_rules, new_rules, off)
    out.changed = {"old": sorted({old.policies.instances[k].id for k in keys if k < off}),
                   "new": sorted({new.policies.instances[k - off].id for k in keys if k >= off})}
    if not same_tables:
        out.note = ("the code tables differ: the search answers both versions over OLD's tables, and each witness "
                    "is confirmed under each folder's own")
    messages: list[str] = []
    ctl, sf, off = build(old, new, payer, window.date, space, messages, changed=keys)
    ctl.ground([("base", [])])
    picks = [(a.symbol, a.literal) for a in ctl.symbolic_atoms.by_signature("pick", 1)]
    outcome_lit = {(a.symbol.arguments[0].number, a.symbol.arguments[1].name): a.literal
                   for a in ctl.symbolic_atoms.by_signature("outcome", 2)}
    seen_pairs: set[tuple[str, str]] = set()
    for direction in DIRECTIONS:
        for d in DIRECTIONS:
            ctl.assign_external(Function("dir", [Function(d)]), d == direction)
        found = refuted = 0
        while found < limit and refuted < max_refuted:
            model = _least(ctl)
            if not model:
                break
            chosen = {s for s in model if s.name == "pick"}
            enc_dict = sp.decode(model, sf, id=f"witness-{payer}-{window.date.isoformat()}-{direction}-{found + 1}")
            with ctl.backend() as backend:  # never this encounter again, whatever the checks say
                backend.add_rule([], [lit if sym in chosen else -lit for sym, lit in picks])
            enc = Encounter.model_validate(enc_dict)
            before, after = old.check(enc), new.check(enc)
            pair = (before["outcome"], after["outcome"])
            real = _direction(*pair)
            if real is None:
                refuted += 1
                out.refuted += 1
                continue
            if pair in seen_pairs:  # a real difference shown already: it counts toward the cap of this direction
                refuted += 1
                continue
            seen_pairs.add(pair)
            with ctl.backend() as backend:  # the next witness shows another pair of outcomes
                lits = [outcome_lit.get((0, pair[0])), outcome_lit.get((1, pair[1]))]
                if None not in lits:
                    backend.add_rule([], lits)
            out.witnesses.append({"direction": real, "outcome": {"from": pair[0], "to": pair[1]}, "witness": enc_dict,
                                  "cost": _cost(model), "old": _side(before), "new": _side(after)})
            if real == direction:
                found += 1
        if refuted >= max_refuted and found == 0:
            out.complete[direction] = False  # no witness, and no proof that there is none
    out.seconds = time.perf_counter() - t0
    return out


def _least(ctl) -> list:
    """The shown atoms of a model of least cost, or [] when there is none. Whether there is one is asked first
    with the optimization off (proving there is none is several times faster so), then the least is sought."""
    model: list = []
    for mode in ("ignore", "opt"):
        ctl.configuration.solve.opt_mode = mode
        model.clear()
        ctl.solve(on_model=lambda m: model.__setitem__(slice(None), m.symbols(shown=True)))
        if not model:
            break
    return model


def _cost(model: list) -> int:
    return sum(1 for s in model if s.name == "pick")


def _direction(before: str, after: str) -> str | None:
    if before == after or "error" in (before, after):
        return None
    return "stricter" if RANK[after] > RANK[before] else "looser"


def diff(old: Engine, new: Engine, payers: list[str] | None = None, on: dt.date | None = None,
         space_file: Path | None = None, limit: int = 3) -> dict:
    """Per payer and window: the verdict and the witnesses (the JSON `policy diff --witness` prints)."""
    space = sp.load_space(space_file or sp.SPACE_FILE, new.policies)
    names = payers or sorted(set(old.policies.payers) | set(new.policies.payers))
    out = {"payers": [], "space": str(space.file), "order": ["allow", "modify", "review", "deny"]}
    t0 = time.perf_counter()
    for pid in names:
        if pid not in old.policies.payers or pid not in new.policies.payers:
            out["payers"].append({"payer": pid, "verdict": "added" if pid in new.policies.payers else "removed", "windows": []})
            continue
        rows = []
        for w in windows(old.policies, new.policies, pid, on):
            s = search_window(old, new, pid, w, space, limit)
            rows.append({**w.as_dict(), "verdict": s.verdict(), "changed_rules": s.changed, "witnesses": s.witnesses, "refuted": s.refuted,
                         "complete": all(s.complete.values()), "seconds": round(s.seconds, 3),
                         **({"note": "; ".join(n for n in (s.note, s.caveat()) if n)} if s.note or s.caveat() else {})})
        verdicts = {r["verdict"] for r in rows}
        out["payers"].append({"payer": pid, "verdict": _overall(verdicts), "windows": rows})
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _overall(verdicts: set[str]) -> str:
    v = verdicts - {"equivalent"}
    if not v:
        return "equivalent"
    if "undecided" in v:
        return "undecided"
    if "incomparable" in v or v == {"stricter", "looser"}:
        return "incomparable"
    return v.pop()
