"""Benchmark of the explorations (a script, not a test): warm in-process latency of one answer, one function
per measurement. The explain measurements run over every shipped policy case; compare and what-if over the
bundled encounters (examples/encounters.yaml). Target: well under 1 s each.

    python bench/explore.py [--only why_not,missing,...] [--repeat 1]

Prints n, p50, p95 and max in milliseconds per measurement (and bench/out/explore.json).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source tree without installing

import yaml  # noqa: E402

from solver.casetest import find_case_files, load_cases  # noqa: E402
from solver.encounter import Encounter  # noqa: E402
from solver.engine import Engine  # noqa: E402
from solver.paths import POLICIES_DIR  # noqa: E402

EXAMPLES = [Encounter.model_validate(e) for e in yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text())]


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


def bench_check(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """One check, for comparison in the same run (the machine is shared: compare ratios)."""
    return _times(engine.check, encounters, repeat)


def bench_compare_twelve_payers(engine: Engine, _encounters, repeat: int = 1) -> list[float]:
    """enc-0001 under every payer: one batch, and the single program that finds the common claim."""
    from solver.explore.compare import compare
    assert len(engine.policies.payers) == 12
    return _times(lambda enc: compare(engine, enc), [EXAMPLES[0]], max(repeat, 5))


def bench_compare_no_common_claim(engine: Engine, _encounters, repeat: int = 1) -> list[float]:
    """enc-0002 under every payer: no common claim, so the candidates' batch too (2 claims x 12 payers)."""
    from solver.explore.compare import compare
    return _times(lambda enc: compare(engine, enc), [EXAMPLES[1]], max(repeat, 5))


def bench_date_sweep(engine: Engine, _encounters, repeat: int = 1) -> list[float]:
    """enc-0003 (three earlier sessions) for its payer from 2018-10-01 to 2026-06-30: the change dates."""
    from solver.explore.compare import compare
    return _times(lambda enc: compare(engine, enc, start=dt.date(2018, 10, 1), end=dt.date(2026, 6, 30)),
                  [EXAMPLES[2]], max(repeat, 5))


def bench_whatif_variant(engine: Engine, _encounters, repeat: int = 1) -> list[float]:
    """enc-0001 and one variant (a muscle no longer named), answered in one batch."""
    from solver.explore.patching import parse_set, variants
    from solver.explore.whatif import whatif
    change = [parse_set("injections[2].muscle=paraspinals")]
    return _times(lambda enc: whatif(engine, enc, variants(enc, change)), [EXAMPLES[0]], max(repeat, 5))


def bench_why_not(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --why-not 20553 (a TPI encounter; the others have no service 20553 bills and are skipped)."""
    from solver.errors import InputError
    from solver.explore.common import slot_for
    from solver.explore.why_not import why_not

    def bills_20553(enc) -> bool:
        try:
            return slot_for(engine, enc, "20553", "--why-not") is not None
        except InputError:
            return False
    return _times(lambda enc: why_not(engine, enc, "20553"), [e for e in encounters if bills_20553(e)], repeat)


def bench_missing(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --missing (target allow, documentation only; the nearest outcome when allow is unreachable)."""
    from solver.explore.missing import missing
    return _times(lambda enc: missing(engine, enc), encounters, repeat)


def bench_missing_change_service(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --missing --change-service (another muscle or a diagnosis may be assumed too)."""
    from solver.explore.missing import missing
    return _times(lambda enc: missing(engine, enc, None, True), encounters, repeat)


def bench_sensitivity(engine: Engine, encounters, repeat: int = 1) -> list[float]:
    """explain --sensitivity (every single change of one fact)."""
    from solver.explore.sensitivity import sensitivity
    return _times(lambda enc: sensitivity(engine, enc), encounters, repeat)


MEASUREMENTS = {"check": bench_check, "compare_twelve_payers": bench_compare_twelve_payers,
                "compare_no_common_claim": bench_compare_no_common_claim, "date_sweep": bench_date_sweep,
                "whatif_variant": bench_whatif_variant, "why_not": bench_why_not, "missing": bench_missing,
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
