"""Where a value of an 837P interchange is: the segment that holds it, its position in the interchange, its element.

The 837P parser (x12sdk) reports a bad value as a pydantic path through its loop models
(loop_2000a.0.loop_2000b.0.loop_2300.0.loop_2400.0.sv1_segment.service_unit_count). `parser_problem` turns
one such error into what a person can fix: the claim it belongs to, the segment as written (SV1 at segment
20 of the interchange, element SV104), the value given and what to give instead. Positions count segments
from the ISA (1), as the CLM segment's position does in every other 837P message.
"""
from __future__ import annotations

import re
import typing
from dataclasses import dataclass

if typing.TYPE_CHECKING:
    from solver.formats.x12_837p import ClaimStub, Delimiters, Transaction


def hints(d: Delimiters) -> dict[str, str]:
    """What to give, per element, with the interchange's own component separator in the examples."""
    c = d.component
    return {"SV101": f"give HC, the CPT/HCPCS code and up to four modifiers, e.g. HC{c}20552{c}59",
            "SV102": "give the line's charge as a number, e.g. 120.00",
            "SV103": "give UN (units of service) or MJ (minutes)",
            "SV104": "give the units of service as a number greater than 0, e.g. 1",
            "SV107": f"give the diagnosis pointers as positions 1-12 of the HI codes, e.g. 1{c}2",
            "DTP01": "give 472 (date of service) on a service line",
            "DTP02": "give D8 (one date) or RD8 (a range)",
            "DTP03": "give the date as CCYYMMDD (D8) or CCYYMMDD-CCYYMMDD (RD8), e.g. 20240610",
            "CLM01": "give each claim its patient control number",
            "CLM02": "give the claim's total charge as a number, e.g. 250.00",
            "SE01": "give the number of segments from ST to SE, both counted"}


@dataclass
class Located:
    claim: ClaimStub | None  # the claim the value belongs to (None: the transaction set's own segments)
    field: str  # e.g. "line 1 SV104 (segment 20)"
    message: str


def _model(annotation):
    """The pydantic model class an annotation holds (through Optional, List, Annotated), else None."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model(arg)
        if found is not None:
            return found
    return None


def _walk(loc: tuple) -> tuple[str | None, int | None, int | None, str | None]:
    """(segment id, index of that segment in its list, element number, field name) of a parser error's path."""
    try:
        from x12sdk.v5010.x12_837_005010X222A2.transaction_set import (
            HealthCareClaimProfessional as cls,
        )
    except ImportError:  # another x12sdk layout: the path's own names are all there is
        return None, None, None, None
    seg = index = element = name = None
    for part in loc:
        if isinstance(part, int):
            index = part if seg is not None and element is None else index
            continue
        if cls is None:
            break
        fields = cls.model_fields
        if "segment_name" in fields:  # a segment model: part is its element
            names = [f for f in fields if f != "delimiters"]
            element, name = (names.index(part), part) if part in names else (None, part)
            break
        info = fields.get(part)
        cls = _model(info.annotation) if info is not None else None
        if cls is not None and "segment_name" in cls.model_fields:
            default = cls.model_fields["segment_name"].default
            seg, index = str(getattr(default, "value", default)), None
    return seg, index, element, name


def _indices(loc: tuple) -> dict[str, int]:
    out, last = {}, None
    for part in loc:
        if isinstance(part, int) and last and last.startswith("loop_"):
            out[last[5:]] = part
        last = part if isinstance(part, str) else None
    return out


def _claim(tx: Transaction, at: dict[str, int]) -> ClaimStub | None:
    if "2300" not in at:
        return None
    key = (at.get("2000a", 0), at.get("2000b", 0), at.get("2000c"), at["2300"])
    return next((c for c in tx.claims if c.key == key), None)


def _raw(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


LOOP_STARTS = {"1000a": "NM1*41 (submitter)", "1000b": "NM1*40 (receiver)", "2000a": "HL with HL03 20 (billing provider)",
               "2010aa": "NM1*85 (billing provider)", "2000b": "HL with HL03 22 (subscriber)", "2010ba": "NM1*IL (subscriber)",
               "2010bb": "NM1*PR (payer)", "2010ca": "NM1*QC (patient)", "2400": "LX (service line)"}
MISSING = {"DTP": "add DTP*472*D8*CCYYMMDD (the date of service) to the line, after its SV1",
           "SV1": "add the line's SV1 segment (procedure, charge, units, diagnosis pointers)"}
_COUNT = re.compile(r"SE segment count (\d+) != actual count (\d+)")


def parser_problem(err: dict, tx: Transaction, d: Delimiters) -> Located:
    """One error of the parser, at the segment that holds the bad value (never raises: a failure to place it
    gives the parser's path and message as they are)."""
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:] if msg[1:2].islower() else msg
    try:
        return _place(tuple(err.get("loc", ())), msg, err, tx, d)
    except Exception:  # noqa: BLE001 - naming the place is a courtesy; the message still says what is wrong
        path = ".".join(map(str, err.get("loc", ()))) or "(transaction set)"
        return Located(None, "transaction set", f"{path}: {msg}; fix that segment")


def _place(loc: tuple, msg: str, err: dict, tx: Transaction, d: Delimiters) -> Located:
    if not loc:  # a check of the whole transaction set
        count = _COUNT.search(msg)
        se = next((s for s in reversed(tx.segments) if _id(s) == "SE"), None)
        if count and se:
            return Located(None, f"SE01 (segment {se[0]})", f"SE01 says the transaction set has {count[1]} segments; it has "
                                                            f"{count[2]} from ST to SE: give SE01 {count[2]}")
        return Located(None, f"ST (segment {tx.segments[0][0]})" if tx.segments else "transaction set",
                       f"the transaction set: {msg}; fix it as the 837P implementation guide says")
    seg, index, element, name = _walk(loc)
    at = _indices(loc)
    claim = _claim(tx, at)
    line = at.get("2400")
    loops = [p[5:] for p in loc if isinstance(p, str) and p.startswith("loop_")]
    exact = all(k in ("2000a", "2000b", "2000c", "2300", "2400") for k in loops)  # not in a sub-loop of a claim or line
    lines = line_segments(claim) if claim is not None else []
    if claim is None:  # a segment of the header or of an HL loop (2000A, 2000B, 2000C and their 2010 loops)
        level = (at.get("2000a"), at.get("2000b"), at.get("2000c"))
        scope = [seg for seg, hl in zip(tx.segments, tx.levels)
                 if all(want is None or want == have for want, have in zip(level, hl))] if "2000a" in at else tx.segments
        prefix = ""
    elif line is not None and line < len(lines):
        scope, prefix = (own(lines[line], LINE_LOOPS) if exact else lines[line]), f"line {line + 1} "
    else:
        scope, prefix = (own(claim_segments(claim), CLAIM_LOOPS) if exact else claim.segments), "2300 " if seg == "DTP" else ""
    same = [s for s in scope if s[1][0].strip().upper() == seg] if seg else []
    given = err.get("input")
    if element is not None and not exact and isinstance(given, (str, list)):  # in a sub-loop: the segment holding the value
        text = d.component.join(map(_raw, given)) if isinstance(given, list) else given
        same = [s for s in same if len(s[1]) > element and s[1][element] == text] or same
    found = same[index or 0] if exact and (index or 0) < len(same) else same[0] if same else None
    last = loc[-1] if loc else None
    if seg is None and isinstance(last, str) and last.startswith("loop_"):  # a loop missing: named by its first segment
        hl = next((s for s in scope if _id(s) == "HL"), None) if claim is None else None
        here = f"HL (segment {hl[0]})" if hl else f"CLM (segment {claim.segment})" if claim else "transaction set"
        what = LOOP_STARTS.get(last[5:], "its first segment")
        return Located(claim, here, f"the loop here has no readable {last[5:].upper()} loop ({msg}): add it, starting with {what}")
    if seg is None and isinstance(last, int) and len(loc) > 1 and str(loc[-2]).startswith("loop_"):  # a check of a loop
        return _loop_check(msg, claim, line, lines, scope)
    if seg is None or found is None:  # a segment missing (or one the path does not name): the loop it belongs in
        what = f"{seg} segment" if seg else f"value at {'.'.join(map(str, loc))}"
        if claim is not None and line is not None and line < len(lines):
            field, where = f"line {line + 1} LX (segment {lines[line][0][0]})", f"line {line + 1} of claim {claim.clm01}"
        elif claim is not None:
            field, where = f"CLM (segment {claim.segment})", f"claim {claim.clm01}"
        else:
            field, where = "transaction set", "the transaction set"
        fix = MISSING.get(seg, "add or fix it as the 837P implementation guide says") if err.get("type") in ("missing", "too_short") \
            else "fix it as the 837P implementation guide says"
        return Located(claim, field, f"{where} has no readable {what} ({msg}); {fix}")
    pos, elements = found
    if element is None:
        return Located(claim, f"{prefix}{seg} (segment {pos})", f"the {seg} segment: {msg}; fix the segment")
    el = f"{seg}{element:02d}"
    written = elements[element] if len(elements) > element else ""
    value = repr(written) if written.strip() else "empty"
    hint = hints(d).get(el, f"give {el} a value the 837P implementation guide allows")
    return Located(claim, f"{prefix}{el} (segment {pos})", f"{el} ({name.replace('_', ' ')}) is {value}: {msg}; {hint}")


_AMOUNT = re.compile(r"claim Amount (\S+) != Service Line Total (\S+)")
_TWICE = re.compile(r"duplicate (\w+)_segment\.\w+ codes \{?([^}]*)\}?")


def _loop_check(msg: str, claim, line, lines, scope) -> Located:
    """A check of a whole loop (the claim's total against its lines, a code given twice), at the loop's first segment."""
    if claim is not None and line is not None and line < len(lines):
        field, whose = f"line {line + 1} LX (segment {lines[line][0][0]})", "the line"
    elif claim is not None:
        field, whose = f"CLM (segment {claim.segment})", "the claim"
    else:
        hl = next((s for s in scope if _id(s) == "HL"), None)
        field, whose = (f"HL (segment {hl[0]})" if hl else "transaction set"), "the loop"
    amount, twice = _AMOUNT.search(msg), _TWICE.search(msg)
    if amount and claim is not None:
        return Located(claim, f"CLM02 (segment {claim.segment})", f"CLM02, the claim's total charge, is {amount[1]}; its lines' "
                       f"charges (SV102) add up to {amount[2]}: give CLM02 {amount[2]}, or fix the lines' charges")
    if twice:
        codes = twice[2].replace("'", "")
        return Located(claim, field, f"{whose} has more than one {twice[1].upper()} segment with the code {codes}: keep one")
    return Located(claim, field, f"{whose}: {msg}; fix it as the 837P implementation guide says")


_FIELD = re.compile(r"Error parsing (\w+) segment field (\d+)")


def parse_exception_problem(exc: Exception, tx: Transaction) -> Located | None:
    """The parser's own exception for a segment with more elements than its model has, at that segment."""
    found = _FIELD.search(str(exc))
    if not found:
        return None
    sid, count = found[1].upper(), int(found[2])
    seg = next((s for s in tx.segments if _id(s) == sid and len(s[1]) > count), None)
    if seg is None:
        return None
    claim = next((c for c in tx.claims if any(pos == seg[0] for pos, _ in c.segments)), None)
    line = next((k for k, ln in enumerate(line_segments(claim)) if any(pos == seg[0] for pos, _ in ln)), None) if claim else None
    prefix = f"line {line + 1} " if line is not None else ""
    return Located(claim, f"{prefix}{sid} (segment {seg[0]})", f"the {sid} segment has {len(seg[1]) - 1} elements; an 837P {sid} has "
                                                      f"at most {count - 1}: remove the extra elements (a stray element separator?)")


# --- the segments of a claim, as written: (position in the interchange, elements) ---------------------------
CLAIM_LOOPS = {"NM1", "SBR", "LX"}  # where the 2300 loop's own segments end (2310x, 2320, 2400)
LINE_LOOPS = {"LIN", "NM1", "SVD", "LX"}  # where a 2400 loop's own segments end (2410, 2420x, 2430)


def _id(seg) -> str:
    return seg[1][0].strip().upper()


def own(segments: list, stops: set[str]) -> list:
    """The segments of a loop up to its first sub-loop (its first segment is the loop's own)."""
    out = segments[:1]
    for seg in segments[1:]:
        if _id(seg) in stops:
            break
        out.append(seg)
    return out


def claim_segments(claim) -> list:
    """The 2300 loop with its sub-loops (2310x, 2320, 2330x): CLM up to its first line."""
    return next((claim.segments[:k] for k, seg in enumerate(claim.segments) if _id(seg) == "LX"), claim.segments)


def line_segments(claim) -> list[list]:
    """Each 2400 loop of the claim with its sub-loops: LX up to the next LX."""
    out: list[list] = []
    for seg in claim.segments:
        if _id(seg) == "LX":
            out.append([])
        if out:
            out[-1].append(seg)
    return out


def segment_of(segments: list, sid: str, k: int = 0):
    """The k-th segment with this id, or None."""
    same = [s for s in segments if _id(s) == sid]
    return same[k] if k < len(same) else None
