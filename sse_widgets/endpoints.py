"""``@sse_widgets.endpoint``: serve a function of this process as a request-scoped SSE endpoint.

The decorated function stays callable as before. The hub (Jupyter server, standalone or
embedded) then answers ``POST <hub>/api/endpoints/<name>`` by calling it in this process, in a
thread of its own, with the JSON body as keyword arguments, and streams what it produces back
to that one caller (see endpoint_runner.py and docs/endpoints.md).

The process reaches the hub the way publishing does (``connect()``, the environment, or an
embedded hub). Per endpoint one daemon thread keeps a *feed* open: ``POST
api/endpoints/<name>/workers`` with the function's description, whose answer is an SSE stream
of ``call`` and ``cancel`` messages. The thread reconnects when the feed drops, with the same
worker id, so the hub keeps the calls that are running (see server/endpoints.py).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .endpoint_runner import HELPER_PARAMETERS, Call, run_call
from .errors import InvalidRequest, NotAuthorized
from .names import validate_channel_name
from .protocol import EventParser
from .publisher import Publisher, get_publisher
from .transport import TOKEN_HEADER

__all__ = ["Endpoint", "endpoint"]

log = logging.getLogger("sse_widgets.endpoints")
F = TypeVar("F", bound=Callable[..., Any])
#: One id per process: the hub tells this process's registrations from those of others.
_WORKER_ID = secrets.token_hex(8)
_endpoints: dict[tuple[int, str], Endpoint] = {}
_lock = threading.Lock()


def describe(
    name: str, function: Callable[..., Any], max_concurrency: int | None
) -> dict[str, Any]:
    """What the hub lists for ``function`` (its callers' view: helper parameters left out)."""
    try:  # ``from __future__ import annotations`` leaves strings; show the real types
        signature = inspect.signature(function, eval_str=True)
    except Exception:  # noqa: BLE001 - a name the module cannot resolve: keep the text
        signature = inspect.signature(function)
    shown = [p for p in signature.parameters.values() if p.name not in HELPER_PARAMETERS]
    parameters = []
    for p in shown:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.kind is p.POSITIONAL_ONLY:
            raise TypeError(
                f"endpoint {name!r}: parameter {p.name!r} is positional-only; callers pass "
                "keyword arguments (a JSON object)"
            )
        entry: dict[str, Any] = {
            "name": p.name,
            "required": p.default is p.empty,
            "annotation": None if p.annotation is p.empty else _annotation(p.annotation),
        }
        if p.default is not p.empty:
            with contextlib.suppress(TypeError, ValueError):
                json.dumps(p.default, allow_nan=False)
                entry["default"] = p.default
        parameters.append(entry)
    return {
        "worker": _WORKER_ID,
        "signature": str(signature.replace(parameters=shown)),
        "doc": inspect.getdoc(function) or "",
        "parameters": parameters,
        "accepts_any": any(p.kind is p.VAR_KEYWORD for p in shown),
        "max_concurrency": max_concurrency,
    }


def _annotation(annotation: Any) -> str:
    return (
        annotation
        if isinstance(annotation, str)
        else getattr(annotation, "__name__", repr(annotation))
    )


class Endpoint:
    """A function served as an endpoint; calling it calls the function directly.

    ``close()`` stops serving it. ``path`` is the endpoint's path below the hub's URL.
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        *,
        max_concurrency: int | None,
        publisher: Publisher,
    ) -> None:
        self.name = name
        self.function = function
        self.max_concurrency = max_concurrency
        self.publisher = publisher
        self.path = f"api/endpoints/{name}"
        self.calls: dict[str, Call] = {}
        self.registered = threading.Event()
        self._description = describe(name, function, max_concurrency)
        self._closed = False
        self._socket: socket.socket | None = None
        self._connection: Any = None
        self._thread = threading.Thread(
            target=self._serve, name=f"sse-widgets-endpoint-{name}", daemon=True
        )
        self.__wrapped__ = function
        self.__doc__ = function.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<sse_widgets.Endpoint {self.name!r} at {self.publisher.address.url}{self.path}>"

    @property
    def url(self) -> str:
        """The endpoint's full URL on the hub."""
        return self.publisher.address.url + self.path

    def start(self, wait: float = 5.0) -> None:
        """Start serving; wait up to ``wait`` seconds for the hub to list the endpoint."""
        self._thread.start()
        if not self.registered.wait(wait):
            log.warning(
                "sse_widgets: endpoint %r is not registered with the hub at %s yet; retrying "
                "in the background",
                self.name,
                self.publisher.address.url,
            )

    def replace(self, function: Callable[..., Any], max_concurrency: int | None) -> None:
        """Serve a new definition (a re-run cell); calls already running keep the old one."""
        description = describe(self.name, function, max_concurrency)
        self.function, self.max_concurrency = function, max_concurrency
        self.__wrapped__, self.__doc__ = function, function.__doc__
        if description != self._description:
            self._description = description
            self.registered.clear()
            self._drop_connection()  # reconnects with the new description, same worker id
            self.registered.wait(5.0)

    def close(self) -> None:
        """Stop serving: the hub forgets the endpoint; running calls are cancelled."""
        self._closed = True
        for call in list(self.calls.values()):
            call.cancel("the endpoint was closed")
        self._drop_connection()
        with _lock:
            key = (id(self.publisher), self.name)
            if _endpoints.get(key) is self:
                del _endpoints[key]

    # -- the feed thread ---------------------------------------------------------------------

    def _drop_connection(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _serve(self) -> None:
        delay = 0.1
        while not self._closed:
            try:
                self._read_feed()
                delay = 0.1
            except (NotAuthorized, InvalidRequest) as exc:
                log.error("sse_widgets: the hub refused endpoint %r: %s", self.name, exc)
                if getattr(exc, "status", 400) < 500 and not isinstance(exc, NotAuthorized):
                    return  # a bad description does not get better by retrying
            except Exception as exc:  # noqa: BLE001 - keep serving whatever happened
                if not self._closed:
                    log.debug("sse_widgets: endpoint %r feed ended (%s)", self.name, exc)
            if not self._closed:
                threading.Event().wait(delay)
                delay = min(delay * 2, 5.0)

    def _read_feed(self) -> None:
        address = self.publisher.address
        connection = address.connection(timeout=120.0)
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.publisher.token:
            headers[TOKEN_HEADER] = self.publisher.token
        try:
            body = json.dumps(self._description).encode()
            connection.request("POST", address.path(self.path + "/workers"), body, headers)
            self._socket = connection.sock
            response = connection.getresponse()
            if response.status != 200:
                from .publisher import _raise_for_reply

                _raise_for_reply(response.status, response.read().decode("utf-8", "replace"))
            self.registered.set()
            parser = EventParser()
            while not self._closed and (chunk := response.read1(65536)):
                for message in parser.feed(chunk):
                    self._handle(message.event, json.loads(message.data or "null"))
        finally:
            self._socket = None
            connection.close()

    def _handle(self, kind: str, data: Any) -> None:
        if kind == "call":
            call_id = data["id"]
            if call_id in self.calls:
                return  # re-sent after a reconnect: it is running already
            call = self.calls[call_id] = Call(call_id, self.name, self.publisher)
            thread = threading.Thread(
                target=self._run,
                args=(self.function, call, data.get("arguments") or {}),
                name=f"sse-widgets-call-{self.name}",
                daemon=True,
            )
            thread.start()
        elif kind == "cancel":
            running = self.calls.get(data["id"])
            if running is not None:
                running.cancel(data.get("reason") or "cancelled")

    def _run(self, function: Callable[..., Any], call: Call, arguments: dict[str, Any]) -> None:
        try:
            run_call(function, call, arguments)
        finally:
            self.calls.pop(call.id, None)


@overload
def endpoint(name: F, /) -> Endpoint: ...
@overload
def endpoint(
    name: str | None = None,
    /,
    *,
    max_concurrency: int | None = None,
    publisher: Publisher | None = None,
) -> Callable[[F], Endpoint]: ...
def endpoint(
    name: Any = None,
    /,
    *,
    max_concurrency: int | None = None,
    publisher: Publisher | None = None,
) -> Any:
    """Serve the decorated function at ``POST <hub>/api/endpoints/<name>``.

    The function may be a generator (each yielded value is one event), a plain function (its
    return value is the ``complete`` event), or their async forms. Parameters named ``call``,
    ``progress`` or ``log`` receive the call's :class:`~sse_widgets.Call` helper, its
    ``progress`` and its ``log``; the others come from the request's JSON body.
    ``max_concurrency`` bounds the calls this process runs at once (the hub answers 429
    beyond it; default ``c.SSEWidgets.endpoint_concurrency``, 4). Defining the same name again
    (re-running a cell) serves the new definition.

    Example::

        @sse_widgets.endpoint("summarize")
        def summarize(text: str, sentences: int = 3, progress=None):
            for step in progress(range(sentences), desc="summarizing"):
                yield {"sentence": step}
            return {"summary": text[:80]}
    """
    if callable(name):
        return endpoint()(name)
    if max_concurrency is not None and (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ValueError(f"max_concurrency must be a positive int, not {max_concurrency!r}")

    def decorate(function: F) -> Endpoint:
        if not callable(function):
            raise TypeError(f"@endpoint decorates a function, not {type(function).__name__}")
        chosen = validate_channel_name(name if name is not None else function.__name__)
        target = publisher or get_publisher()
        with _lock:
            served = _endpoints.get((id(target), chosen))
            if served is None or served._closed:
                served = Endpoint(
                    chosen, function, max_concurrency=max_concurrency, publisher=target
                )
                _endpoints[(id(target), chosen)] = served
                fresh = True
            else:
                fresh = False
        if fresh:
            served.start()
        else:
            served.replace(function, max_concurrency)
        return served

    return decorate
