"""The extension follows the Jupyter server's configuration: ``c.SSEWidgets`` traits reach
the hub, and the server's authorizer decides who may read and write."""

from __future__ import annotations

import json

import pytest
from conftest import PUBLISH_TOKEN
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError
from traitlets.config import Config


class ReadOnlyAuthorizer(Authorizer):
    """Lets users read sse_widgets streams but not publish, control or delete."""

    def is_authorized(self, handler, user, action, resource):  # type: ignore[no-untyped-def]
        return not (resource == "sse_widgets" and action == "write")


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.ServerApp.authorizer_class = ReadOnlyAuthorizer
    jp_server_config.SSEWidgets.history_size = 7
    jp_server_config.SSEWidgets.ping_interval = 3.5
    return jp_server_config


async def test_traits_reach_the_hub(jp_serverapp):
    config = jp_serverapp.web_app.settings["sse_widgets"].hub.config
    assert (config.history_size, config.ping_interval, config.retry_ms) == (7, 3.5, 50)


async def test_the_authorizer_decides_for_users_and_the_publish_token_still_publishes(jp_fetch):
    listing = await jp_fetch("sse-widgets", "api", "channels")
    assert listing.code == 200
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch(
            "sse-widgets",
            "api",
            "channels",
            "a",
            "events",
            method="POST",
            body=json.dumps({"event": "log", "data": 1}),
            headers={"Content-Type": "application/json"},
        )
    assert caught.value.code == 403
    assert "may not write" in json.loads(caught.value.response.body)["error"]
    reply = await jp_fetch(
        "sse-widgets",
        "api",
        "channels",
        "a",
        "events",
        method="POST",
        body=json.dumps({"event": "log", "data": 1}),
        headers={
            "Content-Type": "application/json",
            "Authorization": "",
            "X-SSE-Widgets-Token": PUBLISH_TOKEN,
        },
    )
    assert reply.code == 200
