"""The dates on which an encounter's answer can change, computed from the policies' own dates and the encounter's
history, never by trying every day.

The answer for a payer and a date of service depends on the date only through: the payer's rule instances in
force (each rule's and each policy version's from / through), the ICD-10-CM release judging the date (the
releases held, ICD-10-CM's start, each diagnosis code's own status changes), the PTP edits between the codes the
encounter can bill (their effective, deletion and known-in-force dates), the code tables' known-in-force end (the
data.coverage warning), and the days between each earlier session and the date (it counts from its own date, and
leaves a rule's window or interval Days days later: sessions_per_window, minimum_interval). Between two such
dates the answer is the same, so one date per interval is answered, all in one batch."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from solver.encounter import Encounter
from solver.facts import encounter_codes
from solver.icd10cm_data import ICD10_START
from solver.policy import Policies

DAY = dt.timedelta(days=1)
ICD, COVERAGE, PTP = frozenset({"(icd10cm)"}), frozenset({"(coverage)"}), frozenset({"(ptp)"})
POLICY = "(policy version)"  # a version's start and another's end on one day are one change of the payer's policy
WINDOW_FAMILIES = {"sessions_per_window": "window_days", "minimum_interval": "days",
                   "minimum_interval_unknown_location": "days"}


def _rule_dates(pol: Policies, payer: str, add) -> None:
    grouped: dict[tuple, list[str]] = defaultdict(list)
    for inst in pol.payer_instances(payer):
        if inst.start is not None:
            grouped[(inst.start, "from", inst.version)].append(inst.id)
        if inst.end is not None:
            grouped[(inst.end + DAY, "after", inst.version)].append(inst.id)
    for (day, kind, version), rules in grouped.items():
        title = next((i.version_title for i in pol.payer_instances(payer) if i.version == version and i.version_title), None)
        named = f"{version}" + (f" ({title})" if title else "")
        which = ", ".join(sorted(rules)) if len(rules) <= 3 else f"{len(rules)} rules"
        rules = set(rules) | {POLICY}
        if kind == "from":
            add(day, f"{payer} policy version {named} in force from {day}: {which}", rules)
        else:
            add(day, f"{payer} policy version {named} no longer in force after {day - DAY}: {which}", rules)


def _icd_dates(pol: Policies, enc: Encounter, add) -> None:
    add(ICD10_START, f"ICD-10-CM takes effect on {ICD10_START} (ICD-9-CM before)", ICD)
    history = pol.codeset.history
    for first, kind, i in history.periods:
        day, r = dt.date.fromordinal(first), history.releases[i]
        if kind == "in_force":
            add(day, f"ICD-10-CM release {r.id} in force from {day}", ICD)
        elif kind == "gap":
            add(day, f"ICD-10-CM: {r.id} known in force only through {day - DAY}; the next release held is in force from "
                     f"{history.releases[i + 1].effective_from}", ICD)
        elif kind == "after":
            add(day, f"ICD-10-CM: after the newest release held ({r.id}, known in force through {day - DAY})", ICD)
    codes = dict.fromkeys(enc.diagnoses + [d for line in enc.claim or [] for d in line.diagnoses])
    for code in codes:
        for first, judged in zip(history.starts.get(code, ()), history.judgements.get(code, ())):
            day = dt.date.fromordinal(first)
            flag = f", {judged.flag}" if judged.flag else ""
            add(day, f"ICD-10-CM {code} is {judged.status}{flag} from {day}", ICD)


def _table_dates(pol: Policies, enc: Encounter, add) -> None:
    for name, src in sorted(pol.tables.sources.items()):
        through = (src.get("in_force") or {}).get("through")
        if through:
            end = dt.date.fromisoformat(str(through))
            add(end + DAY, f"{name} ({src.get('edition', 'edition not stated')}) known in force through {end}; later "
                           "dates are answered with a data.coverage warning", COVERAGE)
    codes = encounter_codes(pol, enc)
    for r in pol.tables.ptp:
        if r.column1 not in codes or r.column2 not in codes:
            continue
        edit = f"NCCI PTP edit {r.column1}/{r.column2}"
        if r.applies_from is not None:
            add(r.applies_from, f"{edit} in force from {r.applies_from}", PTP)
        if r.deleted is not None:
            add(r.deleted + DAY, f"{edit} deleted after {r.deleted}", PTP)
        if r.known_from is not None:
            add(r.known_from, f"{edit} known in force from {r.known_from}", PTP)


def _history_dates(pol: Policies, enc: Encounter, payer: str, add) -> None:
    groups = pol.tables.code_groups
    for inst in pol.payer_instances(payer):
        param = WINDOW_FAMILIES.get(inst.rule.family)
        if param is None:
            continue
        days, members = inst.params.get(param), set(groups.get(inst.params.get("group"), []))
        for h in enc.history:
            if h.code not in members:
                continue
            add(h.date, f"the earlier session of {h.date} ({h.code}) counts from its own date", [inst.id])
            if inst.rule.family == "sessions_per_window":
                add(h.date + dt.timedelta(days=days), f"the session of {h.date} leaves the {days}-day window of "
                                                      f"{inst.id} ({inst.version}) on {h.date + dt.timedelta(days=days)}", [inst.id])
            else:
                add(h.date + dt.timedelta(days=days), f"{days} days after the session of {h.date}: {inst.id} "
                                                      f"({inst.version}) allows the service again", [inst.id])


def candidate_dates(pol: Policies, enc: Encounter, payer: str, start: dt.date, end: dt.date) -> dict[dt.date, dict[str, set]]:
    """Every date in (start, end] on which the answer for this payer can change: {date: {reason: what it touches}}
    (rule ids, or the tokens ICD, COVERAGE, PTP; see relevant)."""
    found: dict[dt.date, dict[str, set]] = defaultdict(dict)

    def add(day: dt.date, reason: str, touches) -> None:
        if start < day <= end:
            found[day].setdefault(reason, set()).update(touches)

    _rule_dates(pol, payer, add)
    _icd_dates(pol, enc, add)
    _table_dates(pol, enc, add)
    _history_dates(pol, enc, payer, add)
    return dict(sorted(found.items()))


def relevant(pol: Policies, reasons: dict[str, set], changed_rules: set[str]) -> list[str]:
    """The reasons of a change date that touch what changed (a rule added or removed, its family, the ICD-10-CM
    diagnosis rules, the data.coverage warning, a PTP edit; a policy version's change with every other change of
    versions that day); all of them when none does (never silent)."""
    touched = set(changed_rules)
    family = {i.id: i.rule.family for i in pol.instances}
    for rid in changed_rules:
        fam = family.get(rid, "")
        if fam.startswith("diagnosis") or rid == "data.coverage":
            touched |= ICD
        if rid == "data.coverage":
            touched |= COVERAGE
        if fam == "ptp_edit":
            touched |= PTP
    hits = [text for text, touches in reasons.items() if touches & touched]
    if any(POLICY in reasons[text] for text in hits):
        hits = [text for text, touches in reasons.items() if text in hits or POLICY in touches]
    return hits or list(reasons)


def signature(result: dict) -> tuple:
    """What an answer is, for telling two dates apart: outcome, claim, and the findings (rule, line, severity, review,
    corrected); messages and evidence that only name the date do not count."""
    claim = tuple((x["code"], tuple(x["modifiers"]), x["units"], tuple(x["diagnoses"])) for x in result.get("claim", []))
    found = frozenset((f["rule"], f.get("line"), f["severity"], bool(f.get("review")), f.get("corrected"))
                      for f in result.get("findings", []))
    return (result.get("outcome"), claim, found)
