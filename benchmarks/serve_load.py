#!/usr/bin/env python
"""Load on `emodraw serve`: a bounded number of POST /predict requests, a fixed number in flight,
against 127.0.0.1 only. By default it starts the server itself twice -- request batching on and
off -- so the effect of batching is measured in the same run, not assumed.

    python benchmarks/serve_load.py --model EXPORT_OR_CHECKPOINT [--requests 5000] [--concurrency 32]
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --requests 1000   # a server already running
    python benchmarks/serve_load.py --model CHECKPOINT --batching on --requests 50000 --memory

Prints, per configuration: requests/s, latency p50/p95/p99 and the number of errors (must be 0).
With --memory, also the server's resident memory (RSS, psutil on the server's pid) after a warm-up of
--warmup requests, at its peak during the run and after it, and whether it stayed flat within 10 % of
the warm-up figure; the exit status is 1 if it did not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from urllib.parse import urlparse

FLAT = 0.10  # "flat": the RSS after the run within 10 % of the RSS after warm-up


def texts_from_test() -> list[str]:
    from emodraw.data.splits import bundled_data_dir

    return [line.rsplit(";", 1)[0] for line in (bundled_data_dir() / "test.txt").read_text().splitlines()]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


async def requests_of(client, url: str, texts: list[str], numbers, latencies: list, errors: list) -> None:
    import httpx

    for i in numbers:
        start = time.perf_counter()
        try:
            response = await client.post(url + "/predict", json={"text": texts[i % len(texts)]})
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - start) * 1000)
        errors.append(not ok)


async def load(url: str, texts: list[str], requests: int, concurrency: int, warmup: int = 0, pid=None) -> dict:
    import httpx

    latencies, errors, memory = [], [], {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await client.post(url + "/predict", json={"text": "warm up"})
        if warmup:  # the same load, not counted: the server meets its batch shapes here
            numbers = iter(range(warmup))
            await asyncio.gather(*(requests_of(client, url, texts, numbers, [], []) for _ in range(concurrency)))
        if pid is not None:
            memory["warm"] = memory["peak"] = rss_mb(pid)
        numbers = iter(range(warmup, warmup + requests))
        workers = [requests_of(client, url, texts, numbers, latencies, errors) for _ in range(concurrency)]
        started = time.perf_counter()
        run = asyncio.gather(*workers)
        while pid is not None and not run.done():  # sample the server's memory once a second meanwhile
            await asyncio.wait([run], timeout=1.0)
            memory["peak"] = max(memory["peak"], rss_mb(pid))
        await run
        seconds = time.perf_counter() - started
    if pid is not None:
        memory["after"] = rss_mb(pid)
        memory["peak"] = max(memory["peak"], memory["after"])
        memory["flat"] = abs(memory["after"] - memory["warm"]) <= FLAT * memory["warm"]
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))]  # noqa: E731
    return {
        "requests": requests,
        "seconds": seconds,
        "rps": requests / seconds,
        "p50": statistics.median(latencies),
        "p95": q(0.95),
        "p99": q(0.99),
        "errors": sum(errors),
        "memory": memory,
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
    p.add_argument("--batching", choices=("both", "on", "off"), default="both", help="with --model: which servers")
    p.add_argument("--memory", action="store_true", help="report the server's RSS; exit 1 unless flat within 10 %%")
    p.add_argument(
        "--warmup", type=int, help="requests not counted, before the run (default: 1000 with --memory, else 0)"
    )
    p.add_argument("--server-pid", type=int, help="with --url and --memory: the pid of that server")
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = 1000 if args.memory else 0
    if args.requests > 100_000 or args.warmup > 100_000 or args.concurrency > 256:
        raise SystemExit("bounded by design: at most 100,000 requests (and warm-up) and 256 in flight")
    if args.memory and args.url and args.server_pid is None:
        raise SystemExit("--memory with --url needs --server-pid")
    texts = texts_from_test()
    results = {}
    run = lambda url, pid: asyncio.run(  # noqa: E731
        load(url, texts, args.requests, args.concurrency, args.warmup, pid if args.memory else None)
    )
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("only 127.0.0.1 / localhost: this is a load generator")
        results["given server"] = run(args.url.rstrip("/"), args.server_pid)
    else:
        configs = {"on": (f"batching on ({args.batch_window_ms:g} ms window)", args.batch_window_ms)}
        configs["off"] = ("batching off", 0.0)
        for key in ("on", "off") if args.batching == "both" else (args.batching,):
            label, window = configs[key]
            proc, url = start_server(args.model, window, max_in_flight=max(64, args.concurrency))
            try:
                results[label] = run(url, proc.pid)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    report(args, results)
    failed = any(r["errors"] for r in results.values())
    return 1 if failed or (args.memory and not all(r["memory"]["flat"] for r in results.values())) else 0


def report(args, results: dict) -> None:
    from emodraw.hardware import cpu_name

    print(
        f"\nmachine: {cpu_name()}, {os.cpu_count()} CPU threads (client and server share them); "
        f"model: {args.model or args.url}"
    )
    print(
        f"{args.requests} requests after {args.warmup} of warm-up, {args.concurrency} in flight, a test sentence each"
    )
    print()
    print("| server | requests/s | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for label, r in results.items():
        print(f"| {label} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} |")
    if args.memory:
        print(f"\n| server | RSS after warm-up MB | peak MB | after the run MB | change | flat within {FLAT:.0%} |")
        print("|---|---|---|---|---|---|")
        for label, r in results.items():
            m = r["memory"]
            change = (m["after"] - m["warm"]) / m["warm"]
            flat = "yes" if m["flat"] else "NO"
            print(f"| {label} | {m['warm']:.0f} | {m['peak']:.0f} | {m['after']:.0f} | {change:+.1%} | {flat} |")


if __name__ == "__main__":
    sys.exit(main())
