"""What the server accepts: a body read whole under a size limit and a deadline before parsing, and the
checks of a /predict body.

Bad input never reaches the model: a body over the limit is 413, one not sent in time 408; invalid JSON,
a missing, non-string or empty text, a text that is not valid Unicode (a lone surrogate such as the JSON
escape "\\ud800") or holds a NUL, too many texts, an unknown field or parameter, or a parameter of the wrong
type is 422 with a JSON error naming the problem.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from emodraw.data.records import text_problem
from emodraw.serve.schemas import FUNCTIONS

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


@dataclass
class PredictBody:
    """A checked /predict body: the texts, the shape they came in (the answer's shape), the parameters."""

    texts: list[str]
    shape: str  # "text", "texts", "input" (inputs: one string) or "inputs" (inputs: a list)
    top_k: int | None = None
    function: str = "auto"  # softmax, sigmoid, none, or auto: the model's own (sigmoid when multi-label)
    explain: bool = False


SHAPES = ("text", "texts", "inputs")
PARAMETERS = ("top_k", "function_to_apply", "explain")


def parse_predict(body: bytes, max_texts: int) -> PredictBody | str:
    """The checked body of a /predict request, or an error message for a 422."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return "body is not valid JSON"
    if not isinstance(payload, dict):
        return 'expected a JSON object: {"text": "..."}, {"texts": ["...", ...]} or {"inputs": ...}'
    given = [key for key in SHAPES if key in payload]
    if len(given) != 1:
        return 'give exactly one of "text", "texts" or "inputs"'
    if unknown := sorted(set(payload) - {*SHAPES, "parameters"}):
        return f"unknown field {unknown[0]!r}: the body takes one of text, texts, inputs, and parameters"
    key = given[0]
    value = payload[key]
    if key == "text" or (key == "inputs" and not isinstance(value, list)):
        texts, shape, where = [value], "text" if key == "text" else "input", lambda i: f'"{key}"'
    else:
        texts, shape, where = value, key, lambda i: f'"{key}"[{i}]'
        if not isinstance(texts, list) or not texts:
            return f'"{key}" must be a non-empty list of strings'
        if len(texts) > max_texts:
            return f'"{key}" has {len(texts)} items; at most {max_texts} per request'
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            return f"{where(i)} must be a string"
        if not text.strip():
            return f"{where(i)} is empty"
        if problem := text_problem(text):  # a lone surrogate or a NUL: the tokenizer would fail or lose it
            return f"{where(i)}: {problem}"
    parsed = PredictBody(texts, shape)
    problem = _parameters(payload.get("parameters"), parsed)
    return problem or parsed


def _parameters(params, parsed: PredictBody) -> str | None:
    """Fill `parsed` from the "parameters" object; an error message if it is wrong. Null values mean the default,
    as the Hugging Face client sends them."""
    if params is None:
        return None
    if not isinstance(params, dict):
        return '"parameters" must be an object'
    if unknown := sorted(set(params) - set(PARAMETERS)):
        return f"unknown parameter {unknown[0]!r}: known are {', '.join(PARAMETERS)}"
    top_k, function, explain = (params.get(name) for name in PARAMETERS)
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            return '"parameters.top_k" must be a whole number >= 1, or null'
        parsed.top_k = top_k
    if function is not None:
        if function not in FUNCTIONS:
            return f'"parameters.function_to_apply" must be one of {", ".join(FUNCTIONS)}, or null'
        parsed.function = function
    if explain is not None:
        if not isinstance(explain, bool):
            return '"parameters.explain" must be true or false'
        parsed.explain = explain
    return None
