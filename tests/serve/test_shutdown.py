"""SIGTERM stops a real `emodraw serve` gracefully: the listening socket closes at once, the requests in flight
are answered, and the process exits 0 without a traceback."""

import json
import signal
import socket
import time
from urllib.parse import urlsplit

import pytest

TEXT = "i feel wonderful today because my friends came to visit me and we laughed all evening long"


def held_request(address, payload: dict) -> tuple[socket.socket, bytes]:
    """A POST /predict whose headers are sent and whose body is held back, once the server has started reading
    that body (its `100 Continue` says so): a request in flight for as long as the test wants, whatever the
    speed of the machine or of the model. Returns the socket and the body still to send."""
    body = json.dumps(payload).encode()
    sock = socket.create_connection(address, timeout=30)
    sock.sendall(
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    interim = _read_head(sock)
    assert interim.startswith(b"HTTP/1.1 100 "), interim
    return sock, body


def answer(sock: socket.socket, body: bytes) -> tuple[int, dict, bool]:
    """Send the held body; (status, the response's JSON, whether the server closed the connection after it)."""
    sock.sendall(body)
    head = _read_head(sock)
    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
    length = int({name.strip().lower(): value for name, value in fields.items()}[b"content-length"])
    data = b""
    while len(data) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before the whole response"
        data += chunk
    closed = sock.recv(1) == b""  # a stopping server keeps no connection alive
    sock.close()
    return int(head.split()[1]), json.loads(data), closed


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1)  # byte by byte: what follows the head belongs to the next read
        assert chunk, f"the server closed the connection: {data!r}"
        data += chunk
    return data


def refused(address) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_finishes_the_requests_in_flight_refuses_new_ones_and_exits_0(tiny_run):
    from emodraw.serve import spawn_server

    proc, url = spawn_server(tiny_run.checkpoints["best"], "--body-timeout", "60", timeout_s=60)
    try:
        address = (urlsplit(url).hostname, urlsplit(url).port)
        held = [
            held_request(address, {"text": TEXT}),
            held_request(address, {"texts": [TEXT * 4] * 64}),  # the largest batch a request may hold
            held_request(address, {"text": "i am scared"}),
        ]
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not refused(address):
            assert time.monotonic() < deadline, "still accepting connections 10 s after SIGTERM"
            time.sleep(0.05)
        assert proc.poll() is None, "exited with requests in flight"
        answers = [answer(sock, body) for sock, body in held]
        assert [status for status, _, _ in answers] == [200, 200, 200], answers
        assert set(answers[0][1]) >= {"label", "scores"} and len(answers[1][1]["results"]) == 64
        assert all(closed for _, _, closed in answers)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    output = proc.output()
    assert "Traceback" not in output and "ERROR" not in output, output


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_idle_server_stops_at_once_with_status_0(tiny_run, stop):
    from emodraw.serve import spawn_server

    proc, _ = spawn_server(tiny_run.checkpoints["best"], timeout_s=60)
    try:
        started = time.monotonic()
        proc.send_signal(stop)
        assert proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert "Traceback" not in proc.output(), proc.output()


@pytest.mark.parametrize("access_log", [False, True], ids=["quiet", "access-log"])
def test_serve_runs_uvicorn_with_a_shutdown_deadline_and_the_log_asked_for(fake_classifier, monkeypatch, access_log):
    """How serve() sets uvicorn up, without a server: the deadline for requests in flight once stopped, the
    access log only with --access-log, the model's load time handed to the app, and a log line that names
    the model without the path of the server's disk."""
    import logging

    import emodraw.inference.classifier as classifier_module
    import emodraw.serve.runner as runner
    from emodraw.serve import ServeOptions

    monkeypatch.setattr(classifier_module.Classifier, "load", classmethod(lambda cls, *a, **k: fake_classifier))
    servers, lines = [], []
    monkeypatch.setattr(runner, "run_until_stopped", servers.append)
    runner.serve("/srv/models/fake-model", port=8123, options=ServeOptions(access_log=access_log), log=lines.append)
    config = servers[0].config
    assert config.timeout_graceful_shutdown == runner.GRACEFUL_SHUTDOWN_S and config.access_log is access_log
    assert logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO) is access_log
    assert not logging.getLogger("uvicorn.error").isEnabledFor(logging.INFO)  # no start and stop chatter
    assert lines == ["emodraw serving fake-model on http://127.0.0.1:8123/ (API docs: /docs)"]
    load_seconds = config.app.state.metrics.registry.get_sample_value("emodraw_model_load_seconds")
    assert load_seconds is not None and load_seconds >= 0
