"""Benchmark (a script, not a test): where grounding the knowledge base goes, for whoever reshapes it.

    python bench/grounding.py [--reps 5] [--top 15] [--groups 40,80,160,330] [--n 3000] [--shapes 60]

- floor: each statement of the knowledge base grounded alone over no fact at all (with every `#defined`
  statement), best of --reps, less the `#defined` statements alone. clingo prepares every statement of a
  grounding whether or not anything matches it, so this is a cost every Control pays once per statement:
  the total, by file, and the dearest statements;
- shapes: for --shapes varied encounters, a resident program's build (solver/resident/program.py), its
  grounding, and the floor of the statements it keeps (the share of the build no fact caused);
- groups: one core answering --n varied encounters in groups of one payer of each size given (the batch path
  groups a chunk's encounters by payer: solver/batch.py GROUP and CHUNK), ground and solve microseconds an
  encounter; and the largest size again with the payers mixed.

Writes bench/out/grounding.json. Times are CPU seconds of this process; the machine is noisy, so read ratios.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import clingo
import clingo.ast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from solver.allocator import in_use, restart_with_mimalloc  # noqa: E402

restart_with_mimalloc()  # on the allocator the command line and the service run on (PAYERKB_ALLOCATOR=system: the C library's)
sys.path.insert(0, str(ROOT / "bench"))

from solver.encounter import Encounter  # noqa: E402
from solver.engine import SOLVER_OPTIONS, Engine  # noqa: E402
from solver.resident.program import ShapeProgram  # noqa: E402
from solver.resident.shape import encode  # noqa: E402
from varied import varied_encounters  # noqa: E402


def _ground_seconds(statements: list, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        ctl = clingo.Control(SOLVER_OPTIONS, logger=lambda _c, _m: None, message_limit=0)
        with clingo.ast.ProgramBuilder(ctl) as builder:
            for stmt in statements:
                builder.add(stmt)
        t0 = time.process_time()
        ctl.ground([("base", [])])
        best = min(best, time.process_time() - t0)
    return best


def floor(eng: Engine, reps: int, top: int) -> tuple[dict, dict]:
    """The floor of each statement (seconds, by id of the statement) and the figures of the whole."""
    defined = [stmt for _name, _stmts, defs in eng._parts for _sig, stmt in defs]
    base = _ground_seconds(defined, reps)
    rows, cost = [], {}
    for name, stmts, _defs in eng._parts:
        for stmt in stmts:
            c = cost[id(stmt)] = max(0.0, _ground_seconds(defined + [stmt], reps) - base)
            rows.append((c, name, str(stmt)))
    by_file: dict[str, list[float]] = defaultdict(list)
    for c, name, _text in rows:
        by_file[name].append(c)
    rows.sort(key=lambda r: -r[0])
    figures = {
        "statements": len(rows),
        "total_ms": round(sum(r[0] for r in rows) * 1e3, 1),
        "median_us": round(statistics.median(r[0] for r in rows) * 1e6),
        "by_file": {n: {"statements": len(cs), "ms": round(sum(cs) * 1e3, 2)}
                    for n, cs in sorted(by_file.items(), key=lambda kv: -sum(kv[1]))},
        "dearest": [{"us": round(c * 1e6), "file": n, "statement": t[:160]} for c, n, t in rows[:top]],
    }
    return cost, figures


def shapes(eng: Engine, cost: dict, n: int) -> dict:
    """Builds of resident programs: build, grounding, and the floor of the statements each keeps."""
    ground_times: list[float] = []
    original = clingo.Control.ground

    def timed(self, *args, **kwargs):
        t0 = time.process_time()
        try:
            return original(self, *args, **kwargs)
        finally:
            ground_times.append(time.process_time() - t0)

    encs = [Encounter.model_validate(r) for r in varied_encounters(n, seed=31)]
    builds, grounds, floors, kept = [], [], [], []
    clingo.Control.ground = timed
    try:
        for enc in encs:
            coded = encode(eng.policies, enc)
            if coded is None:
                continue
            ground_times.clear()
            t0 = time.process_time()
            ShapeProgram(eng, coded.shape)
            builds.append(time.process_time() - t0)
            grounds.append(sum(ground_times))
            members = eng.policies.set_members(coded.shape.set_id)
            files = {eng._family_file[eng.policies.instances[k].rule.family] for k in members}
            stmts = [s for name, ss, _d in eng._parts if not name.startswith("families/") or name in files for s in ss]
            floors.append(sum(cost.get(id(s), 0.0) for s in stmts))
            kept.append(len(stmts))
    finally:
        clingo.Control.ground = original
    med = statistics.median
    return {"programs": len(builds), "build_ms_p50": round(med(builds) * 1e3, 1), "ground_ms_p50": round(med(grounds) * 1e3, 1),
            "floor_of_its_statements_ms_p50": round(med(floors) * 1e3, 1), "statements_p50": med(kept)}


def groups(eng: Engine, sizes: list[int], n: int) -> dict:
    """Ground and solve, microseconds an encounter on one core, by size of a group of one payer (and mixed)."""
    encs = [Encounter.model_validate(r) for r in varied_encounters(n, seed=1)]
    by_payer: dict[str, list[Encounter]] = defaultdict(list)
    for enc in encs:
        by_payer[enc.payer].append(enc)

    def cost(batches: list[list[Encounter]]) -> dict:
        tg = ts = 0.0
        for batch in batches:
            ctl, _facts = eng.control(batch)
            t0 = time.process_time()
            ctl.ground([("base", [])])
            t1 = time.process_time()
            ctl.solve()
            ts += time.process_time() - t1
            tg += t1 - t0
        return {"groups": len(batches), "ground_us": round(tg / len(encs) * 1e6), "solve_us": round(ts / len(encs) * 1e6)}

    out = {}
    gc.disable()
    try:
        for size in sizes:
            out[f"one payer, up to {size}"] = cost([es[k:k + size] for es in by_payer.values() for k in range(0, len(es), size)])
        size = max(sizes)
        out[f"payers mixed, {size}"] = cost([encs[k:k + size] for k in range(0, len(encs), size)])
    finally:
        gc.enable()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="groundings of each statement alone (the best is kept)")
    ap.add_argument("--top", type=int, default=15, help="dearest statements listed")
    ap.add_argument("--shapes", type=int, default=60, help="varied encounters whose resident program is built (0: skip)")
    ap.add_argument("--groups", default="40,80,160,330", help="group sizes for the batch figure (empty: skip)")
    ap.add_argument("--n", type=int, default=3000, help="varied encounters for the batch figure")
    args = ap.parse_args()
    eng = Engine()
    cost, fl = floor(eng, args.reps, args.top)
    print(f"floor: {fl['statements']} statements, {fl['total_ms']} ms over no facts (median {fl['median_us']} us a statement)")
    for name, f in list(fl["by_file"].items())[:10]:
        print(f"  {name:40s} {f['statements']:3d} statements {f['ms']:6.2f} ms")
    for row in fl["dearest"]:
        print(f"  {row['us']:5d} us  {row['file']:32s} {row['statement'][:100]}")
    out = {"allocator": in_use(), "floor": fl}
    if args.shapes:
        out["shapes"] = sh = shapes(eng, cost, args.shapes)
        print(f"resident programs ({sh['programs']}): build p50 {sh['build_ms_p50']} ms, ground {sh['ground_ms_p50']} ms, "
              f"the floor of its {sh['statements_p50']} statements {sh['floor_of_its_statements_ms_p50']} ms")
    sizes = [int(x) for x in args.groups.split(",") if x.strip()]
    if sizes:
        out["groups"] = gr = groups(eng, sizes, args.n)
        for name, g in gr.items():
            print(f"batch, {name:24s} {g['groups']:4d} groups: ground {g['ground_us']:5d} us, solve {g['solve_us']:4d} us an encounter")
    dest = ROOT / "bench" / "out" / "grounding.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"written {dest.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
