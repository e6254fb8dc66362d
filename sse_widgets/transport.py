"""Blocking HTTP/1.1 plumbing shared by the publisher's sender thread and the sync client.

Standard library only (``http.client``), so a kernel that publishes never imports tornado.
Understands the three URL forms a hub can have: ``http://``, ``https://`` (certificate
checks are skipped for loopback addresses, where a server certificate never names
127.0.0.1) and ``http+unix://<percent-encoded socket path>/`` (Jupyter's ``--sock``).
"""

from __future__ import annotations

# socket.getaddrinfo imports this codec lazily, on first use, from the publisher's thread. If
# a process forks (multiprocessing) while that import runs, the child inherits the module's
# import lock held forever and its own sender deadlocks on its first connection: import it
# here, in the importing thread, so no import happens on the sender's path.
import encodings.idna  # noqa: F401
import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["HubAddress", "TOKEN_HEADER"]

#: Header carrying the publish token (or the standalone server's token).
TOKEN_HEADER = "X-SSE-Widgets-Token"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._socket_path)
        self.sock = sock


@dataclass(frozen=True)
class HubAddress:
    """Where a hub is: parsed once from its base URL (which ends with ``/``).

    >>> HubAddress.parse("http://127.0.0.1:8888/a%40b/sse-widgets").path("api/events")
    '/a%40b/sse-widgets/api/events'
    """

    scheme: str
    host: str
    port: int | None
    base_path: str

    @classmethod
    def parse(cls, url: str) -> HubAddress:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "http+unix") or not parts.netloc:
            raise ValueError(
                f"hub URL {url!r} must look like http://host:port/path/ (or https://, "
                "http+unix://<socket>/)"
            )
        base = parts.path if parts.path.endswith("/") else parts.path + "/"
        if parts.scheme == "http+unix":
            return cls(parts.scheme, unquote(parts.netloc), None, base)
        return cls(parts.scheme, parts.hostname or "127.0.0.1", parts.port, base)

    @property
    def url(self) -> str:
        """The base URL again, normalised."""
        if self.scheme == "http+unix":
            from urllib.parse import quote

            return f"http+unix://{quote(self.host, safe='')}{self.base_path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}://{host}{port}{self.base_path}"

    def path(self, endpoint: str) -> str:
        """The request path of an endpoint such as ``api/events``."""
        return self.base_path + endpoint

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new (not yet connected) keep-alive connection to the hub."""
        if self.scheme == "http+unix":
            return _UnixHTTPConnection(self.host, timeout)
        if self.scheme == "https":
            context = ssl.create_default_context()
            if self.host in _LOOPBACK:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
