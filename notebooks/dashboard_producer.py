"""Demo data for notebooks/dashboard.ipynb: a made-up nightly import, published to one channel.

It publishes what the dashboard shows: the import's progress (a bar per table, weighted as
phases, with rejected rows counted), two chart series (rows/s and rejects/s), a one-line
status text, and log lines. Nothing here knows about widgets or viewers.

Run it as its own process next to the dashboard's server, so that every viewer sees the
same run (the hub's address and publish token come from the environment)::

    SSE_WIDGETS_URL=http://127.0.0.1:8866/sse-widgets/ SSE_WIDGETS_TOKEN=<publish token> \\
        python notebooks/dashboard_producer.py --channel dashboard --seconds 600

The notebook imports :func:`produce` to feed a demo channel of its own when no such producer
runs. It must not start anything on import.
"""

from __future__ import annotations

import argparse
import math
import random
import threading
import time

import sse_widgets

TABLES = ("customers", "orders", "payments", "invoices", "shipments", "audit_log")


def produce(
    channel: str = "dashboard",
    seconds: float = 300.0,
    *,
    tick: float = 0.1,
    stop: threading.Event | None = None,
) -> None:
    """Publish a nightly import of :data:`TABLES` to ``channel``, lasting about ``seconds``.

    ``stop`` ends it early (the bars then end where they are).
    """
    ch = sse_widgets.channel(channel)
    status = ch.text("status")
    rng = random.Random()
    steps = max(1, round(seconds / tick / len(TABLES)))
    step = 0
    ch.log(f"nightly import started: {len(TABLES)} tables", logger="import")
    with sse_widgets.progress(
        phases=dict.fromkeys(TABLES, 1), desc="nightly import", channel=channel, parent=None
    ) as job:
        for table in TABLES:
            with job.phase_bar(table, total=steps, unit="batch") as part:
                for _ in range(steps):
                    if stop is not None and stop.is_set():
                        ch.log("import stopped", level="WARNING", logger="import")
                        return
                    rows = 1200 + 400 * math.sin(step / 40) + rng.gauss(0, 60)
                    rejects = max(0.0, rng.gauss(3, 2))
                    ch.point("rows/s", step, round(rows))
                    ch.point("rejects/s", step, round(rejects, 1))
                    if rejects > 7:
                        job.fail(f"{table}: batch {part.n:g} had {rejects:.0f} invalid rows")
                        ch.log(
                            f"{table}: {rejects:.0f} rows rejected in batch {part.n:g}",
                            level="WARNING",
                            logger="validate",
                        )
                    else:
                        job.ok()
                    if step % 10 == 0:
                        status.reset()
                        status.write(
                            f"{time.strftime('%H:%M:%S')}  importing {table}: {rows:,.0f} rows/s; "
                            f"batches with rejects so far: {job.failures}"
                        )
                    part.update()
                    step += 1
                    time.sleep(tick)
            ch.log(f"{table} imported ({steps} batches)", logger="import")
    status.reset()
    status.write(
        f"{time.strftime('%H:%M:%S')}  import finished; batches with rejects: {job.failures}"
    )
    ch.log("nightly import finished", logger="import")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channel", default="dashboard", help="channel to publish to")
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the run")
    args = parser.parse_args()
    produce(args.channel, args.seconds)
    sse_widgets.get_publisher().flush()


if __name__ == "__main__":
    main()
