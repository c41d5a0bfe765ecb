"""Benchmark (a script, not a test): warm in-process latency of one check, cold start of `payerkb check`
on one encounter, and the throughput of `payerkb check` over generated encounters in one JSON Lines file.

    python bench/bench.py [--n 10000] [--single 500]

Prints a table (and bench/out/results.json) with where the time goes: facts, ground, solve, explain.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a source tree without installing

from solver.encounter import Encounter  # noqa: E402
from solver.engine import Engine  # noqa: E402

MUSCLES = ["upper trapezius", "levator scapulae", "rhomboid major", "splenius capitis", "sternocleidomastoid",
           "infraspinatus", "quadratus lumborum", "gluteus medius", "piriformis", "paraspinals"]
DIAGNOSES = ["M79.12", "M79.18", "M54.2", "M54.50", "M54.6", "G44.209", "M62.830", "R52"]
PAYERS = ["medicare-cgs", "commercial-default"]


def generate(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        k = rnd.randint(1, 4)
        muscles = rnd.sample(MUSCLES, k)
        injections = [{"muscle": m, "side": rnd.choice(["left", "right"]), "substance": rnd.choice(["lidocaine 1%", "bupivacaine 0.25%", "none"]) if rnd.random() < 0.1 else "lidocaine 1%",
                       "dose": "1 mL" if rnd.random() < 0.95 else None, "trigger_points": rnd.randint(1, 4)} for m in muscles]
        dx = rnd.sample(DIAGNOSES, rnd.randint(1, 3))
        enc = {"id": f"bench-{i}", "payer": rnd.choice(PAYERS), "date_of_service": f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
               "injections": [{k2: v for k2, v in x.items() if v is not None} for x in injections], "diagnoses": dx,
               "documentation": {"trigger_points_on_exam": rnd.random() < 0.9, "focal_muscle_pain": True,
                                 "conservative_therapy": {"tried": ["physical_therapy"], "weeks": 8, "failed": rnd.random() < 0.8},
                                 "pain_scores": {"scale": "NRS", "before": 7, "after": 3}},
               "history": [{"date": f"2023-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}", "code": "20552"} for _ in range(rnd.randint(0, 3))]}
        if rnd.random() < 0.3:
            enc["evaluation"] = {"code": "99213", "separately_identifiable": rnd.random() < 0.5}
        if rnd.random() < 0.2:
            enc["other_procedures"] = [{"code": rnd.choice(["20610", "96372", "76942"]), "units": 1, "distinct": rnd.random() < 0.5}]
        if rnd.random() < 0.7:
            code = "20552" if k <= 2 else rnd.choice(["20552", "20553"])
            enc["claim"] = [{"code": code, "modifiers": rnd.choice([[], [], ["50"], ["59"]]), "units": 1, "diagnoses": dx[:1]}]
        out.append(enc)
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--single", type=int, default=500)
    args = ap.parse_args()
    results = {}

    t0 = time.perf_counter()
    engine = Engine()
    results["engine_load_s"] = time.perf_counter() - t0
    encs = [Encounter.model_validate(e) for e in generate(args.single, seed=11)]
    for e in encs[:20]:
        engine.check(e)
    engine.timings.__init__()
    lat = []
    for e in encs:
        t = time.perf_counter()
        engine.check(e)
        lat.append((time.perf_counter() - t) * 1000)
    tm = engine.timings
    results["warm_single_ms"] = {"median": statistics.median(lat), "p99": pct(lat, 99), "n": len(lat),
                                 "facts_ms": tm.facts / tm.encounters * 1000, "ground_ms": tm.ground / tm.encounters * 1000,
                                 "solve_ms": tm.solve / tm.encounters * 1000, "explain_ms": tm.explain / tm.encounters * 1000}

    engine.timings.__init__()
    batch = [Encounter.model_validate(e) for e in generate(1000, seed=12)]
    t = time.perf_counter()
    for k in range(0, len(batch), 250):
        engine.check_many(batch[k:k + 250])
    tm = engine.timings
    results["in_process_batch_250_ms_per_encounter"] = {
        "total": (time.perf_counter() - t) / len(batch) * 1000, "facts": tm.facts / tm.encounters * 1000,
        "ground": tm.ground / tm.encounters * 1000, "solve": tm.solve / tm.encounters * 1000, "explain": tm.explain / tm.encounters * 1000}

    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.json"
        one.write_text(json.dumps(generate(1, seed=3)[0]))
        cold = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "solver", "check", str(one), "--format", "json"], capture_output=True, check=False)
            cold.append(time.perf_counter() - t)
        results["cold_start_s"] = {"median": statistics.median(cold), "min": min(cold)}
        many = Path(tmp) / "many.jsonl"
        many.write_text("".join(json.dumps(e) + "\n" for e in generate(args.n, seed=5)))
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "solver", "check", str(many), "--format", "json"], capture_output=True, text=True)
        wall = time.perf_counter() - t
        answered = sum(1 for line in p.stdout.splitlines() if line.strip())
        results["throughput"] = {"encounters": args.n, "answered": answered, "seconds": wall, "per_second": args.n / wall,
                                 "exit": p.returncode}

    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    w = results["warm_single_ms"]
    b = results["in_process_batch_250_ms_per_encounter"]
    print(f"engine load (policies, code tables, KB parse): {results['engine_load_s']:.2f} s")
    print(f"warm single check: median {w['median']:.2f} ms, p99 {w['p99']:.2f} ms "
          f"(facts {w['facts_ms']:.2f}, ground {w['ground_ms']:.2f}, solve {w['solve_ms']:.2f}, explain {w['explain_ms']:.2f})")
    print(f"in-process batches of 250: {b['total']:.3f} ms/encounter (facts {b['facts']:.3f}, ground {b['ground']:.3f}, "
          f"solve {b['solve']:.3f}, explain {b['explain']:.3f})")
    print(f"cold start `payerkb check` one encounter: median {results['cold_start_s']['median']:.2f} s")
    t = results["throughput"]
    print(f"`payerkb check` {t['encounters']} encounters (JSON Lines): {t['seconds']:.2f} s, {t['per_second']:.0f}/s, answered {t['answered']}, exit {t['exit']}")


if __name__ == "__main__":
    main()
