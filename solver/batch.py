"""Running many encounters: records -> results, in chunks sharing one grounding, on every core.

Each chunk is parsed, validated, answered and (for JSON output) serialized in a worker process, so every
step runs on every core. A record that failed validation, or names an unknown payer, gets an error result
of its own; the others are still answered. Results come back in input order.
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
from dataclasses import dataclass

from solver.engine import Engine
from solver.errors import Problem
from solver.reading import Record

CHUNK = 250


@dataclass(frozen=True)
class Job:
    engine: Engine
    payer: str | None = None  # what-if: answer as if the encounters named this payer
    date: dt.date | None = None  # what-if: ... or this date of service
    as_json: bool = False  # serialize each result to one line of JSON in the worker


_JOB: Job | None = None


def error_result(rec: Record, problems: list[Problem]) -> dict:
    return {"encounter": rec.raw_id or f"{rec.source}#{rec.index}", "outcome": "error",
            "errors": [{"file": p.file, "record": p.record, "field": p.field, "message": p.message} for p in problems]}


def _answer(job: Job, chunk: list[Record]) -> list[tuple[list[Problem], dict | str]]:
    out: list[tuple[list[Problem], dict | str] | None] = [None] * len(chunk)
    todo = []
    for i, rec in enumerate(chunk):
        rec.resolve()
        if rec.encounter is not None and (job.payer or job.date):
            changes = {"payer": job.payer} if job.payer else {}
            if job.date:
                changes["date_of_service"] = job.date
            rec.encounter = rec.encounter.model_copy(update=changes)
        problems = rec.problems
        if not problems:
            bad = job.engine.unknown_payer(rec.encounter)
            problems = [Problem(rec.source, "payer", bad.message, rec.label)] if bad else None
        if problems:
            out[i] = (problems, error_result(rec, problems))
        else:
            todo.append(i)
    results = job.engine.check_many([chunk[i].encounter for i in todo]) if todo else []
    for i, res in zip(todo, results):
        out[i] = ([], res)
    if job.as_json:
        out = [(p, json.dumps(r, separators=(",", ":"))) for p, r in out]
    return out


def _answer_in_worker(chunk: list[Record]):
    assert _JOB is not None
    return _answer(_JOB, chunk)


def run(job: Job, records: list[Record], jobs: int | None = None) -> list[tuple[list[Problem], dict | str]]:
    """(problems, result) for each record, in input order; a result is a dict, or a JSON line with as_json."""
    chunks = [records[k:k + CHUNK] for k in range(0, len(records), CHUNK)]
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and len(chunks) > 1:
        global _JOB
        _JOB = job
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(min(jobs, len(chunks))) as pool:
            answers = pool.map(_answer_in_worker, chunks, chunksize=1)
    else:
        answers = [_answer(job, c) for c in chunks]
    return [pair for chunk in answers for pair in chunk]
