"""ASC X12 837P (005010X222A1) professional claims in: one encounter per claim (CLM), in file order.

The delimiters come from the ISA segment, never assumed: the element separator is the character after "ISA",
the repetition separator is ISA11, the component separator ISA16 and the segment terminator the character
after it. The interchange is read, one transaction set (ST..SE) at a time, by x12sdk's typed 837P models
(see README, "X12 837P", for why x12sdk and not pyx12); a transaction the parser cannot read costs its own
claims only, and each of them is still a record, with the parser's message as its problem.

A claim carries no procedure note: the encounter has the claim lines (SV1: HC procedure, modifiers, units of
service, diagnosis pointers), the diagnoses (HI), the date of service (DTP*472) and the payer (2010BB NM1*PR
and SBR, through the deployment's payer map), and no injections or documentation.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import Problem, pydantic_problems
from solver.formats.payer_map import PayerMap, default_path
from solver.formats.x12_where import (
    CLAIM_LOOPS,
    LINE_LOOPS,
    claim_segments,
    line_segments,
    own,
    parse_exception_problem,
    parser_problem,
    segment_of,
)
from solver.reading import Record

ICD10 = {"ABK": "principal", "ABF": "other"}  # HI qualifiers of ICD-10-CM codes
ICD9 = {"BK": "principal", "BF": "other"}  # HI qualifiers of ICD-9-CM codes
ICD10_START = dt.date(2015, 10, 1)
_WS = b" \t\r\n\f\v"


def sniff(data: bytes, source: str) -> bool:
    return data.lstrip(_WS)[:3] == b"ISA"


@dataclass(frozen=True)
class Delimiters:
    element: str
    repetition: str
    component: str
    segment: str


class X12Error(ValueError):
    """The interchange cannot be split into segments (a broken ISA segment)."""


def delimiters(text: str) -> Delimiters:
    """The delimiters an interchange declares in its ISA segment (16 elements, ISA16 one character)."""
    if not text.startswith("ISA") or len(text) < 4:
        raise X12Error("the interchange does not start with an ISA segment")
    element = text[3]
    if element.isalnum() or element.isspace():
        raise X12Error(f"the ISA element separator {element!r} (the character after 'ISA') is a letter, digit or space")
    at = 3
    for n in range(2, 17):  # the separator before ISA02 .. ISA16
        at = text.find(element, at + 1)
        if at < 0:
            raise X12Error(f"the ISA segment has {n - 1} elements; it needs 16 (ISA16 is the component separator)")
    if len(text) < at + 3:
        raise X12Error("the ISA segment ends before ISA16 and the segment terminator")
    fields = text[4:at].split(element)  # ISA01 .. ISA15
    repetition = fields[10] if fields[11] >= "00501" else ""  # ISA11: the repetition separator from 00501
    return Delimiters(element, repetition[:1], text[at + 1], text[at + 2])


def segments(text: str, d: Delimiters) -> list[list[str]]:
    """Each segment as its elements (the id first); line breaks between segments are dropped."""
    out = []
    for raw in text.split(d.segment):
        raw = raw.strip("\r\n")
        if raw.strip():
            out.append(raw.split(d.element))
    return out


# --- the claims of an interchange, as written (ids, control numbers), whatever the parser makes of them ---
@dataclass
class ClaimStub:
    clm01: str | None
    interchange: str | None  # ISA13
    transaction: str | None  # ST02
    segment: int  # 1-based position of the CLM segment in the interchange
    key: tuple = ()  # (2000A, 2000B, 2000C or None, 2300) indices of its loops, as the parser numbers them
    segments: list = field(default_factory=list)  # (position, elements) from its CLM up to the next CLM, HL or SE


@dataclass
class Transaction:
    interchange: str | None
    control: str | None
    text: str  # ISA, GS, ST .. SE, GE, IEA: what the parser reads
    claims: list[ClaimStub] = field(default_factory=list)
    segments: list = field(default_factory=list)  # (position, elements) from ST to SE
    levels: list = field(default_factory=list)  # per segment, the parser's (2000A, 2000B, 2000C) indices it is in


def _parser_terminator(segs: list[list[str]], d: Delimiters) -> str:
    """The segment terminator of the text handed to the parser: the declared one, unless it is a line break
    (the parser drops line breaks), then a character the data does not use."""
    if d.segment not in "\r\n":
        return d.segment
    used = {ch for seg in segs for el in seg for ch in el}
    return next(ch for ch in "~'!`\x1c\x1d\x1e" if ch not in used | {d.element, d.component, d.repetition})


def transactions(segs: list[list[str]], d: Delimiters) -> list[Transaction]:
    term = _parser_terminator(segs, d)

    def join(seg):
        return d.element.join(seg) + term

    isa = gs = None
    isa_text = gs_text = ""
    out: list[Transaction] = []
    body: list[str] | None = None
    claim: ClaimStub | None = None  # the claim whose segments these are
    hl = [-1, -1, None]  # the parser's indices of the current 2000A, 2000B, 2000C loops
    counts: dict[tuple, int] = {}  # claims so far in each 2000B / 2000C loop
    for n, seg in enumerate(segs, start=1):
        sid = seg[0].strip().upper()
        if sid in ("HL", "SE", "ST"):
            claim = None
        if sid == "HL":
            level = seg[3].strip() if len(seg) > 3 else ""
            if level == "20":
                hl = [hl[0] + 1, -1, None]
            elif level == "22":
                hl = [hl[0], hl[1] + 1, None]
            elif level == "23":
                hl[2] = -1 if hl[2] is None else hl[2]
                hl[2] += 1
        if sid == "ISA":
            isa, isa_text = (seg[13].strip() if len(seg) > 13 else None), join(seg)
        elif sid == "GS":
            gs, gs_text = seg, join(seg)
        elif sid == "ST":
            body = [join(seg)]
            hl, counts = [-1, -1, None], {}
            out.append(Transaction(isa, seg[2].strip() if len(seg) > 2 else None, "", segments=[(n, seg)], levels=[tuple(hl)]))
        elif body is not None:
            body.append(join(seg))
            out[-1].segments.append((n, seg))
            out[-1].levels.append(tuple(hl))
            if sid == "CLM":
                container = (max(hl[0], 0), max(hl[1], 0), hl[2])
                counts[container] = counts.get(container, -1) + 1
                claim = ClaimStub(seg[1].strip() if len(seg) > 1 and seg[1].strip() else None, isa, out[-1].control, n,
                                  (*container, counts[container]))
                out[-1].claims.append(claim)
            if claim is not None:
                claim.segments.append((n, seg))
            if sid == "SE":
                ge = join(["GE", "1", gs[6] if gs and len(gs) > 6 else "1"])
                iea = join(["IEA", "1", isa or "000000001"])
                out[-1].text = isa_text + gs_text + "".join(body) + ge + iea
                body = None
        elif sid == "CLM":  # a claim outside any transaction set: still a record
            out.append(Transaction(isa, None, "", [ClaimStub(seg[1].strip() if len(seg) > 1 else None, isa, None, n)]))
    if body is not None:  # no SE: the parser will say what is missing
        out[-1].text = isa_text + gs_text + "".join(body)
    return out


# --- the payer ---------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _payer_map(path: str, mtime: float) -> PayerMap:
    return PayerMap.load(Path(path))


def payer_map() -> PayerMap:
    from solver.paths import POLICIES_DIR

    path = default_path(POLICIES_DIR)
    return _payer_map(str(path), path.stat().st_mtime) if path.is_file() else PayerMap()


def _ccyymmdd(text: str) -> dt.date:
    """A date written CCYYMMDD, exactly 8 digits (ValueError otherwise)."""
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return dt.datetime.strptime(text, "%Y%m%d").date()


# --- one claim -----------------------------------------------------------------------------------------
class _Claim:
    """Turns one 2300 loop (with its 2000B subscriber loop) into an encounter, collecting problems."""

    def __init__(self, stub: ClaimStub, d: Delimiters, source: str, label: str):
        self.stub, self.d, self.source, self.label = stub, d, source, label
        self.problems: list[Problem] = []
        self.own = own(claim_segments(stub), CLAIM_LOOPS)  # the 2300 loop's own segments, as written
        self.lines = [own(seg, LINE_LOOPS) for seg in line_segments(stub)]  # each 2400 loop's own segments
        self.places: dict[str, str] = {"id": f"CLM01 (segment {stub.segment})"}  # encounter field -> where it was read

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message, self.label))

    @staticmethod
    def _at(seg) -> str:
        return f" (segment {seg[0]})" if seg else ""

    def diagnoses(self, claim) -> tuple[list[str], list[str]]:
        """(ICD-10-CM codes in HI order, ICD-9-CM codes)."""
        icd10, icd9 = [], []
        for h, hi in enumerate(claim.hi_segment or [], start=1):
            at = self._at(segment_of(self.own, "HI", h - 1))
            for k in range(1, 13):
                comp = getattr(hi, f"health_care_code_{k}", None)
                if not comp:
                    continue
                parts = comp if isinstance(comp, list) else str(comp).split(self.d.component)
                qual, code = (parts + ["", ""])[:2]
                qual, code = qual.strip().upper(), code.strip()
                where = f"HI{'' if h == 1 else f'[{h}]'}{k:02d}{at}"
                if qual in ICD10 or qual in ICD9:
                    if not code:  # kept in its place, so the pointers after it still point where they were meant to
                        self.problem(where, f"diagnosis qualifier {qual} has no code after it; give the code after the "
                                            f"qualifier (e.g. {qual}{self.d.component}M7912) or drop the element")
                    if qual in ICD10:
                        self.places[f"diagnoses.{len(icd10)}"] = where
                    (icd10 if qual in ICD10 else icd9).append(code)
                else:
                    self.problem(where, f"diagnosis qualifier {qual!r} is not one payerkb reads: ABK/ABF (ICD-10-CM) "
                                        "or BK/BF (ICD-9-CM) are the diagnosis codes of an 837P claim")
        return icd10, icd9

    def date(self, segments: list, where: str) -> dt.date | None:
        """The date of service of a loop's DTP*472 segments as written (D8 a day, RD8 a range: its first day)."""
        for pos, el in segments:
            if el[0].strip().upper() != "DTP" or len(el) < 2 or el[1].strip() != "472":
                continue
            fmt, text = (el[2].strip().upper() if len(el) > 2 else ""), (el[3].strip() if len(el) > 3 else "")
            at = f"{where} DTP03 (segment {pos})"
            try:
                if fmt == "RD8":
                    first, _, last = text.partition("-")
                    day, end = _ccyymmdd(first), _ccyymmdd(last)
                    if end < day:
                        self.problem(at, f"date of service range {text!r} ends before it starts; give CCYYMMDD-CCYYMMDD "
                                         "with the first day first")
                        return None
                    self.notes.append(f"{where} DTP*472 is the range {first}-{last}: the date of service is its first day")
                else:
                    day = _ccyymmdd(text)
            except ValueError:
                self.problem(at, f"date of service {text!r} is not {'CCYYMMDD-CCYYMMDD (RD8)' if fmt == 'RD8' else 'CCYYMMDD (D8)'}: "
                                 "give the date as CCYYMMDD (D8, e.g. 20240610) or a range CCYYMMDD-CCYYMMDD (RD8) in the DTP*472 segment")
                return None
            self.places.setdefault("date_of_service", at)
            return day
        return None

    def line(self, n: int, loop, codes: list[str], icd9: bool, k: int) -> dict | None:
        sv1 = loop.sv1_segment
        at = self._at(segment_of(self.lines[n - 1], "SV1") if n <= len(self.lines) else None)
        where = f"line {n} SV1"
        parts = str(sv1.product_service_id_qualifier).split(self.d.component)
        qual, code, modifiers = parts[0].strip().upper(), (parts[1] if len(parts) > 1 else "").strip(), parts[2:6]
        if qual != "HC":
            self.problem(f"{where}01{at}", f"procedure qualifier {qual!r}: payerkb reads CPT/HCPCS codes (HC); send the line as HC")
            return None
        basis = str(getattr(sv1.unit_basis_measurement_code, "value", sv1.unit_basis_measurement_code))
        count = sv1.service_unit_count
        if basis != "UN":
            self.problem(f"{where}03{at}", f"{code} is billed in {basis} ({'minutes' if basis == 'MJ' else 'not units'}) {count}: "
                                           "payerkb checks units of service (UN)")
            return None
        try:
            units = Decimal(str(count))
        except InvalidOperation:
            units = Decimal("NaN")
        if not units.is_finite() or units != units.to_integral_value():
            self.problem(f"{where}04{at}", f"units {count} of {code} are not a whole number of units of service; give SV104 "
                                           "as a whole number (e.g. 1)")
            return None
        pointers = [p.strip() for p in str(sv1.composite_diagnosis_code_pointer or "").split(self.d.component) if p.strip()]
        dx = []
        for p in pointers if not icd9 else []:
            if not p.isdigit() or not 1 <= int(p) <= len(codes):
                fix = f"point to one of 1-{len(codes)}" if codes else "add the HI segment with the claim's diagnoses"
                self.problem(f"{where}07{at}", f"diagnosis pointer {p!r} points to no HI code (the claim has {len(codes)}); {fix}")
                continue
            self.places[f"claim.{k}.diagnoses.{len(dx)}"] = self.places.get(f"diagnoses.{int(p) - 1}", f"{where}07{at}")
            dx.append(codes[int(p) - 1])
        for name, element in (("code", "01"), ("modifiers", "01"), ("units", "04"), ("diagnoses", "07")):
            self.places[f"claim.{k}.{name}"] = f"{where}{element}{at}"
        return {"code": code, "modifiers": [m.strip() for m in modifiers if m.strip()], "units": int(units), "diagnoses": dx}

    def encounter(self, subscriber, claim) -> dict | None:
        self.notes: list[str] = []
        codes, icd9 = self.diagnoses(claim)
        day = self.date(self.own, "2300")
        lines, days = [], set()
        for n, loop in enumerate(claim.loop_2400 or [], start=1):
            line = self.line(n, loop, codes, bool(icd9), len(lines))
            line_day = self.date(self.lines[n - 1], f"line {n}") if n <= len(self.lines) else None
            if line_day:
                days.add(line_day)
            if line:
                lines.append(line)
        if day is None and days:
            day = min(days)
        if len(days) > 1:
            shown = ", ".join(d.isoformat() for d in sorted(days))
            self.problem("2400 DTP*472", f"the claim's lines have dates of service {shown}; payerkb answers one date of "
                                         "service a claim: send one claim per date")
        if day is None and not any("DTP03" in p.field for p in self.problems):  # a date written wrong is named already
            self.problem("DTP*472", "no date of service (DTP*472 on the lines or the claim); add it")
        if icd9:
            when = f" (date of service {day.isoformat()})" if day else ""
            after = " on or after 2015-10-01 needs ICD-10-CM (ABK/ABF)" if day and day >= ICD10_START else \
                " before 2015-10-01, before ICD-10-CM, which payerkb's rules and code set start with"
            self.problem("HI", f"the diagnoses are ICD-9-CM (HI qualifier BK/BF: {', '.join(icd9)}){when}: this claim is "
                               f"answered as an ICD-9 claim, not checked against ICD-10-CM rules; a date of service{after}")
        payer = self.payer(subscriber)
        if self.problems:
            return None
        return {"id": self.stub.clm01, "payer": payer, "date_of_service": day.isoformat(), "diagnoses": codes, "claim": lines,
                "procedure_note": False}  # a claim carries no procedure note: the checks that need it are named

    def where(self, problem: Problem) -> Problem:
        """A problem the contract's model found in the encounter, named at the segment the value was read from."""
        path = problem.field
        for key in sorted(self.places, key=len, reverse=True):
            if path == key or path.startswith(key + "."):
                return Problem(problem.file, self.places[key], problem.message, problem.record)
        return problem

    def payer(self, subscriber) -> str | None:
        nm1 = subscriber.loop_2010bb.nm1_segment
        sbr = subscriber.sbr_segment
        name = (nm1.name_last_or_organization_name or "").strip() or None
        payor_id = (nm1.identification_code or "").strip() or None
        plans = [p.strip() for p in (getattr(sbr, "group_policy_number", None), getattr(sbr, "group_name", None)) if p and p.strip()]
        pmap = payer_map()
        found = pmap.resolve(payor_id=payor_id, name=name)
        for plan in plans:
            found = found or pmap.resolve(plan=plan)
        if found:
            return found
        tried = [f"payor_id {payor_id!r} (2010BB NM1*PR NM109, {nm1.identification_code_qualifier or 'no qualifier'})" if payor_id else None,
                 *[f"plan {p!r} (SBR)" for p in plans], f"name {name!r} (2010BB NM1*PR NM103)" if name else None]
        self.problem("payer", f"no payer in the payer map {pmap.source} matches {', '.join(t for t in tried if t) or 'nothing: the claim names no payer'}; "
                              "add the payer to the map (the file $PAYERKB_PAYER_MAP names)")
        return None


# --- records ---------------------------------------------------------------------------------------------
def _label_source(source: str, stub: ClaimStub) -> str:
    parts = [f"interchange {stub.interchange}" if stub.interchange else None,
             f"transaction {stub.transaction}" if stub.transaction else None]
    shown = ", ".join(p for p in parts if p)
    return f"{source} ({shown})" if shown else source


def _parser_message(exc: Exception, found: list | None = None) -> str:
    """The parser's failure, as each claim of the transaction set it costs is told: the segment at fault first."""
    if found:
        first = found[0]
        whose = f" of claim {first.claim.clm01}" if first.claim is not None and first.claim.clm01 else ""
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return (f"the 837P parser could not read this transaction set: {first.field}{whose}: {first.message}{more}; "
                "fix that segment and send the transaction set again")
    if isinstance(exc, KeyError) and exc.args and str(getattr(exc.args[0], "value", exc.args[0])).startswith("loop_"):
        loop = str(getattr(exc.args[0], "value", exc.args[0]))[5:].upper()
        return (f"the 837P parser could not read this transaction set: it found no {loop} loop where one must be; "
                "check the HL segments (HL03 20 billing provider, 22 subscriber, 23 patient) and their order")
    return f"the 837P parser could not read this transaction set ({exc.__class__.__name__}: {str(exc)[:200]}); fix the segment"


def _parse(text: str) -> list:
    from x12sdk.io import X12ModelReader

    with X12ModelReader(text) as reader:
        return [m for m in reader.models() if hasattr(m, "loop_2000a")]


def _claim_loops(model) -> Iterator[tuple[object, object]]:
    for a in model.loop_2000a or []:
        for b in a.loop_2000b or []:
            for claim in b.loop_2300 or []:
                yield b, claim
            for c in b.loop_2000c or []:
                for claim in c.loop_2300 or []:
                    yield b, claim


def records(data: bytes, source: str) -> Iterator[Record]:
    text = data.lstrip(_WS).decode("latin-1")
    try:
        d = delimiters(text)
    except X12Error as exc:
        yield Record(source, 1, None, problems=[Problem(source, "ISA", f"{exc}; fix the ISA segment", "interchange")])
        return
    index = 0
    txs = transactions(segments(text, d), d)
    if not any(t.claims for t in txs):
        yield Record(source, 1, None, problems=[Problem(source, "CLM", "the interchange holds no claim (no CLM segment); "
                                                                    "send an 837P with its claims", "interchange")])
        return
    for tx in txs:
        loops: list = []
        failure = None
        at_fault: dict[int, list] = {}  # a claim's own bad values, where the parser found them
        if tx.text:
            try:
                loops = [pair for model in _parse(tx.text) for pair in _claim_loops(model)]
            except ValidationError as exc:  # each bad value named at its segment; the claim holding it is told so
                found = [parser_problem(err, tx, d) for err in exc.errors()]
                failure = _parser_message(exc, found)
                for f in found:
                    if f.claim is not None:
                        at_fault.setdefault(id(f.claim), []).append(f)
            except Exception as exc:  # the parser's own errors are many kinds; each claim still gets a record
                placed = parse_exception_problem(exc, tx)
                failure = _parser_message(exc, [placed] if placed else None)
                if placed is not None and placed.claim is not None:
                    at_fault[id(placed.claim)] = [placed]
        else:
            failure = "the claim is outside a transaction set (ST..SE); put it inside one"
        if not failure and len(loops) != len(tx.claims):
            failure = f"the 837P parser found {len(loops)} claims where the transaction set has {len(tx.claims)} CLM segments; check the HL loops"
        for k, stub in enumerate(tx.claims):
            index += 1
            src = _label_source(source, stub)
            rec = Record(src, index, stub.clm01)
            where = f"CLM (segment {stub.segment})"
            if not stub.clm01:
                rec.problems = [Problem(src, f"{where} CLM01", "the claim has no CLM01 (patient control number); give each claim its id", rec.label)]
            elif id(stub) in at_fault:
                rec.problems = list({(f.field, f.message): Problem(src, f.field, f.message, rec.label) for f in at_fault[id(stub)]}.values())
            elif failure:
                rec.problems = [Problem(src, where, failure, rec.label)]
            else:
                subscriber, claim = loops[k]
                conv = _Claim(stub, d, src, rec.label)
                raw = conv.encounter(subscriber, claim)
                if raw is None:
                    rec.problems = conv.problems
                else:
                    try:
                        rec.encounter = Encounter.model_validate(raw)
                    except ValidationError as exc:
                        found = [conv.where(p) for p in pydantic_problems(exc, src, rec.label)]
                        rec.problems = list({(p.field, p.message): p for p in reversed(found)}.values())[::-1]
            yield rec
