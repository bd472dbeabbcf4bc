"""`emodraw serve` in a child process, for benchmarks and tests that need a real server over real HTTP."""

from __future__ import annotations


def spawn_server(model, *options: str, timeout_s: float = 60.0):
    """`emodraw serve MODEL OPTIONS...` in a child process on a free 127.0.0.1 port. Returns (process,
    base URL) once /health answers (200, or 401 from a server that wants an API key); raises RuntimeError
    with the server's output if it exits or does not answer within `timeout_s`.

    The server's output (stdout and stderr) is read all along by a thread, so a chatty server never
    blocks on a full pipe; `process.output()` gives all of it so far (all of it once the process ended)."""
    import socket
    import subprocess
    import sys
    import threading
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
        errors="replace",
    )
    lines: list[str] = []

    def read():
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def output() -> str:
        if proc.poll() is not None:
            reader.join(timeout=10)
        return "".join(lines)

    proc.output = output
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code in (200, 401):
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"emodraw serve exited: {output()}")
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError(f"emodraw serve did not answer /health within {timeout_s:g} s: {output()}")
