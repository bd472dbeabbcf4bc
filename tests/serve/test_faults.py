"""Hostile input and faults: a bad request fails only itself, slow clients cannot lock others out, and
no fault puts a traceback in the server's log."""

import asyncio
import json
import logging
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx
import pytest
from fastapi.testclient import TestClient

TEXT = "i feel wonderful today"
LONE_SURROGATE = b'{"text": "i feel \\ud800 today"}'  # valid JSON, but not a text any tokenizer takes


def test_a_bad_text_is_422_and_never_fails_the_requests_batched_with_it(spawn):
    # 40 good requests around each bad one, 16 at a time, in a 20 ms window: most batches hold a bad one.
    url = spawn("--batch-window-ms", "20")
    bodies = []
    for i in range(5):
        bodies += [json.dumps({"text": f"{TEXT} {i} {j}"}).encode() for j in range(20)]
        bodies += [LONE_SURROGATE]
        bodies += [json.dumps({"texts": [f"i am scared {i} {j}"]}).encode() for j in range(20)]

    def post(body):
        try:
            response = client.post(url + "/predict", content=body)
        except httpx.HTTPError as exc:  # counted as a failure, not a crash of the test
            return type(exc).__name__, ""
        return response.status_code, response.json().get("error", "")

    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(post, bodies))
    bad = [a for b, a in zip(bodies, answers) if b == LONE_SURROGATE]
    good = [status for b, (status, _) in zip(bodies, answers) if b != LONE_SURROGATE]
    assert [status for status, _ in bad] == [422] * 5
    assert all("lone surrogate U+D800" in message for _, message in bad)
    assert good == [200] * 200, f"{good.count(200)} of 200 good requests answered 200"
    assert "Traceback" not in spawn.output()


def test_a_failing_batch_is_retried_request_by_request_so_only_the_guilty_one_fails(fake_classifier):
    from emodraw.serve.batching import Batcher

    async def main():
        batcher = Batcher(fake_classifier, window_s=0.05, max_batch=64)
        texts = [["a"], ["b", "c"], ["poison"], ["d"]]
        return await asyncio.gather(*(batcher.predict(t) for t in texts), return_exceptions=True)

    a, bc, poisoned, d = asyncio.run(main())
    assert isinstance(poisoned, RuntimeError)
    assert [len(a), len(bc), len(d)] == [1, 2, 1] and fake_classifier.labels[int(a[0][0].argmax())] == "joy"
    assert fake_classifier.calls[0] == ["a", "b", "c", "poison", "d"]  # one batch first, then each alone
    assert sorted(fake_classifier.calls[1:]) == [["a"], ["b", "c"], ["d"], ["poison"]]


@pytest.mark.parametrize("window_ms", [0, 20])
def test_a_model_failure_is_a_json_500_and_one_log_line(fake_classifier, caplog, window_ms):
    from emodraw.serve import ServeOptions, create_app

    app = create_app(fake_classifier, ServeOptions(batch_window_ms=window_ms))
    with caplog.at_level(logging.INFO), TestClient(app) as client:
        response = client.post("/predict", json={"texts": ["fine", "poison"]})
        assert client.post("/predict", json={"text": "fine"}).status_code == 200
    assert response.status_code == 500 and set(response.json()) == {"error"}
    records = [r for r in caplog.records if r.name.startswith("emodraw")]
    assert len(records) == 1 and records[0].exc_info is None and "\n" not in records[0].getMessage()
    assert "RuntimeError: the model broke on this batch" in records[0].getMessage()


def test_an_input_the_classifier_refuses_is_422_for_its_request_only(fake_classifier):
    from emodraw.serve import ServeOptions, create_app

    app = create_app(fake_classifier, ServeOptions(batch_window_ms=50))
    with TestClient(app) as client, ThreadPoolExecutor(3) as pool:
        bodies = [{"text": "fine"}, {"texts": ["fine", "please refuse me"]}, {"text": "also fine"}]
        responses = list(pool.map(lambda body: client.post("/predict", json=body), bodies))
    assert [r.status_code for r in responses] == [200, 422, 200]
    assert responses[1].json() == {"error": "texts: this text cannot be classified"}


def request_head(length: int) -> bytes:
    return (
        b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % length
    )


def is_open(s: socket.socket) -> bool:
    return s.fileno() != -1


def dribble(payloads: dict, seconds: float) -> dict:
    """Send each socket its payload one byte every 0.5 s until the server answers and closes it; the
    answers (raw bytes) by socket. Bounded: at most `seconds`."""
    sockets = list(payloads)
    answers = {s: b"" for s in sockets}
    sent = {s: 0 for s in sockets}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(is_open(s) for s in sockets):
        for s in [s for s in sockets if is_open(s)]:
            if sent[s] < len(payloads[s]):
                try:
                    s.send(payloads[s][sent[s] : sent[s] + 1])
                    sent[s] += 1
                except OSError:  # the server already hung up; read what it said
                    pass
        end = time.monotonic() + 0.5
        while (left := end - time.monotonic()) > 0:
            readable, _, _ = select.select([s for s in sockets if is_open(s)], [], [], left)
            for s in readable:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    chunk = b""
                answers[s] += chunk
                if not chunk:
                    s.close()
            if not readable:
                break
    for s in sockets:
        s.close()
    return answers


def test_slow_clients_get_408_and_never_lock_out_a_normal_request(spawn):
    # As many clients as may be in flight send their headers, then one body byte every 0.5 s (the
    # attack that answered every real request 429 for 60 s); two more dribble their headers, and one
    # gives up half-way through its body. A normal request meanwhile must be answered at once, and
    # the slow ones cut off with 408 once the header/body deadline (here 3 s; 10 s by default) has passed.
    url = spawn("--max-in-flight", "4", "--body-timeout", "3")
    port = urlparse(url).port
    body = json.dumps({"text": TEXT}).encode() + b" " * 80  # ~60 s at one byte per 0.5 s
    started = time.monotonic()
    payloads = {}
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(request_head(len(body)))
        payloads[s] = body
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        payloads[s] = b"X-Slow: " + b"a" * 100
    quitter = socket.create_connection(("127.0.0.1", port), timeout=5)
    quitter.sendall(request_head(len(body)) + body[:10])
    time.sleep(1.0)
    quitter.close()
    asked = time.monotonic()
    normal = httpx.post(url + "/predict", json={"text": TEXT}, timeout=10)
    assert normal.status_code == 200 and time.monotonic() - asked < 3
    answers = dribble(payloads, seconds=15)
    waited = time.monotonic() - started
    statuses = [answer.split(b"\r\n", 1)[0] for answer in answers.values()]
    assert statuses == [b"HTTP/1.1 408 Request Timeout"] * 6, statuses
    assert all(b'{"error":' in answer for answer in answers.values())
    assert 2.5 < waited < 10
    assert httpx.post(url + "/predict", json={"text": TEXT}, timeout=10).status_code == 200
    log = spawn.output()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log
