"""The HTTP side of request-scoped endpoints (docs/endpoints.md); the logic is in endpoints.py.

- ``GET api/endpoints`` and ``GET api/endpoints/<name>``: what is served, with signatures.
- ``POST api/endpoints/<name>``: call it; the answer is the call's own event stream.
- ``GET api/endpoints/<name>/calls/<id>/events``: resume that stream (``Last-Event-ID``).
- ``DELETE api/endpoints/<name>/calls/<id>``: cancel the call.
- ``POST api/endpoints/<name>/workers``: a worker registers; the answer is its feed.

Authentication is the shared ``prepare`` of :class:`~.handlers.SSEHandlerBase`: calling and
cancelling are ``write``, listing and resuming ``read``; the publish token may do all of it.
"""

from __future__ import annotations

import json
from typing import Any

from tornado.web import HTTPError, stream_request_body

from ..names import validate_channel_name
from ..subscription import Subscription
from .bodies import JSON_TYPES, media_type
from .endpoints import CallState, EndpointInfo, EndpointRegistry
from .handlers import SSEHandlerBase, _allow_unauthenticated, _BoundedBody

__all__ = ["endpoint_routes"]

#: Tells the caller its call's id, for resuming (GET .../calls/<id>/events) and DELETE.
CALL_HEADER = "X-SSE-Widgets-Call"


class _EndpointBase(SSEHandlerBase):
    @property
    def endpoints(self) -> EndpointRegistry:
        return self.state.endpoints

    def json_body(self, body: bytes, *, empty: Any) -> Any:
        content_type = self.request.headers.get("Content-Type")
        if not body.strip():
            return empty
        if media_type(content_type) not in JSON_TYPES:
            raise HTTPError(
                415,
                f"unsupported Content-Type {content_type!r}: send application/json, a JSON "
                "object of the function's keyword arguments",
            )
        try:
            return json.loads(body)
        except ValueError as exc:
            raise HTTPError(400, f"malformed JSON body: {exc}") from None

    def named(self, name: str) -> str:
        return str(self.check_request(validate_channel_name, name))


class _CallStream(_EndpointBase):
    """Writes one call's events; the connection closing tells the registry."""

    _call: CallState | None = None
    _reader: Subscription | None = None

    async def stream_call(self, call: CallState, after: str | None) -> None:
        self._call = call
        self._reader = reader = self.endpoints.open_reader(call, after)
        prefix = self.request.path.split("/api/endpoints/")[0]
        self.set_header(CALL_HEADER, call.id)
        self.set_header(
            "Location", f"{prefix}/api/endpoints/{call.endpoint}/calls/{call.id}/events"
        )
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            # The headers leave now, so the caller knows the call's id (to resume or cancel
            # it) before the function's first event, however long that takes.
            await self.flush()
            await self.stream(reader)
        finally:
            self.endpoints.reader_gone(call, reader)

    def on_connection_close(self) -> None:
        if self._call is not None and self._reader is not None:
            self._reader.close("client-gone")
            self.endpoints.reader_gone(self._call, self._reader)
        super().on_connection_close()


class EndpointsHandler(_EndpointBase):
    """``GET api/endpoints``: every endpoint with its signature, docstring and load."""

    publish_token_methods = frozenset({"GET"})

    @_allow_unauthenticated
    def get(self) -> None:
        self.write_json({"endpoints": self.endpoints.describe()})


@stream_request_body
class EndpointHandler(_BoundedBody, _CallStream):
    """``GET``: one endpoint's description. ``POST``: call it and stream its events."""

    publish_token_methods = frozenset({"GET", "POST"})

    @_allow_unauthenticated
    def get(self, name: str) -> None:
        found = self.endpoints.describe(self.named(name))
        if not found:
            raise HTTPError(404, f"no endpoint named {name!r}")
        self.write_json(found[0])

    @_allow_unauthenticated
    async def post(self, name: str) -> None:
        name = self.named(name)
        if not self.endpoints.describe(name):  # say so before finding fault with the body
            self.check_request(self.endpoints.start_call, name, {})
        arguments = self.json_body(self.body(), empty={})
        window = next(iter(self.query_values("resume_window")), "0")
        try:
            seconds = float(window)
        except ValueError:
            raise HTTPError(
                400, f"resume_window must be a number of seconds, not {window!r}"
            ) from None
        call = self.check_request(self.endpoints.start_call, name, arguments, seconds)
        await self.stream_call(call, None)


class CallEventsHandler(_CallStream):
    """``GET api/endpoints/<name>/calls/<id>/events``: resume a call's stream."""

    publish_token_methods = frozenset({"GET"})

    @_allow_unauthenticated
    async def get(self, name: str, call_id: str) -> None:
        call = self.check_request(self.endpoints.call, self.named(name), call_id)
        await self.stream_call(call, self.last_event_id())


class CallHandler(_EndpointBase):
    """``DELETE api/endpoints/<name>/calls/<id>``: cancel a call (204)."""

    publish_token_methods = frozenset({"DELETE"})

    @_allow_unauthenticated
    def delete(self, name: str, call_id: str) -> None:
        call = self.check_request(self.endpoints.call, self.named(name), call_id)
        self.endpoints.cancel(call, "cancelled by request")
        self.set_status(204)
        self.finish()


@stream_request_body
class WorkersHandler(_BoundedBody, _EndpointBase):
    """``POST api/endpoints/<name>/workers``: register a worker; the answer is its feed."""

    publish_token_methods = frozenset({"POST"})

    @_allow_unauthenticated
    async def post(self, name: str) -> None:
        name = self.named(name)
        body = self.json_body(self.body(), empty=None)
        info = self.check_request(
            EndpointInfo.from_json, name, body, self.state.config.endpoint_concurrency
        )
        worker = body.get("worker")
        if not isinstance(worker, str) or not 8 <= len(worker) <= 64:
            raise HTTPError(400, '"worker" must be the worker\'s id, 8 to 64 characters')
        feed = self.endpoints.attach_worker(info, worker)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        try:
            await self.flush()  # the worker knows it is registered when the headers arrive
            await self.stream(feed)
        finally:
            self.endpoints.detach_worker(info, worker, feed)


def endpoint_routes() -> list[tuple[str, type]]:
    """The endpoint routes (below the hub's prefix), before authentication is mixed in."""
    name = "([^/]+)"
    return [
        ("/api/endpoints", EndpointsHandler),
        (f"/api/endpoints/{name}", EndpointHandler),
        (f"/api/endpoints/{name}/workers", WorkersHandler),
        (f"/api/endpoints/{name}/calls/{name}", CallHandler),
        (f"/api/endpoints/{name}/calls/{name}/events", CallEventsHandler),
    ]
