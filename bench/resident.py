"""The resident engine beside today's engine, in the same run (a script, not a test; time on a shared machine
is noisy: read the ratios).

    python bench/resident.py [--reps 5] [--new 100] [--memory 3000] [--cap-mb 200]
    python bench/resident.py --only-memory --memory 100000 --seed 1000   # a worker's life: RSS every 10,000
    python bench/resident.py --only-whatif      # payerkb whatif and compare's rows: today's batch beside resident
    python bench/resident.py --only-missing     # explain --missing: today's overlay beside the resident search
    python bench/resident.py --only-traffic     # a service's traffic: programs built on first use or second sighting

- warm single check: the shipped cases, each answered once first, then --reps rounds over all of them;
  p50 / p99 of the resident engine and of solver.engine.Engine on the same encounters.
- new shape: varied encounters (bench/varied.py) seen for the first time (program built, then solved).
- what-if variant: a case answered, then the same encounter with one field changed (abn_on_file, a side,
  a diagnosis dropped, conservative-therapy weeks), each variant once, the cases' programs warmed again first
  (the new shapes measured before evict some of them).
- whatif command: `payerkb whatif` on every shipped case with its variants, today's batch beside a resident engine
  made for the call and a service worker's (first request, then the same encounter again); compare's rows.
- explain --missing: today's search beside the resident search programs (solver/resident/search.py), cold and warm.
- traffic: 2,000 single checks, half of them the shipped cases drawn at random, half varied encounters seen once,
  on a resident engine that builds a shape's program on first use and on one that waits for its second sighting.
- memory: the resident set size of a worker process over --memory varied encounters (new seeds, a thousand at a
  time; progress on stderr every 1,000) with the cache cap, and the growth per program built (the figure
  solver/resident/cache.py states).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from solver.allocator import in_use, restart_with_mimalloc  # noqa: E402

restart_with_mimalloc()  # on the allocator the command line and the service run on (PAYERKB_ALLOCATOR=system: the C library's)
sys.path.insert(0, str(ROOT / "tests"))

from resident_corpus import shipped_cases, varied_encounters  # noqa: E402
from solver.encounter import Encounter  # noqa: E402
from solver.engine import Engine  # noqa: E402
from solver.explain import build_result  # noqa: E402
from solver.resident import ResidentEngine  # noqa: E402
from solver.resident.cache import DEFAULT_CAP_MB  # noqa: E402
from solver.resident.shape import decode_atoms, encode  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


def timed(fn, encs) -> list[float]:
    out = []
    for e in encs:
        t0 = time.perf_counter()
        fn(e)
        out.append(time.perf_counter() - t0)
    return out


def variants(enc: Encounter) -> list[Encounter]:
    doc = enc.documentation
    out = [enc.model_copy(update={"documentation": doc.model_copy(update={"abn_on_file": not doc.abn_on_file})})]
    ct = doc.conservative_therapy
    out.append(enc.model_copy(update={"documentation": doc.model_copy(update={
        "conservative_therapy": ct.model_copy(update={"weeks": (ct.weeks or 0) + 3})})}))
    if enc.injections:
        inj = list(enc.injections)
        inj[0] = inj[0].model_copy(update={"side": "left" if inj[0].side != "left" else "right"})
        out.append(enc.model_copy(update={"injections": inj}))
    if len(enc.diagnoses) > 1 and not enc.claim:
        out.append(enc.model_copy(update={"diagnoses": enc.diagnoses[:-1]}))
    return out


def breakdown(res: ResidentEngine, cases: list[Encounter], reps: int) -> dict:
    """Median milliseconds of each step of a warm resident check."""
    steps: dict[str, list[float]] = {k: [] for k in ("encode", "lookup", "solve", "decode", "result", "fresh_check")}
    for _ in range(reps):
        for enc in cases:
            t0 = time.perf_counter()
            res._watch.changed()
            t1 = time.perf_counter()
            coded = encode(res.policies, enc)
            if coded is None:
                continue
            t2 = time.perf_counter()
            prog = res.cache.get(coded.shape)
            lits = prog.literals(coded.true)
            t3 = time.perf_counter()
            shown = prog.solve(lits)
            t4 = time.perf_counter()
            atoms = decode_atoms(shown, coded.decode)
            t5 = time.perf_counter()
            build_result(res.policies, enc, coded.ef, atoms)
            t6 = time.perf_counter()
            for k, v in zip(steps, (t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t1 - t0)):
                steps[k].append(v)
    return {k: round(statistics.median(v) * 1000, 3) for k, v in steps.items()}


def memory(n: int, cap_mb: int, every: int = 500, seed: int = 7, chunk: int = 1000) -> dict:
    """RSS of a process holding one ResidentEngine over n varied encounters answered one by one (a service
    worker's life). The encounters are drawn in chunks of `chunk` (seed, seed+1, ...: new seeds, and no list
    of n encounters held in memory); the resident set is read every `every` encounters."""
    import gc
    eng = ResidentEngine(cap_mb=cap_mb)
    start = rss_mb()
    marks, t0 = {}, time.perf_counter()
    peak = start
    i = 0
    for c in range(0, n, chunk):
        raws = varied_encounters(min(chunk, n - c), seed=seed + c // chunk)
        for raw in raws:
            i += 1
            eng.check(Encounter.model_validate(raw))
            if len(eng.cache) in (25, 50, eng.cache.max_programs) and len(eng.cache) not in marks:
                marks[len(eng.cache)] = rss_mb()
            if i % every == 0:
                marks[f"after_{i}"] = rss_mb()
            if i % 1000 == 0:  # progress on stderr (a long run can be read while it runs)
                now = rss_mb()
                peak = max(peak, now)
                print(json.dumps({"after": i, "rss_mb": round(now), "seconds": round(time.perf_counter() - t0),
                                  "programs": len(eng.cache), "evictions": eng.cache.evictions}),
                      file=sys.stderr, flush=True)
        del raws
        gc.collect()
    full = eng.cache.max_programs
    per = (marks[full] - marks[25]) / (full - 25) if full in marks and 25 in marks and full > 25 else None
    return {"encounters": n, "seconds": round(time.perf_counter() - t0, 1), "rss_after_load_mb": round(start),
            "rss_end_mb": round(rss_mb()), "rss_peak_sampled_mb": round(peak),
            "rss_marks_mb": {str(k): round(v) for k, v in marks.items()},
            "mb_per_program": round(per, 2) if per else None, **eng.stats()}


def whatif_figures(ref: Engine, cases: list[Encounter]) -> dict:
    """`payerkb whatif` on every shipped case with its variants (tests/resident_corpus.py whatif_sets: documentation
    flags, a muscle, a side, a diagnosis, another payer, another date), in the same run: today's (one batch of the
    baseline and its variants), the resident path of the command line (a ResidentEngine made for the call: the
    baseline's program built, then re-solved) and of a service worker (its programs warm from an earlier request);
    milliseconds a variant (the baseline's time shared among its variants). And compare's rows (the encounter for
    every payer: a rule set, so a program, each): one batch, or one resident check a row (cold, then warm)."""
    from resident_corpus import whatif_sets
    from solver.errors import InputError
    from solver.explore.common_claim import as_context
    from solver.explore.patching import parse_set, variants as make_variants
    from solver.explore.whatif import whatif
    payers = sorted(ref.policies.payers)
    jobs = []
    for enc in cases:
        found = []
        for s in whatif_sets(enc, payers):
            try:
                found += make_variants(enc, [parse_set(s)])
            except InputError:
                continue
        jobs.append((enc, found))
    # strategies: today's batch (the command line's); a resident engine made for one call (programs for shapes
    # shared by 2, or every shape); a service worker (programs for shapes shared by 2, or by 1: every shape, the
    # service's way), its first request on an encounter and the next one (the programs warm)
    strategies = {"today": (None, None), "one_call_2": (None, 2), "one_call_1": (None, 1),
                  "service_2": (ResidentEngine(reference=ref, watch=False), 2),
                  "service_1": (ResidentEngine(reference=ref, watch=False), 1)}
    times: dict[str, list[float]] = {}
    same = True
    n_var = 0
    for enc, found in jobs:
        answers = []
        for name, (eng, shared) in strategies.items():
            rounds = ("first", "again") if eng is not None else ("",)
            for r in rounds:
                t0 = time.perf_counter()
                if name == "today":
                    got = whatif(ref, enc, found, resident=False)
                else:
                    got = whatif(eng or ref, enc, found, min_shared=shared)
                times.setdefault(f"{name}_{r}".rstrip("_"), []).append((time.perf_counter() - t0) / len(found))
                answers.append(json.dumps(got))
        same &= len(set(answers)) == 1
        n_var += len(found)
    out = {"cases": len(jobs), "variants": n_var, "identical": same}
    for k, v in times.items():
        out[f"{k}_ms_per_variant_p50"] = round(statistics.median(v) * 1000, 2)
        out[f"{k}_s_total"] = round(sum(t * len(f) for t, (_e, f) in zip(v, jobs)), 2)
    rows_batch, rows_cold, rows_warm = [], [], []
    warm_rows = ResidentEngine(reference=ref, watch=False)
    for enc in cases[::4]:
        rows = [as_context(enc, p, enc.date_of_service) for p in payers]
        cold = ResidentEngine(reference=ref, watch=False)
        for r in rows:
            warm_rows.check(r)
        t0 = time.perf_counter()
        ref.check_many(rows)
        t1 = time.perf_counter()
        for r in rows:
            cold.check(r)
        t2 = time.perf_counter()
        for r in rows:
            warm_rows.check(r)
        t3 = time.perf_counter()
        rows_batch.append((t1 - t0) / len(rows))
        rows_cold.append((t2 - t1) / len(rows))
        rows_warm.append((t3 - t2) / len(rows))
    out["compare_rows"] = {"encounters": len(rows_batch), "rows_each": len(payers),
                           "batch_ms_per_row_p50": round(statistics.median(rows_batch) * 1000, 2),
                           "resident_cold_ms_per_row_p50": round(statistics.median(rows_cold) * 1000, 2),
                           "resident_warm_ms_per_row_p50": round(statistics.median(rows_warm) * 1000, 2)}
    return out


def missing_figures(ref: Engine, cases: list[Encounter]) -> dict:
    """`explain --missing` on every shipped case, in the same run: today's (a program grounded for the encounter,
    each fact a choice), on resident programs built for the call (the search program and the check program), and
    on a service worker's warm programs (the same encounter asked before); the answers compared byte for byte."""
    import solver.explore.missing as M
    before = dict(M.SEARCHED_ON)
    warm = ResidentEngine(reference=ref, watch=False)
    times: dict[str, list[float]] = {"today": [], "cold": [], "warm": []}
    same = True
    for enc in cases:
        t0 = time.perf_counter()
        a = M.missing(ref, enc, resident=False)
        t1 = time.perf_counter()
        b = M.missing(ResidentEngine(reference=ref, watch=False), enc)
        t2 = time.perf_counter()
        M.missing(warm, enc)
        t3 = time.perf_counter()
        c = M.missing(warm, enc)
        t4 = time.perf_counter()
        same &= json.dumps(a) == json.dumps(b) == json.dumps(c)
        for k, t in zip(times, (t1 - t0, t2 - t1, t4 - t3)):
            times[k].append(t)
    # each case is searched on the resident path three times (cold, then warm twice), and once today's way
    used = {k: M.SEARCHED_ON[k] - before.get(k, 0) for k in ("resident", "overlay")}
    out = {"cases": len(cases), "identical": same,
           "searched_on": {"resident": used["resident"] // 3, "overlay": (used["overlay"] - len(cases)) // 3}}
    for k, v in times.items():
        out[f"{k}_ms_p50"] = round(statistics.median(v) * 1000, 1)
        out[f"{k}_s_total"] = round(sum(v), 2)
    return out


def traffic_figures(cases: list[Encounter], n: int = 2000, routine: float = 0.5, seed: int = 5) -> dict:
    """A service's traffic: n single checks, a share `routine` of them the shipped cases drawn at random (shapes that
    come again), the others varied encounters seen once. The same stream on a resident engine that builds a shape's
    program on first use (admit_after=1) and on one that builds it on the second sighting (2, the service's)."""
    rnd = random.Random(seed)
    fresh = iter(Encounter.model_validate(r) for r in varied_encounters(n, seed=seed + 7000))
    stream = [("routine", rnd.choice(cases)) if rnd.random() < routine else ("once", next(fresh)) for _ in range(n)]
    out: dict = {"checks": n, "routine_share": routine}
    for admit in (1, 2):
        eng = ResidentEngine(watch=False, admit_after=admit)  # its own reference (pruned), as a service worker's
        times: dict[str, list[float]] = {"routine": [], "once": []}
        t_all = time.perf_counter()
        for kind, enc in stream:
            t0 = time.perf_counter()
            eng.check(enc)
            times[kind].append(time.perf_counter() - t0)
        st = eng.stats()
        out[f"admit_after_{admit}"] = {"seconds": round(time.perf_counter() - t_all, 2),
                                       "routine_p50_ms": round(pct(times["routine"], 50), 2),
                                       "once_p50_ms": round(pct(times["once"], 50), 2),
                                       "programs_built": st["misses"] - st["first_sightings"], "evictions": st["evictions"],
                                       "resident": st["resident"], "first_sightings": st["first_sightings"]}
    return out


def memory_child(n: int, cap_mb: int, every: int, seed: int) -> dict:
    """memory() in a process of its own (one worker's engine and nothing else); its progress on stderr."""
    child = subprocess.run([sys.executable, __file__, "--memory-only", str(n), str(cap_mb), str(every), str(seed)],
                           stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(child.stdout)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--memory-only":  # the child: --memory-only N CAP EVERY SEED
        n, cap, every, seed = (int(x) for x in sys.argv[2:6])
        print(json.dumps(memory(n, cap, every, seed)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--new", type=int, default=100)
    ap.add_argument("--memory", type=int, default=3000, help="varied encounters for the memory figure (0: skip)")
    ap.add_argument("--cap-mb", type=int, default=DEFAULT_CAP_MB)
    ap.add_argument("--every", type=int, default=0, help="read the resident set every N encounters (default: 500, "
                                                          "10,000 from 20,000 encounters)")
    ap.add_argument("--seed", type=int, default=7, help="first seed of the varied encounters (one seed per 1,000)")
    ap.add_argument("--only-memory", action="store_true", help="the memory figure alone")
    ap.add_argument("--only-whatif", action="store_true", help="the what-if and compare figures alone")
    ap.add_argument("--only-missing", action="store_true", help="the explain --missing figures alone")
    ap.add_argument("--only-traffic", action="store_true", help="the service-traffic figure alone (admission of programs)")
    args = ap.parse_args()
    if args.only_traffic:
        ref = Engine()
        print(json.dumps({"allocator": in_use(), **traffic_figures(shipped_cases(ref.policies))}, indent=1))
        return
    if args.only_missing:
        ref = Engine()
        print(json.dumps(missing_figures(ref, shipped_cases(ref.policies)), indent=1))
        return
    if args.only_whatif:
        ref = Engine()
        print(json.dumps(whatif_figures(ref, shipped_cases(ref.policies)), indent=1))
        return
    every = args.every or (10000 if args.memory >= 20000 else 500)
    if args.only_memory:
        print(json.dumps(memory_child(args.memory, args.cap_mb, every, args.seed), indent=1))
        return
    ref = Engine()  # today's engine, as a command runs it
    res = ResidentEngine(cap_mb=args.cap_mb)  # as a service worker has it: its own reference, pruned
    cases = shipped_cases(ref.policies)
    out: dict = {"allocator": in_use()}

    for e in cases:  # warm both
        res.check(e)
        ref.check(e)
    warm_res, warm_ref = [], []
    for _ in range(args.reps):
        warm_res += timed(res.check, cases)
        warm_ref += timed(ref.check, cases)
    out["warm"] = {"resident_p50_ms": pct(warm_res, 50), "resident_p99_ms": pct(warm_res, 99),
                   "engine_p50_ms": pct(warm_ref, 50), "engine_p99_ms": pct(warm_ref, 99), "checks": len(warm_res)}

    out["warm_breakdown_ms"] = breakdown(res, cases, args.reps)

    fresh = [Encounter.model_validate(r) for r in varied_encounters(args.new, seed=424242)]
    b0, n0 = res.build_seconds, res.cache.misses
    new_res = timed(res.check, fresh)
    new_ref = timed(ref.check, fresh)
    built = res.cache.misses - n0
    out["new_shape"] = {"resident_p50_ms": pct(new_res, 50), "engine_p50_ms": pct(new_ref, 50),
                        "build_mean_ms": (res.build_seconds - b0) / max(1, built) * 1000, "programs_built": built,
                        "encounters": len(fresh)}

    whatif = [(e, v) for e in cases for v in variants(e)]
    for e in cases:  # warm again: the new shapes above evicted programs of the cases (a variant of a warm encounter)
        res.check(e)
    w_res, w_ref = [], []
    for e, v in whatif:  # each engine in a loop of its own, as the warm checks are (a fresh Control of today's
        res.check(e)     # engine in between would leave the processor's caches cold for the next variant)
        t0 = time.perf_counter()
        res.check(v)
        w_res.append(time.perf_counter() - t0)
    for _e, v in whatif:
        t0 = time.perf_counter()
        ref.check(v)
        w_ref.append(time.perf_counter() - t0)
    out["what_if"] = {"resident_p50_ms": pct(w_res, 50), "resident_p99_ms": pct(w_res, 99),
                      "engine_p50_ms": pct(w_ref, 50), "variants": len(whatif)}

    # memory: in a process of its own (one worker's engine and nothing else), over varied encounters
    out["whatif_command"] = whatif_figures(ref, cases)
    out["explain_missing"] = missing_figures(ref, cases)
    if args.memory:
        out["memory"] = memory_child(args.memory, args.cap_mb, every, args.seed)
    for k in ("warm", "new_shape", "what_if"):
        d = out[k]
        d["ratio_p50"] = round(d["engine_p50_ms"] / d["resident_p50_ms"], 1)
        for f in list(d):
            if f.endswith("_ms"):
                d[f] = round(d[f], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
