"""Benchmark (a script, not a test): the batch path and the cold start, this tree beside a baseline tree.

    python bench/batch.py [--baseline DIR] [--n 10000] [--runs 3] [--rss 0]

--baseline is another checkout of payerkb (default: a temporary `git worktree` of main, removed after).
Both trees answer the same varied encounters (bench/varied.py, seed 1) in the same run, taking turns, so the
ratios hold on a noisy machine. Figures (medians over --runs):

- batch: `python -m solver check FILE.jsonl --format json` (JSON Lines in and out, every core): wall seconds,
  CPU seconds (the process and its workers), encounters a wall second and a CPU second; the outputs of the two
  trees are compared byte for byte;
- cold: `python -m solver check one.yaml` (one encounter): wall and CPU seconds, each tree's modules compiled
  first (as pip installs them: this machine sets PYTHONDONTWRITEBYTECODE, so nothing else would compile them) and
  its caches written by a first run; and this tree's without its policies cache (PAYERKB_POLICY_CACHE=off:
  every policy file validated, the first run after a change);
- phases: where one core's time goes over the first 2,000 encounters (read, validate, facts, ground, solve,
  result, write), in microseconds an encounter;
- rss (with --rss N, e.g. 100000): the peak resident memory of the command line (the parent) and of its largest
  worker over N varied encounters in one JSON Lines file answered by this tree (VmHWM, read from /proc).

Ratios are this tree / baseline (below 1: this tree is faster, or smaller).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE / "bench"))

from varied import varied_encounters  # noqa: E402

_PHASES = r'''
import json, sys, time
try:  # on the allocator the tree's command line runs on (a tree from before solver/allocator.py: the C library's)
    from solver.allocator import restart_with_mimalloc
    restart_with_mimalloc()
except ImportError:
    pass
time.perf_counter = time.process_time  # the engine's own timings in CPU seconds too: a busy machine queues
from solver.batch import Job, run
from solver.engine import Engine
from solver.reading import read_file
eng = Engine()
records = list(read_file(sys.argv[1]))[:int(sys.argv[2])]
n = len(records)
clock = time.process_time
t0 = clock()
for rec in records:
    rec.resolve()
t1 = clock()
answers = run(Job(eng, form="json"), records, 1)
t2 = clock()
text = "".join(a.result + "\n" for a in answers)
t3 = clock()
tm = eng.timings
solve = t2 - t1
out = {"read+validate": t1 - t0, "facts": tm.facts, "ground": tm.ground, "solve": tm.solve, "result": tm.explain,
       "batch other": solve - tm.facts - tm.ground - tm.solve - tm.explain, "write": t3 - t2}
print(json.dumps({k: round(1e6 * v / n, 1) for k, v in out.items()}))
'''

def rss_of_command(cmd: list[str], tree: Path, every: float = 0.5) -> dict:
    """Peak resident sets (MiB, the kernel's high-water mark VmHWM) of a command (the parent) and of its largest
    child (a worker), read from /proc every `every` seconds while it runs."""
    def peak(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as f:
                return next(int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")) / 1024
        except (OSError, StopIteration):
            return 0.0

    def children(pid: int) -> list[int]:
        try:
            with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    proc = subprocess.Popen(cmd, env=_env(tree), cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = worker = 0.0
    workers: set[int] = set()
    t0 = time.perf_counter()
    while proc.poll() is None:
        parent = max(parent, peak(proc.pid))
        kids = children(proc.pid)
        workers.update(kids)
        worker = max([worker] + [peak(c) for c in kids])
        time.sleep(every)
    return {"seconds": round(time.perf_counter() - t0, 1), "parent_peak_mib": round(parent, 1),
            "worker_peak_mib": round(worker, 1), "workers": len(workers)}


def _env(tree: Path, **extra: str) -> dict:
    return dict(os.environ, PYTHONPATH=str(tree), **extra)


def timed(cmd: list[str], tree: Path, out_path: Path | None = None, **env: str) -> tuple[float, float]:
    """(wall, cpu) seconds of a command and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    with open(out_path or os.devnull, "wb") as out:
        subprocess.run(cmd, env=_env(tree, **env), cwd=tree, stdout=out, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_pair(values: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="another payerkb checkout (default: a worktree of main)")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--phases", type=int, default=2000, help="encounters profiled on one core (0: skip)")
    ap.add_argument("--rss", type=int, default=0, help="encounters for the memory figure (e.g. 100000; 0: skip)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="payerkb-bench-"))
    baseline, made = args.baseline, False
    if baseline is None:
        baseline = work / "main"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(baseline), "main"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        made = True
    try:
        report(args, work, baseline.resolve())
    finally:
        if made:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(baseline)], check=False)


def report(args, work: Path, baseline: Path) -> None:
    data = work / "varied.jsonl"
    data.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in varied_encounters(args.n, 1)), encoding="utf-8")
    one = work / "one.yaml"
    enc = dict(varied_encounters(1, 2)[0])
    import yaml
    one.write_text(yaml.safe_dump(enc, sort_keys=False), encoding="utf-8")
    py = sys.executable
    trees = {"this": HERE, "baseline": baseline}
    batch: dict[str, list] = {k: [] for k in trees}
    cold: dict[str, list] = {k: [] for k in trees}
    cold["this, no policies cache"] = []
    for tree in trees.values():  # compiled, caches written: a cold start as an installed payerkb meets it
        subprocess.run([py, "-m", "compileall", "-q", str(tree / "solver")], stdout=subprocess.DEVNULL, check=False)
        timed([py, "-m", "solver", "check", str(one)], tree)
    for _ in range(args.runs):  # taking turns: a drift of the machine's speed hits both
        for name, tree in trees.items():
            batch[name].append(timed([py, "-m", "solver", "check", str(data), "--format", "json"], tree, work / f"{name}.jsonl"))
            for _ in range(3):
                cold[name].append(timed([py, "-m", "solver", "check", str(one)], tree))
        for _ in range(3):
            cold["this, no policies cache"].append(timed([py, "-m", "solver", "check", str(one)], HERE,
                                                         PAYERKB_POLICY_CACHE="off"))
    print(f"{'figure':38s} {'this':>10s} {'baseline':>10s} {'ratio':>6s}")
    if args.runs:
        figures(args, work, batch, cold)
    phases_and_memory(args, work, data, trees)


def figures(args, work: Path, batch: dict, cold: dict) -> None:
    same = (work / "this.jsonl").read_bytes() == (work / "baseline.jsonl").read_bytes()
    print(f"batch of {args.n} varied encounters, {args.runs} runs each; outputs byte-identical: {same}")
    bw, bc = (median_pair(batch[k]) for k in ("this", "baseline"))
    rows = [("batch wall s", bw[0], bc[0]), ("batch cpu s", bw[1], bc[1]),
            ("batch encounters / wall s", args.n / bw[0], args.n / bc[0]),
            ("batch encounters / cpu s", args.n / bw[1], args.n / bc[1])]
    cw, cc, cn = (median_pair(cold[k]) for k in ("this", "baseline", "this, no policies cache"))
    rows += [("cold start wall s (one encounter)", cw[0], cc[0]), ("cold start cpu s", cw[1], cc[1]),
             ("cold start wall s, no policies cache", cn[0], cc[0]), ("cold start cpu s, no policies cache", cn[1], cc[1])]
    for label, a, b in rows:
        print(f"{label:38s} {a:10.3f} {b:10.3f} {ratio(a, b):>6s}")


def phases_and_memory(args, work: Path, data: Path, trees: dict) -> None:
    py = sys.executable
    if args.phases:
        got = {}
        for name, tree in trees.items():
            p = subprocess.run([py, "-c", _PHASES, str(data), str(args.phases)], env=_env(tree), cwd=tree,
                               capture_output=True, text=True, check=True)
            got[name] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"phases, one core, first {args.phases} encounters (us an encounter, CPU):")
        for k in got["this"]:
            print(f"  {k:36s} {got['this'][k]:10.1f} {got['baseline'][k]:10.1f} {ratio(got['this'][k], got['baseline'][k]):>6s}")
        tt, tb = sum(got["this"].values()), sum(got["baseline"].values())
        print(f"  {'total':36s} {tt:10.1f} {tb:10.1f} {ratio(tt, tb):>6s}")
    if args.rss:
        big = work / "rss.jsonl"
        big.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in varied_encounters(args.rss, 3)), encoding="utf-8")
        got = rss_of_command([py, "-m", "solver", "check", str(big), "--format", "json"], HERE)
        print(f"memory of `payerkb check` over {args.rss} varied encounters (this tree, JSON Lines, every core):", json.dumps(got))


if __name__ == "__main__":
    main()
