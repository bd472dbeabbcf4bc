"""`emodraw serve` in a child process, for benchmarks and tests that need a real server over real HTTP."""

from __future__ import annotations


def spawn_server(model, *options: str, timeout_s: float = 60.0):
    """`emodraw serve MODEL OPTIONS...` in a child process on a free 127.0.0.1 port. Returns (process,
    base URL) once /health answers; raises RuntimeError with the server's output if it exits or does not
    answer within `timeout_s`."""
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
