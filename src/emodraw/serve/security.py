"""Who may use the server (issue #20): an optional API key, and a warning when it listens beyond loopback.

With a key, every request needs `Authorization: Bearer <key>` (401 with `WWW-Authenticate: Bearer`
otherwise) except the Emotion Draw page and the API docs with their assets: they hold no data and run
no model, and a browser opening a URL cannot send the header. The page then asks for the key and sends
it with its own requests, and the docs' "Authorize" button does the same for "Try it out".
"""

from __future__ import annotations

import hmac
import ipaddress

from emodraw.errors import ConfigError
from emodraw.serve.validation import error


class Secret(bytes):
    """The key's bytes, shown as <hidden> wherever something prints them (a repr, a traceback, a log)."""

    def __repr__(self) -> str:
        return "<hidden>"


def check_api_key(key: str | None) -> Secret | None:
    """The key as the bytes a header carries, or None for no key; ConfigError for one no header can carry."""
    if key is None:
        return None
    if not key.strip() or not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        # never repeat the key itself in a message
        raise ConfigError("API key: must be printable ASCII without spaces, and not empty")
    return Secret(key.encode("ascii"))


class BearerAuth:
    """ASGI middleware: 401 for any request outside `open_paths` / `open_prefixes` without the key.
    Outermost, so a refused request is answered before its body is read or the model runs."""

    def __init__(self, app, key: bytes, open_paths: set[str], open_prefixes: tuple[str, ...]):
        self.app, self.key = app, key
        self.open_paths, self.open_prefixes = open_paths, open_prefixes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self._open(scope) or self._authorised(scope):
            return await self.app(scope, receive, send)
        response = error(
            401,
            "missing or wrong API key: send the header `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": 'Bearer realm="emodraw"'},
        )
        await response(scope, receive, send)

    def _open(self, scope) -> bool:
        path = scope["path"]
        return scope["method"] in ("GET", "HEAD") and (path in self.open_paths or path.startswith(self.open_prefixes))

    def _authorised(self, scope) -> bool:
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                # compare_digest: the time taken does not tell an attacker how much of a guess was right
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)
        return False


def bearer_openapi(app) -> None:
    """Declare the bearer scheme in the app's OpenAPI schema, so /docs offers "Authorize"."""
    build = app.openapi

    def openapi():
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        schema["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning line to log when `host` is reachable from other machines, or None on loopback."""
    if is_loopback(host):
        return None
    if api_key is None:
        return (
            f"warning: serving on {host}, not a loopback address, with no authentication: anyone who can reach "
            "this machine can use it; set an API key with --api-key or EMODRAW_API_KEY"
        )
    return (
        f"warning: serving on {host}, not a loopback address: every request needs the API key, and travels "
        "as plain HTTP (put TLS in front of it beyond a trusted network)"
    )
