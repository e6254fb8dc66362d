"""The hub as a plain Tornado application, for ``sse-widgets serve`` and the embedded hub.

Authentication is one token, generated at start like Jupyter's and printed in the URL;
``token=""`` turns it off, which the caller must ask for explicitly. The token is accepted
as ``Authorization: Bearer <token>`` (or ``token <token>``) or a ``token`` query argument
(for EventSource, which cannot set headers), or as the cookie the page sets after
``GET /?token=<token>`` (see ``page.py``). Cross-origin use is opt-in through
``c.SSEWidgets.allow_origins``.

The cookie holds an HMAC of the token, not the token: it is always plain hex (any token
can be used), and a cookie that leaks does not reveal the token to publish with elsewhere.
Browsers do not isolate cookies by port, so its name carries the port the browser used
(``sse_widgets_token_8765``): two hubs on one host (``serve`` and a kernel's embedded hub)
do not overwrite each other's login. A cookie rides along on requests the page did not
make, so a state-changing request authenticated only by it must come from the page's own
origin (``SameSite=Strict`` already keeps other sites out; this also covers other ports of
the same host, which count as the same site).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tornado.httpserver import HTTPServer
from tornado.log import access_log
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from ..errors import NotAuthorized
from ..hub import Hub
from ..transport import TOKEN_HEADER
from .config import SSEWidgets
from .handlers import ServerState, build_routes
from .page import page_routes

__all__ = [
    "COOKIE_NAME",
    "TokenAuth",
    "cookie_value",
    "make_app",
    "runtime_dir",
    "runtime_file",
    "serve_forever",
    "start_server",
]

_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(\S+)\s*\Z", re.IGNORECASE)
_CORS_HEADERS = (
    "Authorization, Content-Type, Last-Event-ID, Idempotency-Key, X-XSRFToken, " + TOKEN_HEADER
)


#: Prefix of the page's login cookie; the port the browser used is appended.
COOKIE_NAME = "sse_widgets_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_value(token: str) -> str:
    """What the login cookie holds for ``token``: an HMAC, never the token itself."""
    return hmac.new(token.encode(), b"sse_widgets page cookie v1", hashlib.sha256).hexdigest()


class TokenAuth(RequestHandler):
    """Authentication and CORS for the standalone server."""

    #: True once :meth:`supplied_token` found only the cookie (no header, no query).
    _by_cookie = False

    def cookie_name(self) -> str:
        """The login cookie's name for the host and port the browser addressed."""
        _, _, port = self.request.host.rpartition(":")
        return f"{COOKIE_NAME}_{port}" if port.isdigit() else COOKIE_NAME

    def supplied_token(self) -> str | None:
        """The credential sent: header, ``?token=``, else the page's cookie (as its HMAC)."""
        self._by_cookie = False
        direct = self.request.headers.get(TOKEN_HEADER)
        if direct:
            return direct
        header = self.request.headers.get("Authorization")
        if header:
            match = _AUTH_HEADER.match(header)
            return match.group(1) if match else None
        query = self.get_query_argument("token", None)
        if query is not None:
            return query
        cookie = self.get_cookie(self.cookie_name())
        if cookie:
            self._by_cookie = True
        return cookie

    def token_is_valid(self, supplied: str | None) -> bool:
        expected = self.settings["sse_widgets"].token
        if supplied is None:
            return False
        if self._by_cookie:
            expected = cookie_value(expected)
        return hmac.compare_digest(supplied.encode(), expected.encode())

    def authenticate(self, action: str, publish_token_ok: bool) -> None:
        expected = self.settings["sse_widgets"].token
        if not expected:
            return
        if not self.token_is_valid(self.supplied_token()):
            raise NotAuthorized(
                "missing or wrong token: send 'Authorization: Bearer <token>' or ?token=<token>, "
                "with the token printed by `sse-widgets serve`"
            )
        if self._by_cookie and self.request.method not in _SAFE_METHODS:
            self.check_same_origin()

    def check_same_origin(self) -> None:
        """Refuse a cookie-authenticated state change sent from another page (CSRF).

        Browsers send ``Origin`` on every POST and DELETE from a page, and ``Sec-Fetch-Site``
        too when they are recent; a request with neither is not from a browser page.
        """
        # Host and port only: behind a TLS-terminating proxy the browser's scheme (https)
        # differs from the one this server sees, and the scheme adds nothing on one port.
        origin = self.request.headers.get("Origin")
        site = self.request.headers.get("Sec-Fetch-Site")
        foreign = (
            origin is not None and urlsplit(origin).netloc.lower() != self.request.host.lower()
        )
        if foreign or site not in (None, "same-origin"):
            raise NotAuthorized(
                f"cross-origin request from {origin or site!r} refused: the page's login "
                "cookie only works from the page itself; send the token in a header instead"
            )

    def remember_login(self) -> None:
        """Set the login cookie for this browser (after the token was checked)."""
        token = self.settings["sse_widgets"].token
        if not token:
            return
        self.set_cookie(
            self.cookie_name(),
            cookie_value(token),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.request.protocol == "https",
        )

    def allowed_origin(self) -> str | None:
        origin = self.request.headers.get("Origin")
        allowed = self.settings["sse_widgets"].config.allow_origins
        if origin and ("*" in allowed or origin in allowed):
            return origin
        return None

    def set_default_headers(self) -> None:
        origin = self.allowed_origin()
        if origin is not None:
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
            # A cross-origin page reads an endpoint call's id to resume or cancel it.
            self.set_header("Access-Control-Expose-Headers", "X-SSE-Widgets-Call, Location")
            self.set_header("Vary", "Origin")

    def options(self, *args: str) -> None:
        """CORS preflight: browsers send it without credentials, so it reveals nothing."""
        if self.allowed_origin() is None:
            self.set_status(403)
        else:
            self.set_status(204)
            self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
            self.set_header("Access-Control-Allow-Headers", _CORS_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.finish()


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&]*")


def _log_request(handler: RequestHandler) -> None:
    """Tornado's access log, with ``?token=`` values scrubbed (they are credentials)."""
    status = handler.get_status()
    if not access_log.isEnabledFor(logging.INFO if status < 400 else logging.WARNING):
        return
    level = (
        access_log.info
        if status < 400
        else access_log.warning
        if status < 500
        else access_log.error
    )
    request = handler.request
    uri = _TOKEN_IN_QUERY.sub(r"\1[secret]", request.uri or "")
    level(
        "%d %s %s (%s) %.2fms",
        status,
        request.method,
        uri,
        request.remote_ip,
        1000.0 * request.request_time(),
    )


def _no_log(handler: RequestHandler) -> None:
    """No access log: the embedded hub runs inside the user's process and logging."""


def make_app(
    config: SSEWidgets, token: str, *, hub: Hub | None = None, access_log: bool = True
) -> Application:
    """The standalone Tornado application: the page at ``/`` and every endpoint below ``/``."""
    state = ServerState.create(hub or Hub(config.hub_config()), config, token)
    log_function = _log_request if access_log else _no_log
    # The page's routes first: the API's routes end with a catch-all 404.
    routes = page_routes("", TokenAuth) + build_routes("", TokenAuth)
    return Application(routes, sse_widgets=state, log_function=log_function)


def runtime_dir() -> Path:
    """Where running standalone servers announce themselves (``sse-widgets-<pid>.json``)."""
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


@contextmanager
def runtime_file(info: dict[str, Any]) -> Iterator[Path]:
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sse-widgets-{os.getpid()}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the token
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


async def start_server(
    config: SSEWidgets,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    access_log: bool = True,
) -> tuple[HTTPServer, Application, str, str]:
    """Bind and start serving; return (server, app, base URL, token). Port 0 picks a free one."""
    token = secrets.token_hex(24) if token is None else token
    hub = None
    if config.backend != "memory":
        # Shared channels: one clear error here when Redis cannot be reached.
        from ..backends.redis_hub import RedisHub

        hub = await RedisHub.connect(config.backend, config.hub_config())
    app = make_app(config, token, hub=hub, access_log=access_log)
    sockets = bind_sockets(port, host)
    server = HTTPServer(
        app, max_body_size=config.max_body_bytes + 65536, idle_connection_timeout=3600
    )
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return server, app, f"http://{shown}:{bound}/", token


async def serve_forever(
    config: SSEWidgets, *, host: str, port: int, token: str | None, quiet: bool = False
) -> None:
    """Run ``sse-widgets serve`` until cancelled; prints the URL with its token."""
    server, app, url, token = await start_server(config, host=host, port=port, token=token)
    hub: Hub = app.settings["sse_widgets"].hub
    hub.start()
    info = {"url": url, "token": token, "pid": os.getpid()}
    with runtime_file(info):
        if not quiet:
            suffix = f"?token={token}" if token else ""
            print(f"sse-widgets hub serving at {url}", flush=True)
            print(f"Open {url}{suffix} for the live page (it logs the browser in)", flush=True)
            print(f"    API: {url}api/channels{suffix}", flush=True)
            print(
                f"Publish from other shells: export SSE_WIDGETS_URL={url} "
                f"SSE_WIDGETS_TOKEN={token}",
                flush=True,
            )
            if not token:
                print(
                    "WARNING: authentication is off (--token ''): anyone who can reach "
                    "this port can read and publish.",
                    flush=True,
                )
        try:
            await asyncio.Event().wait()
        finally:
            server.stop()
            await hub.close()
