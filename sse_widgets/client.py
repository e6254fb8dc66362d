"""Reading event streams from Python: a resumable SSE client, sync and async.

:class:`EventStream` behaves like a browser's EventSource: it follows the server's
``retry:`` delay, reconnects after a drop with ``Last-Event-ID`` so nothing is lost or
repeated while the hub still has the history, stops on HTTP 204, and raises (instead of
retrying forever) when the server refuses the request with a 4xx. Iterate it with ``for`` in
sync code (``http.client``) or ``async for`` under asyncio or trio (anyio sockets).

Used by tests, ``sse-widgets tail`` and the kernel relay.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .errors import ChannelClosed, InvalidRequest, NotAuthorized
from .protocol import Event, EventParser
from .transport import HubAddress

__all__ = ["EventStream", "subscribe"]

_DEFAULT_RETRY_MS = 2000


class _Retry(Exception):
    """The connection ended or failed in a way a reconnect can mend."""


class EventStream:
    """Events from a hub (or any SSE endpoint), reconnecting and resuming by itself.

    ``url`` is either a hub base URL (``.../sse-widgets/`` or a standalone server's ``/``)
    together with ``channels``, or the full URL of any event stream.

    Example::

        stream = EventStream(url, channels=["demo"], token=token)
        for event in stream:
            print(event.event, event.json())
    """

    def __init__(
        self,
        url: str,
        *,
        channels: Sequence[str] = (),
        events: Sequence[str] = (),
        token: str | None = None,
        replay: str = "none",
        last_event_id: str | None = None,
        reconnect: bool = True,
        read_timeout: float = 60.0,
        stop_on_close: bool = True,
    ) -> None:
        address = HubAddress.parse(url)
        query: list[tuple[str, str]] = [("channel", c) for c in channels]
        query += [("event", e) for e in events]
        if replay != "none":
            query.append(("replay", replay))
        if channels:
            target = address.path("api/events")
        else:  # a full stream URL: keep its path and query as given
            parts = urlsplit(url)
            target = parts.path or "/"
            if parts.query:
                query = parse_qsl(parts.query, keep_blank_values=True) + query
        self.address = address
        self.target = target + ("?" + urlencode(query) if query else "")
        self.token = token
        self.reconnect = reconnect
        self.read_timeout = read_timeout
        self.stop_on_close = stop_on_close
        self.open_channels = set(channels)
        self.parser = EventParser(last_event_id or "")
        self.connections = 0  # how many times a response was opened (1 + reconnects)
        self._closed = False
        self._connection: Any = None
        self._socket: socket.socket | None = None
        self._async_response: Any = None
        self._pending: list[Event] = []

    @property
    def last_event_id(self) -> str:
        """The cursor a reconnect resumes from."""
        return self.parser.last_event_id

    def close(self) -> None:
        """Stop iterating; a read blocked in another thread returns at once."""
        self._closed = True
        sock, self._socket = self._socket, None
        if sock is not None:
            # Closing the connection alone would wait for the reading thread to release the
            # response's buffer lock; shutting the socket down makes its recv() return now.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._connection is not None:
            self._connection.close()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if self.parser.last_event_id:
            headers["Last-Event-ID"] = self.parser.last_event_id
        return headers

    def _handle(self, event: Event) -> bool:
        """Track ``close`` events; return False when the stream is finished."""
        if event.event != "close" or not self.stop_on_close:
            return True
        try:
            closed = json.loads(event.data or "null")
        except ValueError:
            closed = None
        if isinstance(closed, dict) and "channel" in closed:
            self.open_channels.discard(closed["channel"])
            return bool(self.open_channels)
        return False

    def _delay(self) -> float:
        return (self.parser.retry if self.parser.retry is not None else _DEFAULT_RETRY_MS) / 1000

    # -- sync ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Event]:
        while not self._closed:
            try:
                yield from self._one_response()
                return
            except _Retry:
                if not self.reconnect or self._closed:
                    return
                time.sleep(self._delay())

    def _one_response(self) -> Iterator[Event]:
        self.parser.reset()
        connection = self._connection = self.address.connection(self.read_timeout)
        try:
            try:
                connection.request("GET", self.target, headers=self._headers())
                self._socket = connection.sock
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise _Retry(str(exc)) from None
            _check_status(
                response.status,
                response.getheader("Content-Type"),
                lambda: response.read().decode("utf-8", "replace"),
            )
            if response.status == 204:
                return
            self.connections += 1
            while True:
                try:
                    chunk = response.read1(65536)
                except (OSError, ValueError, AttributeError, http.client.HTTPException) as exc:
                    if self._closed:
                        return
                    raise _Retry(str(exc)) from None
                if not chunk:
                    raise _Retry("the server ended the response")
                for event in self.parser.feed(chunk):
                    yield event
                    if not self._handle(event):
                        return
        finally:
            connection.close()

    # -- async (asyncio or trio) -----------------------------------------------------------
    # A plain async iterator rather than an async generator: breaking out of ``async for``
    # then leaves nothing for the garbage collector to finalize (trio warns about that).

    def __aiter__(self) -> EventStream:
        return self

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the current connection and stop iterating."""
        self._closed = True
        await self._drop_async()

    async def _drop_async(self) -> None:
        response, self._async_response = self._async_response, None
        if response is not None:
            await response.aclose()

    async def __anext__(self) -> Event:
        import anyio

        while True:
            if self._pending:
                event = self._pending.pop(0)
                if not self._handle(event):
                    self._closed = True
                    await self._drop_async()
                return event
            if self._closed:
                await self._drop_async()
                raise StopAsyncIteration
            try:
                if self._async_response is None:
                    await self._open_async()
                    continue
                chunk = await self._async_response.receive(self.read_timeout)
                if not chunk:
                    raise _Retry("the server ended the response")
                self._pending.extend(self.parser.feed(chunk))
            except (_Retry, OSError):
                await self._drop_async()
                if not self.reconnect or self._closed:
                    self._closed = True
                    raise StopAsyncIteration from None
                await anyio.sleep(self._delay())

    async def _open_async(self) -> None:
        from ._async_http import open_response

        self.parser.reset()
        response = await open_response(self.address, self.target, self._headers())
        if response.status != 200:
            body = await response.read_all()
            await response.aclose()
            _check_status(
                response.status,
                response.headers.get("content-type"),
                lambda: body.decode("utf-8", "replace"),
            )
            self._closed = True  # 204: the server asks us to stop
            return
        self.connections += 1
        self._async_response = response


def _check_status(status: int, content_type: str | None, read_body: Any) -> None:
    if status in (200, 204):
        if status == 200 and not (content_type or "").startswith("text/event-stream"):
            raise InvalidRequest(f"the server answered {content_type!r}, not text/event-stream")
        return
    if status >= 500 or status in (408, 429):
        raise _Retry(f"HTTP {status}")
    try:
        message = json.loads(read_body()).get("error", "")
    except (ValueError, AttributeError):
        message = ""
    if status == 403:
        raise NotAuthorized(f"HTTP 403: {message or 'check the token'}")
    if status == 410:
        raise ChannelClosed(message or "the stream is gone")
    raise InvalidRequest(f"HTTP {status}: {message}", status=status)


def subscribe(
    url: str, channels: Sequence[str], *, token: str | None = None, **options: Any
) -> EventStream:
    """A resumable stream of the given channels of the hub at ``url``.

    Example::

        for event in sse_widgets.subscribe(url, ["demo"], token=token):
            print(event.json())
    """
    if not channels:
        raise InvalidRequest("subscribe to at least one channel")
    return EventStream(url, channels=channels, token=token, **options)
