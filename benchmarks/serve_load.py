#!/usr/bin/env python
"""Load on `emodraw serve`: a bounded number of POST /predict requests, a fixed number in flight,
against 127.0.0.1 only. By default it starts the server itself twice -- request batching on and
off -- so the effect of batching is measured in the same run, not assumed.

    python benchmarks/serve_load.py --model EXPORT_OR_CHECKPOINT [--requests 5000] [--concurrency 32]
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --requests 1000   # a server already running

Prints, per configuration: requests/s, latency p50/p95/p99 and the number of errors (must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from urllib.parse import urlparse


def texts_from_test() -> list[str]:
    from emodraw.data.splits import bundled_data_dir

    return [line.rsplit(";", 1)[0] for line in (bundled_data_dir() / "test.txt").read_text().splitlines()]


async def load(url: str, texts: list[str], requests: int, concurrency: int) -> dict:
    import httpx

    latencies, errors = [], 0
    counter = iter(range(requests))

    async def worker(client):
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            try:
                response = await client.post(url + "/predict", json={"text": texts[i % len(texts)]})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - start) * 1000)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await client.post(url + "/predict", json={"text": "warm up"})
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))]  # noqa: E731
    return {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds,
        "p50": statistics.median(latencies),
        "p95": q(0.95),
        "p99": q(0.99),
        "errors": errors,
    }


def start_server(model: str, batch_window_ms: float, max_in_flight: int):
    from emodraw.serve import spawn_server

    try:
        return spawn_server(model, "--batch-window-ms", str(batch_window_ms), "--max-in-flight", str(max_in_flight))
    except RuntimeError as exc:
        raise SystemExit(f"server failed: {exc}") from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", help="checkpoint, run or export folder: start servers for it (batching on and off)")
    where.add_argument("--url", help="an already running server on 127.0.0.1")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--batch-window-ms", type=float, default=2.0)
    args = p.parse_args(argv)
    if args.requests > 100_000 or args.concurrency > 256:
        raise SystemExit("bounded by design: at most 100,000 requests and 256 in flight")
    texts = texts_from_test()
    results = {}
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("only 127.0.0.1 / localhost: this is a load generator")
        results["given server"] = asyncio.run(load(args.url.rstrip("/"), texts, args.requests, args.concurrency))
    else:
        for label, window in (
            (f"batching on ({args.batch_window_ms:g} ms window)", args.batch_window_ms),
            ("batching off", 0.0),
        ):
            proc, url = start_server(args.model, window, max_in_flight=max(64, args.concurrency))
            try:
                results[label] = asyncio.run(load(url, texts, args.requests, args.concurrency))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    from emodraw.hardware import cpu_name

    cpu = cpu_name()
    print(
        f"\nmachine: {cpu}, {os.cpu_count()} CPU threads (client and server share them); "
        f"model: {args.model or args.url}"
    )
    print(f"{args.requests} requests, {args.concurrency} in flight, one test sentence each\n")
    print("| server | requests/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    return 1 if any(r["errors"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
