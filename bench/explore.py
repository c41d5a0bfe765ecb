"""Benchmark of the explorations (a script, not a test): one function per measurement, each the median of a few
warm runs in milliseconds, on the bundled encounters (examples/encounters.yaml). Target: well under 1 s each.

    python bench/explore.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a source tree without installing

import yaml  # noqa: E402

from solver.encounter import Encounter  # noqa: E402
from solver.engine import Engine  # noqa: E402

EXAMPLES = [Encounter.model_validate(e) for e in yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text())]


def _median_ms(func, repeat: int) -> float:
    func()  # warm: the first grounding of a kind parses nothing again, but fills the caches
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def compare_twelve_payers(engine: Engine, repeat: int) -> float:
    """enc-0001 under every payer: one batch, and the single program that finds the common claim."""
    from solver.explore.compare import compare
    assert len(engine.policies.payers) == 12
    return _median_ms(lambda: compare(engine, EXAMPLES[0]), repeat)


def compare_twelve_payers_no_common_claim(engine: Engine, repeat: int) -> float:
    """enc-0002 under every payer: no common claim, so the candidates' batch too (2 claims x 12 payers)."""
    from solver.explore.compare import compare
    return _median_ms(lambda: compare(engine, EXAMPLES[1]), repeat)


def date_sweep(engine: Engine, repeat: int) -> float:
    """enc-0003 (three earlier sessions) for its payer from 2018-10-01 to 2026-06-30: the change dates."""
    from solver.explore.compare import compare
    return _median_ms(lambda: compare(engine, EXAMPLES[2], start=dt.date(2018, 10, 1), end=dt.date(2026, 6, 30)), repeat)


def whatif_variant(engine: Engine, repeat: int) -> float:
    """enc-0001 and one variant (a muscle no longer named), answered in one batch."""
    from solver.explore.patching import parse_set, variants
    from solver.explore.whatif import whatif
    return _median_ms(lambda: whatif(engine, EXAMPLES[0], variants(EXAMPLES[0], [parse_set("injections[2].muscle=paraspinals")])), repeat)


def check_one(engine: Engine, repeat: int) -> float:
    """For scale: one plain check of enc-0001."""
    return _median_ms(lambda: engine.check(EXAMPLES[0]), repeat)


MEASUREMENTS = [compare_twelve_payers, compare_twelve_payers_no_common_claim, date_sweep, whatif_variant, check_one]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    engine = Engine()
    for func in MEASUREMENTS:
        print(f"{func.__name__:<38} {func(engine, args.repeat):>8.1f} ms   {func.__doc__.strip().splitlines()[0]}")


if __name__ == "__main__":
    main()
