"""Endpoints defined in a real kernel of a real jupyter_server: the Jupyter user calls them
with its token (the kernel registered with the publish token), an anonymous caller cannot,
and hanging up cancels the function while the kernel stays free for other cells."""

from __future__ import annotations

import asyncio
import json
import time

from test_kernel_progress import _outputs_until, running_kernel
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

DEFINE = """
import time, sse_widgets
MARK = {mark!r}

@sse_widgets.endpoint("shout")
def shout(text: str, times: int = 2, progress=None):
    '''Say it louder.'''
    for i in progress(range(times), desc="shouting"):
        yield text.upper() + "!" * i
    return {"said": times}

@sse_widgets.endpoint("spin")
def spin():
    try:
        while True:
            time.sleep(0.02)
            yield "spin"
    except sse_widgets.Cancelled:
        open(MARK, "w").write(str(time.time()))
        raise

print("DEFINED", flush=True)
"""


async def test_a_kernel_endpoint_is_called_by_the_jupyter_user(
    jp_serverapp, jp_fetch, http_server_port, jp_base_url, user_token, tmp_path
):
    port = http_server_port[1]
    mark = tmp_path / "spin.cancelled"
    async with running_kernel(jp_serverapp) as kernel:
        msg_id = kernel.execute(DEFINE.replace("{mark!r}", repr(str(mark))))
        assert "DEFINED" in await _outputs_until(kernel, msg_id, lambda t: "DEFINED" in t)

        listed = json.loads((await jp_fetch("sse-widgets", "api", "endpoints")).body)
        shout = {e["name"]: e for e in listed["endpoints"]}["shout"]
        assert shout["signature"] == "(text: str, times: int = 2)"
        assert shout["doc"] == "Say it louder."

        url = f"http://127.0.0.1:{port}{jp_base_url}sse-widgets/api/endpoints/shout"
        chunks: list[bytes] = []
        await AsyncHTTPClient().fetch(
            HTTPRequest(
                url,
                method="POST",
                body=json.dumps({"text": "hi", "times": 3}),
                headers={
                    "Authorization": f"token {user_token}",
                    "Content-Type": "application/json",
                },
                streaming_callback=chunks.append,
                request_timeout=30,
            )
        )
        frames = b"".join(chunks).decode().split("\n\n")
        values = [
            f.split("data: ", 1)[1] for f in frames if f.startswith("id:") and "event:" not in f
        ]
        assert [json.loads(v) for v in values] == ["HI", "HI!", "HI!!"]
        assert 'event: complete\ndata: {"said":3}' in frames[-2]

        # anonymous: refused before anything runs
        try:
            await AsyncHTTPClient().fetch(
                HTTPRequest(
                    url, method="POST", body="{}", headers={"Content-Type": "application/json"}
                )
            )
            raise AssertionError("an anonymous call was accepted")
        except HTTPClientError as error:
            assert error.code == 403
            assert json.loads(error.response.body)["status"] == 403  # type: ignore[union-attr]

        # hanging up cancels the function in the kernel within a second
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"POST {jp_base_url}sse-widgets/api/endpoints/spin HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAuthorization: token {user_token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            ).encode()
        )
        seen = b""
        async with asyncio.timeout(20):
            while seen.count(b"data: ") < 3:
                seen += await reader.read(65536)
        assert b" 200 " in seen.split(b"\r\n", 1)[0]
        writer.close()
        hung_up = time.time()
        out = kernel.execute("print('FREE', flush=True)")
        assert "FREE" in await _outputs_until(kernel, out, lambda t: "FREE" in t)
        async with asyncio.timeout(5):
            while not mark.exists():
                await asyncio.sleep(0.01)
        assert float(mark.read_text()) - hung_up < 1.0
