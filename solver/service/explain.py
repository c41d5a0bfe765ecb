"""POST /v1/explain?why_not=CODE-MOD | ?missing=true[&target=allow|CODE-MOD][&change_service=true] |
?sensitivity=true, the body one encounter (JSON or YAML): the answers of `payerkb explain`, computed in a
worker of the service (solver.service.deps.get_explorer). Errors are problem details (RFC 9457)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Query, Request

from solver.errors import PayerkbError
from solver.service.check import _body, _records
from solver.service.deps import Explorer, get_explorer
from solver.service.problems import ProblemError, from_problems

router = APIRouter()


def answer_why_not(engine, enc, asked):
    from solver.explore.why_not import why_not
    return _guarded(why_not, engine, enc, asked)


def answer_missing(engine, enc, target, change_service):
    from solver.explore.missing import missing
    return _guarded(missing, engine, enc, target, change_service)


answer_missing.resident = True  # the worker's ResidentEngine (solver/service/pool.py): its search programs stay warm


def answer_sensitivity(engine, enc):
    from solver.explore.sensitivity import sensitivity
    return _guarded(sensitivity, engine, enc)


def _guarded(func, *args):
    """Bad input of the question (a code, a target) comes back as problems, not as a worker's exception."""
    try:
        return func(*args)
    except PayerkbError as exc:
        return {"problems": [{"file": p.file, "field": p.field, "message": p.message, "record": p.record} for p in exc.problems]}


@router.post("/v1/explain", tags=["explore"], summary="Why not another code, what is missing, which facts flip the answer",
             responses={200: {"description": "The answer, in the shape of `payerkb explain --format json`"},
                        422: {"description": "Invalid input (problem details)"}})
async def explain(request: Request,
                  why_not: Optional[str] = Query(None, max_length=40, description="CODE[-MOD...]: the claim forced to carry it, and the rules it breaks."),
                  missing: bool = Query(False, description="The smallest sets of facts that reach the target."),
                  target: Optional[str] = Query(None, max_length=40, description="With missing: allow (default) or CODE[-MOD...]."),
                  change_service: bool = Query(False, description="With missing: the service itself may change."),
                  sensitivity: bool = Query(False, description="The single facts whose change flips the outcome or the code."),
                  explore: Explorer = Depends(get_explorer)):
    modes = [m for m, on in (("why_not", why_not is not None), ("missing", missing), ("sensitivity", sensitivity)) if on]
    if len(modes) != 1:
        raise ProblemError(422, "invalid-parameter", "give exactly one of why_not=CODE[-MOD...], missing=true, sensitivity=true",
                           modes[1] if len(modes) > 1 else "why_not")
    if (target is not None or change_service) and not missing:
        raise ProblemError(422, "invalid-parameter", "target and change_service go with missing=true",
                           "target" if target is not None else "change_service")
    service = request.app.state.service
    records = _records(await _body(request, service.settings.max_body), "application/json", 1)
    if len(records) != 1:
        raise ProblemError(422, "invalid-encounter", "explain takes one encounter", "(body)")
    rec = records[0].resolve()
    if rec.problems:
        raise from_problems(422, "invalid-encounter", rec.problems)
    enc = rec.encounter
    bad = service.engine.unknown_payer(enc)
    if bad:
        raise ProblemError(422, "unknown-payer", bad.message, "payer")
    if why_not is not None:
        out = await explore(answer_why_not, enc, why_not)
    elif missing:
        out = await explore(answer_missing, enc, target, change_service)
    else:
        out = await explore(answer_sensitivity, enc)
    if isinstance(out, dict) and "problems" in out:
        first = out["problems"][0]
        raise ProblemError(422, "invalid-parameter", first.get("message", str(first)),
                           {"--why-not": "why_not", "--target": "target"}.get(first.get("field"), first.get("field")))
    return out
