"""HTTP API and the Emotion Draw page, on FastAPI + uvicorn.

    POST /predict (and POST /)
        {"text": "..."}             -> {"label", "scores", "truncated"}
        {"texts": ["...", ...]}     -> {"results": [{"label", "scores", "truncated"}, ...]}
        {"inputs": "..." | [...]}   -> [[{"label", "score"}, ...], ...]   (the Hugging Face Inference API's
                                       text-classification answer, which huggingface_hub's client parses)
        any of them with "parameters": {"top_k", "function_to_apply", "explain"}
    GET  /health, /labels, /metrics (Prometheus), / (the page), /docs and /openapi.json

Bad input never reaches the model (emodraw.serve.validation: 413 for a body over 1 MB, 408 for headers
or a body not sent within `body_timeout_s`, 422 with a JSON error for anything else wrong). A request
counts as in flight only once its body is complete; when more are in flight than the limit, a new one
gets 429 at once (no unbounded queue). Requests that arrive together are run as one batch
(`batch_window_ms`, emodraw.serve.batching), which benchmarks/serve_load.py measures against batching
off; a batch the model fails on is retried request by request. With `api_key`, requests need
`Authorization: Bearer <key>` (emodraw.serve.security). Every error body is `{"error": "..."}`, and a
fault is one line in the log, never a traceback. The schemas of all of it: emodraw.serve.schemas.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from emodraw.errors import EmodrawError
from emodraw.serve.answers import answer, model_inputs
from emodraw.serve.batching import Batcher
from emodraw.serve.identity import model_name
from emodraw.serve.metrics import MetricsMiddleware, ServerMetrics
from emodraw.serve.schemas import Health, Labels, add_schemas, predict_responses
from emodraw.serve.security import BearerAuth, bearer_openapi, check_api_key
from emodraw.serve.validation import MAX_BODY_BYTES, MAX_TEXTS, BodyGuard, error, parse_predict
from emodraw.version import __version__

__all__ = ["ServeOptions", "create_app"]

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
    long_text: str = "truncate"  # or "chunk": overlapping windows (emodraw.inference.long_text)
    cors_origin: tuple[str, ...] = ()  # browser origins allowed to call the API; none by default
    access_log: bool = False

    def window_ms(self, backend: str) -> float:
        """The batching window for a classifier of this backend ("pytorch" or "onnx")."""
        if self.batch_window_ms is not None:
            return self.batch_window_ms
        return 0.0 if backend == "onnx" else 2.0


def create_app(classifier, options: ServeOptions | None = None, *, load_seconds: float | None = None) -> FastAPI:
    options = options or ServeOptions()
    key = check_api_key(options.api_key)
    # FastAPIOffline: FastAPI whose /docs and /redoc pages load Swagger UI and ReDoc from files shipped in
    # the wheel instead of a CDN, so the API docs work on machines without network, as the rest does.
    app = FastAPIOffline(
        title="emodraw",
        version=__version__,
        description="Emotion scores for English text, and which words carry them.",
    )
    backend = classifier.backend
    name = model_name(classifier)
    metrics = ServerMetrics()
    metrics.set_model_info(name, backend, len(classifier.labels), load_seconds)
    window_ms = options.window_ms(backend)
    batcher = Batcher(
        classifier,
        window_ms / 1000,
        options.max_batch,
        options.model_batch_size,
        long_text=options.long_text,
        on_batch=metrics.observe_batch,
    )
    state = {"in_flight": 0}
    page = (resources.files("emodraw") / "resources" / "web" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return page

    @app.get("/health", response_model=Health)
    def health():
        return {
            "status": "ok",
            "model": name,
            "backend": backend,
            "multi_label": bool(getattr(classifier, "multi_label", False)),
            "labels": classifier.labels,
            "max_length": classifier.max_length,
            "long_text": options.long_text,
            "batch_window_ms": window_ms,
            "in_flight": state["in_flight"],
        }

    @app.get("/labels", response_model=Labels)
    def labels():
        return {"labels": classifier.labels}

    # In the schema, so behind the API key when there is one: it tells the model's name and the traffic.
    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (text format)")
    def prometheus():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    async def predict(request: Request):
        body = await request.body()  # already read whole by BodyGuard: a slow client never holds a slot
        if state["in_flight"] >= options.max_in_flight:  # refuse at once: no unbounded queue
            return error(429, f"more than {options.max_in_flight} requests in flight; retry shortly")
        state["in_flight"] += 1
        try:
            parsed = parse_predict(body, options.max_texts)
            if isinstance(parsed, str):
                return error(422, parsed)
            try:
                texts, spans = model_inputs(parsed)
                scored = await batcher.predict(texts)
            except EmodrawError as exc:  # the classifier refused this input (a check it has that parsing lacks)
                return error(422, str(exc))
            except Exception as exc:  # a bug or a broken model: one line in the log, a JSON 500 to this client
                log.error("predict failed on %d text(s): %s: %s", len(texts), type(exc).__name__, _first_line(exc))
                return error(500, "the model failed on this request (the server log says why)")
            return answer(parsed, classifier, scored, spans)
        finally:
            state["in_flight"] -= 1

    responses = predict_responses()
    app.post("/predict", responses=responses, summary="Scores of one text, several, or Inference API inputs")(predict)
    # POST /: where huggingface_hub's InferenceClient(base_url=...) sends its requests.
    app.post("/", responses=responses, summary="The same as POST /predict")(predict)
    add_schemas(app)

    app.add_middleware(BodyGuard, limit=options.max_body_bytes, timeout_s=options.body_timeout_s)
    if key is not None:  # added after BodyGuard, so outside it: a request without the key is refused unread
        bearer_openapi(app)
        # Open: what the API does not document -- the page, the docs, the schema -- and the docs' assets.
        open_paths = {r.path for r in app.routes if not getattr(r, "include_in_schema", True)}
        static = tuple(route.path + "/" for route in app.routes if isinstance(route, Mount))
        app.add_middleware(BearerAuth, key=key, open_paths=open_paths, open_prefixes=static)
    if options.cors_origin:  # outside the key check: a browser's preflight carries no Authorization header
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origin),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(
        MetricsMiddleware, metrics=metrics
    )  # outermost: it sees every answer, the refusals of the others too
    app.state.batcher = batcher
    app.state.metrics = metrics
    return app


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else "(no message)"
