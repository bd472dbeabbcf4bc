"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's headers.

Why: uvicorn times out a connection only while it is idle between requests (`timeout_keep_alive`);
any byte resets that, so a client sending its headers one byte a second held a connection for ever.
Here a connection that has not delivered a request's complete headers within `timeout_s` of opening
(or of its previous response) is answered 408 and closed; one that sent nothing is just closed, as an
idle keep-alive connection is. The body has its own deadline, in emodraw.serve.validation.BodyGuard.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol


def _timeout_response(timeout_s: float) -> bytes:
    body = json.dumps({"error": f"request headers not received within {timeout_s:g} s"}).encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(body), body)
    )


def header_deadline_protocol(timeout_s: float) -> type[H11Protocol]:
    """An H11Protocol class (uvicorn's `http=`) that enforces a header deadline of `timeout_s`."""

    class HeaderDeadlineProtocol(H11Protocol):
        _header_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._expect_headers()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._expect_headers()

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _expect_headers(self) -> None:
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(timeout_s, self._headers_late, self.cycle)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self, cycle) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.cycle is not cycle:
                return  # the client left, or a new request's headers came in time (it got a new cycle)
            if cycle is not None and not cycle.response_complete:
                return  # a request is being answered (a pipelined one); its response re-arms the deadline
            if self.conn.trailing_data[0]:  # part of a request arrived: say why it is cut off
                self.transport.write(_timeout_response(timeout_s))
            self.transport.close()

    return HeaderDeadlineProtocol
