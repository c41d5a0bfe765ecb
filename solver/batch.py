"""Running many encounters: records -> answers, in chunks sharing one grounding, on every core.

Each chunk is parsed, validated, answered and serialized (JSON or the text report) in a worker process, so
every step runs on every core. A record that failed validation, names an unknown payer, repeats an id used
earlier in the run, or could not be solved gets an error result of its own; the others are still answered.
Answers come back in input order, one for each record, a chunk's as soon as it is answered: the records are read
as the workers need them, so a run holds a few chunks, never the whole input. Workers ignore Ctrl-C: the
parent stops the pool.
"""
from __future__ import annotations

import collections
import contextlib
import datetime as dt
import gc
import itertools
import json
import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from solver.engine import Engine
from solver.errors import Problem
from solver.reading import Record

CHUNK = 1000  # records a worker task reads, answers and writes
GROUP = 100  # encounters of one payer answered in one grounding (a grounding of fewer rules and families)
TASKS_PER_WORKER = 8  # a worker is replaced after this many chunks: clingo interns symbols for a process's life
# (over 100,000 varied encounters: 10 chunks took a worker to 305 MB, 25 to over 400; the cap is 300)
POOL_FROM = 2 * GROUP  # more records than this are answered on every core (fewer: forking costs more than it saves)


@dataclass(frozen=True)
class Job:
    engine: Engine
    payer: str | None = None  # what-if: answer as if the encounters named this payer
    date: dt.date | None = None  # what-if: ... or this date of service
    form: str = "dict"  # each result as a dict, a line of JSON ("json") or a block of the text report ("text")
    color: bool = False  # the text report in colour


@dataclass
class Answer:
    """What one record came to: its problems (for standard error) and its result, with what the CLI needs."""

    problems: list[Problem]
    result: dict | str  # a dict, or the result already serialized (Job.form)
    outcome: str
    severities: frozenset[str]  # of the findings, for --fail-on
    raw_id: str | None  # the record's id as written, when it has one
    source: str  # the file
    label: str  # the record in it, e.g. "line 3 (id x)"


_JOB: Job | None = None


def error_result(rec: Record, problems: list[Problem]) -> dict:
    return {"encounter": rec.raw_id or f"{rec.source}#{rec.index}", "outcome": "error",
            "errors": [{"file": p.file, "record": p.record, "field": p.field, "message": p.message} for p in problems]}


def _serialize(job: Job, result: dict) -> dict | str:
    if job.form == "json":
        return json.dumps(result, separators=(",", ":"), check_circular=False)  # a result is a tree
    if job.form == "text":
        from solver.report import render_result
        return render_result(result, job.color)
    return result


def _resolve(rec: Record) -> list[Problem] | None:
    try:
        rec.resolve()
    except Exception as exc:  # noqa: BLE001 - a reader failure costs its record, never the file
        rec.encounter = None
        rec.problems = [Problem(rec.source, "(record)", f"could not be read ({exc.__class__.__name__}); check this record", rec.label)]
    return rec.problems


def _answer(job: Job, chunk: list[Record]) -> list[Answer]:
    results: list[tuple[list[Problem], dict] | None] = [None] * len(chunk)
    todo = []
    for i, rec in enumerate(chunk):
        problems = _resolve(rec)
        if not problems and (job.payer or job.date):
            changes = {"payer": job.payer} if job.payer else {}
            if job.date:
                changes["date_of_service"] = job.date
            rec.encounter = rec.encounter.model_copy(update=changes)
        if not problems:
            bad = job.engine.unknown_payer(rec.encounter)
            problems = [Problem(rec.source, "payer", bad.message, rec.label)] if bad else None
        if problems:
            results[i] = (problems, error_result(rec, problems))
        else:
            todo.append(i)
    by_payer: dict[str, list[int]] = {}
    for i in todo:
        by_payer.setdefault(chunk[i].encounter.payer, []).append(i)
    order = [i for group in by_payer.values() for i in group]
    answered = []
    for k in range(0, len(order), GROUP):
        answered += job.engine.check_many([chunk[i].encounter for i in order[k:k + GROUP]])
    for i, res in zip(order, answered):
        if res.get("outcome") == "error":  # the solver could not answer it: an error of this record
            rec = chunk[i]
            problems = [Problem(rec.source, e["field"], e["message"], rec.label) for e in res["errors"]]
            results[i] = (problems, error_result(rec, problems))
        else:
            results[i] = ([], res)
    out = []
    for rec, (problems, res) in zip(chunk, results):
        out.append(Answer(problems, _serialize(job, res), res.get("outcome", "error"),
                          frozenset(f["severity"] for f in res.get("findings", [])), rec.raw_id, rec.source, rec.label))
    return out


def _answer_in_worker(chunk: list[Record]) -> list[Answer]:
    assert _JOB is not None
    return _answer(_JOB, chunk)


def _start_worker() -> None:
    """A worker ignores Ctrl-C: the parent stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _RepeatedIds:
    """Ids are unique in one run: the first record with an id is answered, each later one is an error naming it."""

    def __init__(self, job: Job):
        self.job = job
        self.first: dict[str, str] = {}  # id -> where it was first used

    def check(self, ans: Answer) -> Answer:
        if ans.raw_id is None:
            return ans
        if ans.raw_id not in self.first:
            self.first[ans.raw_id] = f"{ans.label} of {ans.source}"
            return ans
        problem = Problem(ans.source, "id", f"the id {ans.raw_id!r} is already used by {self.first[ans.raw_id]}; "
                                            "give each encounter its own id", ans.label)
        problems = (ans.problems if ans.outcome == "error" else []) + [problem]
        res = {"encounter": ans.raw_id, "outcome": "error",
               "errors": [{"file": p.file, "record": p.record, "field": p.field, "message": p.message} for p in problems]}
        return Answer(problems, _serialize(self.job, res), "error", frozenset(), ans.raw_id, ans.source, ans.label)


def _repeated_ids(job: Job, answers: list[Answer]) -> None:
    """The answers of one run, a repeated id made an error of its record (in place)."""
    ids = _RepeatedIds(job)
    answers[:] = [ids.check(a) for a in answers]


def run(job: Job, records: Iterable[Record], jobs: int | None = None) -> list[Answer]:
    """An Answer for each record, in input order."""
    with contextlib.closing(stream(job, records, jobs)) as answers:
        return list(answers)


def stream(job: Job, records: Iterable[Record], jobs: int | None = None) -> Iterator[Answer]:
    """An Answer for each record, in input order, each chunk's as soon as it and those before it are answered.

    The records are taken from `records` as the workers need them (a few chunks ahead), so a run over a file
    of any length holds a few chunks of records and answers, never the file's: and workers forked later
    (each is replaced after TASKS_PER_WORKER chunks) inherit no more. More than POOL_FROM records are answered
    on `jobs` processes (default: every core). Close the iterator (contextlib.closing) to stop early."""
    jobs = jobs or os.cpu_count() or 1
    records = iter(records)
    head = list(itertools.islice(records, POOL_FROM + 1))
    ids = _RepeatedIds(job)
    with _collector(len(head) > GROUP):
        if jobs > 1 and len(head) > POOL_FROM:
            global _JOB
            _JOB = job
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs, initializer=_start_worker, maxtasksperchild=TASKS_PER_WORKER) as pool:
                for chunk in pool.imap(_answer_in_worker, chunks(itertools.chain(head, records), jobs), chunksize=1):
                    yield from map(ids.check, chunk)
        else:
            for chunk in chunks(itertools.chain(head, records), 1):
                yield from map(ids.check, _answer(job, chunk))


def chunks(records: Iterator[Record], jobs: int) -> Iterator[list[Record]]:
    """The records in chunks of CHUNK, but those left when the input ends (fewer than CHUNK x (jobs + 1):
    the chunks are cut that far ahead) in at most 2 x jobs pieces of at least GROUP records: whichever worker
    is free takes the next piece, so the workers end at about the same time (three chunks on two workers would
    leave one idle for a third of the run). The records are read from the iterator as the chunks are asked for."""
    ahead = CHUNK * jobs if jobs > 1 else 0
    buf: collections.deque[Record] = collections.deque()
    for rec in records:
        buf.append(rec)
        if len(buf) >= ahead + CHUNK:
            yield [buf.popleft() for _ in range(CHUNK)]
    piece = max(GROUP, -(-len(buf) // (2 * jobs))) if jobs > 1 else CHUNK
    while buf:
        yield [buf.popleft() for _ in range(min(piece, len(buf)))]


@contextlib.contextmanager
def _collector(batch: bool):
    """Python's cyclic garbage collector during a batch (and in its workers, which inherit it): the objects
    alive when it starts (the engine: policies, tables, parsed knowledge base) are left out of collections,
    and the young generation is collected every 50,000 allocations, not 700. A batch allocates many
    short-lived objects and few cycles; the default spent about 0.4 ms an encounter walking the engine."""
    if not batch:
        yield
        return
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
