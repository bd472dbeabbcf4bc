"""What the server accepts: a body-size limit enforced before parsing, and the checks of a /predict body.

Bad input never reaches the model: a body over the limit is 413; invalid JSON, a missing, non-string
or empty text, or too many texts is 422 with a JSON error naming the problem.
"""

from __future__ import annotations

import json

from fastapi.responses import JSONResponse

MAX_BODY_BYTES = 1 << 20
MAX_TEXTS = 64


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit (413) before the JSON parser sees them, both when
    Content-Length says so and when a chunked body grows past it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._too_large(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send):
        response = error(413, f"request body over {self.limit} bytes")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


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
