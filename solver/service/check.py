"""POST /v1/check: one encounter or a list (JSON, YAML, JSON Lines), a FHIR Claim or Bundle, an 837P interchange.

The body is read by solver.reading.read_bytes, the command line's reader (which asks the input formats of
solver/formats first), so a bad record in a list is an error result, as in a batch. A body that is one
encounter answers with one result; a bad one is a 422 problem naming its field.

The answer is payerkb's result objects (application/json, the default) or, for `Accept: application/fhir+json`,
FHIR R4 ClaimResponses made by the command line's builder (solver/formats/fhir_response.py, as
`payerkb check --format fhir`): one for one record, a Bundle of them for several, a record that could not be
answered a ClaimResponse with outcome error. An Accept header that takes neither is a 406."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Optional

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from solver.errors import PayerkbError, Problem
from solver.formats import input_formats
from solver.reading import json_int, read_bytes
from solver.service.negotiate import choose
from solver.service.problems import ProblemError, from_problems

router = APIRouter()

# media type -> the name the reader sees (its suffix tells JSON Lines from a document)
SOURCES = {"application/json": "request.json", "application/x-ndjson": "request.jsonl",
           "application/jsonl": "request.jsonl", "application/yaml": "request.yaml", "text/yaml": "request.yaml",
           "application/fhir+json": "request.fhir.json", "application/edi-x12": "request.x12"}
FIELD_FORMATS = {"application/fhir+json": "FHIR R4", "application/edi-x12": "X12 837P"}
FHIR = "application/fhir+json"
ANSWERS = ("application/json", FHIR)  # what the answer can be, the default first
VARY = {"Vary": "Accept"}

_REF = {"$ref": "#/components/schemas/Encounter"}
BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"oneOf": [_REF, {"type": "array", "items": _REF}]}},
    "application/x-ndjson": {"schema": {"type": "string", "description": "JSON Lines: one encounter a line"}},
    "application/fhir+json": {"schema": {"type": "object", "description": "A FHIR R4 Claim, or a Bundle of Claims"}},
    "application/edi-x12": {"schema": {"type": "string", "description": "An ASC X12 837P interchange"}}}}}
ANSWER = {"application/json": {"schema": {"description": "One result (for one encounter) or a list of results, in order"}},
          FHIR: {"schema": {"type": "object", "description": "A FHIR R4 ClaimResponse (one record) or a Bundle of them"}}}


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, "body-too-large", f"the body is {int(declared)} bytes; at most {limit} are read a request: "
                           "split the encounters over several requests", "(body)")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise ProblemError(413, "body-too-large", f"the body is more than {limit} bytes; split the encounters "
                               "over several requests", "(body)")
    return bytes(data)


def _media_type(request: Request) -> str:
    kind = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if kind not in SOURCES:
        raise ProblemError(415, "unsupported-media-type", f"a body of type {kind!r} is not read here; send one of "
                           f"{sorted(SOURCES)}", "Content-Type")
    return kind


def _not_of_format(data: bytes, kind: str) -> str:
    """Why a body sent as FHIR or X12 is not read as such: what is wrong with it, and what to send."""
    if kind == "application/fhir+json":
        try:
            top = json.loads(data, parse_int=json_int)
        except (ValueError, RecursionError) as exc:
            return (f"the body is not valid JSON ({str(exc)[:80]}); send a FHIR R4 Claim or a Bundle of Claims "
                    "(or contract encounters as application/json)")
        return ("the body is JSON but no FHIR resource (it has no resourceType); send a FHIR R4 Claim or a Bundle of "
                "Claims, or contract encounters as application/json") if not isinstance(top, dict) or "resourceType" not in top else (
                f"no input format of this service reads this body as {FIELD_FORMATS[kind]}; send a FHIR R4 Claim or a Bundle of Claims")
    return (f"the body is no X12 837P interchange (an interchange starts with its ISA segment); send the 837P as "
            f"{kind}, or contract encounters as application/json")


def _records(data: bytes, kind: str, limit: int) -> list:
    source = SOURCES[kind]
    if kind in FIELD_FORMATS and not any(fmt.sniff(data, source) for fmt in input_formats()):
        raise ProblemError(422, "unreadable-body", _not_of_format(data, kind), "(body)")
    if not data.strip():
        raise ProblemError(422, "empty-body", "the body is empty; send one encounter or a list of them", "(body)")
    records = []
    try:
        for rec in read_bytes(data, source):
            records.append(rec)
            if len(records) > limit:
                raise ProblemError(422, "too-many-records", f"more than {limit} encounters in one request; "
                                   "split them over several requests", "(body)")
    except PayerkbError as exc:
        raise from_problems(422, "unreadable-body", [Problem(p.file, "(body)" if p.field == "(file)" else p.field,
                                                             p.message, p.record) for p in exc.problems]) from None
    if not records:
        raise ProblemError(422, "empty-body", "the body holds no encounters; send one encounter or a list of them", "(body)")
    return records


@router.post("/v1/check", openapi_extra=BODY, summary="Check one encounter or a list",
             responses={200: {"description": "One result (for one encounter) or a list of results, in order; "
                                       "with Accept: application/fhir+json, FHIR R4 ClaimResponses", "content": ANSWER},
                        406: {"description": "An Accept header that takes neither application/json nor application/fhir+json"},
                        413: {"description": "Body too large"}, 415: {"description": "Unsupported body"},
                        422: {"description": "Invalid input (problem details)"}})
async def check(request: Request,
                payer: Optional[str] = Query(None, max_length=100, description="What-if: answer as if the encounters named this payer."),
                date: Optional[dt.date] = Query(None, description="What-if: answer as if this were the date of service.")):
    service = request.app.state.service
    if payer is not None and payer not in service.engine.policies.payers:
        raise ProblemError(422, "unknown-payer", f"unknown payer {payer!r}; the payers are {sorted(service.engine.policies.payers)}", "payer")
    answer_as = choose(request.headers.get("accept"), ANSWERS)
    kind = _media_type(request)
    data = await _body(request, service.settings.max_body)
    records = _records(data, kind, service.settings.max_records)
    one = kind == "application/json" and len(records) == 1 and data.lstrip().startswith(b"{") \
        and not records[0].json_lines and records[0].source == SOURCES[kind]
    if one and records[0].problems:
        raise from_problems(422, "invalid-encounter", records[0].problems)
    results = await service.check_records(records, payer, date)
    if one and results[0].get("outcome") == "error":
        errs = [Problem(e["file"], e["field"], e["message"], e["record"]) for e in results[0]["errors"]]
        raise from_problems(422, "invalid-encounter", errs)
    if answer_as == FHIR:  # the command line's builder (it decodes a JSON Lines record a worker answered); it validates
        from solver.formats.fhir_response import render  # each resource with fhir.resources, milliseconds a record:
        return Response(await asyncio.to_thread(render, records, results), media_type=FHIR, headers=VARY)  # off the loop
    return JSONResponse(results[0] if one else results, headers=VARY)
