"""HTTP API and the Emotion Draw page, on FastAPI + uvicorn.

    POST /predict  {"text": "..."}        -> {"label", "scores", "truncated"}
                   {"texts": ["...", ...]} -> {"results": [{"label", "scores", "truncated"}, ...]}
    GET  /health, GET /labels, GET / (the page), GET /docs and /openapi.json

Bad input never reaches the model (emodraw.serve.validation: 413 for a body over 1 MB, 408 for headers
or a body not sent within `body_timeout_s`, 422 with a JSON error for anything else wrong). A request
counts as in flight only once its body is complete; when more are in flight than the limit, a new one
gets 429 at once (no unbounded queue). Requests that arrive together are run as one batch
(`batch_window_ms`, emodraw.serve.batching), which benchmarks/serve_load.py measures against batching
off; a batch the model fails on is retried request by request. With `api_key`, requests need
`Authorization: Bearer <key>` (emodraw.serve.security). Every error body is `{"error": "..."}`, and a
fault is one line in the log, never a traceback.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from starlette.routing import Mount

from emodraw.errors import EmodrawError
from emodraw.serve.batching import Batcher
from emodraw.serve.security import BearerAuth, bearer_openapi, check_api_key, exposure_warning
from emodraw.serve.spawn import spawn_server
from emodraw.serve.validation import MAX_BODY_BYTES, MAX_TEXTS, BodyGuard, error, parse_predict, predict_schema
from emodraw.version import __version__

__all__ = ["ServeOptions", "create_app", "serve", "spawn_server"]  # spawn_server: importable from here too

log = logging.getLogger("emodraw.serve")


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
    # A client has this long for a request's headers (from connecting, or from its previous response),
    # and again for its body: a slow or stalled client is answered 408 instead of holding a connection.
    body_timeout_s: float = 10.0
    # None: no authentication. Kept out of repr() so it never reaches a log or a traceback.
    api_key: str | None = field(default=None, repr=False)

    def window_ms(self, backend: str) -> float:
        """The batching window for a classifier of this backend ("pytorch" or "onnx")."""
        if self.batch_window_ms is not None:
            return self.batch_window_ms
        return 0.0 if backend == "onnx" else 2.0


def create_app(classifier, options: ServeOptions | None = None) -> FastAPI:
    options = options or ServeOptions()
    key = check_api_key(options.api_key)
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
        body = await request.body()  # already read whole by BodyGuard: a slow client never holds a slot
        if state["in_flight"] >= options.max_in_flight:  # refuse at once: no unbounded queue
            return error(429, f"more than {options.max_in_flight} requests in flight; retry shortly")
        state["in_flight"] += 1
        try:
            parsed = parse_predict(body, options.max_texts)
            if isinstance(parsed, str):
                return error(422, parsed)
            texts, single = parsed
            try:
                rows = await batcher.predict(texts)
            except EmodrawError as exc:  # the classifier refused this input (a check it has that parsing lacks)
                return error(422, str(exc))
            except Exception as exc:  # a bug or a broken model: one line in the log, a JSON 500 to this client
                log.error("predict failed on %d text(s): %s: %s", len(texts), type(exc).__name__, _first_line(exc))
                return error(500, "the model failed on this request (the server log says why)")
            return rows[0] if single else {"results": rows}
        finally:
            state["in_flight"] -= 1

    app.add_middleware(BodyGuard, limit=options.max_body_bytes, timeout_s=options.body_timeout_s)
    if key is not None:  # added last, so outermost: a request without the key is refused before its body is read
        bearer_openapi(app)
        # Open: what the API does not document -- the page, the docs, the schema -- and the docs' assets.
        open_paths = {r.path for r in app.routes if not getattr(r, "include_in_schema", True)}
        static = tuple(route.path + "/" for route in app.routes if isinstance(route, Mount))
        app.add_middleware(BearerAuth, key=key, open_paths=open_paths, open_prefixes=static)
    app.state.batcher = batcher
    return app


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"


def log_config() -> dict:
    """uvicorn's logging, plus this package's logger ("emodraw.serve") through the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["emodraw.serve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


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
    from emodraw.serve.connection import header_deadline_protocol

    options = options or ServeOptions()
    check_api_key(options.api_key)  # before the model loads: a bad key fails fast
    classifier = Classifier.load(checkpoint, threads=threads)
    app = create_app(classifier, options)
    if warning := exposure_warning(host, options.api_key):
        log(warning)
    log(f"emodraw serving {classifier.path} on http://{host}:{port}/ (API docs: /docs)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=log_config(),
        http=header_deadline_protocol(options.body_timeout_s),
        timeout_keep_alive=5,  # uvicorn's default, said here: an idle keep-alive connection closes after 5 s
    )
