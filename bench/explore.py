"""Benchmark of the exploration answers (a script, not a test). One function per measurement.

    python bench/explore.py [--only verify] [--date 2024-06-10]

Prints the figures per measurement (and bench/out/explore.json).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from solver.engine import Engine  # noqa: E402


def bench_verify(engine: Engine, date: dt.date = dt.date(2024, 6, 10), payers=None) -> dict:
    """payerkb verify of one payer on one date, warm engine: wall and process CPU seconds per payer, and where
    the time went (ground, search, check), with the solves and the findings counted."""
    from solver.verify.analysis import verify
    out = {}
    for payer in payers or sorted(engine.policies.payers):
        w0, c0 = time.perf_counter(), time.process_time()
        r = verify(engine, payer, date)
        out[payer] = {"wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3),
                      **{k: r["timings"][k] for k in ("ground", "search", "check")}, "solves": r["searched"]["solves"],
                      "rules": r["rules"], "dead": len(r["dead"]), "subsumed": len(r["subsumed"]), "masked": len(r["masked"]),
                      "conflicts": len(r["conflicts"]), "gaps": len(r["gaps"])}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="verify")
    ap.add_argument("--date", default="2024-06-10")
    args = ap.parse_args()
    engine = Engine()
    results = {}
    if "verify" in args.only.split(","):
        results["verify"] = bench_verify(engine, dt.date.fromisoformat(args.date))
        for payer, row in results["verify"].items():
            print(f"verify {payer:22} wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s  ground {row['ground']:.2f}  "
                  f"search {row['search']:.2f}  check {row['check']:.2f}  solves {row['solves']}")
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "explore.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
