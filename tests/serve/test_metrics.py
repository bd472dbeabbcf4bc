"""The server's Prometheus metrics (emodraw.serve.metrics), on a small app of this test's own with the server's
real middlewares inside the metrics one: requests by route template and status, latency, in-flight requests,
batch sizes, the model's identity, and that a failure to record never fails a request."""

import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.testclient import TestClient

from emodraw.serve.metrics import MetricsMiddleware, ServerMetrics
from emodraw.serve.security import BearerAuth
from emodraw.serve.validation import BodyGuard

ITEM = "/items/{item_id}"


def make_app(metrics: ServerMetrics, key: bytes | None = None) -> FastAPI:
    app = FastAPI()

    @app.get(ITEM)
    def item(item_id: int):
        return {"item": item_id}

    @app.post("/echo")
    async def echo(payload: dict):
        return payload

    @app.get("/busy")
    def busy():  # what the gauge says while this very request is being answered
        return {"in_flight": metrics.registry.get_sample_value("emodraw_requests_in_flight")}

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    @app.get("/metrics")
    def scrape():
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app.add_middleware(BodyGuard, limit=100, timeout_s=5)
    if key is not None:
        app.add_middleware(BearerAuth, key=key, open_paths=set(), open_prefixes=())
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # last: the outermost
    return app


def count(metrics: ServerMetrics, route: str, status: int | str, method: str = "GET") -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return metrics.registry.get_sample_value("emodraw_requests_total", labels) or 0.0


@pytest.fixture
def metrics():
    return ServerMetrics()


def test_requests_are_counted_by_route_template_method_and_status(metrics):
    client = TestClient(make_app(metrics))
    for path in ("/items/1", "/items/2", "/items/3"):
        assert client.get(path).status_code == 200
    assert client.get("/items/not-a-number").status_code == 422
    assert client.post("/items/1").status_code == 405  # the path is served, the method is not
    assert client.post("/echo", json={"a": 1}).status_code == 200
    assert count(metrics, ITEM, 200) == 3  # the template, not three raw URLs
    assert count(metrics, ITEM, 422) == 1 and count(metrics, ITEM, 405, "POST") == 1
    assert count(metrics, "/echo", 200, "POST") == 1
    assert metrics.registry.get_sample_value("emodraw_request_duration_seconds_count", {"route": ITEM}) == 5
    seconds = metrics.registry.get_sample_value("emodraw_request_duration_seconds_sum", {"route": ITEM})
    assert 0 < seconds < 5
    ten_s = {"route": ITEM, "le": "10.0"}
    assert metrics.registry.get_sample_value("emodraw_request_duration_seconds_bucket", ten_s) == 5


def test_unknown_paths_and_methods_share_one_label_value(metrics):
    """A scanner trying a thousand paths must not create a thousand time series."""
    client = TestClient(make_app(metrics))
    for path in ("/admin", "/wp-login.php", "/.env", "/items/1/../../etc"):
        assert client.get(path).status_code == 404
    assert client.request("BREW", "/items/1").status_code == 405
    assert count(metrics, "other", 404) == 4
    assert count(metrics, ITEM, 405, "other") == 1
    routes = {s.labels["route"] for s in _samples(metrics, "emodraw_requests_total")}
    assert routes == {"other", ITEM}


def test_responses_made_by_inner_middlewares_and_errors_are_counted(metrics):
    client = TestClient(make_app(metrics, key=b"secret"), raise_server_exceptions=False)
    assert client.get("/items/1").status_code == 401  # BearerAuth answers; the router never runs
    auth = {"Authorization": "Bearer secret"}
    assert client.post("/echo", content=b"x" * 500, headers=auth).status_code == 413  # BodyGuard answers
    assert client.get("/boom", headers=auth).status_code == 500
    assert client.get("/items/1", headers=auth).status_code == 200
    assert count(metrics, ITEM, 401) == 1 and count(metrics, ITEM, 200) == 1
    assert count(metrics, "/echo", 413, "POST") == 1 and count(metrics, "/boom", 500) == 1


def test_in_flight_counts_the_request_being_answered_and_returns_to_zero(metrics):
    client = TestClient(make_app(metrics), raise_server_exceptions=False)
    assert client.get("/busy").json() == {"in_flight": 1.0}
    client.get("/boom")
    client.post("/echo", content=b"x" * 500)
    assert metrics.registry.get_sample_value("emodraw_requests_in_flight") == 0


def test_batch_sizes_model_info_and_the_exposition_text(metrics):
    for size in (1, 3, 64, 100):
        metrics.observe_batch(size)
    metrics.set_model_info("tiny-run/best", "pytorch", 6, load_seconds=1.5)
    bucket = lambda le: metrics.registry.get_sample_value("emodraw_batch_size_bucket", {"le": le})  # noqa: E731
    assert (bucket("1.0"), bucket("2.0"), bucket("4.0"), bucket("64.0"), bucket("+Inf")) == (1, 1, 2, 3, 4)
    assert metrics.registry.get_sample_value("emodraw_batch_size_sum") == 168
    info = {"name": "tiny-run/best", "backend": "pytorch", "labels": "6"}
    assert metrics.registry.get_sample_value("emodraw_model_info", info) == 1
    assert metrics.registry.get_sample_value("emodraw_model_load_seconds") == 1.5
    response = TestClient(make_app(metrics)).get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    assert 'emodraw_model_info{backend="pytorch",labels="6",name="tiny-run/best"} 1.0' in response.text
    assert "# TYPE emodraw_request_duration_seconds histogram" in response.text


def test_two_instances_count_apart(metrics):
    other = ServerMetrics()  # a second registry with the same metric names: no "Duplicated timeseries" error
    first, second = TestClient(make_app(metrics)), TestClient(make_app(other))
    first.get("/items/1")
    first.get("/items/2")
    second.get("/items/1")
    assert count(metrics, ITEM, 200) == 2 and count(other, ITEM, 200) == 1
    metrics.observe_batch(8)
    assert other.registry.get_sample_value("emodraw_batch_size_count") == 0


def test_a_failure_to_record_never_fails_the_request(metrics, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the metrics are broken")

    monkeypatch.setattr(metrics, "record", broken)
    monkeypatch.setattr(metrics.in_flight, "inc", broken)
    monkeypatch.setattr(metrics.batch_size, "observe", broken)
    client = TestClient(make_app(metrics))
    assert client.get("/items/1").json() == {"item": 1}
    metrics.observe_batch(4)  # the batcher's call: no exception either


def _samples(metrics: ServerMetrics, name: str):
    return [s for family in metrics.registry.collect() for s in family.samples if s.name == name]
