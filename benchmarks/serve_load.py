#!/usr/bin/env python
"""Load on `emodraw serve`: a bounded number of POST /predict requests, a fixed number in flight,
against 127.0.0.1 only. By default it starts the server itself twice -- request batching on and
off -- so the effect of batching is measured in the same run, not assumed.

    python benchmarks/serve_load.py --model EXPORT_OR_CHECKPOINT [--requests 5000] [--concurrency 32]
    python benchmarks/serve_load.py --url http://127.0.0.1:8000 --requests 1000   # a server already running
    python benchmarks/serve_load.py --model CHECKPOINT --batching on --requests 50000 --memory
    python benchmarks/serve_load.py --model RUN --backends pytorch,onnx --mix --memory   # 64 clients, mixed load

Every request is one test sentence ({"text"}) unless --mix gives a mix of request kinds, drawn with a
fixed seed (--seed) so that two runs, and the servers of one run, get the same sequence of requests:
    single     {"text": t}
    inputs     {"inputs": t}  (the Hugging Face Inference API shape)
    batchN     {"texts": [N texts]}, N from 1 to 64 (batch32: 32 texts)
    explain    {"text": t, "parameters": {"explain": true}}  (the model scores ~words + 1 texts)
--mix alone is DEFAULT_MIX, 64 clients in flight, each server with its own batching default.

--backends pytorch,onnx with a run or checkpoint folder also exports it to ONNX int8 in a temporary
folder (emodraw.export, parity check included, not timed) and runs the same load against a server of
each, printing both and the ratio ONNX int8 / PyTorch.

Prints, per server and per request kind: requests sent, requests/s and texts scored/s (answered ones), latency
p50/p95/p99 of the answered requests, 429s (the documented refusal above --max-in-flight, counted apart)
and other errors -- a status other than 200 and 429, a connection failure, or a 200 whose body does not
have the request's shape -- which must be 0: the exit status is 1 otherwise. With --memory, also the
server's resident memory (RSS, psutil on the server's pid) after a warm-up of --warmup requests (the same
mix), at its peak during the run and after it, and whether it stayed flat within 10 % of the warm-up
figure; the exit status is 1 if it did not. The last line is the whole result as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlparse

FLAT = 0.10  # "flat": the RSS after the run within 10 % of the RSS after warm-up
# 5,000 requests of this mix are ~26,000 texts scored (a batch32 request is 32 of them, an explain request
# ~20): a few minutes per backend on a quiet 2-core CPU, client included, while every kind still gets a
# few hundred requests for its p99 (benchmarks/README.md).
DEFAULT_MIX = "single=0.85,batch32=0.10,explain=0.05"
MAX_BATCH = 64  # the server's most texts per request (emodraw.serve.validation.MAX_TEXTS)
JSON_HEADERS = {"Content-Type": "application/json"}
BACKENDS = ("pytorch", "onnx")
RATIO_BATCHING = {"on": "batching on", "off": "batching off", "server": "each server's batching default"}


def texts_from_test() -> list[str]:
    from emodraw.data.splits import bundled_data_dir

    return [line.rsplit(";", 1)[0] for line in (bundled_data_dir() / "test.txt").read_text().splitlines()]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


# --- what is sent -----------------------------------------------------------------------------------------


def parse_mix(spec: str) -> dict[str, float]:
    """ "single=0.85,batch32=0.10,explain=0.05" -> {kind: weight}; weights need not add up to 1."""
    mix: dict[str, float] = {}
    for part in spec.split(","):
        kind, sep, weight = part.strip().partition("=")
        if not sep:
            raise SystemExit(f"--mix {spec!r}: {part!r} is not KIND=WEIGHT")
        size = re.fullmatch(r"batch(\d+)", kind)
        if kind not in ("single", "inputs", "explain") and not (size and 1 <= int(size.group(1)) <= MAX_BATCH):
            raise SystemExit(f"--mix: unknown kind {kind!r} (single, inputs, explain, batch1 .. batch{MAX_BATCH})")
        try:
            mix[kind] = float(weight)
        except ValueError:
            raise SystemExit(f"--mix: {kind}={weight!r} is not a number") from None
        if not (math.isfinite(mix[kind]) and mix[kind] >= 0):
            raise SystemExit(f"--mix: {kind}={weight}: weights are finite and >= 0")
    if sum(mix.values()) <= 0:
        raise SystemExit(f"--mix {spec!r}: all weights are 0")
    return {kind: weight for kind, weight in mix.items() if weight > 0}


def plan(texts: list[str], mix: dict[str, float], n: int, seed: int) -> list[tuple[str, bytes, int]]:
    """`n` requests drawn from `mix` with `seed`: (kind, JSON body, what the answer must hold -- texts for a
    batch, words for an explanation)."""
    rng = random.Random(seed)
    kinds = rng.choices(list(mix), weights=list(mix.values()), k=n)
    requests = []
    for kind in kinds:
        if kind.startswith("batch"):
            batch = rng.choices(texts, k=int(kind[len("batch") :]))
            requests.append((kind, json.dumps({"texts": batch}).encode(), len(batch)))
            continue
        text = rng.choice(texts)
        if kind == "explain":
            body = {"text": text, "parameters": {"explain": True}}
        else:
            body = {"inputs": text} if kind == "inputs" else {"text": text}
        requests.append((kind, json.dumps(body).encode(), len(text.split()) if kind == "explain" else 1))
    return requests


def texts_scored(kind: str, expect: int) -> int:
    """The texts the model scores for a request: N for batchN, words + 1 for explain (occlusion), else 1."""
    return expect if kind.startswith("batch") else expect + 1 if kind == "explain" else 1


def shape_problem(kind: str, expect: int, answer) -> str | None:
    """Why a 200 answer does not fit its request (emodraw.serve.schemas), or None."""
    if kind == "inputs":
        ok = isinstance(answer, list) and len(answer) == 1 and isinstance(answer[0], list) and answer[0]
        return None if ok else "not [[{label, score}, ...]]"
    if kind.startswith("batch"):
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != expect:
            return f"not {{'results': [{expect} predictions]}}"
        return None if all(isinstance(r, dict) and "label" in r for r in results) else "a result without a label"
    if not isinstance(answer, dict) or "label" not in answer or "scores" not in answer:
        return "not {label, scores, truncated}"
    if kind == "explain":
        explanation = answer.get("explanation")
        if not isinstance(explanation, list) or len(explanation) != expect:
            return f"no explanation of {expect} words"
    return None


# --- the load ---------------------------------------------------------------------------------------------


class Tally:
    """What came back, per request kind: latencies of the answered requests, 429s, other errors."""

    def __init__(self):
        self.latencies: dict[str, list[float]] = {}
        self.texts: Counter = Counter()
        self.sent: Counter = Counter()
        self.refused: Counter = Counter()  # 429
        self.errors: Counter = Counter()
        self.problems: Counter = Counter()  # (kind, what went wrong) -> how often

    def record(self, kind: str, expect: int, ms: float, status: int | None, problem: str | None) -> None:
        self.sent[kind] += 1
        if problem is not None:
            self.errors[kind] += 1
            self.problems[(kind, problem)] += 1
        elif status == 429:
            self.refused[kind] += 1
        else:
            self.latencies.setdefault(kind, []).append(ms)
            self.texts[kind] += texts_scored(kind, expect)


async def requests_of(client, url: str, requests, numbers, tally: Tally) -> None:
    import httpx

    for i in numbers:
        kind, body, expect = requests[i]
        start = time.perf_counter()
        status, problem = None, None
        try:
            response = await client.post(url + "/predict", content=body, headers=JSON_HEADERS)
            status = response.status_code
            if status == 200:
                problem = shape_problem(kind, expect, response.json())
            elif status != 429:
                problem = f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {str(exc)[:200]}"
        except ValueError:  # a 200 whose body is not JSON
            problem = "a 200 answer that is not JSON"
        tally.record(kind, expect, (time.perf_counter() - start) * 1000, status, problem)


async def load(url: str, requests: list, warmup: int, concurrency: int, timeout_s: float, pid=None) -> dict:
    """Run requests[:warmup] (not counted), then the rest, `concurrency` at a time."""
    import httpx

    tally, memory = Tally(), {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:
        await client.post(url + "/predict", json={"text": "warm up"})
        if warmup:  # the same load, not counted: the server meets its batch shapes here
            numbers = iter(range(warmup))
            await asyncio.gather(*(requests_of(client, url, requests, numbers, Tally()) for _ in range(concurrency)))
        if pid is not None:
            memory["warm"] = memory["peak"] = rss_mb(pid)
        numbers = iter(range(warmup, len(requests)))
        workers = [requests_of(client, url, requests, numbers, tally) for _ in range(concurrency)]
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
        memory["change"] = (memory["after"] - memory["warm"]) / memory["warm"]
        memory["flat"] = abs(memory["after"] - memory["warm"]) <= FLAT * memory["warm"]
    return summarise(tally, seconds, memory)


def percentile(ordered: list[float], f: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(f * len(ordered)))] if ordered else None


def figures(sent: int, latencies: list[float], texts: int, refused: int, errors: int, seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": sent,
        "answered": len(ordered),
        "rps": len(ordered) / seconds,
        "texts_per_s": texts / seconds,
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "429": refused,
        "errors": errors,
    }


def summarise(tally: Tally, seconds: float, memory: dict) -> dict:
    kinds = {
        kind: figures(
            tally.sent[kind],
            tally.latencies.get(kind, []),
            tally.texts[kind],
            tally.refused[kind],
            tally.errors[kind],
            seconds,
        )
        for kind in sorted(tally.sent)
    }
    every = [ms for kind in tally.latencies for ms in tally.latencies[kind]]
    total = figures(
        sum(tally.sent.values()),
        every,
        sum(tally.texts.values()),
        sum(tally.refused.values()),
        sum(tally.errors.values()),
        seconds,
    )
    problems = [{"kind": k, "problem": p, "count": c} for (k, p), c in tally.problems.most_common(5)]
    return {"seconds": seconds, "all": total, "kinds": kinds, "problems": problems, "memory": memory}


# --- the servers ------------------------------------------------------------------------------------------


def backend_of(model: Path) -> str:
    from emodraw.inference.onnx_runtime import is_export

    return "onnx" if is_export(model) else "pytorch"


def backend_label(backend: str, model: Path) -> str:
    if backend == "pytorch":
        return "PyTorch"
    from emodraw.checkpoint_integrity import EXPORT_META
    from emodraw.inference.onnx_runtime import INT8_FILE

    try:
        default = json.loads((model / EXPORT_META).read_text()).get("default")
    except (OSError, ValueError, AttributeError):
        default = None
    return "ONNX int8" if default == INT8_FILE else "ONNX fp32" if default else "ONNX"


def export_int8(checkpoint: Path, folder: Path) -> Path:
    from emodraw.errors import EmodrawError
    from emodraw.export import export

    out = folder / "onnx-int8"
    started = time.perf_counter()
    try:
        export(checkpoint, out, int8=True, log=lambda line: print(f"export: {line}", flush=True))
    except EmodrawError as exc:
        raise SystemExit(f"export to ONNX int8 failed: {exc}") from None
    print(f"export: {checkpoint} -> ONNX int8 in {time.perf_counter() - started:.0f} s (not timed)", flush=True)
    return out


def start_server(model: Path, window_ms: float | None, max_in_flight: int):
    from emodraw.serve import spawn_server

    window = [] if window_ms is None else ["--batch-window-ms", f"{window_ms:g}"]
    try:
        return spawn_server(model, *window, "--max-in-flight", str(max_in_flight), timeout_s=180)
    except RuntimeError as exc:
        raise SystemExit(f"server failed: {exc}") from None


def health(url: str) -> dict:
    import httpx

    try:
        answer = httpx.get(url + "/health", timeout=10).json()
        return answer if isinstance(answer, dict) else {}
    except (httpx.HTTPError, ValueError):
        return {}


def batching_label(key: str, window_ms: float | None, health_answer: dict) -> str:
    if key == "off":
        return "batching off"
    if key == "on":
        return f"batching on ({window_ms:g} ms window)"
    window = health_answer.get("batch_window_ms")  # the server's own default for its backend
    if window is None:
        return "server's batching default"
    return f"server's default: batching {'off' if not window else f'on ({window:g} ms window)'}"


# --- command line -----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--model", help="checkpoint, run or export folder: start servers for it")
    where.add_argument("--url", help="an already running server on 127.0.0.1")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument(
        "--mix",
        nargs="?",
        const=DEFAULT_MIX,
        help=f"request kinds and weights, KIND=W,... (alone: {DEFAULT_MIX}); default: single=1",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the requests' kinds and texts")
    p.add_argument(
        "--backends",
        help="with --model: pytorch, onnx or pytorch,onnx (onnx of a run or checkpoint: exported to int8 first); "
        "default: the model's own",
    )
    p.add_argument("--concurrency", type=int, help="requests in flight (default: 64 with --mix, else 32)")
    p.add_argument(
        "--max-in-flight",
        type=int,
        default=64,
        help="with --model: the servers' --max-in-flight, above which they answer 429 (default 64)",
    )
    p.add_argument("--batch-window-ms", type=float, default=2.0, help="the window of --batching on")
    p.add_argument(
        "--batching",
        choices=("both", "on", "off", "server"),
        help="with --model: which servers; server = the server's default for its backend "
        "(default: both, or server with --mix or --backends)",
    )
    p.add_argument("--memory", action="store_true", help="report the server's RSS; exit 1 unless flat within 10 %%")
    p.add_argument(
        "--warmup", type=int, help="requests not counted, before the run (default: 1000 with --memory, else 0)"
    )
    p.add_argument("--server-pid", type=int, help="with --url and --memory: the pid of that server")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request before it counts as an error")
    args = p.parse_args(argv)
    mix = parse_mix(args.mix or "single=1")
    if args.concurrency is None:
        args.concurrency = 64 if args.mix else 32
    if args.batching is None:
        args.batching = "server" if args.mix or args.backends else "both"
    if args.warmup is None:
        args.warmup = 1000 if args.memory else 0
    if args.requests + args.warmup > 100_000 or args.concurrency > 256 or min(args.requests, args.concurrency) < 1:
        raise SystemExit("bounded by design: at most 100,000 requests (warm-up included) and 256 in flight")
    if args.warmup < 0 or args.max_in_flight < 1:
        raise SystemExit("--warmup >= 0 and --max-in-flight >= 1")
    if args.memory and args.url and args.server_pid is None:
        raise SystemExit("--memory with --url needs --server-pid")
    if args.url and args.backends:
        raise SystemExit("--backends needs --model: the servers are started here")
    texts = texts_from_test()
    requests = plan(texts, mix, args.warmup + args.requests, args.seed)
    run = lambda url, pid: asyncio.run(  # noqa: E731
        load(url, requests, args.warmup, args.concurrency, args.timeout, pid if args.memory else None)
    )
    results = {}
    if args.url:
        if urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit("only 127.0.0.1 / localhost: this is a load generator")
        url = args.url.rstrip("/")
        backend = health(url).get("backend")
        name = f"given server ({backend})" if backend else "given server"
        results[name] = {"backend": backend, "label": name, "batching": None, **run(url, args.server_pid)}
    else:
        with ExitStack() as stack:
            servers = servers_to_run(args, stack)
            for backend, label, model, key in servers:
                window = {"on": args.batch_window_ms, "off": 0.0, "server": None}[key]
                proc, url = start_server(model, window, args.max_in_flight)
                try:
                    name = f"{label}, {batching_label(key, window, health(url))}"
                    print(f"load: {name} ...", flush=True)
                    results[name] = {"backend": backend, "label": label, "batching": key, **run(url, proc.pid)}
                    if results[name]["all"]["errors"]:
                        tail = proc.output().strip().splitlines()[-5:]
                        results[name]["server_log_tail"] = tail
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=10)
    report(args, mix, texts, requests, results)
    failed = any(r["all"]["errors"] for r in results.values())
    return 1 if failed or (args.memory and not all(r["memory"]["flat"] for r in results.values())) else 0


def servers_to_run(args, stack: ExitStack) -> list[tuple[str, str, Path, str]]:
    """(backend, label, model folder, batching key) per server to start, exporting to ONNX int8 if asked."""
    model = Path(args.model)
    own = backend_of(model)
    wanted = [b.strip() for b in (args.backends or own).split(",") if b.strip()]
    if not wanted or any(b not in BACKENDS for b in wanted) or len(set(wanted)) != len(wanted):
        raise SystemExit(f"--backends {args.backends}: pytorch, onnx or pytorch,onnx")
    if own == "onnx" and "pytorch" in wanted:
        raise SystemExit(f"--backends pytorch: {model} is an ONNX export; give a run or checkpoint folder")
    models = {own: model}
    if own == "pytorch" and "onnx" in wanted:  # exported before any server starts, so no server waits on it
        models["onnx"] = export_int8(model, Path(stack.enter_context(tempfile.TemporaryDirectory())))
    keys = ("on", "off") if args.batching == "both" else (args.batching,)
    return [(b, backend_label(b, models[b]), models[b], key) for b in wanted for key in keys]


# --- the report -------------------------------------------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(args, mix: dict, texts: list[str], requests: list, results: dict) -> None:
    from emodraw.hardware import cpu_name

    counted = requests[args.warmup :]
    explains = [expect for kind, _, expect in counted if kind == "explain"]
    print(
        f"\nmachine: {cpu_name()}, {os.cpu_count()} CPU threads (client and server share them); "
        f"model: {args.model or args.url}"
    )
    mix_text = ", ".join(f"{kind} {weight / sum(mix.values()):.0%}" for kind, weight in mix.items())
    print(
        f"{args.requests} requests after {args.warmup} of warm-up, {args.concurrency} in flight"
        + ("" if args.url else f", servers started with --max-in-flight {args.max_in_flight}")
    )
    print(
        f"requests: {mix_text} (seed {args.seed}), texts from the bundled test split ({len(texts)} sentences, "
        f"{sum(len(t.split()) for t in texts) / len(texts):.1f} words on average)"
    )
    if explains:
        print(
            f"explain requests: {sum(explains) / len(explains):.1f} words on average, so the model scores "
            f"{sum(explains) / len(explains) + 1:.1f} texts for each"
        )
    print(
        "requests/s and texts scored/s (explain: words + 1) count answered requests, latencies are theirs; "
        "429s apart\n"
    )
    print("| server | requests | requests/s | texts scored/s | p50 ms | p95 ms | p99 ms | 429s | other errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, r in results.items():
        rows = [("all", r["all"])] + ([(k, v) for k, v in r["kinds"].items()] if len(r["kinds"]) > 1 else [])
        for kind, f in rows:
            name = label if kind == "all" else f"... {kind}"
            print(
                f"| {name} | {f['requests']} | {f['rps']:.1f} | {f['texts_per_s']:.0f} | {ms(f['p50'])} | "
                f"{ms(f['p95'])} | {ms(f['p99'])} | {f['429']} | {f['errors']} |"
            )
    for label, r in results.items():
        for problem in r["problems"]:
            print(f"error ({label}, {problem['kind']}, {problem['count']}x): {problem['problem']}")
        for line in r.get("server_log_tail", []):
            print(f"server log ({label}): {line}")
    ratios = backend_ratios(results)
    if ratios:
        onnx = next(r["label"] for r in results.values() if r["backend"] == "onnx")
        print(f"\n| {onnx} / PyTorch | requests/s | p50 | p95 | p99 |")
        print("|---|---|---|---|---|")
        for row in ratios:
            rps = "-" if row["rps"] is None else f"{row['rps']:.2f}"
            print(f"| {row['what']} | {rps} | {row['p50']:.2f} | {row['p95']:.2f} | {row['p99']:.2f} |")
    if args.memory:
        print(f"\n| server | RSS after warm-up MB | peak MB | after the run MB | change | flat within {FLAT:.0%} |")
        print("|---|---|---|---|---|---|")
        for label, r in results.items():
            m = r["memory"]
            flat = "yes" if m["flat"] else "NO"
            print(f"| {label} | {m['warm']:.0f} | {m['peak']:.0f} | {m['after']:.0f} | {m['change']:+.1%} | {flat} |")
    settings = {k: getattr(args, k) for k in ("model", "url", "requests", "warmup", "concurrency", "seed")}
    settings.update(mix=mix, max_in_flight=None if args.url else args.max_in_flight)
    print(json.dumps({"settings": settings, "results": results, "onnx_vs_pytorch": ratios}))


def backend_ratios(results: dict) -> list[dict]:
    """ONNX / PyTorch, overall and per kind, for each batching setting both backends ran with. Per kind the
    latencies only: both servers got the same requests, so a kind's requests/s ratio is the overall one."""
    by = {(r["backend"], r["batching"]): r for r in results.values()}
    rows = []
    for key in dict.fromkeys(r["batching"] for r in results.values()):
        torch_run, onnx_run = by.get(("pytorch", key)), by.get(("onnx", key))
        if torch_run is None or onnx_run is None or key is None:
            continue
        pairs = [("all", torch_run["all"], onnx_run["all"])]
        pairs += [(k, v, onnx_run["kinds"][k]) for k, v in torch_run["kinds"].items() if k in onnx_run["kinds"]]
        for kind, a, b in pairs if len(torch_run["kinds"]) > 1 else pairs[:1]:
            if not (a["answered"] and b["answered"]):
                continue
            rps = b["rps"] / a["rps"] if kind == "all" else None
            rows.append({"what": f"{kind} requests, {RATIO_BATCHING[key]}", "rps": rps} | ratio_of(a, b))
    return rows


def ratio_of(a: dict, b: dict) -> dict:
    return {q: b[q] / a[q] for q in ("p50", "p95", "p99")}


if __name__ == "__main__":
    sys.exit(main())
