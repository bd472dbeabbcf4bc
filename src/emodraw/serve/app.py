"""HTTP API and the Emotion Draw page, on FastAPI + uvicorn.

    POST /predict  {"text": "..."}        -> {"label", "scores", "truncated"}
                   {"texts": ["...", ...]} -> {"results": [{"label", "scores", "truncated"}, ...]}
    GET  /health, GET /labels, GET / (the page), GET /docs and /openapi.json

Bad input never reaches the model: a body over 1 MB is 413; invalid JSON, a missing, non-string or
empty text, or more than 64 texts is 422 with a JSON error. When more requests are in flight than
the limit, a new one gets 429 at once (no unbounded queue). Requests that arrive together are run as
one batch (`batch_window_ms`), which benchmarks/serve_load.py measures against batching off.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline

MAX_BODY_BYTES = 1 << 20
MAX_TEXTS = 64


@dataclass
class ServeOptions:
    max_in_flight: int = 64
    # None = by backend: 2 ms for PyTorch, off for ONNX. Measured on a 2-core CPU (docs/PERFORMANCE.md):
    # batching raised PyTorch throughput by half, but lowered ONNX int8's, which runs one short
    # sentence as fast per sentence as a batch of 32.
    batch_window_ms: float | None = None
    max_batch: int = 64
    model_batch_size: int = 32
    max_body_bytes: int = MAX_BODY_BYTES
    max_texts: int = MAX_TEXTS


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit (413) before the JSON parser sees them, both when
    Content-Length says so and when a chunked body grows past it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._too_large(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send):
        response = _error(413, f"request body over {self.limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Batcher:
    """Collects the texts of requests that arrive within `window` seconds and runs them as one batch
    on a single worker thread (the model is not re-entrant, and one big batch beats many small)."""

    def __init__(self, classifier, window_s: float, max_batch: int, model_batch_size: int = 32):
        self.classifier, self.window_s, self.max_batch = classifier, window_s, max_batch
        self.run = partial(classifier.details, batch_size=model_batch_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emodraw-model")
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None

    async def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self.window_s <= 0:
            return await loop.run_in_executor(self.executor, self.run, texts)
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.task = loop.create_task(self._loop())
        future = loop.create_future()
        await self.queue.put((texts, future))
        return await future

    async def _loop(self):
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            size = len(jobs[0][0])
            deadline = loop.time() + self.window_s
            while size < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job[0])
            texts = [t for job_texts, _ in jobs for t in job_texts]
            try:
                rows = await loop.run_in_executor(self.executor, self.run, texts)
            except Exception as exc:  # a model failure answers every waiting request, never hangs them
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for job_texts, future in jobs:
                if not future.done():
                    future.set_result(rows[start : start + len(job_texts)])
                start += len(job_texts)


def _parse(body: bytes, max_texts: int) -> tuple[list[str], bool] | str:
    """(texts, single) or an error message for a 422."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(payload, dict):
        return 'expected a JSON object: {"text": "..."} or {"texts": ["...", ...]}'
    if ("text" in payload) == ("texts" in payload):
        return 'give exactly one of "text" or "texts"'
    if "text" in payload:
        texts, single = [payload["text"]], True
    else:
        texts, single = payload["texts"], False
        if not isinstance(texts, list) or not texts:
            return '"texts" must be a non-empty list of strings'
        if len(texts) > max_texts:
            return f'"texts" has {len(texts)} items; at most {max_texts} per request'
    for i, text in enumerate(texts):
        where = '"text"' if single else f'"texts"[{i}]'
        if not isinstance(text, str):
            return f"{where} must be a string"
        if not text.strip():
            return f"{where} is empty"
    return texts, single


def create_app(classifier, options: ServeOptions | None = None) -> FastAPI:
    from emodraw import __version__

    options = options or ServeOptions()
    # FastAPIOffline: FastAPI whose /docs and /redoc pages load Swagger UI and ReDoc from files shipped in
    # the wheel instead of a CDN, so the API docs work on machines without network, as the rest does.
    app = FastAPIOffline(
        title="emodraw",
        version=__version__,
        description="Emotion scores (sadness, joy, love, anger, fear, surprise) for English text.",
    )
    backend = classifier.backend
    window_ms = options.batch_window_ms if options.batch_window_ms is not None else (0.0 if backend == "onnx" else 2.0)
    batcher = Batcher(classifier, window_ms / 1000, options.max_batch, options.model_batch_size)
    state = {"in_flight": 0}
    page = (resources.files("emodraw") / "resources" / "web" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return page

    @app.get("/health")
    def health():
        return {
            "status": "ok",
            "model": str(classifier.path),
            "backend": backend,
            "batch_window_ms": window_ms,
            "labels": classifier.labels,
            "max_length": classifier.max_length,
            "in_flight": state["in_flight"],
        }

    @app.get("/labels")
    def labels():
        return {"labels": classifier.labels}

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "text": {"type": "string", "minLength": 1},
                                "texts": {
                                    "type": "array",
                                    "items": {"type": "string", "minLength": 1},
                                    "minItems": 1,
                                    "maxItems": options.max_texts,
                                },
                            },
                        }
                    }
                },
            }
        },
    )
    async def predict(request: Request):
        if state["in_flight"] >= options.max_in_flight:  # refuse at once: no unbounded queue
            return _error(429, f"more than {options.max_in_flight} requests in flight; retry shortly")
        state["in_flight"] += 1
        try:
            parsed = _parse(await request.body(), options.max_texts)
            if isinstance(parsed, str):
                return _error(422, parsed)
            texts, single = parsed
            rows = await batcher.predict(texts)
            return rows[0] if single else {"results": rows}
        finally:
            state["in_flight"] -= 1

    app.add_middleware(BodyLimit, limit=options.max_body_bytes)
    app.state.batcher = batcher
    return app


def serve(
    checkpoint,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int = 0,
    options: ServeOptions | None = None,
    log=print,
) -> None:
    import uvicorn

    from emodraw.inference.classifier import Classifier

    classifier = Classifier.load(checkpoint, threads=threads)
    app = create_app(classifier, options)
    log(f"emodraw serving {classifier.path} on http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def spawn_server(model, *options: str, timeout_s: float = 60.0):
    """`emodraw serve MODEL OPTIONS...` in a child process on a free 127.0.0.1 port, for benchmarks and
    tests that need a real server over real HTTP. Returns (process, base URL) once /health answers;
    raises RuntimeError with the server's output if it exits or does not answer within `timeout_s`."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emodraw.cli", "serve", str(model), "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"emodraw serve exited: {proc.stdout.read()}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"emodraw serve did not answer /health within {timeout_s:g} s")
