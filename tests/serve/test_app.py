"""The server contract against a real `emodraw serve` process, over real HTTP."""

import json
import re
import threading
import time

import httpx
import pytest
from helpers.browser import chromium_page

TEXT = "i feel wonderful today"


def start_server(checkpoint, *options):
    from emodraw.serve import spawn_server

    return spawn_server(checkpoint, *options, timeout_s=30)


def test_the_server_names_import_from_the_package():
    import emodraw.serve as package
    import emodraw.serve.app as app
    import emodraw.serve.runner as runner

    for name in ("create_app", "ServeOptions"):  # cli.py and benchmarks use these
        assert getattr(package, name) is getattr(app, name)
    assert package.serve is runner.serve and callable(package.spawn_server)


def test_the_batching_window_follows_the_backend_unless_given():
    from emodraw.serve import ServeOptions

    assert ServeOptions().window_ms("pytorch") == 2.0 and ServeOptions().window_ms("onnx") == 0.0
    assert ServeOptions(batch_window_ms=5).window_ms("onnx") == 5


@pytest.fixture(scope="module")
def server(tiny_run):
    proc, url = start_server(tiny_run.checkpoints["best"], "--max-in-flight", "32")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_health_labels_docs_and_page(server):
    health = httpx.get(server + "/health").json()
    assert health["status"] == "ok" and health["backend"] == "pytorch" and len(health["labels"]) == 6
    assert httpx.get(server + "/labels").json()["labels"][0] == "sadness"
    assert "/predict" in httpx.get(server + "/openapi.json").json()["paths"]
    page = httpx.get(server + "/")
    assert page.status_code == 200 and "Emotion Draw" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # self-contained: no CDN
    docs = httpx.get(server + "/docs")  # the API docs too: Swagger UI from the wheel, not a CDN
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text and "cdn." not in docs.text
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', docs.text).group(1)
    assert httpx.get(server + script).status_code == 200


def test_single_and_batch_predictions(server, tiny_run):
    from emodraw import Classifier

    one = httpx.post(server + "/predict", json={"text": TEXT}).json()
    assert set(one) == {"label", "scores", "truncated"} and one["truncated"] is False
    assert one["label"] == max(one["scores"], key=one["scores"].get)
    many = httpx.post(server + "/predict", json={"texts": [TEXT, "i am scared"]}).json()["results"]
    assert len(many) == 2 and many[0]["scores"] == pytest.approx(one["scores"], abs=1e-5)
    assert one["label"] == Classifier.load(tiny_run.checkpoints["best"]).predict(TEXT)


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b'{"text": ', 422, "not valid JSON"),
        (b'["a list"]', 422, "JSON object"),
        (b"{}", 422, "exactly one"),
        (b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
        (b'{"text": 5}', 422, "must be a string"),
        (b'{"text": "   "}', 422, "is empty"),
        (b'{"texts": []}', 422, "non-empty list"),
        (b'{"texts": ["ok", ""]}', 422, '"texts"[1] is empty'),
        (b'{"texts": ["ok", null]}', 422, "must be a string"),
        (json.dumps({"texts": ["x"] * 65}).encode(), 422, "at most 64"),
        (json.dumps({"text": "a" * (1 << 20)}).encode(), 413, "over 1048576 bytes"),
    ],
)
def test_bad_input_gets_a_clear_4xx_never_500(server, body, status, message):
    response = httpx.post(server + "/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_chunked_body_over_the_limit_is_413(server):
    def chunks():
        for _ in range(20):
            yield b"a" * 65536

    response = httpx.post(server + "/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_long_text_is_truncated_and_flagged(server):
    result = httpx.post(server + "/predict", json={"text": "i feel happy " * 200}).json()
    assert result["truncated"] is True and result["label"]


def test_concurrent_requests_get_their_own_answers(server):
    texts = [f"{TEXT} number {i}" if i % 2 else f"i am so sad {i}" for i in range(24)]
    expected = [httpx.post(server + "/predict", json={"text": t}).json()["scores"] for t in texts]
    results = [None] * len(texts)

    def ask(i):
        results[i] = httpx.post(server + "/predict", json={"text": texts[i]}, timeout=30).json()["scores"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        assert got == pytest.approx(want, abs=1e-4)


def test_too_many_in_flight_gets_a_fast_429(tiny_run):
    # One request may be in flight; it waits 1 s in the batching window, so a second one is refused.
    proc, url = start_server(tiny_run.checkpoints["best"], "--max-in-flight", "1", "--batch-window-ms", "1000")
    try:
        first = {}
        thread = threading.Thread(
            target=lambda: first.update(r=httpx.post(url + "/predict", json={"text": TEXT}, timeout=30))
        )
        thread.start()
        time.sleep(0.5)
        started = time.perf_counter()
        second = httpx.post(url + "/predict", json={"text": TEXT}, timeout=30)
        assert second.status_code == 429 and "in flight" in second.json()["error"]
        assert time.perf_counter() - started < 0.5
        thread.join()
        assert first["r"].status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.browser
def test_emotion_draw_page_in_a_real_browser(server):
    sentence = "i am so scared of the dark"
    with chromium_page() as page:  # skips without chromium, or fails where EMODRAW_REQUIRE_BROWSER says so
        expected = httpx.post(server + "/predict", json={"text": sentence}).json()["label"]
        page.goto(server + "/")
        page.wait_for_selector(".bar", state="attached")
        page.fill("#text", "")
        page.type("#text", sentence, delay=10)
        page.wait_for_selector("body[data-ready]", timeout=15000)
        page.wait_for_function(
            "t => document.querySelector('#top-label') && document.body.dataset.ready && "
            "document.querySelector('#text').value === t",
            arg=sentence,
        )
        bars = page.query_selector_all(".bar")
        assert len(bars) == 6
        assert [b.get_attribute("data-label") for b in bars] == [
            "sadness",
            "joy",
            "love",
            "anger",
            "fear",
            "surprise",
        ]
        top = page.query_selector_all(".bar.top")
        assert len(top) == 1 and top[0].get_attribute("data-label") == expected
        assert page.text_content("#top-label") == expected  # (CSS capitalises what is shown)
        scores = [float(b.get_attribute("data-score")) for b in bars]
        assert abs(sum(scores) - 1) < 1e-3
        page.wait_for_timeout(400)  # the bars animate to their width
        drawn = [b.query_selector(".fill").bounding_box()["width"] for b in bars]
        track = bars[0].query_selector(".track").bounding_box()["width"]
        for width, score in zip(drawn, scores):
            assert abs(width - score * track) < 3  # each bar is drawn to its score
        assert drawn.index(max(drawn)) == [b.get_attribute("data-label") for b in bars].index(expected)
