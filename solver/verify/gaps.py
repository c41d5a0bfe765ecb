"""Gaps of verify: encounter shapes no rule decides where the policy says one must, each with a witness
encounter confirmed by a real check.

- a covered service (its code group has no code_not_covered rule) with no diagnosis rule in force for it;
- a covered service with no limit of sessions in a window (no sessions_per_window rule for it);
- a span of dates between a payer's dated policy versions where none of them is in force.
"""
from __future__ import annotations

import datetime as dt

from solver.encounter import Encounter

DIAGNOSIS_FAMILIES = ("diagnosis_list_required", "diagnosis_region_match", "diagnosis_excluded")
SLOT_GROUP = {"tpi": "tpi", "dry_needling": "dry_needling"}


def _covered_slots(sf) -> list[str]:
    uncovered = {inst.params.get("group") for inst in sf.in_force if inst.rule.family == "code_not_covered"}
    return [s for s, g in SLOT_GROUP.items() if g not in uncovered]


def _encounter(sf, slot: str, substance: str, **extra) -> dict:
    muscle = next(iter(sf.muscles))
    side = sf.space.injections.sides[0]
    outside = [c for c, st, cl in sf.diagnoses if cl.startswith("in no list")]
    enc = {"id": f"verify:gap-{slot}", "payer": sf.payer, "date_of_service": sf.date.isoformat(),
           "injections": [{"muscle": muscle, "side": side, "substance": substance, "dose": sf.space.injections.dose}],
           "diagnoses": outside[:1] or [sf.diagnoses[0][0]]}
    enc.update(extra)
    return enc


def find(engine, sf) -> list[dict]:
    pol = engine.policies
    from solver.facts import _substance_classes
    candidates: list[tuple[dict, dict, callable]] = []
    for slot in _covered_slots(sf):
        substance = next((s for s in sf.space.injections.substances
                          if (_substance_classes(pol, s) == ["needle_only"]) == (slot == "dry_needling")), None)
        if substance is None:
            continue
        rules = [i for i in sf.in_force if i.params.get("slot") == slot]
        if not any(i.rule.family in DIAGNOSIS_FAMILIES for i in rules):
            gap = {"kind": "no_diagnosis_rule", "slot": slot,
                   "message": f"{' / '.join(pol.tables.code_groups[SLOT_GROUP[slot]])} is covered on this date and no "
                              "rule in force limits the diagnoses it is billed for"}
            candidates.append((gap, _encounter(sf, slot, substance), lambda r: not any(f["category"] == "diagnosis" for f in r["findings"])))
        if not any(i.rule.family == "sessions_per_window" for i in rules):
            step = 1 + max([i.params["days"] for i in rules if i.rule.family.startswith("minimum_interval")] or [0])
            n = max(sf.space.history.max, 1)
            code = pol.tables.code_groups[SLOT_GROUP[slot]][0]
            history = [{"date": (sf.date - dt.timedelta(days=step * j)).isoformat(), "code": code}
                       for j in range(n, 0, -1) if step * j < 365]
            gap = {"kind": "no_session_limit", "slot": slot,
                   "message": f"no rule in force limits the {slot} sessions in a window: {len(history)} earlier sessions in "
                              f"12 months, {step} day{'s' if step != 1 else ''} apart, and this one raise no frequency finding"}
            candidates.append((gap, _encounter(sf, slot, substance, history=history),
                               lambda r: not any(f["category"] == "frequency" for f in r["findings"])))
    out = []
    if candidates:
        results = engine.check_many([Encounter.model_validate(enc) for _, enc, _ in candidates])
        for (gap, enc, holds), res in zip(candidates, results):
            if res.get("outcome") != "error" and holds(res):
                out.append({**gap, "witness": {"encounter": enc, "outcome": res["outcome"], "claim": res["claim"],
                                               "findings": sorted({f["rule"] for f in res["findings"]})}})
    out += date_gaps(engine, sf.payer)
    return out


def date_gaps(engine, payer: str) -> list[dict]:
    """Spans of days between the payer's dated policy versions where none of them is in force."""
    out = []
    for first, last in engine.policies.version_gaps(payer):
        enc = {"id": "verify:gap-dates", "payer": payer, "date_of_service": first.isoformat()}
        res = engine.check(Encounter.model_validate(enc))
        out.append({"kind": "no_rule_set", "from": first.isoformat(), "through": last.isoformat(),
                    "message": f"no dated policy version of {payer} is in force from {first} through {last}",
                    "witness": {"encounter": enc, "outcome": res.get("outcome"),
                                "versions": res.get("policy", {}).get("versions", [])}})
    return out
