"""Load script (not a test): `payerkb serve` on 127.0.0.1 under 2,000 single-check requests at 8 concurrent,
then 20 malformed requests of each kind, each of which must be a 4xx problem detail.

    python bench/load.py [--requests 2000] [--concurrency 8] [--workers 2] [--url http://127.0.0.1:8080]

Without --url it starts `python -m solver serve` on a free port (decision log to a temporary file) and stops
it at the end. Prints p50 / p99 latency, throughput, the 5xx count and the malformed-request table, and writes
bench/out/load.json. Exits 1 when any request is a 5xx or any malformed request is not a 4xx problem.
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


async def load(url: str, n: int, concurrency: int) -> dict:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue: asyncio.Queue = asyncio.Queue()
    for k in range(n):
        queue.put_nowait(dict(EXAMPLES[k % len(EXAMPLES)], id=f"load-{k}"))

    async def worker(client: httpx.AsyncClient):
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            resp = await client.post("/v1/check", json=body)
            latencies.append(time.perf_counter() - t0)
            codes[resp.status_code] = codes.get(resp.status_code, 0) + 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await client.post("/v1/check", json=EXAMPLES[0])  # warm the connection and the workers
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {"requests": n, "concurrency": concurrency, "seconds": round(wall, 2),
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
    args = ap.parse_args()
    proc, url = (None, args.url) if args.url else start(args.workers)
    try:
        figures = asyncio.run(load(url, args.requests, args.concurrency))
        figures["workers"] = args.workers
        figures["malformed"] = bad_requests(url, args.each)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"{figures['requests']} single checks at {figures['concurrency']} concurrent, {args.workers} solver workers: "
          f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, {figures['throughput_per_s']} requests/s, "
          f"5xx: {figures['5xx']}, status {figures['status']}")
    for name, m in figures["malformed"].items():
        print(f"  {name:26} {m['answered_as_expected']}/{m['of']} as expected, status {m['status']}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "load.json").write_text(json.dumps(figures, indent=2) + "\n")
    bad = figures["5xx"] or any(m["answered_as_expected"] != m["of"] for m in figures["malformed"].values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
