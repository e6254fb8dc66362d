"""The endpoint form: a widget that calls one of the hub's endpoints from the browser.

The front-end (``js/src/endpoint-form.js``) describes the endpoint, shows a form and makes each
call itself (``POST api/endpoints/<name>``), so every viewer of a dashboard runs and sees only
their own calls, and the kernel carries none of it. Where the browser cannot reach the hub (the
embedded hub of VS Code or Colab: ``_hub_kind`` "relay"), the kernel makes the call for the
view in a daemon thread and forwards the hub's events as custom messages, tagged with the view
and its request number (one ``events`` message per chunk read, not per event)::

    view ──{"type": "describe" | "call" | "resume" | "stop" | "cancel", "view", "request", ...}──▶
    view ◀──{"type": "info" | "started" | "events" | "failed", "view", "request", ...}── kernel

Must not: parse frames other than with :class:`~sse_widgets.protocol.EventParser`, or wait on
the network in the kernel's message handler.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anywidget
import traitlets

from ..names import validate_channel_name
from ..protocol import EventParser
from ..publisher import get_publisher
from ..transport import TOKEN_HEADER
from ._base import _module
from .endpoint import browser_endpoint

__all__ = ["EndpointForm"]

log = logging.getLogger(__name__)

CALL_HEADER = "X-SSE-Widgets-Call"
READ_TIMEOUT = 120.0  # seconds without a byte: the hub pings an idle stream far more often
REQUEST_TIMEOUT = 10.0
RESUME_DELAYS = (0.25, 1.0, 2.0, 4.0, 8.0)  # waits before resuming a broken stream
_TERMINAL = frozenset({"complete", "error"})

# Forms per endpoint name in this process: "summarize#1" keys a form's running call in the
# browser's sessionStorage, the same after a page reload (and after a Voilà re-run).
_forms: Counter[str] = Counter()
_forms_lock = threading.Lock()

Send = Callable[..., None]


class EndpointForm(anywidget.AnyWidget):
    """A form for one endpoint of the hub: an input per parameter, Run, Cancel, and the call's
    progress bars, log lines, streamed text, yielded values and result.

    Each browser viewer makes its own calls. ``resume_window`` is how long a call outlives its
    page (a reloaded page resumes it); ``0`` cancels it when the page goes away.

    Example::

        from sse_widgets.widgets.endpoint_form import EndpointForm
        EndpointForm("summarize", arguments={"sentences": 2}, fields=["text"], button="Summarize")
    """

    endpoint = traitlets.Unicode(help="the endpoint's name").tag(sync=True)
    arguments = traitlets.Dict(
        help="argument values: defaults shown in the inputs, sent as they are for hidden ones"
    ).tag(sync=True)
    fields = traitlets.List(
        traitlets.Unicode(),
        default_value=None,
        allow_none=True,
        help="the parameters that get an input, in this order (None: all)",
    ).tag(sync=True)
    button = traitlets.Unicode("Run", help="the Run button's label").tag(sync=True)
    resume_window = traitlets.Float(
        60.0, min=0.0, help="seconds a call survives its page going away (0: cancel at once)"
    ).tag(sync=True)
    max_items = traitlets.Int(20, min=1, help="yielded values shown (the last ones)").tag(sync=True)
    max_log_lines = traitlets.Int(500, min=1, help="log lines kept").tag(sync=True)
    transport = traitlets.Enum(
        ("auto", "direct", "relay"), "auto", help="how the browser reaches the hub"
    ).tag(sync=True)
    _hub_kind = traitlets.Unicode("relay").tag(sync=True)
    _hub_url = traitlets.Unicode("").tag(sync=True)
    _hub_token = traitlets.Unicode("").tag(sync=True)
    _form_id = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        endpoint: str,
        *,
        hub_url: str | None = None,
        hub_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        endpoint = validate_channel_name(endpoint)
        kwargs.setdefault("_esm", _module("endpoint-form"))
        if hub_url is not None:
            hub = {"_hub_kind": "external", "_hub_url": hub_url, "_hub_token": hub_token or ""}
        else:
            found = browser_endpoint()
            hub = {"_hub_kind": found.kind, "_hub_url": found.url, "_hub_token": found.token}
        with _forms_lock:
            _forms[endpoint] += 1
            form_id = f"{endpoint}#{_forms[endpoint]}"
        super().__init__(endpoint=endpoint, _form_id=form_id, **hub, **kwargs)
        self._relay = _Relay(self)

    @traitlets.validate("endpoint")
    def _check_endpoint(self, proposal: dict[str, Any]) -> str:
        return validate_channel_name(proposal["value"])

    @traitlets.validate("arguments")
    def _check_arguments(self, proposal: dict[str, Any]) -> dict[str, Any]:
        value = proposal["value"]
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise traitlets.TraitError(
                f"arguments must be JSON values (str, int, float, bool, None, list, dict): {exc}"
            ) from None
        return dict(value)

    def close(self) -> None:
        """Stop the calls the kernel makes for this widget's views (not the browser's), close."""
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.close()
        super().close()

    def __repr__(self) -> str:
        return f"EndpointForm(endpoint={self.endpoint!r})"


class _Refused(Exception):
    """The hub answered a relayed request with a 4xx / 5xx JSON error."""

    def __init__(self, status: int, body: bytes) -> None:
        try:
            message = str(json.loads(body).get("error", ""))
        except (ValueError, AttributeError):
            message = body.decode("utf-8", "replace")
        super().__init__(message or f"HTTP {status}")
        self.status = status


def _headers(extra: dict[str, str]) -> dict[str, str]:
    token = get_publisher().token
    return {**extra, TOKEN_HEADER: token} if token else dict(extra)


def _ask(method: str, path: str, send: Send | None) -> None:
    """A short request to the hub: describe (its answer goes to the view) or cancel."""
    try:
        connection = get_publisher().address.connection(REQUEST_TIMEOUT)
        try:
            connection.request(method, path, headers=_headers({"Accept": "application/json"}))
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status >= 400:
            raise _Refused(response.status, body)
        if send is not None:
            send("info", info=json.loads(body))
    except _Refused as exc:  # a cancel's 404: the call had ended already
        if send is not None:
            send("failed", status=exc.status, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the form shows it
        if send is not None:
            send("failed", status=0, error=f"{type(exc).__name__}: {exc}")


class _RelayCall:
    """One view's call, made by the kernel: a daemon thread reads the stream and resumes it."""

    def __init__(self, send: Send, base: str, call: str | None, resumable: bool) -> None:
        self.send = send
        self.base = base  # the endpoint's path on the hub
        self.call = call
        self.resumable = resumable
        self.last_id = ""
        self.stopped = threading.Event()
        self.connection: http.client.HTTPConnection | None = None

    def stop(self) -> None:
        """Stop reading now: shutting the socket down wakes the thread out of its read (the
        thread closes the connection itself; closing it from here would race its read)."""
        self.stopped.set()
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def run(self, method: str, path: str, body: bytes | None) -> None:
        attempt = 0
        while not self.stopped.is_set():
            before = self.last_id
            try:
                if self._read(method, path, body):
                    return
                reason = "the stream ended before the call's last event"
            except _Refused as exc:
                self.send("failed", status=exc.status, error=str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - the network; or a read cut by stop()
                if self.stopped.is_set():
                    return
                reason = f"{type(exc).__name__}: {exc}"
            attempt = 0 if self.last_id != before else attempt
            if not self.resumable or self.call is None or attempt >= len(RESUME_DELAYS):
                why = f"could not resume it ({reason})" if self.resumable else "no resume window"
                self.send("failed", status=0, error=f"the connection to the hub broke: {why}")
                return
            if self.stopped.wait(RESUME_DELAYS[attempt]):
                return
            attempt += 1
            method, body = "GET", None
            path = f"{self.base}/calls/{quote(self.call, safe='')}/events"

    def _read(self, method: str, path: str, body: bytes | None) -> bool:
        """One request's stream; True once the terminal event was forwarded (or on stop)."""
        connection = get_publisher().address.connection(READ_TIMEOUT)
        self.connection = connection
        headers = {"Accept": "text/event-stream"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if method == "GET" and self.last_id:
            headers["Last-Event-ID"] = self.last_id
        try:
            connection.request(method, path, body, _headers(headers))
            response = connection.getresponse()
            if response.status >= 400:
                raise _Refused(response.status, response.read())
            if method == "POST":
                self.call = response.getheader(CALL_HEADER)
                self.send("started", call=self.call)
            parser = EventParser()
            while not self.stopped.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    return False
                batch: list[dict[str, str | None]] = []
                for event in parser.feed(chunk):
                    self.last_id = event.id or self.last_id
                    batch.append({"id": event.id, "event": event.event, "data": event.data})
                    if event.event in _TERMINAL:
                        break  # nothing comes after it
                if batch and not self.stopped.is_set():
                    self.send("events", events=batch)  # one message per chunk, not per event
                if batch and batch[-1]["event"] in _TERMINAL:
                    return True
            return True
        finally:
            connection.close()


class _Relay:
    """Serves the relay requests of one form's views: at most one call per view."""

    def __init__(self, widget: EndpointForm) -> None:
        self.widget = widget
        self.calls: dict[str, _RelayCall] = {}
        self.lock = threading.Lock()
        widget.on_msg(self._on_message)

    def _sender(self, view: str, request: Any) -> Send:
        def send(kind: str, **fields: Any) -> None:
            try:
                self.widget.send({"type": kind, "view": view, "request": request, **fields})
            except Exception:  # a closed comm: nobody is left to tell
                log.debug("endpoint relay: could not send to view %s", view, exc_info=True)

        return send

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        view = str(content.get("view", ""))
        send = self._sender(view, content.get("request"))
        base = get_publisher().address.path(f"api/endpoints/{quote(self.widget.endpoint, safe='')}")
        kind = content.get("type")
        call_id = content.get("call") if isinstance(content.get("call"), str) else None
        call_path = f"{base}/calls/{quote(call_id or '', safe='')}"
        if kind == "describe":
            _spawn(_ask, "GET", base, send)
        elif kind == "call":
            args = content.get("args")
            if not isinstance(args, dict):
                send("failed", status=400, error="the arguments must be a JSON object")
                return
            window = float(self.widget.resume_window)
            path = f"{base}?resume_window={window:g}" if window > 0 else base
            call = _RelayCall(send, base, None, resumable=window > 0)
            self._replace(view, call)
            _spawn(call.run, "POST", path, json.dumps(args).encode())
        elif kind == "resume" and call_id is not None:
            call = _RelayCall(send, base, call_id, resumable=True)
            self._replace(view, call)
            _spawn(call.run, "GET", f"{call_path}/events", None)
        elif kind in ("stop", "cancel"):
            self._replace(view, None)
            if kind == "cancel" and call_id is not None:
                _spawn(_ask, "DELETE", call_path, None)

    def _replace(self, view: str, call: _RelayCall | None) -> None:
        with self.lock:
            previous = self.calls.pop(view, None)
            if call is not None:
                self.calls[view] = call
        if previous is not None:
            previous.stop()

    def close(self) -> None:
        with self.lock:
            calls = list(self.calls.values())
            self.calls.clear()
        for call in calls:
            call.stop()


def _spawn(target: Callable[..., None], *args: Any) -> None:
    threading.Thread(target=target, args=args, name="sse-widgets-endpoint", daemon=True).start()
