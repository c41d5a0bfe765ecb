"""Benchmark of the exploration answers (a script, not a test): warm in-process latency of one answer for one
encounter, over every shipped policy case (policies/rulesets/*.cases.yaml). One function per measurement.

    python bench/explore.py [--only why_not,missing,sensitivity] [--repeat 1]

Prints p50, p95 and max in milliseconds per measurement (and bench/out/explore.json).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from solver.casetest import find_case_files, load_cases  # noqa: E402
from solver.engine import Engine  # noqa: E402
from solver.paths import POLICIES_DIR  # noqa: E402


def shipped_encounters() -> list:
    return [enc for path in find_case_files(POLICIES_DIR) for _case, enc in load_cases(path)]


def _times(func, encounters, repeat: int) -> list[float]:
    out = []
    for enc in encounters:
        for _ in range(repeat):
            t0 = time.perf_counter()
            func(enc)
            out.append(time.perf_counter() - t0)
    return out


def bench_why_not(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --why-not 20553 (a TPI encounter; the others have no service 20553 bills and are skipped)."""
    from solver.explore_common import slot_for
    from solver.errors import InputError
    from solver.why_not import why_not

    def bills_20553(enc) -> bool:
        try:
            return slot_for(engine, enc, "20553", "--why-not") is not None
        except InputError:
            return False
    return _times(lambda enc: why_not(engine, enc, "20553"), [e for e in encounters if bills_20553(e)], repeat)


def bench_missing(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --missing (target allow, documentation only; the nearest outcome when allow is unreachable)."""
    from solver.missing import missing
    return _times(lambda enc: missing(engine, enc), encounters, repeat)


def bench_missing_change_service(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --missing --change-service (another muscle or a diagnosis may be assumed too)."""
    from solver.missing import missing
    return _times(lambda enc: missing(engine, enc, None, True), encounters, repeat)


def bench_sensitivity(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --sensitivity (every single change of one fact)."""
    from solver.sensitivity import sensitivity
    return _times(lambda enc: sensitivity(engine, enc), encounters, repeat)


def bench_check(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """One check, for comparison in the same run (the machine is shared: compare ratios)."""
    return _times(engine.check, encounters, repeat)


MEASUREMENTS = {"check": bench_check, "why_not": bench_why_not, "missing": bench_missing,
                "missing_change_service": bench_missing_change_service, "sensitivity": bench_sensitivity}


def _row(name: str, times: list[float]) -> dict:
    ms = sorted(t * 1000 for t in times)
    return {"measurement": name, "n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1), "max_ms": round(ms[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated measurements")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    engine = Engine()
    encounters = shipped_encounters()
    engine.check(encounters[0])  # warm: the first grounding parses what it caches
    rows = [_row(name, MEASUREMENTS[name](engine, encounters, args.repeat)) for name in args.only.split(",")]
    for r in rows:
        print(f"{r['measurement']:24} n={r['n']:4}  p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "explore.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
