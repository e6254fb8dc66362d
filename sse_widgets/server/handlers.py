"""The HTTP endpoints of the wire contract (docs/http-api.md), independent of authentication.

Each handler here is a mixin over :class:`tornado.web.RequestHandler`. The two servers
combine them with their own authentication base (``extension.JupyterAuth`` uses the Jupyter
server's identity and authorizer; ``standalone.TokenAuth`` a token), through
:func:`build_routes`. Authentication happens in ``prepare``, before a body is read or a
stream opened, and every method goes through it: there is no anonymous path.

Errors are JSON: ``{"error": "<what is wrong and what to do>", "status": <code>}``.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tornado.iostream import StreamClosedError
from tornado.web import HTTPError, RequestHandler, stream_request_body

from ..errors import InvalidRequest, NotAuthorized, Unavailable
from ..hub import Hub
from ..names import validate_channel_name
from ..protocol import validate_field
from ..subscription import Subscription
from .bodies import CALL_TARGET, JSON_TYPES, media_type, parse_publish_body
from .config import SSEWidgets
from .endpoints import EndpointRegistry

__all__ = ["ServerState", "SSEHandlerBase", "build_routes"]

#: Every endpoint lives below ``{base_url}sse-widgets/`` in Jupyter and ``/`` standalone.
ROUTE_PREFIX = "sse-widgets"


class IdempotencyCache:
    """Replies to recent ``Idempotency-Key`` requests, bounded in bytes and in age.

    A retry comes within seconds of the original (the publisher retries with backoff up to a
    few seconds), so ten minutes and a few MiB are plenty, whatever the batch sizes.
    """

    def __init__(self, max_bytes: int = 4 * 1024 * 1024, max_age: float = 600.0) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._replies: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> bytes | None:
        entry = self._replies.get(key)
        if entry is None or time.monotonic() - entry[0] > self.max_age:
            return None
        return entry[1]

    def put(self, key: str, reply: bytes) -> None:
        now = time.monotonic()
        self._replies[key] = (now, reply)
        self._bytes += len(reply)
        replies = self._replies
        while replies and (
            self._bytes > self.max_bytes or now - next(iter(replies.values()))[0] > self.max_age
        ):
            _, (_, old) = replies.popitem(last=False)
            self._bytes -= len(old)


@dataclass
class ServerState:
    """What the handlers share, kept in ``web_app.settings["sse_widgets"]``."""

    hub: Hub
    config: SSEWidgets
    #: Standalone only: the token that grants everything ("" disables authentication).
    token: str | None = None
    idempotent_replies: IdempotencyCache = field(default_factory=lambda: IdempotencyCache())
    endpoints: EndpointRegistry = field(default_factory=lambda: EndpointRegistry())

    @classmethod
    def create(cls, hub: Hub, config: SSEWidgets, token: str | None = None) -> ServerState:
        """The state of a server whose limits come from ``config``."""
        endpoints = EndpointRegistry(
            default_concurrency=config.endpoint_concurrency,
            max_resume_window=config.endpoint_resume_window,
            retention=config.endpoint_retention,
            max_call_bytes=config.history_bytes,
            buffer_bytes=config.buffer_bytes,
            ping_interval=config.ping_interval,
        )
        return cls(hub=hub, config=config, token=token, endpoints=endpoints)


def _allow_unauthenticated(method: Any) -> Any:
    # Jupyter's prepare() would redirect unauthenticated GETs to its login page, and refuse
    # requests that carry only our publish token. Marking the method this way hands the
    # decision to SSEHandlerBase.prepare(), which always runs and answers 403.
    method.__allow_unauthenticated = True
    return method


class SSEHandlerBase(RequestHandler):
    """Shared plumbing: state, authentication hook, JSON errors, stream writing."""

    #: Methods that accept the per-server publish token instead of a user.
    publish_token_methods: frozenset[str] = frozenset()
    _subscription: Subscription | None = None

    @property
    def state(self) -> ServerState:
        return self.settings["sse_widgets"]

    @property
    def hub(self) -> Hub:
        return self.state.hub

    # -- authentication ----------------------------------------------------------------------
    # ``authenticate(action, publish_token_ok)`` comes from the server flavour mixed in after
    # this class (TokenAuth or JupyterAuth): it raises NotAuthorized (or HTTPError) unless
    # the request may perform ``action`` ("read" or "write"). It is not defined here, so
    # that the flavour's method is the one found.
    authenticate: Callable[[str, bool], Awaitable[None] | None]

    async def prepare(self) -> None:
        result = super().prepare()
        if isinstance(result, Awaitable):
            await result
        if self._finished or self.request.method == "OPTIONS":
            return
        method = self.request.method or "GET"
        action = "read" if method in ("GET", "HEAD") else "write"
        try:
            outcome = self.authenticate(action, method in self.publish_token_methods)
            if isinstance(outcome, Awaitable):
                await outcome
        except NotAuthorized as exc:
            raise HTTPError(403, str(exc)) from None

    # -- errors ----------------------------------------------------------------------------

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], HTTPError) and exc_info[1].log_message:
            message = exc_info[1].log_message
        elif status_code >= 500:
            message = "internal server error; the server log has the details"
        self.clear_header("Content-Encoding")
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"error": message, "status": status_code}))

    def check_request(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a hub call, turning its refusals into HTTP errors with their message."""
        try:
            return call(*args, **kwargs)
        except (InvalidRequest, Unavailable) as exc:
            raise HTTPError(exc.status, str(exc)) from None

    async def check_request_async(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`check_request` for the hub's awaitable calls."""
        try:
            return await call(*args, **kwargs)
        except (InvalidRequest, Unavailable) as exc:
            raise HTTPError(exc.status, str(exc)) from None

    def write_json(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(value))

    # -- streams ---------------------------------------------------------------------------

    def query_values(self, name: str) -> list[str]:
        """A query argument's values exactly as sent (UTF-8), without Tornado's stripping.

        Tornado's ``get_query_argument`` silently removes control characters; the wire
        contract wants a NUL in an event name or id refused, so we read the raw values.
        """
        try:
            return [v.decode("utf-8") for v in self.request.query_arguments.get(name, [])]
        except UnicodeDecodeError:
            raise HTTPError(400, f"query argument {name!r} is not valid UTF-8") from None

    def last_event_id(self) -> str | None:
        """The client's cursor: ``Last-Event-ID`` header, else ``last_event_id`` query."""
        raw = self.request.headers.get("Last-Event-ID")
        if raw is not None:
            # Tornado decodes header bytes as latin-1; ids are UTF-8 on the wire.
            raw = raw.encode("latin-1").decode("utf-8", "replace")
        else:
            raw = next(iter(self.query_values("last_event_id")), None)
        if raw:
            try:
                validate_field("Last-Event-ID", raw)
            except ValueError as exc:
                raise HTTPError(400, str(exc)) from None
        return raw or None

    async def open_subscription(self, keys: list[str], *, single: bool) -> Subscription:
        events = self.query_values("event") or None
        for name in events or ():
            try:
                validate_field("event name", name)
            except ValueError as exc:
                raise HTTPError(400, str(exc)) from None
        self.hub.start()
        return await self.check_request_async(
            self.hub.subscribe_async,
            keys,
            events=events,
            cursor=self.last_event_id(),
            replay=next(iter(self.query_values("replay")), "none"),
            single=single,
        )

    async def stream(self, sub: Subscription) -> None:
        """Write the subscription's frames until it closes or the client goes away."""
        self._subscription = sub
        sub.on_abort = self._abort_connection
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            while (chunk := await sub.next_chunk()) is not None:
                self.write(chunk)
                await self.flush()
                sub.written()
        except StreamClosedError:
            pass
        finally:
            self.hub.unsubscribe(sub, "client-gone")
        if not self.request.connection.stream.closed():  # type: ignore[union-attr]
            self.finish()

    def _abort_connection(self) -> None:
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.close()

    def on_connection_close(self) -> None:
        if self._subscription is not None:
            self.hub.unsubscribe(self._subscription, "client-gone")
        super().on_connection_close()


class _BoundedBody(SSEHandlerBase):
    """Reads a request body after authentication and refuses it past ``max_body_bytes``."""

    _body_parts: list[bytes]
    _body_size = 0

    async def prepare(self) -> None:
        await super().prepare()
        self._body_parts = []
        limit = self.state.config.max_body_bytes
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise HTTPError(
                413,
                f"request body of {declared} bytes is over the limit of "
                f"{limit} (c.SSEWidgets.max_body_bytes); send smaller batches",
            )

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size <= self.state.config.max_body_bytes:
            self._body_parts.append(chunk)
        else:
            self._body_parts = []  # keep reading to answer, but hold nothing

    def body(self) -> bytes:
        limit = self.state.config.max_body_bytes
        if self._body_size > limit:
            raise HTTPError(
                413,
                f"request body is over the limit of {limit} bytes "
                "(c.SSEWidgets.max_body_bytes); send smaller batches",
            )
        return b"".join(self._body_parts)

    async def publish_body(self, channel: str | None) -> None:
        key = self.request.headers.get("Idempotency-Key")
        replies = self.state.idempotent_replies
        if key is not None:
            if not key or len(key) > 200:
                raise HTTPError(400, "Idempotency-Key must have 1 to 200 characters")
            key = f"{self.request.path}\0{key}"
            cached = replies.get(key)
            if cached is not None:
                self.set_header("Idempotent-Replayed", "true")
                self.set_header("Content-Type", "application/json; charset=utf-8")
                self.finish(cached)
                return
        runs = self.check_request(
            parse_publish_body,
            self.hub,
            self.body(),
            self.request.headers.get("Content-Type"),
            channel=channel,
        )
        ids: list[str] = []
        for index, (target, items) in enumerate(runs):
            if target.startswith(CALL_TARGET):  # a worker's events for one endpoint call
                ids.extend(self.state.endpoints.record(target[len(CALL_TARGET) :], items))
                continue
            # Each run gets its own key: with a shared backend, a retry that reaches another
            # server process finds the runs that were published and publishes only the rest.
            run_key = None if key is None else f"{key}\0{index}"
            try:
                ids.extend(await self.hub.publish(target, items, idempotency_key=run_key))
            except (InvalidRequest, Unavailable) as exc:
                raise HTTPError(exc.status, str(exc)) from None
        reply = json.dumps({"ids": ids}).encode()
        if key is not None:
            replies.put(key, reply)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(reply)


@stream_request_body
class EventsHandler(_BoundedBody):
    """``GET api/events``: the multiplexed stream. ``POST api/events``: multi-channel batch."""

    # GET too: the kernel relay (widgets where the browser cannot reach the hub) reads with
    # the publish token, which only processes the server started have.
    publish_token_methods = frozenset({"GET", "POST"})

    @_allow_unauthenticated
    async def get(self) -> None:
        channels = self.query_values("channel")
        for name in channels:
            self.check_request(validate_channel_name, name)
        await self.stream(await self.open_subscription(channels, single=False))

    @_allow_unauthenticated
    async def post(self) -> None:
        await self.publish_body(None)


@stream_request_body
class ChannelEventsHandler(_BoundedBody):
    """``GET``: one channel's stream, ``data:`` is the payload. ``POST``: publish."""

    publish_token_methods = frozenset({"GET", "POST"})

    @_allow_unauthenticated
    async def get(self, channel: str) -> None:
        self.check_request(validate_channel_name, channel)
        await self.stream(await self.open_subscription([channel], single=True))

    @_allow_unauthenticated
    async def post(self, channel: str) -> None:
        self.check_request(validate_channel_name, channel)
        await self.publish_body(channel)


@stream_request_body
class ControlHandler(_BoundedBody):
    """``POST``: a viewer's message to the producer. ``GET``: the producer's control stream."""

    publish_token_methods = frozenset({"GET", "POST"})

    @_allow_unauthenticated
    async def get(self, channel: str) -> None:
        key = self.check_request(self.hub.control_key, channel)
        await self.stream(await self.open_subscription([key], single=True))

    @_allow_unauthenticated
    async def post(self, channel: str) -> None:
        self.check_request(validate_channel_name, channel)
        content_type = self.request.headers.get("Content-Type")
        if media_type(content_type) not in JSON_TYPES:
            raise HTTPError(
                415,
                f"unsupported Content-Type {content_type!r}: send "
                'application/json like {"event": "cancel", "data": {"bar": "..."}}',
            )
        [(_, items)] = self.check_request(
            parse_publish_body, self.hub, self.body(), content_type, channel=channel
        )
        ids = await self.check_request_async(self.hub.publish_control_async, channel, items)
        self.write_json({"ids": ids})


class ChannelsHandler(SSEHandlerBase):
    """``GET api/channels``: every channel with subscriber count and last id."""

    publish_token_methods = frozenset({"GET"})

    @_allow_unauthenticated
    async def get(self) -> None:
        self.write_json({"channels": await self.hub.channels_async(), "head": self.hub.head})


class ChannelHandler(SSEHandlerBase):
    """``DELETE api/channels/<channel>``: end a channel; its streams get ``close``."""

    @_allow_unauthenticated
    async def delete(self, channel: str) -> None:
        if not await self.check_request_async(self.hub.delete_channel_async, channel):
            raise HTTPError(404, f"no channel named {channel!r}")
        self.set_status(204)
        self.finish()


class NotFoundHandler(SSEHandlerBase):
    """Anything else below the prefix: a JSON 404 (after authentication, like the rest)."""

    @_allow_unauthenticated
    def get(self, *args: str) -> None:
        raise HTTPError(404, f"unknown endpoint {self.request.path!r}; see docs/http-api.md")

    post = put = delete = patch = head = get


def build_routes(prefix: str, auth_base: type) -> list[tuple[str, type]]:
    """Routes for every endpoint below ``prefix`` (no trailing slash), with ``auth_base``
    mixed in for authentication.

    >>> from sse_widgets.server.standalone import TokenAuth
    >>> [pattern for pattern, _ in build_routes("/x", TokenAuth)][0]
    '/x/api/events'
    """
    from .endpoint_handlers import endpoint_routes

    name = "([^/]+)"  # any segment: the handler answers 400 naming what is wrong with it
    endpoints = [
        ("/api/events", EventsHandler),
        ("/api/channels", ChannelsHandler),
        (f"/api/channels/{name}", ChannelHandler),
        (f"/api/channels/{name}/events", ChannelEventsHandler),
        (f"/api/channels/{name}/control", ControlHandler),
        *endpoint_routes(),
        ("/(.*)", NotFoundHandler),
    ]
    routes = []
    for path, logic in endpoints:
        handler = type(logic.__name__, (logic, auth_base), {"__module__": auth_base.__module__})
        routes.append((prefix + path, handler))
    return routes
