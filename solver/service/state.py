"""What a running service holds: the engine (for payers and rules), the worker pool, the decision log, limits."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from solver import batch
from solver.batch import Job
from solver.encounter import Encounter
from solver.reading import Record
from solver.service.decision_log import DecisionLog
from solver.service.pool import WorkerPool


@dataclass
class Settings:
    workers: int = 2
    timeout: float = 30.0  # seconds a request may take in the solver
    max_body: int = 5_000_000  # bytes
    max_records: int = 1000  # encounters a request
    decision_log: str | None = None  # a file; None or "-" is standard error
    log_inputs: bool = False
    policies_dir: Path | None = None
    payer_map: Path | None = None


@dataclass
class Service:
    settings: Settings
    engine: object
    pool: WorkerPool
    log: DecisionLog
    payer_map: object = None
    inflight: int = field(default=0)

    async def check_records(self, records: list[Record], payer: str | None = None,
                            date: dt.date | None = None) -> list[dict]:
        """The result of each record, in order, each with its decision id (one decision-log line each)."""
        self.inflight += 1
        try:
            answered = await self.pool.run(records, payer, date, self.settings.log_inputs)
        finally:
            self.inflight -= 1
        answers = [a for a, _h, _i in answered]
        batch._repeated_ids(Job(self.engine, payer, date, "dict"), answers)  # ids are unique in a request
        out = []
        for ans, (_a, sha, inp) in zip(answers, answered):
            result = dict(ans.result)
            result["decision"] = self.log.record(result, sha, inp)
            out.append(result)
        return out

    async def explore(self, func, *args):
        """deps.get_explorer: func(engine, *args) run in a worker (what-if, compare, explain)."""
        self.inflight += 1
        try:
            return await self.pool.call(func, *args)
        finally:
            self.inflight -= 1

    async def check_encounters(self, encounters: list[Encounter]) -> list[dict]:
        """deps.get_checker: the result of each encounter, in order, with "decision": {"id", "time"}."""
        records = [Record("(request)", n, enc.id, encounter=enc) for n, enc in enumerate(encounters, start=1)]
        return await self.check_records(records)
