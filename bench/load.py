"""Load script (not a test): `payerkb serve` on 127.0.0.1 under 2,000 single-check requests at 8 concurrent,
then 20 malformed requests of each kind, each of which must be a 4xx problem detail.

    python bench/load.py [--requests 2000] [--concurrency 8] [--workers 2] [--url http://127.0.0.1:8080]
    python bench/load.py --varied --requests 100000 --workers 1     # the workers' memory over varied traffic

Without --url it starts `python -m solver serve` on a free port (decision log to a temporary file) and stops
it at the end. Prints p50 / p99 latency, throughput, the 5xx count and the malformed-request table, and writes
bench/out/load.json. Exits 1 when any request is a 5xx or any malformed request is not a 4xx problem.

--varied: the requests are varied encounters (bench/varied.py, a new seed each thousand: nearly every one a new
shape, the worst case of a worker's memory) in place of the bundled examples. The solver workers' peak resident
set (VmHWM, read from /proc every second while the service runs) is reported, with the number of worker
processes seen (a recycle of the pool replaces them) and the peak after each tenth of the requests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))
JSON = {"content-type": "application/json"}


def malformed() -> dict[str, dict]:
    """name -> the request (method, path, body, headers, params)."""
    enc = EXAMPLES[0]
    return {
        "not JSON": dict(content=b'{"id": "x", ', headers=JSON),
        "empty body": dict(content=b"", headers=JSON),
        "not UTF-8": dict(content=b'{"id": "\xff"}', headers=JSON),
        "missing field": dict(json={k: v for k, v in enc.items() if k != "date_of_service"}),
        "bad code": dict(json=dict(enc, diagnoses=["not-a-code"])),
        "unknown payer": dict(json=dict(enc, payer="nobody")),
        "unknown key": dict(json=dict(enc, colour="red")),
        "what-if date not a date": dict(json=enc, params={"date": "2024-02-30"}),
        "unsupported media type": dict(content=b"a,b", headers={"content-type": "text/csv"}),
        "X12 no reader takes": dict(content=b"hello", headers={"content-type": "application/edi-x12"}),
        "body too large": dict(content=b"[" + b" " * 6_000_000 + b"]", headers=JSON),
        "too many records": dict(json=[dict(enc, id=f"m{n}") for n in range(1001)]),
        "nested too deep": dict(content=b'{"id": "deep", "payer": "medicare-cgs", "date_of_service": "2024-06-10", '
                                        b'"injections": ' + b"[" * 3000 + b"]" * 3000 + b"}", headers=JSON),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    log = Path(tempfile.mkdtemp()) / "decisions.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "solver", "serve", "--port", str(port), "--workers", str(workers),
                             "--decision-log", str(log)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not become ready")


def _varied(n: int):
    """n varied encounters, a thousand a seed (made as they are asked for: 100,000 are not held at once)."""
    from varied import varied_encounters
    for seed in range(1000, 1000 + (n + 999) // 1000):
        yield from varied_encounters(min(1000, n - (seed - 1000) * 1000), seed=seed)


def _children(pid: int) -> list[int]:
    """The solver workers of the service: its child processes but multiprocessing's resource tracker."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) != pid:
                        continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"resource_tracker" not in f.read():
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class WorkerMemory:
    """The peak resident set of the service's worker processes (its children), sampled every second."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.peak: dict[int, float] = {}  # worker pid -> its VmHWM when last read

    def sample(self) -> None:
        for pid in _children(self.server_pid):
            mb = _hwm_mb(pid)
            if mb:
                self.peak[pid] = max(mb, self.peak.get(pid, 0.0))

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(1)

    def figures(self) -> dict:
        return {"worker_peak_mb": round(max(self.peak.values(), default=0.0), 1), "worker_processes_seen": len(self.peak)}


async def load(url: str, n: int, concurrency: int, varied: bool = False, memory: WorkerMemory | None = None) -> dict:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    bodies = _varied(n) if varied else (dict(EXAMPLES[k % len(EXAMPLES)], id=f"load-{k}") for k in range(n))
    done = [0]
    tenths: list[dict] = []

    async def worker(client: httpx.AsyncClient):
        for body in bodies:
            t0 = time.perf_counter()
            resp = await client.post("/v1/check", json=body)
            latencies.append(time.perf_counter() - t0)
            codes[resp.status_code] = codes.get(resp.status_code, 0) + 1
            done[0] += 1
            if memory is not None and done[0] % max(1, n // 10) == 0:
                memory.sample()
                tenths.append({"requests": done[0], **memory.figures()})

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await client.post("/v1/check", json=EXAMPLES[0])  # warm the connection and the workers
        sampler = asyncio.create_task(memory.run()) if memory is not None else None
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        if sampler is not None:
            sampler.cancel()
            memory.sample()
    latencies.sort()
    extra = {"varied": True, **memory.figures(), "by_tenth": tenths} if memory is not None else {}
    return {**extra, "requests": n, "concurrency": concurrency, "seconds": round(wall, 2),
            "throughput_per_s": round(n / wall, 1), "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
            "status": {str(k): v for k, v in sorted(codes.items())},
            "5xx": sum(v for k, v in codes.items() if k >= 500)}


def bad_requests(url: str, each: int) -> dict:
    out = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, req in malformed().items():
            req = dict(req)
            seen: dict[str, int] = {}
            ok = 0
            for _ in range(each):
                resp = client.post("/v1/check", **req)
                seen[str(resp.status_code)] = seen.get(str(resp.status_code), 0) + 1
                if 400 <= resp.status_code < 500 and resp.headers.get("content-type", "").startswith("application/problem+json"):
                    body = resp.json()
                    ok += bool(body.get("field")) and body.get("status") == resp.status_code
            out[name] = {"status": seen, "answered_as_expected": ok, "of": each}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--each", type=int, default=20, help="malformed requests of each kind")
    ap.add_argument("--url", help="a running service (default: start one)")
    ap.add_argument("--varied", action="store_true", help="varied encounters, and the workers' peak memory")
    args = ap.parse_args()
    if args.varied and args.url:
        ap.error("--varied reads the workers' memory of a service it starts: leave out --url")
    proc, url = (None, args.url) if args.url else start(args.workers)
    try:
        memory = WorkerMemory(proc.pid) if args.varied and proc is not None else None
        figures = asyncio.run(load(url, args.requests, args.concurrency, args.varied, memory))
        figures["workers"] = args.workers
        figures["malformed"] = bad_requests(url, args.each)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"{figures['requests']} single checks at {figures['concurrency']} concurrent, {args.workers} solver workers: "
          f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, {figures['throughput_per_s']} requests/s, "
          f"5xx: {figures['5xx']}, status {figures['status']}")
    if args.varied:
        print(f"varied encounters: the workers' peak resident set {figures['worker_peak_mb']} MB, "
              f"{figures['worker_processes_seen']} worker processes seen")
        for row in figures["by_tenth"]:
            print(f"  after {row['requests']:>7}: peak {row['worker_peak_mb']} MB, {row['worker_processes_seen']} processes")
    for name, m in figures["malformed"].items():
        print(f"  {name:26} {m['answered_as_expected']}/{m['of']} as expected, status {m['status']}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / ("load-varied.json" if args.varied else "load.json")).write_text(json.dumps(figures, indent=2) + "\n")
    bad = figures["5xx"] or any(m["answered_as_expected"] != m["of"] for m in figures["malformed"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
