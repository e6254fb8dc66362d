"""A minimal async HTTP/1.1 response reader over anyio, for streaming GETs.

Just enough HTTP for an event stream: one request, status line, headers, then the body as it
arrives, de-chunked when ``Transfer-Encoding: chunked``. Works under asyncio and trio.
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
from anyio.abc import ByteStream

from .transport import HubAddress

__all__ = ["AsyncResponse", "open_response"]

_MAX_HEAD = 64 * 1024


class AsyncResponse:
    """The status, headers and streamed body of one response."""

    def __init__(self, stream: ByteStream, status: int, headers: dict[str, str], rest: bytes):
        self.status = status
        self.headers = headers
        self._stream = stream
        self._buffer = rest
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._chunk_left = 0  # bytes left in the current chunk
        self._after_chunk = 0  # 2 while the CRLF after a finished chunk is still to skip
        self._eof = False

    async def aclose(self) -> None:
        """Close the connection."""
        await self._stream.aclose()

    async def _fill(self, timeout: float | None) -> bool:
        try:
            with anyio.fail_after(timeout):
                data = await self._stream.receive(65536)
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return False
        except anyio.BrokenResourceError as exc:
            raise OSError(f"connection lost: {exc!r}") from None
        except TimeoutError as exc:
            raise OSError(f"no data for {timeout} s") from exc
        self._buffer += data
        return True

    async def receive(self, timeout: float | None = None) -> bytes:
        """The next piece of the body; b"" at its end."""
        if not self._chunked:
            if not self._buffer and (self._eof or not await self._fill(timeout)):
                self._eof = True
                return b""
            data, self._buffer = self._buffer, b""
            return data
        while True:
            if self._eof:
                return b""
            if self._chunk_left:
                if not self._buffer and not await self._fill(timeout):
                    raise OSError("connection closed inside a chunk")
                data = self._buffer[: self._chunk_left]
                self._buffer = self._buffer[len(data) :]
                self._chunk_left -= len(data)
                return data
            # At a chunk boundary: the CRLF that ends the previous chunk, then a size line.
            while len(self._buffer) < 2 or b"\r\n" not in self._buffer[self._after_chunk :]:
                if not await self._fill(timeout):
                    raise OSError("connection closed between chunks")
            if self._after_chunk:
                self._buffer = self._buffer[2:]
                self._after_chunk = 0
                continue
            line, _, self._buffer = self._buffer.partition(b"\r\n")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                self._eof = True
                return b""
            self._chunk_left = size
            self._after_chunk = 2

    async def read_all(self) -> bytes:
        parts = []
        while data := await self.receive(10):
            parts.append(data)
        return b"".join(parts)


async def open_response(address: HubAddress, target: str, headers: dict[str, str]) -> AsyncResponse:
    """Send ``GET target`` and read up to the end of the response headers."""
    stream: Any
    if address.scheme == "http+unix":
        stream = await anyio.connect_unix(address.host)
    elif address.scheme == "https":
        context = ssl.create_default_context()
        if address.host in ("127.0.0.1", "::1", "localhost"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        stream = await anyio.connect_tcp(
            address.host, address.port or 443, tls=True, ssl_context=context
        )
    else:
        stream = await anyio.connect_tcp(address.host, address.port or 80)
    host = address.host if address.scheme != "http+unix" else "localhost"
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    try:
        await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
    except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        await stream.aclose()
        raise OSError(f"connection lost while sending the request: {exc!r}") from None
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            head += await stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await stream.aclose()
            raise OSError("connection closed before the response headers") from None
        if len(head) > _MAX_HEAD:
            await stream.aclose()
            raise OSError("response headers too large")
    raw, _, rest = head.partition(b"\r\n\r\n")
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return AsyncResponse(stream, status, parsed, rest)
