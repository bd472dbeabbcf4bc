"""HTTP API and the Emotion Draw page, on FastAPI + uvicorn.

    POST /predict  {"text": "..."}        -> {"label", "scores", "truncated"}
                   {"texts": ["...", ...]} -> {"results": [{"label", "scores", "truncated"}, ...]}
    GET  /health, GET /labels, GET / (the page), GET /docs and /openapi.json

Bad input never reaches the model (emodraw.serve.validation: 413 for a body over 1 MB, 422 with a JSON
error for anything else wrong). When more requests are in flight than the limit, a new one gets 429 at
once (no unbounded queue). Requests that arrive together are run as one batch (`batch_window_ms`,
emodraw.serve.batching), which benchmarks/serve_load.py measures against batching off.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline

from emodraw.serve.batching import Batcher
from emodraw.serve.validation import MAX_BODY_BYTES, MAX_TEXTS, BodyLimit, error, parse_predict, predict_schema
from emodraw.version import __version__


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

    def window_ms(self, backend: str) -> float:
        """The batching window for a classifier of this backend ("pytorch" or "onnx")."""
        if self.batch_window_ms is not None:
            return self.batch_window_ms
        return 0.0 if backend == "onnx" else 2.0


def create_app(classifier, options: ServeOptions | None = None) -> FastAPI:
    options = options or ServeOptions()
    # FastAPIOffline: FastAPI whose /docs and /redoc pages load Swagger UI and ReDoc from files shipped in
    # the wheel instead of a CDN, so the API docs work on machines without network, as the rest does.
    app = FastAPIOffline(
        title="emodraw",
        version=__version__,
        description="Emotion scores (sadness, joy, love, anger, fear, surprise) for English text.",
    )
    backend = classifier.backend
    window_ms = options.window_ms(backend)
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

    @app.post("/predict", openapi_extra=predict_schema(options.max_texts))
    async def predict(request: Request):
        if state["in_flight"] >= options.max_in_flight:  # refuse at once: no unbounded queue
            return error(429, f"more than {options.max_in_flight} requests in flight; retry shortly")
        state["in_flight"] += 1
        try:
            parsed = parse_predict(await request.body(), options.max_texts)
            if isinstance(parsed, str):
                return error(422, parsed)
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
    """Load `checkpoint` (a checkpoint, run or export folder) and serve it until interrupted."""
    import uvicorn

    from emodraw.inference.classifier import Classifier

    classifier = Classifier.load(checkpoint, threads=threads)
    app = create_app(classifier, options)
    log(f"emodraw serving {classifier.path} on http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
