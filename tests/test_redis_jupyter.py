"""The Jupyter extension on the Redis backend: two real ``jupyter server`` processes (as two
replicas behind a load balancer) with ``c.SSEWidgets.backend`` naming one real redis-server.

A producer publishing to replica A reaches a reader on replica B, in order, with the same
cursors; a Cancel posted on B stops the producer's loop that listens on A; a deletion on A
ends B's stream; a replica whose Redis cannot be reached at start-up stops with one error.
"""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import pytest
from jupyter_app import JupyterApp, running_jupyter
from redis_server import redis_server_fixture, redis_url_fixture  # noqa: F401

from sse_widgets.client import EventStream


def _stream(server: JupyterApp, channels: list[str], **options: object) -> EventStream:
    return EventStream(
        server.hub_url,
        channels=channels,
        token=server.token,
        **options,  # type: ignore[arg-type]
    )


def _request(server: JupyterApp, method: str, path: str, body: object = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.hub_url + path,
        data=data,
        method=method,
        headers={"Authorization": f"token {server.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return int(reply.status)


def test_two_jupyter_replicas_share_channels_control_and_deletes(
    tmp_path: Path, redis_url: str
) -> None:
    args = [f"--SSEWidgets.backend={redis_url}"]
    with (
        running_jupyter(tmp_path / "a", app="server", args=args) as a,
        running_jupyter(tmp_path / "b", app="server", args=args) as b,
    ):
        assert "channels in Redis" in a.log_text()
        on_b = _stream(b, ["train"], replay="history")
        events = iter(on_b)  # one iterator, one connection, all along
        producer = a.start_producer(
            textwrap.dedent(
                """
                import time, sse_widgets
                log = sse_widgets.channel("train")
                for n in range(200):
                    log.send("log", {"n": n})
                sse_widgets.get_publisher().flush(20)
                try:
                    for _ in sse_widgets.progress(range(10_000), desc="long", channel="train"):
                        time.sleep(0.01)
                except sse_widgets.Cancelled:
                    print("CANCELLED", flush=True)
                else:
                    raise SystemExit("the loop was not cancelled")
                """
            )
        )
        numbers, bar = [], None
        for event in events:
            data = event.json()["data"]
            if event.event == "log":
                numbers.append(data["n"])
            elif event.event == "progress" and data["value"] >= 1:
                bar = data["bar"]
                break
        assert numbers == list(range(200))
        # The viewer on B cancels; the producer's publisher listens on A.
        assert (
            _request(
                b,
                "POST",
                "api/channels/train/control",
                {
                    "event": "cancel",
                    "data": {"bar": bar},
                },
            )
            == 200
        )
        a.wait_producer(producer, timeout=60)
        assert b"CANCELLED" in a.log_path.with_name("producer-0.log").read_bytes()
        last = None
        for event in events:
            if event.event == "progress" and event.json()["data"]["state"] != "running":
                last = event.json()["data"]["state"]
                break
        assert last == "cancelled"
        # Same history, same cursors on both replicas.
        last_id = a.channels()["train"]["last_id"]
        assert b.channels()["train"]["last_id"] == last_id
        ids_a = _ids_until(_stream(a, ["train"], replay="history"), last_id)
        assert _ids_until(_stream(b, ["train"], replay="history"), last_id) == ids_a
        assert len(ids_a) > 200
        # A delete on A ends B's stream with `close`.
        assert _request(a, "DELETE", "api/channels/train") == 204
        assert [e.event for e in events] == ["close"]  # and the stream ends
        on_b.close()
        assert "train" not in b.channels()


def _ids_until(stream: EventStream, last_id: str) -> list[str]:
    ids = []
    for event in stream:
        ids.append(str(event.id))
        if event.id == last_id:
            break
    stream.close()
    return ids


def test_a_replica_whose_redis_is_unreachable_stops_with_one_error(tmp_path: Path) -> None:
    args = ["--SSEWidgets.backend=redis://:hunter2pw@127.0.0.1:1/0"]
    with (
        pytest.raises(RuntimeError, match="exited") as info,
        running_jupyter(tmp_path, app="server", args=args, timeout=30),
    ):
        pass
    log = str(info.value)
    lines = [line for line in log.splitlines() if "cannot reach Redis" in line]
    assert len(lines) == 1, log
    assert "redis://:***@127.0.0.1:1/0" in lines[0] and "hunter2pw" not in log
    assert "Traceback" not in log
