"""A worker process for the endpoint tests: ``python endpoint_worker.py <hub url> <token> <dir>``.

Serves one endpoint of each kind; writes ``<dir>/<name>.cancelled`` (with the time) when a
call sees ``sse_widgets.Cancelled``, so a test can tell when the function noticed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import sse_widgets

url, token, marks = sys.argv[1], sys.argv[2], Path(sys.argv[3])
concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 2
sse_widgets.connect(url, token)


def noticed(name: str, exc: BaseException) -> None:
    (marks / f"{name}.cancelled").write_text(f"{time.time()}\n{exc}")


@sse_widgets.endpoint("count", max_concurrency=concurrency)
def count(n: int, delay: float = 0.0, tag: str = ""):
    """Yield n numbers, then return their sum."""
    for i in range(n):
        time.sleep(delay)
        yield {"i": i, "tag": tag}
    return {"sum": n * (n - 1) // 2, "tag": tag}


@sse_widgets.endpoint("steps")
def steps(items: list, progress, log):
    """A plain function reporting with the progress and log helpers."""
    done = []
    for item in progress(items, desc="steps"):
        log("handling", item, level="debug")
        done.append(str(item).upper())
    return done


@sse_widgets.endpoint("agen")
async def agen(words: list, call: sse_widgets.Call):
    """An async generator that also streams text."""
    for word in words:
        await asyncio.sleep(0)
        call.text(word + " ")
        yield word


@sse_widgets.endpoint("acoro")
async def acoro(x: float) -> float:
    await asyncio.sleep(0.01)
    return x * 2


@sse_widgets.endpoint("fails")
def fails(message: str):
    yield "about to fail"
    raise ValueError(message)


@sse_widgets.endpoint("unserializable")
def unserializable():
    yield {1, 2}


@sse_widgets.endpoint("forever", max_concurrency=concurrency)
def forever(period: float = 0.05):
    """Yields until cancelled."""
    try:
        n = 0
        while True:
            time.sleep(period)
            n += 1
            yield n
    except sse_widgets.Cancelled as exc:
        noticed("forever", exc)
        raise


@sse_widgets.endpoint("quiet")
def quiet(progress):
    """Never yields: sees Cancelled at its next progress step."""
    bar = progress(total=1000)
    try:
        for _ in range(100_000):
            time.sleep(0.05)
            bar.update()
    except sse_widgets.Cancelled as exc:
        noticed("quiet", exc)
        raise


@sse_widgets.endpoint("mixed")
def mixed(n: int):
    """Publishes to a shared channel too: both kinds of lines share the publisher's batches."""
    side = sse_widgets.channel("side")
    for i in range(n):
        side.log("side", i)
        yield i
    assert sse_widgets.get_publisher().flush(10)
    return "done"


@sse_widgets.endpoint("anything")
def anything(**options):
    return options


print("ready", flush=True)
while True:
    time.sleep(3600)
