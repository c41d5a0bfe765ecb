"""The read-only endpoints: payers, the rules in force, the encounter schema, health and readiness."""
from __future__ import annotations

import datetime as dt
from typing import Optional

from fastapi import APIRouter, Path, Query, Request

from solver.encounter import Encounter
from solver.report import policy_rules
from solver.service.problems import ProblemError

router = APIRouter()


def _payer(request: Request, payer: str):
    payers = request.app.state.service.engine.policies.payers
    if payer not in payers:
        raise ProblemError(404, "unknown-payer", f"unknown payer {payer!r}; the payers are {sorted(payers)}", "id")
    return payers[payer]


@router.get("/v1/payers", summary="The payers and the rule sets each adopts")
async def payers(request: Request) -> list[dict]:
    pol = request.app.state.service.engine.policies
    out = []
    for pid in sorted(pol.payers):
        p = pol.payers[pid]
        out.append({"id": pid, "name": p.name, "kind": p.kind, "description": p.description,
                    "uses": [{"ruleset": u.ruleset, "version": u.version or u.ruleset, "title": u.title,
                              "from": u.from_.isoformat() if u.from_ else None,
                              "through": u.through.isoformat() if u.through else None} for u in p.uses]})
    return out


@router.get("/v1/payers/{id}/rules", summary="The rules of a payer in force on a date")
async def rules(request: Request, id: str = Path(max_length=100),
                date: Optional[dt.date] = Query(None, description="The date of service (default: today).")) -> dict:
    _payer(request, id)
    on = date or dt.date.today()
    return {"payer": id, "date": on.isoformat(), "rules": policy_rules(request.app.state.service.engine, id, on)}


@router.get("/v1/schema/encounter", summary="The JSON Schema of an encounter (contract v1)")
async def encounter_schema() -> dict:
    return Encounter.model_json_schema()


@router.get("/healthz", summary="The process answers")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The solver workers are up and the knowledge base is loaded")
async def readyz(request: Request):
    service = request.app.state.service
    if not service.pool.ready:
        raise ProblemError(503, "not-ready", "the solver workers are still starting; try again shortly")
    return {"status": "ready", "workers": service.settings.workers, "in_flight": service.inflight,
            "pools_rebuilt": service.pool.rebuilt, "allocator": ", ".join(sorted(set(service.pool.allocators))) or None}
