"""The jupyter_server extension: mounts the endpoints under ``{base_url}sse-widgets/``.

Enabled on install by ``jupyter-config/jupyter_server_config.d/sse_widgets.json``. At load it
builds the hub from ``c.SSEWidgets`` and exports ``SSE_WIDGETS_URL`` and
``SSE_WIDGETS_TOKEN`` into ``os.environ``: kernels inherit the server's environment when they
start, so notebook code publishes here with no configuration.

Authentication is Jupyter's: the user from the server's identity provider (cookie or token),
checked by its authorizer on resource ``"sse_widgets"`` (``read`` to subscribe, ``write`` to
publish, control or delete), or the publish token for the publish and control endpoints.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop
from tornado.web import HTTPError

from ..errors import BackendUnavailable, NotAuthorized
from ..hub import Hub
from .config import SSEWidgets
from .handlers import ROUTE_PREFIX, ServerState, build_routes

__all__ = ["JupyterAuth", "SSEWidgetsExtension", "hub_url"]

_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(\S+)\s*\Z", re.IGNORECASE)
PUBLISH_TOKEN_HEADER = "X-SSE-Widgets-Token"


class JupyterAuth(JupyterHandler):
    """Jupyter identity and authorizer, plus the publish token where a handler allows it."""

    auth_resource = "sse_widgets"

    def publish_token_valid(self) -> bool:
        supplied = self.request.headers.get(PUBLISH_TOKEN_HEADER)
        if supplied is None:
            match = _AUTH_HEADER.match(self.request.headers.get("Authorization", ""))
            supplied = match.group(1) if match else None
        if not supplied:
            return False
        expected = self.settings["sse_widgets"].config.publish_token
        return hmac.compare_digest(supplied.encode(), expected.encode())

    def check_xsrf_cookie(self) -> None:
        # A publish-token request carries no cookie to forge, like a Jupyter-token one.
        if self.publish_token_valid():
            return None
        return super().check_xsrf_cookie()

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        allowed = self.settings["sse_widgets"].config.allow_origins
        origin = self.request.headers.get("Origin")
        if origin and ("*" in allowed or origin in allowed):
            return True
        return bool(super().check_origin(origin_to_satisfy_tornado))

    def set_default_headers(self) -> None:
        super().set_default_headers()
        origin = self.request.headers.get("Origin")
        allowed = self.settings["sse_widgets"].config.allow_origins
        if origin and ("*" in allowed or origin in allowed):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Allow-Credentials", "true")
            # A cross-origin page reads an endpoint call's id to resume or cancel it.
            self.set_header("Access-Control-Expose-Headers", "X-SSE-Widgets-Call, Location")
            self.set_header("Vary", "Origin")

    @allow_unauthenticated
    def options(self, *args: str) -> None:
        """CORS preflight for the configured origins (browsers send it without credentials)."""
        self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
        self.set_header(
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, Last-Event-ID, Idempotency-Key, X-XSRFToken, "
            + PUBLISH_TOKEN_HEADER,
        )
        self.set_status(204)
        self.finish()

    async def authenticate(self, action: str, publish_token_ok: bool) -> None:
        if not self.check_origin():
            raise HTTPError(
                403,
                f"cross-origin request from {self.request.headers.get('Origin')!r}"
                " refused; list it in c.SSEWidgets.allow_origins",
            )
        if publish_token_ok and self.publish_token_valid():
            return
        user = self.current_user
        if user is None:
            raise NotAuthorized(
                "authentication required: log in to the Jupyter server, or send its token "
                "(Authorization: token <token>); publishers may send the publish token"
            )
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, action, self.auth_resource)
        )
        if not allowed:
            raise NotAuthorized(f"user {user.username!r} may not {action} {self.auth_resource}")
        if self.request.method == "GET":
            # Reading sets Jupyter's `_xsrf` cookie if the page has none: Voilà's pages do not
            # set it (Lab's do), and the widgets' Cancel is a cookie-authenticated POST that
            # Jupyter refuses without the token from that cookie.
            self.xsrf_token  # noqa: B018 - the property sets the cookie


def hub_url(serverapp: Any) -> str:
    """The URL kernels of this server use to reach the endpoints (loopback when possible)."""
    ip = serverapp.ip or "127.0.0.1"
    if ip in ("0.0.0.0", "localhost", "*"):
        ip = "127.0.0.1"
    elif ip == "::":
        ip = "::1"
    try:
        if ipaddress.ip_address(ip).version == 6:
            ip = f"[{ip}]"
    except ValueError:
        pass  # a host name
    scheme = "https" if serverapp.certfile else "http"
    if getattr(serverapp, "sock", ""):
        from urllib.parse import quote

        return (
            url_path_join(
                f"http+unix://{quote(serverapp.sock, safe='')}", serverapp.base_url, ROUTE_PREFIX
            )
            + "/"
        )
    return (
        url_path_join(f"{scheme}://{ip}:{serverapp.port}", serverapp.base_url, ROUTE_PREFIX) + "/"
    )


class SSEWidgetsExtension(ExtensionApp):
    """The extension's lifecycle: build the hub, mount the routes, close streams at shutdown."""

    name = "sse_widgets"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        assert self.serverapp is not None  # set by jupyter_server before this hook runs
        config = SSEWidgets(parent=self.serverapp)
        self.hub = self._build_hub(config)
        self.settings["sse_widgets"] = ServerState.create(self.hub, config)
        if config.export_env:
            self._export_env(config)
            # Again once the loop runs: by then the server has bound its final port.
            IOLoop.current().add_callback(self._export_env, config)
        self.log.info(
            "sse_widgets: endpoints at %ssse-widgets/ (history %d events per channel, %s)",
            self.serverapp.base_url,
            config.history_size,
            "channels in memory" if config.backend == "memory" else "channels in Redis",
        )

    def _build_hub(self, config: SSEWidgets) -> Hub:
        if config.backend == "memory":
            return Hub(config.hub_config())
        # Stop the server rather than run without the shared channels it was configured for:
        # its viewers would silently miss what other replicas publish. One line, no traceback
        # (jupyter_server would log a failed extension as a warning and carry on).
        try:
            from ..backends.redis_hub import RedisHub

            return RedisHub.open(config.backend, config.hub_config())
        except (BackendUnavailable, ModuleNotFoundError) as exc:
            if isinstance(exc, ModuleNotFoundError) and exc.name != "redis":
                raise
            self.log.critical("sse_widgets: c.SSEWidgets.backend: %s", exc)
            raise SystemExit(1) from None

    def _export_env(self, config: SSEWidgets) -> None:
        os.environ["SSE_WIDGETS_URL"] = hub_url(self.serverapp)
        os.environ["SSE_WIDGETS_TOKEN"] = config.publish_token
        # The path the *browser* uses (with the page's own origin): widgets in this server's
        # kernels read it to find the endpoints without a token of their own.
        os.environ["SSE_WIDGETS_BROWSER_PATH"] = (
            url_path_join(self.serverapp.base_url, ROUTE_PREFIX) + "/"  # type: ignore[union-attr]
        )

    def initialize_handlers(self) -> None:
        # ExtensionApp puts base_url in front of each pattern.
        self.handlers.extend(build_routes("/" + ROUTE_PREFIX, JupyterAuth))

    async def stop_extension(self) -> None:
        self.settings["sse_widgets"].endpoints.close()
        await self.hub.close()
