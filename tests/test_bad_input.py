"""Bad requests get a 4xx with a JSON error naming the problem, and change nothing.

Against the extension in a real jupyter_server with anonymous access off, on every backend.
Each case is sent between two good events; afterwards the channel holds exactly the good ones.
"""

from __future__ import annotations

import json

import pytest
from conftest import PUBLISH_TOKEN, json_error, read_raw_stream
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.backends

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


async def _publish_ok(jp_fetch, n: int) -> str:  # type: ignore[no-untyped-def]
    reply = await jp_fetch(
        "sse-widgets",
        "api",
        "channels",
        "c",
        "events",
        method="POST",
        body=json.dumps({"event": "log", "data": {"n": n}}),
        headers={**JSON},
    )
    assert reply.code == 200
    [cursor] = json.loads(reply.body)["ids"]
    return str(cursor)


@pytest.fixture
def retained(jp_fetch, http_server_port, jp_base_url, user_token):  # type: ignore[no-untyped-def]
    """The data of every event channel ``c`` holds, read back over HTTP (its listing's
    ``retained`` count, then a history replay of that many events)."""

    async def read() -> list:
        reply = await jp_fetch("sse-widgets", "api", "channels")
        [info] = [c for c in json.loads(reply.body)["channels"] if c["name"] == "c"]
        frames = await read_raw_stream(
            http_server_port[1],
            f"{jp_base_url}sse-widgets/api/channels/c/events?replay=history",
            {"Authorization": f"token {user_token}"},
            frames=info["retained"],
        )
        assert len(frames) == info["retained"], frames
        return [json.loads(f["data"]) for f in frames]

    return read


BAD_POSTS = [
    pytest.param(JSON, b'{"event": "log", "data": ', 400, "malformed JSON", id="malformed-json"),
    pytest.param(
        NDJSON,
        b'{"event": "log", "data": 1}\n{"event": ',
        400,
        "line 2",
        id="ndjson-second-line-bad",
    ),
    pytest.param(
        {"Content-Type": "text/plain"}, b"hello", 415, "Content-Type", id="wrong-content-type"
    ),
    pytest.param({}, b'{"event": "log"}', 415, "Content-Type", id="no-content-type"),
    pytest.param(
        JSON,
        json.dumps({"event": "a\nb", "data": 1}).encode(),
        400,
        "CR, LF and NUL",
        id="event-name-with-lf",
    ),
    pytest.param(
        JSON,
        json.dumps({"event": "a\rb", "data": 1}).encode(),
        400,
        "CR, LF and NUL",
        id="event-name-with-cr",
    ),
    pytest.param(
        JSON,
        json.dumps({"event": "a\x00b", "data": 1}).encode(),
        400,
        "CR, LF and NUL",
        id="event-name-with-nul",
    ),
    pytest.param(
        JSON,
        json.dumps({"event": "close", "data": 1}).encode(),
        400,
        "reserved",
        id="reserved-event-name",
    ),
    pytest.param(
        JSON,
        json.dumps({"event": "log", "data": 1, "extra": 2}).encode(),
        400,
        "unknown field",
        id="unknown-field",
    ),
    pytest.param(JSON, b"[1, 2]", 400, "JSON object", id="not-an-object"),
    pytest.param(JSON, b"[]", 400, "no events", id="empty-batch"),
    pytest.param(JSON, b"\xff\xfe", 400, "UTF-8", id="not-utf8"),
    pytest.param(
        JSON,
        json.dumps({"event": "log", "data": "x" * 300_000}).encode(),
        413,
        "limit",
        id="body-over-limit",
    ),
]


@pytest.mark.parametrize(("headers", "body", "status", "words"), BAD_POSTS)
async def test_bad_publish_is_refused_with_json_error_and_loses_nothing(
    jp_fetch, retained, headers, body, status, words
):
    await _publish_ok(jp_fetch, 1)
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "sse-widgets",
            "api",
            "channels",
            "c",
            "events",
            method="POST",
            body=body,
            headers=dict(headers),
        )
    assert caught.value.code == status
    assert words in json_error(caught.value.response.body)
    await _publish_ok(jp_fetch, 2)
    assert await retained() == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("parts", "params", "status", "words"),
    [
        pytest.param(
            ("api", "channels", "bad name!", "events"),
            {},
            400,
            "invalid channel name",
            id="channel-name-charset",
        ),
        pytest.param(
            ("api", "channels", "x" * 200, "events"),
            {},
            400,
            "invalid channel name",
            id="channel-name-too-long",
        ),
        pytest.param(
            ("api", "events"),
            {"channel": "a", "last_event_id": "x\ny"},
            400,
            "CR, LF and NUL",
            id="cursor-with-lf",
        ),
        pytest.param(
            ("api", "events"),
            {"channel": "a", "last_event_id": "x\x00y"},
            400,
            "CR, LF and NUL",
            id="cursor-with-nul",
        ),
        pytest.param(
            ("api", "events"),
            {"channel": "a", "event": "a\rb"},
            400,
            "CR, LF and NUL",
            id="event-filter-with-cr",
        ),
        pytest.param(("api", "events"), {}, 400, "at least one channel", id="no-channel"),
        pytest.param(
            ("api", "events"),
            {"channel": "a", "replay": "all"},
            400,
            "replay",
            id="bad-replay-mode",
        ),
        pytest.param(("api", "nope"), {}, 404, "unknown endpoint", id="unknown-endpoint"),
        pytest.param(
            ("api", "channels", "c", "events", "more"),
            {},
            404,
            "unknown endpoint",
            id="unknown-sub-path",
        ),
    ],
)
async def test_bad_stream_request_is_refused_with_json_error(
    jp_fetch, parts, params, status, words
):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("sse-widgets", *parts, params=params)
    assert caught.value.code == status
    assert words in json_error(caught.value.response.body)


async def test_delete_of_missing_channel_is_404(jp_fetch):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("sse-widgets", "api", "channels", "never", method="DELETE")
    assert caught.value.code == 404
    assert "no channel" in json_error(caught.value.response.body)


# -- authentication ------------------------------------------------------------------------

NO_AUTH = {"Authorization": ""}


@pytest.mark.parametrize(
    ("method", "parts", "params"),
    [
        ("GET", ("api", "events"), {"channel": "a"}),
        ("GET", ("api", "channels", "a", "events"), {}),
        ("GET", ("api", "channels", "a", "control"), {}),
        ("GET", ("api", "channels"), {}),
        ("GET", ("api", "nope"), {}),
        ("POST", ("api", "channels", "a", "events"), {}),
        ("POST", ("api", "events"), {}),
        ("POST", ("api", "channels", "a", "control"), {}),
        ("DELETE", ("api", "channels", "a"), {}),
    ],
)
async def test_unauthenticated_requests_get_403_not_a_login_redirect(
    jp_fetch, method, parts, params
):
    body = json.dumps({"event": "log", "data": 1}) if method == "POST" else None
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "sse-widgets",
            *parts,
            method=method,
            params=params,
            body=body,
            headers={**NO_AUTH, **JSON},
            follow_redirects=False,
        )
    assert caught.value.code == 403
    assert json_error(caught.value.response.body)


async def test_wrong_publish_token_gets_403(jp_fetch):
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "sse-widgets",
            "api",
            "channels",
            "a",
            "events",
            method="POST",
            body=json.dumps({"event": "log", "data": 1}),
            headers={**NO_AUTH, **JSON, "X-SSE-Widgets-Token": "wrong"},
        )
    assert caught.value.code == 403


async def test_publish_token_publishes_and_reads_but_does_not_delete(jp_fetch):
    token = {**NO_AUTH, "X-SSE-Widgets-Token": PUBLISH_TOKEN}
    reply = await jp_fetch(
        "sse-widgets",
        "api",
        "channels",
        "a",
        "events",
        method="POST",
        body=json.dumps({"event": "log", "data": 1}),
        headers={**token, **JSON},
    )
    assert reply.code == 200
    bearer = {**JSON, "Authorization": f"Bearer {PUBLISH_TOKEN}"}
    reply = await jp_fetch(
        "sse-widgets",
        "api",
        "events",
        method="POST",
        body=json.dumps({"channel": "a", "event": "log", "data": 2}),
        headers=bearer,
    )
    assert reply.code == 200
    # Reading is allowed: the kernel relay reads with it (kernels run as the user anyway).
    reply = await jp_fetch("sse-widgets", "api", "channels", headers=dict(token))
    assert "a" in {c["name"] for c in json.loads(reply.body)["channels"]}
    for method, parts, params in [
        ("DELETE", ("api", "channels", "a"), {}),
    ]:
        with pytest.raises(HTTPClientError) as caught:
            await jp_fetch(
                "sse-widgets",
                *parts,
                method=method,
                params=params,
                headers=dict(token),
                follow_redirects=False,
            )
        assert caught.value.code == 403, (method, parts)
