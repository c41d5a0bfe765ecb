"""Benchmark of the exploration answers (a script, not a test). One function per measurement.

    python bench/analyst.py [--only verify,witness] [--date 2024-06-10] [--baseline DIR]

Prints the figures per measurement (and bench/out/analyst.json). With --baseline DIR (a source tree of another
version, e.g. `git archive REV | tar -x -C DIR`), verify is measured in that tree too, payer by payer in turn
with this one (its warm engine in a second process), so both see the same load of the machine.
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


def verify_row(engine: Engine, payer: str, date: dt.date) -> dict:
    """payerkb verify of one payer on one date, warm engine: wall and process CPU seconds, where the time went
    (ground, search, check), the solves and the findings counted."""
    from solver.verify.analysis import verify
    w0, c0 = time.perf_counter(), time.process_time()
    r = verify(engine, payer, date)
    return {"wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3),
            **{k: r["timings"][k] for k in ("ground", "search", "check")}, "solves": r["searched"]["solves"],
            "rules": r["rules"], "dead": len(r["dead"]), "subsumed": len(r["subsumed"]), "masked": len(r["masked"]),
            "conflicts": len(r["conflicts"]), "gaps": len(r["gaps"])}


# The baseline's worker: reads a payer and a date a line, answers verify_row of that tree as a JSON line.
_WORKER = """
import datetime as dt, json, sys, time
from solver.engine import Engine
from solver.verify.analysis import verify
engine = Engine()
verify(engine, "commercial-default", dt.date(2024, 6, 10))  # warm, as the engine of this run
print("ready", flush=True)
for line in sys.stdin:
    payer, date = line.split()
    w0, c0 = time.perf_counter(), time.process_time()
    r = verify(engine, payer, dt.date.fromisoformat(date))
    print(json.dumps({"wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3),
                      "solves": r["searched"]["solves"], "dead": len(r["dead"]), "subsumed": len(r["subsumed"]),
                      "masked": len(r["masked"]), "conflicts": len(r["conflicts"]), "gaps": len(r["gaps"])}), flush=True)
"""


def bench_verify(engine: Engine, date: dt.date = dt.date(2024, 6, 10), payers=None, baseline: Path | None = None) -> dict:
    """verify_row per payer; with a baseline tree, that tree's row for the payer is measured just before."""
    import os
    import subprocess
    worker = None
    if baseline is not None:
        env = {**os.environ, "PYTHONPATH": str(baseline)}
        worker = subprocess.Popen([sys.executable, "-c", _WORKER], cwd=baseline, env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit(f"bench: the baseline tree {baseline} did not start")
    verify_row(engine, "commercial-default", date)  # warm
    out = {}
    try:
        for payer in payers or sorted(engine.policies.payers):
            before = None
            if worker is not None:
                worker.stdin.write(f"{payer} {date.isoformat()}\n")
                worker.stdin.flush()
                before = json.loads(worker.stdout.readline())
            out[payer] = verify_row(engine, payer, date)
            if before is not None:
                out[payer]["baseline"] = before
    finally:
        if worker is not None:
            worker.stdin.close()
            worker.wait()
    return out


def bench_witness(engine: Engine, date: dt.date = dt.date(2024, 6, 10)) -> dict:
    """payerkb policy diff OLD --witness on one payer and window, warm engines, over seeded version changes made
    in temporary policies copies: a frequency limit lowered (a witness found), that and a rule dropped (a witness
    each way), a diagnosis list written in another order (equivalence proved by the solver), a copy unchanged
    (equivalent at once); plus payerkb test --coverage over the shipped cases. Wall and CPU seconds each."""
    import shutil
    import tempfile

    from solver.case_coverage import coverage_report
    from solver.casetest import find_case_files, run_cases
    from solver.paths import POLICIES_DIR
    from solver.verify import space as sp
    from solver.witness import search_window, windows

    def edit(root: Path, file: str, old: str, new: str) -> None:
        path = root / file
        path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")

    seeds = {
        "limit lowered (commercial-default)": ("commercial-default", [("rulesets/commercial-default.yaml", "max_sessions: 4, window_days: 365", "max_sessions: 3, window_days: 365")]),
        "limit lowered and a rule dropped": ("commercial-default", [("rulesets/commercial-default.yaml", "max_sessions: 4, window_days: 365", "max_sessions: 3, window_days: 365"),
                                                                    ("payers/commercial-default.yaml", "    version: guidance\n", "    version: guidance\n    exclude: [commercial.injection-record]\n")]),
        "list reordered (equivalence proved)": ("commercial-default", [("rulesets/icd10cm.yaml", "shoulder: [M79.1, M79.10, M79.12, M79.18, M62.838]", "shoulder: [M62.838, M79.18, M79.12, M79.10, M79.1]")]),
        "LCD limit raised (medicare-cgs)": ("medicare-cgs", [("rulesets/lcd-uniform-tpi.yaml", "max_sessions: 3, window_days: 365", "max_sessions: 4, window_days: 365")]),
        "unchanged copy": ("commercial-default", []),
    }
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (payer, edits) in seeds.items():
            root = Path(tmp) / str(len(out))
            shutil.copytree(POLICIES_DIR, root)
            for file, old, new in edits:
                edit(root, file, old, new)
            new_engine = Engine(policies_dir=root)
            space = sp.load_space(sp.SPACE_FILE, new_engine.policies)
            w0, c0 = time.perf_counter(), time.process_time()
            s = search_window(engine, new_engine, payer, windows(engine.policies, new_engine.policies, payer, date)[0], space)
            out[name] = {"payer": payer, "wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3),
                         "verdict": s.verdict(), "witnesses": len(s.witnesses), "refuted": s.refuted,
                         "least_cost": min((w["cost"] for w in s.witnesses), default=None)}
    w0, c0 = time.perf_counter(), time.process_time()
    runs: list = []
    run_cases(engine, find_case_files(engine.policies.root), _Quiet(), runs)
    report = coverage_report(engine.policies, runs)
    out["test --coverage (shipped cases)"] = {"wall_s": round(time.perf_counter() - w0, 3), "cpu_s": round(time.process_time() - c0, 3),
                                              "cases": len(runs), "covered": report["covered"], "rules": report["rules"]}
    return out


class _Quiet:
    def print(self, *args, **kwargs) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="verify")
    ap.add_argument("--date", default="2024-06-10")
    ap.add_argument("--baseline", type=Path, default=None, help="a source tree of another version to measure verify in too")
    args = ap.parse_args()
    engine = Engine()
    results = {}
    if "verify" in args.only.split(","):
        results["verify"] = bench_verify(engine, dt.date.fromisoformat(args.date), baseline=args.baseline)
        for payer, row in results["verify"].items():
            b = row.get("baseline")
            print(f"verify {payer:22} wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s  ground {row['ground']:.2f}  "
                  f"search {row['search']:.2f}  check {row['check']:.2f}  solves {row['solves']}"
                  + (f"  | baseline wall {b['wall_s']:6.2f} s  cpu {b['cpu_s']:6.2f} s  solves {b['solves']}" if b else ""))
    if "witness" in args.only.split(","):
        results["witness"] = bench_witness(engine, dt.date.fromisoformat(args.date))
        for name, row in results["witness"].items():
            print(f"witness {name:38} wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s  "
                  + "  ".join(f"{k} {v}" for k, v in row.items() if k not in ("wall_s", "cpu_s")))
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "analyst.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
