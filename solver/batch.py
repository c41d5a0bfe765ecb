"""Running many encounters: records -> results, in chunks sharing one grounding, on every core.

A record that failed validation, or names an unknown payer, gets an error result of its own; the others are
still answered. Results come back in input order.
"""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from typing import Iterable

from solver.encounter import Encounter
from solver.engine import Engine
from solver.errors import Problem
from solver.reading import Record

CHUNK = 250
_WORKER_ENGINE: Engine | None = None


def error_result(rec: Record, problems: list[Problem]) -> dict:
    return {"encounter": rec.raw_id or f"{rec.source}#{rec.index}", "outcome": "error",
            "errors": [{"file": p.file, "record": p.record, "field": p.field, "message": p.message} for p in problems]}


def apply_overrides(rec: Record, payer: str | None, date: dt.date | None) -> None:
    """What-if: answer the encounter for another payer or date of service."""
    if rec.encounter is not None and (payer or date):
        changes = {}
        if payer:
            changes["payer"] = payer
        if date:
            changes["date_of_service"] = date
        rec.encounter = rec.encounter.model_copy(update=changes)


def _solve_chunk(encounters: list[Encounter]) -> list[dict]:
    assert _WORKER_ENGINE is not None
    return _WORKER_ENGINE.check_many(encounters)


def run(engine: Engine, records: Iterable[Record], jobs: int | None = None) -> list[tuple[Record, dict]]:
    records = list(records)
    todo: list[tuple[int, Encounter]] = []
    out: list[dict | None] = [None] * len(records)
    for i, rec in enumerate(records):
        if rec.problems:
            out[i] = error_result(rec, rec.problems)
            continue
        bad = engine.unknown_payer(rec.encounter)
        if bad:
            out[i] = error_result(rec, [Problem(rec.source, "payer", bad.message, rec.label)])
            continue
        todo.append((i, rec.encounter))
    # chunks of one payer each keep every grounding small
    todo.sort(key=lambda t: (t[1].payer, t[0]))
    chunks = [todo[k:k + CHUNK] for k in range(0, len(todo), CHUNK)]
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(chunks) > 1:
        global _WORKER_ENGINE
        _WORKER_ENGINE = engine
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(jobs, len(chunks))) as pool:
            answers = pool.map(_solve_chunk, [[e for _, e in c] for c in chunks], chunksize=1)
    else:
        answers = [engine.check_many([e for _, e in c]) for c in chunks]
    for chunk, results in zip(chunks, answers):
        for (i, _), res in zip(chunk, results):
            out[i] = res
    return list(zip(records, out))
