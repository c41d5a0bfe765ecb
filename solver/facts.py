"""Encounters and policies -> clingo symbols. Facts are built with the symbol API only, never as ASP text,
so no value typed into an encounter can become a rule."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from clingo import Function, Infimum, Number, String, Supremum, Symbol

from solver.dates import day_number
from solver.encounter import MAX_POINTERS, Encounter, Evaluation, OtherProcedure
from solver.policy import Policies, RuleInstance
from solver.symbols import builder, handle
from solver.thresholds import Thresholds, thresholds

SLOT_GROUPS = {"tpi": "tpi", "dry_needling": "dry_needling", "em": "evaluation"}


_string = lru_cache(maxsize=8192)(String)
_number = lru_cache(maxsize=4096)(Number)
_constant = lru_cache(maxsize=64)(Function)  # tpi, dry_needling, em


@lru_cache(maxsize=1024)
def _numbered(name: str, n: int) -> Symbol:  # proc(I), extra(L)
    return Function(name, [Number(n)])


def _sym(a) -> Symbol:
    if isinstance(a, Symbol):
        return a
    return _number(a) if isinstance(a, int) else _string(str(a))


def fact(name: str, *args) -> Symbol:
    return Function(name, [*map(_sym, args)])


def rule_key(inst: RuleInstance) -> Symbol:
    return Number(inst.index)


def _param_facts(k: Symbol, family_spec: dict, params: dict) -> list[Symbol]:
    out = []
    types = {n.rstrip("?"): t for n, t in (family_spec.get("params") or {}).items()}
    for name, value in params.items():
        typ, pname = types[name], Function(name)
        if typ == "bands":
            for b in value:
                out.append(Function("rule_band", [k, String(b["code"]), Number(b["min"]),
                                                  Supremum if b["max"] is None else Number(b["max"])]))
        elif typ.startswith("map["):
            for key, items in value.items():
                for v in items:
                    out.append(Function("rule_map", [k, pname, String(key), _scalar(typ, v)]))
        elif typ.startswith("list[") or typ == "diagnoses":
            for i, v in enumerate(value, start=1):
                out.append(Function("rule_item", [k, pname, Number(i), _scalar(typ[5:-1] if typ.startswith("list[") else typ, v)]))
        else:
            out.append(Function("rule_param", [k, pname, _scalar(typ, value)]))
    return out


def _scalar(typ: str, v) -> Symbol:
    if typ == "slot":
        return Function(v)
    if typ == "date":
        return Number(day_number(v))
    if isinstance(v, bool):
        return Number(int(v))
    if isinstance(v, int):
        return Number(v)
    return String(str(v))


def rule_facts(pol: Policies, inst: RuleInstance) -> list[Symbol]:
    """One rule instance as facts: its family, name, category, severity and parameters."""
    k = rule_key(inst)
    out = [Function("rule", [k, Function(inst.rule.family)]),
           *([Function("rule_needs_note", [k])] if pol.families[inst.rule.family].get("needs_note") else []),
           *([Function("rule_review", [k])] if inst.rule.review else []),
           Function("rule_name", [k, String(inst.payer), String(inst.rule.id), String(inst.version)]),
           Function("rule_category", [k, String(inst.rule.category)]), Function("rule_severity", [k, String(inst.rule.severity)])]
    if inst.start is not None:
        out.append(Function("rule_from", [k, Number(day_number(inst.start))]))
    return out + _param_facts(k, pol.families[inst.rule.family], inst.params)


@dataclass
class TableFacts:
    """The code tables as facts: groups always; PTP, MUE and fee-schedule rows by the codes they touch, so
    a batch gets only the rows its encounters can use."""

    groups: list[Symbol]
    by_code: dict[str, list[Symbol]]
    ptp: list[tuple[str, str, Symbol]]

    def for_codes(self, codes: set[str]) -> list[Symbol]:
        out = list(self.groups)
        for c in sorted(codes):
            out += self.by_code.get(c, [])
        out += [sym for c1, c2, sym in self.ptp if c1 in codes and c2 in codes]
        return out

    def handles_for_codes(self, codes: set[str]) -> tuple[list[int], set[tuple[str, int]]]:
        """for_codes as symbol handles (the same facts in the same order), with their signatures."""
        idx = self.__dict__.get("_handles")
        if idx is None:
            by_c1: dict[str, list] = {}
            for n, (c1, c2, sym) in enumerate(self.ptp):
                by_c1.setdefault(c1, []).append((n, c2, handle(sym), signature_of(sym)))
            idx = self.__dict__["_handles"] = (handles_of(self.groups), {c: handles_of(v) for c, v in self.by_code.items()}, by_c1)
        groups, by_code, by_c1 = idx
        out, sigs = list(groups[0]), set(groups[1])
        for c in sorted(codes):
            got = by_code.get(c)
            if got:
                out += got[0]
                sigs |= got[1]
        rows = sorted(row for c1 in codes for row in by_c1.get(c1, ()) if row[1] in codes)
        out += [rep for _, _, rep, _ in rows]
        sigs.update(sig for _, _, _, sig in rows)
        return out, sigs


def signature_of(sym: Symbol) -> tuple[str, int]:
    return (sym.name, len(sym.arguments))


def handles_of(syms: list[Symbol]) -> tuple[list[int], set[tuple[str, int]]]:
    """The handles of symbols and their signatures."""
    return [handle(s) for s in syms], set(map(signature_of, syms))


def table_facts(pol: Policies) -> TableFacts:
    t = pol.tables
    groups: list[Symbol] = []
    for g, codes in t.code_groups.items():
        groups += [fact("codeset_group", g, c) for c in codes]
    for g, mods in t.modifier_groups.items():
        groups += [fact("codeset_modifier_group", g, m, i) for i, m in enumerate(mods, start=1)]
    order = list(dict.fromkeys(m for mods in t.modifier_groups.values() for m in mods))
    groups += [fact("codeset_modifier_position", m, i) for i, m in enumerate(order, start=1)]
    groups.append(fact("claim_max_pointers", MAX_POINTERS))
    by_code: dict[str, list[Symbol]] = {}
    for r in t.mue.values():
        by_code.setdefault(r.code, []).append(fact("codeset_mue", r.code, r.value, r.mai))
    for code, fields in t.mpfs.items():
        by_code.setdefault(code, []).extend(fact("codeset_mpfs", code, f, v) for f, v in fields.items())
    ptp = [(r.column1, r.column2, Function("codeset_ptp", [String(r.column1), String(r.column2), Number(r.modifier_indicator),
                                                           Infimum if r.applies_from is None else Number(day_number(r.applies_from)),
                                                           Supremum if r.deleted is None else Number(day_number(r.deleted))]))
           for r in t.ptp]
    ptp += [(r.column1, r.column2, fact("codeset_ptp_start_unknown", r.column1, r.column2,
                                        Supremum if r.deleted is None else Number(day_number(r.deleted)),
                                        day_number(r.known_from), r.note))
            for r in t.ptp if r.known_from is not None]
    return TableFacts(groups, by_code, ptp)


def encounter_codes(pol: Policies, enc: Encounter) -> set[str]:
    """Every procedure code an encounter can put on a claim: documented, submitted, or a TPI / dry-needling code."""
    codes = set(pol.tables.code_groups.get("tpi", [])) | set(pol.tables.code_groups.get("dry_needling", []))
    codes |= {p.code for p in enc.other_procedures} | {line.code for line in enc.claim or []}
    if enc.evaluation:
        codes.add(enc.evaluation.code)
    return codes


@dataclass
class EncounterFacts:
    """The facts of one encounter, and what Python needs to read the answer back.

    The engine adds the facts by their handles (`reps`, solver/symbols.py); `symbols` is the same list as
    clingo Symbols (or, with encounter_facts(raw=True), as (name, args) tuples). Once `symbols` is read it is
    the list of record: a change to it (an appended fact) is what `reps` gives from then on."""

    key: int
    slot_of_line: dict[int, Symbol] = field(default_factory=dict)
    injections: dict[int, str] = field(default_factory=dict)  # injection index -> documented muscle text
    unknown_muscles: list[str] = field(default_factory=list)
    later_sessions: list[tuple[int, str]] = field(default_factory=list)  # (index in history, date): after the date of service
    repeated_sessions: list[tuple[int, int]] = field(default_factory=list)  # (index, index of the first): the same date and code
    signatures: set[tuple[str, int]] = field(default_factory=set)  # (name, arity) of the facts, for the engine
    _reps: list[int] = field(default_factory=list, repr=False)
    _symbols: list | None = field(default=None, repr=False)

    @property
    def symbols(self) -> list:
        if self._symbols is None:
            self._symbols = [Symbol(r) for r in self._reps]
        return self._symbols

    @symbols.setter
    def symbols(self, value: list) -> None:
        self._symbols = value

    @property
    def reps(self) -> list[int]:
        return self._reps if self._symbols is None else [handle(s) for s in self._symbols]


def _substance_classes(pol: Policies, substance: str | None) -> list[str]:
    if substance is None or not substance.strip():
        return []
    return _classes(pol.tables.substance_terms_key, substance)


@lru_cache(maxsize=4096)
def _classes(terms: tuple, substance: str) -> list[str]:
    text = " " + " ".join(substance.lower().replace("-", " ").replace(",", " ").split()) + " "
    found = [cls for cls, words in terms if any(f" {t.replace('-', ' ')} " in text for t in words)]
    return found or ["other"]


_MEMO: dict[int, dict] = {}  # encounter key -> {(name, args): (handle, signature)}: a fact is made once a process
_MEMO_LIMIT = 100_000  # facts kept (about 20 MB); then the memo starts again


def _memo(key: int) -> dict:
    memo = _MEMO.get(key)
    if memo is None or len(memo) > _MEMO_LIMIT // 100:
        if sum(map(len, list(_MEMO.values()))) > _MEMO_LIMIT:  # a copy: another thread may add a key
            _MEMO.clear()
        memo = _MEMO.setdefault(key, {})
    return memo


def encounter_facts(pol: Policies, enc: Encounter, key: int, raw: bool = False) -> EncounterFacts:
    """The facts of one encounter, keyed by the integer `key` (so many encounters can share a grounding).
    raw: as (name, args) tuples of Python values and slot symbols, without the key (solver.resident)."""
    ef = EncounterFacts(key)
    signature = ef.signatures.add

    if raw:
        ef.symbols = []
        add = ef.symbols.append

        def f(name, *args):
            add((name, args))
            signature((name, len(args) + 1))
    else:  # args are ints, strs and Symbols (the memo takes 2 and 2.0 for one value)
        bld = builder()
        E, memo, made = bld.number(key), _memo(key), []
        get, add, function, value = memo.get, made.append, bld.function, bld.value

        def f(name, *args):
            got = get((name, args))
            if got is None:
                got = memo[(name, args)] = (function(name, [E, *map(value, args)]), (name, len(args) + 1))
            add(got)

    dos = enc.date_of_service
    if not enc.procedure_note and enc.claim:
        enc = _services_from_claim(pol, enc)
        f("note_absent")
    f("encounter")
    f("payer", enc.payer)
    f("dos", day_number(dos))
    set_id = pol.in_force_set(enc.payer, dos)
    th = thresholds(pol, set_id)
    f("encounter_rules", set_id)
    slots = _injection_facts(f, pol, enc, ef)
    if not enc.procedure_note and not enc.injections:
        slots |= _claimed_injection_slots(f, pol, enc)
    procs = _service_facts(f, enc)
    _diagnosis_facts(f, pol, enc, th)
    _documentation_facts(f, enc, th)
    _history_facts(f, pol, enc, th)
    ef.later_sessions = later_sessions(enc)
    ef.repeated_sessions = repeated_sessions(enc)
    _ptp_facts(f, pol, enc)
    if enc.claim is not None:
        _claim_facts(f, pol, enc, ef, slots, procs)
    if not raw:
        ef._reps = [rep for rep, _ in made]
        ef.signatures.update(sig for _, sig in made)
    return ef


def _services_from_claim(pol: Policies, enc: Encounter) -> Encounter:
    """A claim without its note: the services are the ones the claim bills. An E/M line's 25 and another
    line's distinct-procedure modifier are taken as claimed; the rules that need the note are not applied
    (rule_needs_note/1) and a finding names them."""
    groups = pol.tables.code_groups
    distinct = set(pol.tables.modifier_groups.get("distinct", []))
    injected = set(groups.get("tpi", [])) | set(groups.get("dry_needling", []))
    evaluation, others = enc.evaluation, list(enc.other_procedures)
    billed = {p.code for p in others}
    for line in enc.claim or []:
        if line.code in injected:
            continue
        if line.code in groups.get("evaluation", []) and evaluation is None:
            evaluation = Evaluation(code=line.code, separately_identifiable="25" in line.modifiers)
        elif line.code not in billed and (evaluation is None or line.code != evaluation.code):
            others.append(OtherProcedure(code=line.code, units=line.units, distinct=bool(distinct & set(line.modifiers))))
            billed.add(line.code)
    return enc.model_copy(update={"evaluation": evaluation, "other_procedures": others})


def _claimed_injection_slots(f, pol: Policies, enc: Encounter) -> set[str]:
    """The injection services a claim without its note bills: a slot for each, coded as claimed."""
    slots: set[str] = set()
    for line in enc.claim or []:
        for s in ("tpi", "dry_needling"):
            if line.code in pol.tables.code_groups.get(SLOT_GROUPS[s], []) and s not in slots:
                slots.add(s)
                f("slot", _constant(s))
                f("slot_code", _constant(s), line.code)
    return slots


def _injection_facts(f, pol: Policies, enc: Encounter, ef: EncounterFacts) -> set[str]:
    """Each injection: its slot (TPI, or dry needling when needle-only), muscle, side, region, substance."""
    slots: set[str] = set()
    for i, inj in enumerate(enc.injections, start=1):
        ef.injections[i] = inj.muscle or ""
        classes = _substance_classes(pol, inj.substance)
        slot = "dry_needling" if classes == ["needle_only"] else "tpi"
        slots.add(slot)
        f("injection_slot", i, _constant(slot))
        m = pol.vocabulary.match(inj.muscle)
        if m.muscle:
            side = inj.side or ("unspecified" if m.paired else "midline")
            f("injection_muscle", i, m.muscle)
            f("injection_side", i, side)
            f("injection_region", i, m.region)
            f("injection_documented", i, "muscle")
        else:
            f("injection_unnamed", i, inj.muscle or "")
            if not m.recognised:
                ef.unknown_muscles.append(inj.muscle or "")
        if inj.substance:
            f("injection_documented", i, "substance")
        if inj.dose:
            f("injection_documented", i, "dose")
        for cls in classes:
            f("injection_substance_class", i, cls)
        if inj.guidance != "none":
            f("injection_guidance", i, inj.guidance)
    for s in sorted(slots):
        f("slot", _constant(s))
    return slots


def _service_facts(f, enc: Encounter) -> list[tuple[Symbol, str]]:
    """The E/M and the other procedures of the day: one slot each, with its documented code and units."""
    procs: list[tuple[Symbol, str]] = []
    if enc.evaluation:
        em = _constant("em")
        f("slot", em)
        f("slot_code", em, enc.evaluation.code)
        f("slot_units", em, 1)
        procs.append((em, enc.evaluation.code))
        if enc.evaluation.separately_identifiable:
            f("evaluation_separately_identifiable")
        if enc.evaluation.new_patient:
            f("evaluation_new_patient")
    for i, p in enumerate(enc.other_procedures, start=1):
        s = _numbered("proc", i)
        f("slot", s)
        f("slot_code", s, p.code)
        f("slot_units", s, p.units)
        if p.distinct:
            f("slot_distinct", s)
        procs.append((s, p.code))
    return procs


def _diagnosis_facts(f, pol: Policies, enc: Encounter, th: Thresholds) -> None:
    """Documented diagnoses, the status on the date of service of every code in play, Excludes1 pairs, and
    the membership of every code in play in the diagnosis lists of the rules in force."""
    codes = list(dict.fromkeys(enc.diagnoses + [d for line in enc.claim or [] for d in line.diagnoses]))
    for rank, d in enumerate(enc.diagnoses, start=1):
        f("diagnosis", d, rank)
    for d in codes:
        judged = pol.codeset.judge(d, enc.date_of_service)
        f("diagnosis_status", d, judged.status)
        if judged.flag == "uncertain":
            f("diagnosis_uncertain", d, judged.note or "its status on this date is not known")
    for a, b, _note in pol.codeset.excludes1_pairs(enc.diagnoses):
        f("diagnosis_excludes1", a, b)
    for k, listed in th.dx_lists:
        for d in codes:
            if d in listed:
                f("diagnosis_in_list", k, d)
    for k, region, listed in th.dx_regions:
        for d in codes:
            if d in listed:
                f("diagnosis_supports_region", k, region, d)


def _documentation_facts(f, enc: Encounter, th: Thresholds) -> None:
    """The documentation elements the note records (see policy.DOCUMENTATION_ELEMENTS)."""
    doc = enc.documentation
    ct = doc.conservative_therapy
    elements = {
        "trigger_points_on_exam": doc.trigger_points_on_exam, "focal_muscle_pain": doc.focal_muscle_pain,
        "functional_limitation": doc.functional_limitation, "abn_on_file": doc.abn_on_file,
        "conservative_therapy_tried": bool(ct.tried), "conservative_therapy_failed": ct.failed,
        "conservative_therapy_ongoing": ct.ongoing,
        "pain_scores_before_after": bool(doc.pain_scores and doc.pain_scores.before is not None and doc.pain_scores.after is not None),
        "pain_scores_same_scale": bool(doc.pain_scores and doc.pain_scores.scale),
        "prior_relief_documented": bool(doc.prior_relief and doc.prior_relief.percent is not None),
        "prior_relief_same_scale": bool(doc.prior_relief and doc.prior_relief.same_scale),
        "prior_relief_dated": bool(doc.prior_relief and doc.prior_relief.dated),
    }
    for el, on in elements.items():
        if on:
            f("documented", el)
    if ct.weeks is not None:
        for w in th.therapy_weeks:
            if ct.weeks >= w:
                f("therapy_weeks_at_least", w)
    pr = doc.prior_relief
    if pr and pr.percent is not None and pr.weeks is not None:
        p, w = math.floor(pr.percent), math.floor(pr.weeks)
        f("prior_relief", p, w)
        for min_p, min_w in th.relief:
            if p >= min_p and w >= min_w:
                f("relief_at_least", min_p, min_w)


def _sessions(enc: Encounter) -> dict[tuple, list[int]]:
    """The earlier sessions: (date, code) -> the indexes in history of its entries, in input order (one session
    a day and code: a repeated entry is the same session). Entries after the date of service are none."""
    out: dict[tuple, list[int]] = {}
    for n, h in enumerate(enc.history or []):
        if h.date <= enc.date_of_service:
            out.setdefault((h.date, h.code), []).append(n)
    return out


def history_order(enc: Encounter) -> list:
    """The earlier sessions by date, then by their order in the encounter: J of prior_session/3. A session dated
    after the date of service is no earlier session, and a repeated one is counted once, its muscles joined to
    the first entry's: the result says so of each (later_sessions, repeated_sessions)."""
    kept = []
    for (day, _code), ns in sorted(_sessions(enc).items(), key=lambda kv: (kv[0][0], kv[1][0])):
        h = enc.history[ns[0]]
        names = list(dict.fromkeys(m for n in ns for m in enc.history[n].muscles or []))
        if len(ns) > 1 and names != (h.muscles or []):
            h = h.model_copy(update={"muscles": names})
        kept.append(h)
    return kept


def later_sessions(enc: Encounter) -> list[tuple[int, str]]:
    """(index in history, date) of each session dated after the date of service (a what-if's date may be earlier)."""
    dos = enc.date_of_service
    return [(n, h.date.isoformat()) for n, h in enumerate(enc.history or []) if h.date > dos]


def repeated_sessions(enc: Encounter) -> list[tuple[int, int]]:
    """(index, index of the first) of each earlier session that repeats another's date and code: one session."""
    return sorted((n, ns[0]) for ns in _sessions(enc).values() for n in ns[1:])


def _history_facts(f, pol: Policies, enc: Encounter, th: Thresholds) -> None:
    """Earlier sessions numbered by date, with their muscles and regions when recorded, and their dates as
    the booleans the rules in force compare (gap below N days, on or after a day)."""
    dos = day_number(enc.date_of_service)
    for j, h in enumerate(history_order(enc), start=1):
        day = day_number(h.date)
        gap = dos - day
        f("prior_session", j, h.code)
        f("prior_session_date", j, day)
        f("prior_session_gap", j, gap)
        for n in th.gap_days:
            f("prior_session_plus", j, n, day + n)
            if 0 <= gap < n:
                f("prior_gap_below", j, n)
        for start in th.from_days:
            if day >= start:
                f("prior_on_or_after", j, start)
        for name in h.muscles or []:
            m = pol.vocabulary.match(name)
            if m.muscle:
                f("prior_session_muscle", j, m.muscle)
                f("prior_session_region", j, m.region)


def ptp_index(pol: Policies) -> dict:
    """PTP rows by column-1 code (built once per policies)."""
    idx = pol.__dict__.get("_ptp_index")
    if idx is None:
        idx = {}
        for r in pol.tables.ptp:
            idx.setdefault(r.column1, []).append(r)
        pol.__dict__["_ptp_index"] = idx
    return idx


def ptp_rows_on(pol: Policies, codes: set[str], d) -> tuple[list, list]:
    """The PTP rows between these codes in force on day d, and those among them whose start is not known on d."""
    idx = ptp_index(pol)
    live_out, unknown = [], []
    for c1 in sorted(codes):
        rows = [r for r in idx.get(c1, ()) if r.column2 in codes]
        live = [r for r in rows if (r.applies_from is None or r.applies_from <= d) and (r.deleted is None or d <= r.deleted)]
        live_out += live
        unknown += [r for r in rows if r.known_from is not None and d < r.known_from
                    and any(x.column2 == r.column2 and x.deleted == r.deleted for x in live)]
    return live_out, unknown


def _ptp_facts(f, pol: Policies, enc: Encounter) -> None:
    """The PTP rows between codes in play that are in force on the date of service (ptp_row/4), and those
    among them whose start is not known on that date (ptp_row_start_unknown/4)."""
    live, unknown = ptp_rows_on(pol, encounter_codes(pol, enc), enc.date_of_service)
    for r in live:
        f("ptp_row", r.column1, r.column2, r.modifier_indicator)
    for r in unknown:
        f("ptp_row_start_unknown", r.column1, r.column2, r.note)


def _claim_facts(f, pol: Policies, enc: Encounter, ef: EncounterFacts, slots: set[str], procs: list[tuple[Symbol, str]]) -> None:
    """The submitted lines, each mapped to the documented service it bills (or to extra(L) when none does)."""
    f("claim_submitted")
    groups = pol.tables.code_groups
    injection_slots = [s for s in ("tpi", "dry_needling") if s in slots]
    used: set[Symbol] = set()
    for n, line in enumerate(enc.claim or [], start=1):
        f("claim_line", n, line.code, line.units)
        for m in line.modifiers:
            f("claim_modifier", n, m)
        for d in line.diagnoses:
            f("claim_diagnosis", n, d)
        slot = None
        if injection_slots and (line.code in groups.get("tpi", []) or line.code in groups.get("dry_needling", [])):
            same = [s for s in injection_slots if line.code in groups.get(SLOT_GROUPS[s], [])]
            slot = _constant((same or injection_slots)[0])
        else:
            matches = [s for s, c in procs if c == line.code]
            free = [s for s in matches if s not in used]
            if free or matches:
                slot = (free or matches)[0]
        if slot is None:
            slot = _numbered("extra", n)
            f("slot", slot)
            f("slot_code", slot, line.code)
            f("slot_units", slot, line.units)
        used.add(slot)
        ef.slot_of_line[n] = slot
        f("claim_line_slot", n, slot)
