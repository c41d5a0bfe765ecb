"""POST /v1/whatif and POST /v1/compare: the explorations of solver/explore/, answered in the service's workers
through solver.service.deps.get_explorer. Bad input is a 422 problem naming the field (the path into the
encounter, the parameter), never a 500.

    POST /v1/whatif   {"encounter": {...}, "set": {"injections[2].muscle": "levator scapulae", ...}}
                      {"encounter": {...}, "patch": {merge patch} | [JSON Patch ops] | [patch, patch, ...]}
                      each "set" entry is one variant, and each patch (a list of patches: one each); "together": true
                      makes every change one variant. The answer is the shape of `payerkb whatif --format json`.
    POST /v1/compare?payers=all|a,b&dates=D1,D2&from=D&to=D   (body: one encounter, JSON)
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from fastapi import APIRouter, Body, Depends, Query
from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import PayerkbError, pydantic_problems
from solver.service.deps import get_explorer
from solver.service.problems import ProblemError, from_problems

router = APIRouter(tags=["Explore"])


def run_whatif(engine, enc: Encounter, variants: list) -> tuple[str, object]:
    """In a worker: ("ok", answer) or ("error", [Problem, ...]) (problems cross the process boundary as data)."""
    from solver.explore.whatif import whatif
    try:
        return "ok", whatif(engine, enc, variants)
    except PayerkbError as exc:
        return "error", exc.problems


run_whatif.resident = True  # the worker's ResidentEngine (solver/service/pool.py): variants re-solve warm programs


def run_compare(engine, enc: Encounter, payers, dates, start, end) -> tuple[str, object]:
    from solver.explore.compare import compare
    try:
        return "ok", compare(engine, enc, payers, dates, start, end)
    except PayerkbError as exc:
        return "error", exc.problems


def _encounter(data, prefix: str) -> Encounter:
    if not isinstance(data, dict):
        raise ProblemError(422, "invalid-encounter", f"{prefix or 'the body'} must be an encounter (a JSON object, contract v1)",
                           prefix or "(body)")
    try:
        return Encounter.model_validate(data)
    except ValidationError as exc:
        raise from_problems(422, "invalid-encounter", pydantic_problems(exc, "(request)", prefix=prefix)) from None


def _answer(status: str, value):
    if status == "error":
        raise from_problems(422, "invalid-input", value)
    return value


@router.post("/v1/whatif", summary="What if: the encounter and each variant, showing only what changed")
async def whatif(body: dict = Body(..., examples=[{"encounter": {"id": "e1", "payer": "medicare-cgs", "date_of_service": "2024-06-10"},
                                                     "set": {"documentation.conservative_therapy.failed": True}}]),
                 explore=Depends(get_explorer)):
    from solver.explore.patching import PathError, parse_path, variants
    unknown = sorted(set(body) - {"encounter", "set", "patch", "together"})
    if unknown:
        raise ProblemError(422, "invalid-input", f"unknown key {unknown[0]!r}; the keys are encounter, set, patch, together", unknown[0])
    enc = _encounter(body.get("encounter"), "encounter")
    sets, patch = body.get("set") or {}, body.get("patch")
    if not isinstance(sets, dict):
        raise ProblemError(422, "invalid-input", "set is an object {path: value}, e.g. {\"injections[2].muscle\": \"trapezius\"}", "set")
    if not sets and patch is None:
        raise ProblemError(422, "invalid-input", "give at least one change: set {path: value} or patch", "set")
    for path in sets:
        try:
            parse_path(path)
        except PathError as exc:
            raise ProblemError(422, "invalid-input", str(exc), f"set.{path}") from None
    try:
        found = variants(enc, [(p, v, "") for p, v in sets.items()], [("patch", patch)] if patch is not None else [],
                         bool(body.get("together")), where="(request)")
    except PayerkbError as exc:
        raise from_problems(422, "invalid-variant", exc.problems) from None
    return _answer(*await explore(run_whatif, enc, found))


def _date_list(text: Optional[str], name: str) -> list[dt.date] | None:
    if text is None:
        return None
    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            out.append(dt.date.fromisoformat(part))
        except ValueError:
            raise ProblemError(422, "invalid-parameter", f"{part!r} is not a date; give YYYY-MM-DD, comma-separated", name) from None
    return out


@router.post("/v1/compare", summary="Compare payers and dates of service for one encounter")
async def compare(body: dict = Body(...),
                  payers: Optional[str] = Query(None, max_length=2000, description="all, or payer ids separated by commas (default: all; over a range, the encounter's own)."),
                  dates: Optional[str] = Query(None, max_length=2000, description="Dates of service, comma-separated."),
                  start: Optional[dt.date] = Query(None, alias="from", description="First day of a date range."),
                  end: Optional[dt.date] = Query(None, alias="to", description="Last day of a date range."),
                  explore=Depends(get_explorer)):
    enc = _encounter(body, "")
    if dates is not None and (start or end):
        raise ProblemError(422, "invalid-parameter", "give dates or a range from/to, not both", "dates")
    if (start is None) != (end is None) or (start and end and end < start):
        raise ProblemError(422, "invalid-parameter", "a date range needs from and to, with to on or after from",
                           "from" if start is None else "to")
    wanted = payers if payers in (None, "all") else [p.strip() for p in payers.split(",") if p.strip()]
    return _answer(*await explore(run_compare, enc, wanted, _date_list(dates, "dates"), start, end))
