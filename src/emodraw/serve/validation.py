"""What the server accepts: a body read whole under a size limit and a deadline before parsing, and the
checks of a /predict body.

Bad input never reaches the model: a body over the limit is 413, one not sent in time 408; invalid JSON,
a missing, non-string or empty text, a text that is not valid Unicode (a lone surrogate such as the JSON
escape "\\ud800") or holds a NUL, or too many texts is 422 with a JSON error naming the problem.
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi.responses import JSONResponse

from emodraw.data.records import text_problem

log = logging.getLogger("emodraw.serve")

MAX_BODY_BYTES = 1 << 20
MAX_TEXTS = 64


def error(status: int, message: str, *, close: bool = False, headers: dict | None = None) -> JSONResponse:
    """Every error the server gives: `{"error": message}`. `close`: the connection is not kept alive (the
    rest of the request body was not read)."""
    headers = {**(headers or {}), **({"Connection": "close"} if close else {})}
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


class BodyGuard:
    """ASGI middleware: the whole request body is read here, under a size limit and a deadline, before the
    app sees the request -- so a request holds an in-flight slot and the model only once its body is in.

    Over the limit (by Content-Length, or a chunked body growing past it): 413. Not complete within
    `timeout_s` of the headers (a client sending one byte a second): 408, and the connection is closed.
    A client that disconnects mid-body: nothing to answer; one debug line, never a traceback."""

    def __init__(self, app, limit: int, timeout_s: float):
        self.app, self.limit, self.timeout_s = app, limit, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await error(413, f"request body over {self.limit} bytes")(scope, receive, send)
        try:
            body = await asyncio.wait_for(self._read(receive), self.timeout_s)
        except _TooLarge:
            return await error(413, f"request body over {self.limit} bytes", close=True)(scope, receive, send)
        except asyncio.TimeoutError:
            message = f"request body not received within {self.timeout_s:g} s"
            return await error(408, message, close=True)(scope, receive, send)
        except _Disconnected:
            log.debug("client %s disconnected before sending its whole request", _client(scope))
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:  # after the body: whatever the server says next (a disconnect)
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _client(scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "?"


def parse_predict(body: bytes, max_texts: int) -> tuple[list[str], bool] | str:
    """(texts, single) from a /predict body, or an error message for a 422."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(payload, dict):
        return 'expected a JSON object: {"text": "..."} or {"texts": ["...", ...]}'
    if ("text" in payload) == ("texts" in payload):
        return 'give exactly one of "text" or "texts"'
    if "text" in payload:
        texts, single = [payload["text"]], True
    else:
        texts, single = payload["texts"], False
        if not isinstance(texts, list) or not texts:
            return '"texts" must be a non-empty list of strings'
        if len(texts) > max_texts:
            return f'"texts" has {len(texts)} items; at most {max_texts} per request'
    for i, text in enumerate(texts):
        where = '"text"' if single else f'"texts"[{i}]'
        if not isinstance(text, str):
            return f"{where} must be a string"
        if not text.strip():
            return f"{where} is empty"
        if problem := text_problem(text):  # a lone surrogate or a NUL: the tokenizer would fail or lose it
            return f"{where}: {problem}"
    return texts, single


def predict_schema(max_texts: int) -> dict:
    """The OpenAPI request body of /predict (the route reads the raw body to give its own errors)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string", "minLength": 1},
                            "texts": {
                                "type": "array",
                                "items": {"type": "string", "minLength": 1},
                                "minItems": 1,
                                "maxItems": max_texts,
                            },
                        },
                    }
                }
            },
        }
    }
