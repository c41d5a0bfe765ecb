"""The FastAPI dependency every router gets its checker from.

get_checker() returns an async callable check(encounters: list[Encounter]) -> list[dict]: one contract-v1
result per encounter, in order, each with an extra key "decision": {"id": str, "time": str} (the decision
log's id and time). The service replaces this default (worker processes, the decision log) with its own;
a test overrides it through app.dependency_overrides.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache

from solver.encounter import Encounter

Checker = Callable[[list[Encounter]], Awaitable[list[dict]]]


@lru_cache(maxsize=1)
def _engine():
    from solver.engine import Engine
    return Engine()


async def _check(encounters: list[Encounter]) -> list[dict]:
    results = await asyncio.to_thread(_engine().check_many, encounters)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return [{**r, "decision": {"id": str(uuid.uuid4()), "time": now}} for r in results]


def get_checker() -> Checker:
    return _check
