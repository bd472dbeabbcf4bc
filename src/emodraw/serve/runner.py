"""Running the app: load the model, build the app (emodraw.serve.app) and serve it with uvicorn until stopped.

Stopping: SIGTERM (what `docker stop`, Kubernetes and systemd send) or Ctrl-C closes the listening socket at
once -- a new connection is refused, so a load balancer moves on -- lets the requests in flight finish, for
up to GRACEFUL_SHUTDOWN_S, and exits with status 0.
"""

from __future__ import annotations

import copy
import signal
import threading
import time

from emodraw.serve.app import ServeOptions, create_app
from emodraw.serve.identity import model_name
from emodraw.serve.security import check_api_key, exposure_warning

# How long the requests in flight get to finish after SIGTERM before they are cancelled: under the 30 s that
# Kubernetes waits before it sends SIGKILL, and far more than a request needs (its body has body_timeout_s,
# 10 s by default; a batch of 64 texts takes well under a second on a CPU).
GRACEFUL_SHUTDOWN_S = 25
# uvicorn's own exit status when the server could not start (the port is taken, ...), kept as it was.
STARTUP_FAILURE = 3


def log_config(access_log: bool = False) -> dict:
    """uvicorn's logging, plus this package's logger ("emodraw.serve") through the same handler. uvicorn's
    own start and stop lines are left out (warnings and errors only); its access log, one line per request,
    only with `access_log`."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["emodraw.serve"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    for name in ("uvicorn", "uvicorn.error"):
        config["loggers"][name]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO" if access_log else "WARNING"
    return config


def serve(
    checkpoint,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    threads: int = 0,
    options: ServeOptions | None = None,
    revision: str | None = None,
    log=print,
) -> None:
    """Load `checkpoint` (a checkpoint, run or export folder, or a Hugging Face Hub id at `revision`) and serve
    it until SIGTERM or Ctrl-C."""
    import uvicorn

    from emodraw.inference.classifier import Classifier
    from emodraw.serve.connection import header_deadline_protocol

    options = options or ServeOptions()
    check_api_key(options.api_key)  # before the model loads: a bad key fails fast
    started = time.perf_counter()
    classifier = Classifier.load(checkpoint, revision=revision, threads=threads)
    app = create_app(classifier, options, load_seconds=time.perf_counter() - started)
    if warning := exposure_warning(host, options.api_key):
        log(warning)
    # The model's name, not its path: the log is often shipped where the server's disk layout is nobody's business.
    log(f"emodraw serving {model_name(classifier)} on http://{host}:{port}/ (API docs: /docs)")
    access_log = options.access_log
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=None,  # the levels are log_config's: a log_level here would override them
        log_config=log_config(access_log),
        access_log=access_log,
        http=header_deadline_protocol(options.body_timeout_s),
        timeout_keep_alive=5,  # uvicorn's default, said here: an idle keep-alive connection closes after 5 s
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    run_until_stopped(uvicorn.Server(config))


def run_until_stopped(server) -> None:
    """Run the uvicorn `server` until SIGTERM or Ctrl-C has stopped it gracefully; return normally then.

    Why not uvicorn.run: once stopped, uvicorn raises the signal that stopped it again, for the handler that
    was in place before it started; for SIGTERM that is the default one, which kills the process, so every
    graceful stop ended with exit status -15 (143 in a shell), which supervisors report as a failure. Our
    handler, in place before and after uvicorn's own, only asks the server to stop: a SIGTERM that arrives
    while uvicorn is still starting, before it installs its handler, stops it as well."""

    def stop(signum, frame):
        server.should_exit = True

    main = threading.current_thread() is threading.main_thread()  # only the main thread may handle signals
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C, raised again by uvicorn after its graceful stop, as uvicorn.run does
        pass
    finally:
        if main:  # None: the handler before was not set from Python (SIG_DFL then)
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
