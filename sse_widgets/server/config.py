"""``c.SSEWidgets``: the settings of the SSE endpoints, shared by Jupyter and ``serve``.

Every limit here bounds memory or work per request; defaults suit a single-user Jupyter
server with a handful of viewers and are documented in docs/configuration.md.
"""

from __future__ import annotations

import secrets

from traitlets import Bool, Float, Int, List, Unicode, default, validate
from traitlets.config import Configurable

from ..hub import HubConfig

__all__ = ["SSEWidgets"]

MiB = 1024 * 1024


class SSEWidgets(Configurable):
    """Configuration of the sse_widgets hub and its HTTP endpoints."""

    history_size = Int(
        1000, help="Events kept per channel for resuming streams and late viewers."
    ).tag(config=True)
    history_bytes = Int(
        16 * MiB, help="Bytes of encoded events kept per channel (whichever limit hits first)."
    ).tag(config=True)
    buffer_bytes = Int(
        8 * MiB,
        help="Send buffer per subscriber. A subscriber whose unsent bytes pass this is "
        "disconnected (it can resume from its cursor); the others are not slowed.",
    ).tag(config=True)
    max_event_bytes = Int(1 * MiB, help="Largest JSON payload of one event.").tag(config=True)
    max_body_bytes = Int(
        16 * MiB, help="Largest publish request body (one event or an NDJSON batch)."
    ).tag(config=True)
    max_channels = Int(10_000, help="Most channels one hub keeps.").tag(config=True)
    max_subscribers = Int(10_000, help="Most simultaneous streams one hub serves.").tag(config=True)
    snapshot_size = Int(
        10_000, help="Most progress bars whose latest state a channel keeps for late viewers."
    ).tag(config=True)
    ping_interval = Float(
        15.0, help="Seconds between heartbeat comments on an idle stream (keeps proxies open)."
    ).tag(config=True)
    retry_ms = Int(
        2000, help="Reconnection delay sent to clients in the stream's retry: field."
    ).tag(config=True)
    coalesce_ms = Float(
        10.0,
        help="Milliseconds to wait after an event before writing to subscribers, so events "
        "arriving close together leave in one write per subscriber (0 writes at once). "
        "Browsers paint every ~16 ms, so viewers do not notice; with many viewers it cuts "
        "the server's work per event many times over.",
    ).tag(config=True)
    endpoint_concurrency = Int(
        4,
        help="Concurrent calls one worker of an endpoint runs when its @endpoint() names no "
        "max_concurrency; more get 429.",
    ).tag(config=True)
    endpoint_resume_window = Float(
        300.0,
        help="Longest resume_window (seconds) a caller may ask for: how long a call outlives "
        "its caller's connection, waiting for a reloaded page to resume it.",
    ).tag(config=True)
    endpoint_retention = Float(
        60.0, help="Seconds a finished endpoint call's events stay readable for a resume."
    ).tag(config=True)
    allow_origins = List(
        Unicode(),
        help="Origins (e.g. 'https://example.org') allowed to use the endpoints cross-origin "
        "(CORS), or ['*'] for any. Credentials are still required.",
    ).tag(config=True)
    publish_token = Unicode(
        help="Secret that lets a process publish and read control messages without a user "
        "login. Generated per server start when not set; exported to kernels as "
        "SSE_WIDGETS_TOKEN."
    ).tag(config=True)
    export_env = Bool(
        True,
        help="Put SSE_WIDGETS_URL and SSE_WIDGETS_TOKEN in os.environ at load, so kernels the "
        "server starts publish to it with no configuration.",
    ).tag(config=True)

    @default("publish_token")
    def _generate_publish_token(self) -> str:
        return secrets.token_urlsafe(32)

    @validate(
        "history_size",
        "history_bytes",
        "buffer_bytes",
        "max_event_bytes",
        "max_body_bytes",
        "max_channels",
        "max_subscribers",
        "snapshot_size",
        "retry_ms",
        "endpoint_concurrency",
    )
    def _positive(self, proposal):  # type: ignore[no-untyped-def]
        if proposal["value"] < 1:
            raise ValueError(f"c.SSEWidgets.{proposal['trait'].name} must be at least 1")
        return proposal["value"]

    @validate("ping_interval")
    def _positive_interval(self, proposal):  # type: ignore[no-untyped-def]
        if proposal["value"] <= 0:
            raise ValueError("c.SSEWidgets.ping_interval must be more than 0 seconds")
        return proposal["value"]

    @validate("coalesce_ms", "endpoint_resume_window", "endpoint_retention")
    def _not_negative(self, proposal):  # type: ignore[no-untyped-def]
        if proposal["value"] < 0:
            raise ValueError("c.SSEWidgets.coalesce_ms must be 0 or more")
        return proposal["value"]

    backend = Unicode(
        "memory",
        help=(
            "Where channels live: 'memory' (this process), or 'redis://host:port/db' to share "
            "channels, ids and history with other server processes on that Redis (needs "
            "`pip install sse_widgets[redis]`). A server whose Redis cannot be reached at "
            "start-up stops with one error naming it"
        ),
    ).tag(config=True)

    @validate("backend")
    def _known_backend(self, proposal):  # type: ignore[no-untyped-def]
        value = str(proposal["value"]).strip()
        if value != "memory" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                f"c.SSEWidgets.backend must be 'memory' or a redis:// URL, not {value!r}"
            )
        return value

    def hub_config(self) -> HubConfig:
        """The pure-Python hub settings these traits describe."""
        return HubConfig(
            history_size=self.history_size,
            history_bytes=self.history_bytes,
            buffer_bytes=self.buffer_bytes,
            max_event_bytes=self.max_event_bytes,
            max_channels=self.max_channels,
            max_subscribers=self.max_subscribers,
            snapshot_size=self.snapshot_size,
            retry_ms=self.retry_ms,
            ping_interval=self.ping_interval,
            coalesce_ms=self.coalesce_ms,
        )
