"""The HTTP server (`emodraw serve`): routes in `app`, uvicorn in `runner`, the micro-batcher in `batching`, what
requests are accepted in `validation`, a server in a child process for tests and benchmarks in `spawn`.

`from emodraw.serve import serve, create_app, ServeOptions, spawn_server` works as it did when
emodraw.serve was one module.
"""

from emodraw.serve.app import ServeOptions, create_app
from emodraw.serve.runner import serve
from emodraw.serve.spawn import spawn_server

__all__ = ["ServeOptions", "create_app", "serve", "spawn_server"]
