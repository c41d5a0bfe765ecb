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


@dataclass
class Transaction:
    interchange: str | None
    control: str | None
    text: str  # ISA, GS, ST .. SE, GE, IEA: what the parser reads
    claims: list[ClaimStub] = field(default_factory=list)


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
    for n, seg in enumerate(segs, start=1):
        sid = seg[0].strip().upper()
        if sid == "ISA":
            isa, isa_text = (seg[13].strip() if len(seg) > 13 else None), join(seg)
        elif sid == "GS":
            gs, gs_text = seg, join(seg)
        elif sid == "ST":
            body = [join(seg)]
            out.append(Transaction(isa, seg[2].strip() if len(seg) > 2 else None, ""))
        elif body is not None:
            body.append(join(seg))
            if sid == "CLM":
                out[-1].claims.append(ClaimStub(seg[1].strip() if len(seg) > 1 and seg[1].strip() else None,
                                                isa, out[-1].control, n))
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


# --- one claim -----------------------------------------------------------------------------------------
class _Claim:
    """Turns one 2300 loop (with its 2000B subscriber loop) into an encounter, collecting problems."""

    def __init__(self, stub: ClaimStub, d: Delimiters, source: str, label: str):
        self.stub, self.d, self.source, self.label = stub, d, source, label
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.source, where, message, self.label))

    def diagnoses(self, claim) -> tuple[list[str], list[str]]:
        """(ICD-10-CM codes in HI order, ICD-9-CM codes)."""
        icd10, icd9 = [], []
        for h, hi in enumerate(claim.hi_segment or [], start=1):
            for k in range(1, 13):
                comp = getattr(hi, f"health_care_code_{k}", None)
                if not comp:
                    continue
                parts = comp if isinstance(comp, list) else str(comp).split(self.d.component)
                qual, code = (parts + ["", ""])[:2]
                qual = qual.strip().upper()
                where = f"HI{'' if h == 1 else f'[{h}]'}{k:02d}"
                if qual in ICD10:
                    icd10.append(code.strip())
                elif qual in ICD9:
                    icd9.append(code.strip())
                else:
                    self.problem(where, f"diagnosis qualifier {qual!r} is not one payerkb reads: ABK/ABF (ICD-10-CM) "
                                        "or BK/BF (ICD-9-CM) are the diagnosis codes of an 837P claim")
        return icd10, icd9

    def date(self, dtps, where: str) -> dt.date | None:
        for seg in dtps or []:
            if str(seg.date_time_qualifier) not in ("472", "DateTimeQualifier.SERVICE"):
                continue
            fmt = str(getattr(seg.date_time_period_format_qualifier, "value", seg.date_time_period_format_qualifier))
            value = seg.date_time_period
            if isinstance(value, dt.date):
                return value
            text = str(value)
            try:
                if fmt == "RD8" or "-" in text:
                    first, last = text.split("-", 1)
                    day = dt.datetime.strptime(first.strip(), "%Y%m%d").date()
                    self.notes.append(f"{where} DTP*472 is the range {first}-{last}: the date of service is its first day")
                    return day
                return dt.datetime.strptime(text.strip(), "%Y%m%d").date()
            except ValueError:
                self.problem(f"{where} DTP03", f"date of service {text!r} is not CCYYMMDD (D8) or CCYYMMDD-CCYYMMDD (RD8); fix the DTP*472 segment")
                return None
        return None

    def line(self, n: int, loop, codes: list[str], icd9: bool) -> dict | None:
        sv1 = loop.sv1_segment
        where = f"line {n} SV1"
        parts = str(sv1.product_service_id_qualifier).split(self.d.component)
        qual, code, modifiers = parts[0].strip().upper(), (parts[1] if len(parts) > 1 else "").strip(), parts[2:6]
        if qual != "HC":
            self.problem(f"{where}01", f"procedure qualifier {qual!r}: payerkb reads CPT/HCPCS codes (HC); send the line as HC")
            return None
        basis = str(getattr(sv1.unit_basis_measurement_code, "value", sv1.unit_basis_measurement_code))
        count = sv1.service_unit_count
        if basis != "UN":
            self.problem(f"{where}03", f"{code} is billed in {basis} ({'minutes' if basis == 'MJ' else 'not units'}) {count}: "
                                       "payerkb checks units of service (UN)")
            return None
        try:
            units = Decimal(str(count))
        except InvalidOperation:
            units = Decimal("NaN")
        if not units.is_finite() or units != units.to_integral_value():
            self.problem(f"{where}04", f"units {count} of {code} are not a whole number of units of service")
            return None
        pointers = [p.strip() for p in str(sv1.composite_diagnosis_code_pointer or "").split(self.d.component) if p.strip()]
        dx = []
        for p in pointers if not icd9 else []:
            if not p.isdigit() or not 1 <= int(p) <= len(codes):
                self.problem(f"{where}07", f"diagnosis pointer {p!r} points to no HI code (the claim has {len(codes)})")
                continue
            dx.append(codes[int(p) - 1])
        return {"code": code, "modifiers": [m.strip() for m in modifiers if m.strip()], "units": int(units), "diagnoses": dx}

    def encounter(self, subscriber, claim) -> dict | None:
        self.notes: list[str] = []
        codes, icd9 = self.diagnoses(claim)
        day = self.date(claim.dtp_segment, "2300")
        lines, days = [], set()
        for n, loop in enumerate(claim.loop_2400 or [], start=1):
            line = self.line(n, loop, codes, bool(icd9))
            line_day = self.date(loop.dtp_segment, f"line {n}")
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
        if day is None:
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


def _parser_message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err.get("loc", ()))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        at = f"{loc}: " if loc else ""
        return f"the 837P parser could not read this transaction set: {at}{err.get('msg')}{more}; fix the segment"
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
        if tx.text:
            try:
                loops = [pair for model in _parse(tx.text) for pair in _claim_loops(model)]
            except Exception as exc:  # the parser's own errors are many kinds; each claim still gets a record
                failure = _parser_message(exc)
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
                        rec.problems = pydantic_problems(exc, src, rec.label)
            yield rec
