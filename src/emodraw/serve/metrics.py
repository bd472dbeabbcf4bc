"""Prometheus metrics of the server (`GET /metrics`): requests by route, method and status, their latency,
the requests in flight, the size of each model batch, and which model is served.

Each `ServerMetrics` keeps its own registry instead of prometheus_client's global one, so that several apps
in one process (tests, benchmarks) count apart and never collide over a metric's name.

    metrics = ServerMetrics()
    app.add_middleware(MetricsMiddleware, metrics=metrics)   # added last: outermost, sees every status
    metrics.observe_batch(len(texts))                         # per model call
    body, content_type = metrics.render()                     # the /metrics response
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from starlette.routing import Match

__all__ = ["MetricsMiddleware", "ServerMetrics"]

log = logging.getLogger("emodraw.serve")

# From a cached /health (about a millisecond) to a batch of 64 long texts on a slow CPU (seconds).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Texts per model call: 1 for a lone request, up to the batcher's max_batch (64 by default); more lands in +Inf.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
# Every label value must come from a bounded set, or a scanner sending random paths or methods would make
# the server keep a new time series for each one until it runs out of memory.
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The status of a request whose client left before any response was sent (nginx's "client closed request").
NO_RESPONSE = "499"


class ServerMetrics:
    """The server's metrics in a registry of their own."""

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "emodraw_requests_total",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "emodraw_request_duration_seconds",
            "time from a request's headers to the end of its response",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "emodraw_requests_in_flight", "HTTP requests being received or answered now", registry=self.registry
        )
        self.batch_size = Histogram(
            "emodraw_batch_size", "texts per model call", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.model = Info("emodraw_model", "the model served", registry=self.registry)
        self.load_seconds = Gauge(
            "emodraw_model_load_seconds", "seconds the model took to load at start", registry=self.registry
        )

    def observe_batch(self, size: int) -> None:
        """One model call on `size` texts."""
        try:
            self.batch_size.observe(size)
        except Exception as exc:  # a metric is never worth a failed request
            log.debug("batch size not recorded: %s", exc)

    def set_model_info(self, name: str, backend: str, labels_count: int, load_seconds: float | None = None) -> None:
        """The served model: its client-visible name (emodraw.serve.identity.model_name), backend, number of
        labels, and its load time (None: not measured, e.g. an app built around a classifier in a test)."""
        self.model.info({"name": str(name), "backend": str(backend), "labels": str(labels_count)})
        if load_seconds is not None:
            self.load_seconds.set(load_seconds)

    def render(self) -> tuple[bytes, str]:
        """(the exposition text, its content type) for the `GET /metrics` response."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def record(self, route: str, method: str, status: str, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=status).inc()
        self.duration.labels(route=route).observe(seconds)


class MetricsMiddleware:
    """ASGI middleware recording every HTTP request into `metrics`. Add it after every other middleware, so
    that it is the outermost and counts the responses they make themselves (401 from BearerAuth, 413 and 408
    from BodyGuard, a CORS preflight). A failure to record is logged at debug level; the request goes on."""

    def __init__(self, app, metrics: ServerMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = NO_RESPONSE
        # Before the call: the router rewrites the scope's root_path for a mounted app (the docs' assets).
        route = _safely(route_of, scope)
        _safely(self.metrics.in_flight.inc)

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message.get("status", NO_RESPONSE))
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception:
            # Starlette's outermost ServerErrorMiddleware turns it into a 500. A cancelled request (asyncio's
            # CancelledError is no Exception) keeps NO_RESPONSE: its client left, or the shutdown deadline passed.
            if status == NO_RESPONSE:
                status = "500"
            raise
        finally:
            _safely(self.metrics.in_flight.dec)
            _safely(self._record, scope, route, status, time.perf_counter() - started)

    def _record(self, scope, route: str | None, status: str, seconds: float) -> None:
        if route is None:  # an app without a router of its own (a bare Starlette Router): what it matched
            route = getattr(scope.get("route"), "path", None) or OTHER
        method = scope.get("method", "")
        self.metrics.record(route, method if method in METHODS else OTHER, status, seconds)


def route_of(scope) -> str | None:
    """The path template of the route `scope` is for ("/predict", "/items/{id}"), "other" for a path no route
    serves, None when the scope names no app with routes. Matched here against the app's routes rather than
    read from the router afterwards: a request refused by a middleware (401, 413) never reaches the router."""
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", None)
    if routes is None:
        return None
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", None) or OTHER
        if match is Match.PARTIAL and partial is None:  # the path is served, not for this method: 405
            partial = getattr(route, "path", None)
    return partial or OTHER


def _safely(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # a metric is never worth a failed request
        log.debug("request metrics not recorded: %s", exc)
        return None
