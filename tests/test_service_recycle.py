"""The service's worker pool is recycled once a worker's resident set passes a bound (clingo interns every symbol for
the life of a process): a new pool is warmed, takes over, and answers as the old one did."""
from __future__ import annotations

import asyncio
import os

from solver.paths import POLICIES_DIR
from solver.service.pool import WorkerPool


def worker_pid(engine) -> int:
    return os.getpid()


def worker_outcome(engine, enc) -> str:
    return engine.check(enc)["outcome"]


def test_a_worker_past_the_memory_bound_gets_the_pool_replaced_by_a_warm_one_that_answers_the_same():
    from resident_corpus import shipped_cases
    from solver.engine import Engine
    enc = shipped_cases(Engine().policies)[0]

    async def scenario():
        pool = WorkerPool(1, POLICIES_DIR, timeout=120, recycle_mb=10_000)
        try:
            await pool.warm()
            first = await pool.call(worker_pid)
            before = await pool.call(worker_outcome, enc)
            assert await pool.call(worker_pid) == first and pool.recycled == 0
            assert 30 < pool.worker_mb < 10_000  # each task reports its worker's resident set
            pool.recycle_mb = 1  # below any worker's: the next answer recycles the pool
            assert await pool.call(worker_pid) == first
            for _ in range(200):  # the new pool warms in the background; the old one answers meanwhile
                if pool.recycled:
                    break
                await asyncio.sleep(0.1)
            assert pool.recycled == 1
            assert await pool.call(worker_pid) != first
            assert await pool.call(worker_outcome, enc) == before
        finally:
            pool.shutdown()

    asyncio.run(scenario())


def test_a_shutdown_during_a_recycle_leaves_no_worker_of_the_new_pool_running():
    import multiprocessing

    async def scenario():
        before = set(multiprocessing.active_children())

        def mine():
            return [p for p in multiprocessing.active_children() if p not in before]

        pool = WorkerPool(1, POLICIES_DIR, timeout=120, recycle_mb=1)  # below any worker's: the first answer recycles
        try:
            await pool.warm()
            await pool.call(worker_pid)
            for _ in range(100):  # the recycle's new pool starts its worker (its engine takes seconds to build)
                if len(mine()) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert len(mine()) == 2 and pool.recycled == 0
        finally:
            pool.shutdown()
        left = mine()
        for p in left:  # not to outlive the test when it fails
            p.kill()
        assert not left, left
        await asyncio.sleep(0.1)  # the cancelled recycle ends without taking over
        assert pool.recycled == 0

    asyncio.run(scenario())
