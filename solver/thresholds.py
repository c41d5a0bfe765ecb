"""The numbers and lists the rules in force compare encounter values with, per rule set.

Dates, weeks, percents and diagnosis lists reach the knowledge base only as booleans computed here, before
the solve, with the thresholds taken from the parameters of the rules in force (kb/vocabulary.lp:
prior_gap_below/3, prior_on_or_after/3, therapy_weeks_at_least/2, relief_at_least/3, diagnosis_in_list/3,
diagnosis_supports_region/4, ptp_row/4). Both engines add the same booleans: the reference engine as facts,
the resident engine as externals of a program grounded once per encounter shape.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from solver.dates import day_number
from solver.policy import Policies

GAP_PARAMS = ("days", "window_days")  # minimum_interval*, sessions_per_window


@dataclass(frozen=True)
class Thresholds:
    gap_days: tuple[int, ...]  # N of prior_gap_below/3 and prior_session_plus/4
    from_days: tuple[int, ...]  # Day of prior_on_or_after/3
    therapy_weeks: tuple[int, ...]  # W of therapy_weeks_at_least/2
    relief: tuple[tuple[int, int], ...]  # (P, W) of relief_at_least/3
    dx_lists: tuple[tuple[int, frozenset], ...]  # (rule key, codes) of diagnosis_in_list/3
    dx_regions: tuple[tuple[int, str, frozenset], ...]  # (rule key, region, codes) of diagnosis_supports_region/4


def thresholds(pol: Policies, set_id: int) -> Thresholds:
    """The thresholds of the rules of rule set `set_id` (cached on the policies: they never change)."""
    cache = pol.__dict__.setdefault("_thresholds_cache", {})
    got = cache.get(set_id)
    if got is None:
        got = cache[set_id] = _compute(pol, set_id)
    return got


def _compute(pol: Policies, set_id: int) -> Thresholds:
    gaps, froms, weeks, relief, lists, regions = set(), set(), set(), set(), [], []
    for k in pol.set_members(set_id):
        inst = pol.instances[k]
        family, p = inst.rule.family, inst.params
        types = {n.rstrip("?"): t for n, t in (pol.families[family].get("params") or {}).items()}
        for name in GAP_PARAMS:
            if name in p:
                gaps.add(int(p[name]))
        if family == "sessions_per_window":
            if p.get("count_from") is not None:
                froms.add(_day(p["count_from"]))
            if inst.start is not None:
                froms.add(day_number(inst.start))
        if p.get("min_therapy_weeks") is not None:
            weeks.add(int(p["min_therapy_weeks"]))
        if "min_percent" in p and "min_weeks" in p:
            relief.add((int(p["min_percent"]), int(p["min_weeks"])))
        if types.get("diagnoses") == "diagnoses" and "diagnoses" in p:
            lists.append((k, frozenset(p["diagnoses"])))
        if "regions" in p and str(types.get("regions", "")).startswith("map["):
            regions += [(k, r, frozenset(codes)) for r, codes in p["regions"].items()]
    return Thresholds(tuple(sorted(gaps)), tuple(sorted(froms)), tuple(sorted(weeks)), tuple(sorted(relief)),
                      tuple(lists), tuple(regions))


def _day(v) -> int:
    return day_number(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)))
