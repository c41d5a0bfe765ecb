"""The solver in worker processes: a ProcessPoolExecutor whose initializer builds the engine once per worker
(solver.resident.ResidentEngine: a single check from a program kept per encounter shape, a batch by the
reference engine in one grounding).

A request's records are answered in chunks (batch.CHUNK) across the workers, each chunk by batch._answer,
the command line's own code, so results are the same objects; encounters are numbered within each chunk.
A worker that dies breaks the pool: the requests it held get a 503 and a new pool takes over. A request
that runs past the timeout gets a 504; the pool it ran on is retired (its workers are ended once the
timeout has passed again) so a stuck solve never holds a worker for ever. Shutdown waits for what is in
flight."""
from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from solver import allocator, batch
from solver.batch import Answer, Job
from solver.reading import Record
from solver.service.decision_log import input_hash
from solver.service.problems import ProblemError

_ENGINE = None
# A worker's resident set grows with the programs it builds and the values it has seen (clingo interns every symbol
# for the life of a process): each task reports its worker's resident set, and once one passes RECYCLE_MB the pool
# is recycled (a new pool warmed, then it takes over; the old one finishes what it holds). bench/load.py --varied
# over 100,000 varied requests: no worker's peak past 280.6 MiB, 7 recycles. Not ProcessPoolExecutor's
# max_tasks_per_child: it can hang on Python 3.11 to 3.13 (CPython gh-115634).
RECYCLE_MB = 280  # past it, a recycle: the cap of a worker is 300 MB, and it grows while the new pool warms


def rss_mb() -> float:
    """This process's resident set in MB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def measured(fn, args: tuple):
    """fn(*args) in a worker, with the worker's resident set after it."""
    return fn(*args), rss_mb()


def init_worker(policies_dir: str) -> None:
    """Build the knowledge base once in this worker; Ctrl-C and SIGTERM go to the server, which stops us."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    global _ENGINE
    from solver.resident import ResidentEngine  # single checks from resident programs; batches by the reference
    from solver.resident.engine import SERVICE_ADMIT_AFTER
    _ENGINE = ResidentEngine(policies_dir=Path(policies_dir), admit_after=SERVICE_ADMIT_AFTER)


def ping() -> str:
    """A worker is ready once its engine is built (the initializer ran); it says which allocator it runs on."""
    return allocator.in_use()


def call_with_engine(func, args: tuple):
    """An exploration (what-if, compare, explain): func(engine, *args) in a worker, with that worker's reference
    engine (the explorations build their own programs with Engine.control and answer their variants in batches),
    or its resident engine itself for a func marked `resident = True` (what-if: its programs stay warm)."""
    return func(_ENGINE if getattr(func, "resident", False) else getattr(_ENGINE, "reference", _ENGINE), *args)


def answer_chunk(records: list[Record], payer: str | None, date: dt.date | None,
                 with_inputs: bool) -> list[tuple[Answer, str | None, dict | None]]:
    """Each record's Answer (batch._answer), the hash of its input, and the input when it is to be logged."""
    hashes = []
    for rec in records:
        problems = batch._resolve(rec)
        enc = None if problems else rec.encounter
        hashes.append((input_hash(enc), enc.model_dump(mode="json") if with_inputs and enc is not None else None))
    answers = batch._answer(Job(_ENGINE, payer, date, "dict"), records)
    return [(a, h, i) for a, (h, i) in zip(answers, hashes)]


class WorkerPool:
    def __init__(self, workers: int, policies_dir: Path, timeout: float, recycle_mb: float = RECYCLE_MB):
        self.workers, self.policies_dir, self.timeout = workers, str(policies_dir), timeout
        self._ctx = multiprocessing.get_context("spawn")  # a worker inherits the server's allocator (solver/allocator.py)
        self.allocators: list[str] = []  # the allocator each worker of the pool runs on, learned when it warms
        self._pool = self._new()
        self.ready = False
        self.rebuilt = 0
        self.recycle_mb = recycle_mb  # a worker's resident set that recycles the pool (0: never)
        self.recycled = 0
        self.worker_mb = 0.0  # the largest resident set a worker of the current pool reported
        self._recycling = False
        self._recycle_task: asyncio.Task | None = None  # held: the loop keeps only a weak reference to a task
        self._warming: ProcessPoolExecutor | None = None  # the new pool a recycle is warming
        self._retired: list = []  # workers of retired pools (a timeout, a lost worker): ended at the latest on shutdown

    def _new(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self._ctx, initializer=init_worker,
                                   initargs=(self.policies_dir,))

    async def warm(self) -> None:
        """Start every worker and build its engine before the service says it is ready."""
        loop = asyncio.get_running_loop()
        self.allocators = list(await asyncio.gather(*(loop.run_in_executor(self._pool, ping) for _ in range(self.workers))))
        self.ready = True

    def pids(self) -> list[int]:
        return sorted((getattr(self._pool, "_processes", None) or {}).keys())

    def _replace(self, old: ProcessPoolExecutor, retire_after: float | None = None) -> None:
        if self._pool is not old:
            return  # another request replaced it already
        self._pool = self._new()
        self.rebuilt += 1
        procs = list((getattr(old, "_processes", None) or {}).values())
        self._retired = [p for p in self._retired if p.is_alive()] + procs  # ended on shutdown if still alive
        old.shutdown(wait=False, cancel_futures=False)
        if retire_after is not None:  # workers still busy past another timeout are stuck: end them
            timer = threading.Timer(retire_after, lambda: [p.kill() for p in procs if p.is_alive()])
            timer.daemon = True
            timer.start()

    async def run(self, records: list[Record], payer, date, with_inputs: bool) -> list[tuple[Answer, str | None, dict | None]]:
        # spread over the workers (a request is at most --max-records long), in chunks no larger than a batch's
        size = max(1, min(batch.CHUNK, -(-len(records) // self.workers)))
        chunks = [records[k:k + size] for k in range(0, len(records), size)]
        done = await self._await([(answer_chunk, (c, payer, date, with_inputs)) for c in chunks])
        return [item for chunk in done for item in chunk]

    async def call(self, func, *args):
        """func(engine, *args) in a worker (func a module-level function, args picklable): the explorations'
        door to the solver, with the same timeout and lost-worker answers as a check."""
        return (await self._await([(call_with_engine, (func, args))]))[0]

    def _note(self, pool: ProcessPoolExecutor, sizes: list[float]) -> None:
        """A worker past recycle_mb: a new pool is started and warmed; it takes over once ready."""
        if pool is not self._pool:
            return
        self.worker_mb = max([self.worker_mb, *sizes])
        if self.recycle_mb and not self._recycling and self.worker_mb > self.recycle_mb:
            self._recycling = True
            self._recycle_task = asyncio.get_running_loop().create_task(self._recycle())

    async def _recycle(self) -> None:
        old, new = self._pool, self._new()
        self._warming = new
        loop = asyncio.get_running_loop()
        try:
            allocators = list(await asyncio.gather(*(loop.run_in_executor(new, ping) for _ in range(self.workers))))
        except asyncio.CancelledError:  # shutdown: the new pool's workers are ended (there, and again here)
            _end(new)
            raise
        except Exception:  # noqa: BLE001 - the old pool keeps answering; the next count tries again
            new.shutdown(wait=False, cancel_futures=True)
            self._recycling = False
            return
        finally:
            self._warming = None
        if self._pool is old:  # the old pool finishes what it holds, then its workers end
            self._pool, self.allocators = new, allocators
            self.recycled += 1
            self.worker_mb = 0.0
            procs = list((getattr(old, "_processes", None) or {}).values())
            self._retired = [p for p in self._retired if p.is_alive()] + procs  # ended on shutdown if still alive
            old.shutdown(wait=False, cancel_futures=False)
        else:  # replaced meanwhile (a timeout, a lost worker)
            new.shutdown(wait=False, cancel_futures=True)
        self._recycling = False

    async def _await(self, tasks: list[tuple]) -> list:
        pool = self._pool
        try:
            futures = [pool.submit(measured, fn, a) for fn, a in tasks]
        except (BrokenProcessPool, RuntimeError):  # broken before this request: it runs on a new pool
            self._replace(pool)
            pool = self._pool
            futures = [pool.submit(measured, fn, a) for fn, a in tasks]
        waiting = [asyncio.wrap_future(f) for f in futures]
        try:
            done = await asyncio.wait_for(asyncio.gather(*waiting), self.timeout)
            self._note(pool, [mb for _got, mb in done])
            return [got for got, _mb in done]
        except asyncio.TimeoutError:
            self._replace(pool, retire_after=self.timeout)
            raise ProblemError(504, "timeout", f"the request ran longer than {self.timeout:g} s and was stopped; "
                               "send fewer encounters a request, or try again") from None
        except BrokenProcessPool:
            self._replace(pool)
            raise ProblemError(503, "worker-lost", "a solver worker stopped while answering this request; "
                               "the service has started a new one: send the request again",
                               headers={"Retry-After": "1"}) from None

    def shutdown(self) -> None:
        """Finish what is in flight on the current pool; end the workers of retired pools still running (they
        would outlive the service, holding its standard streams open), and a recycle under way: its task is
        cancelled and the new pool it is warming ended."""
        self._recycling = True  # no recycle starts any more
        task, self._recycle_task = self._recycle_task, None
        if task is not None and not task.done():
            task.cancel()
        warming, self._warming = self._warming, None
        if warming is not None:
            _end(warming)
        self._pool.shutdown(wait=True)
        for p in self._retired:
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


def _end(pool: ProcessPoolExecutor) -> None:
    """A pool stopped at once: its queued work cancelled, its workers killed and reaped."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(timeout=5)
