"""The ``sse-widgets`` command: serve | publish | tail | dashboard | demo.

``publish`` and ``tail`` find the hub by ``--url``/``--token``, else ``SSE_WIDGETS_URL`` /
``SSE_WIDGETS_TOKEN``, else the newest ``sse-widgets serve`` (or ``dashboard``, ``demo``)
running on this machine (from its runtime file), so two terminals need no copying of tokens.

This module only parses arguments: ``dashboard`` and ``demo`` start Jupyter through
``launch.py``, ``serve`` through ``server/standalone.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import SSEWidgetsError

__all__ = ["main"]


def _parse_config_overrides(extra: list[str]) -> dict[str, Any]:
    """``--SSEWidgets.name=value`` arguments as trait values (JSON literals or strings)."""
    overrides: dict[str, Any] = {}
    for arg in extra:
        key, eq, raw = arg.partition("=")
        if not key.startswith("--SSEWidgets.") or not eq:
            raise SystemExit(f"sse-widgets: unknown argument {arg!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        overrides[key.removeprefix("--SSEWidgets.")] = value
    return overrides


def _find_hub(
    url: str | None, token: str | None, *, publishing: bool = False
) -> tuple[str, str | None]:
    """The hub to use and its token. A dashboard's or demo's runtime file holds two tokens:
    Jupyter's (reads and publishes, except that Jupyter wants an XSRF token with a POST
    authenticated by it) and the publish token, which ``publish`` uses."""
    url = url or os.environ.get("SSE_WIDGETS_URL")
    if url:
        return url, token if token is not None else os.environ.get("SSE_WIDGETS_TOKEN")
    from .server.standalone import runtime_dir

    candidates = sorted(
        runtime_dir().glob("sse-widgets-*.json"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for path in candidates:
        try:
            info = json.loads(path.read_text())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        found = (publishing and info.get("publish_token")) or info.get("token")
        return info["url"], token if token is not None else found
    raise SystemExit(
        "sse-widgets: no hub found. Start one with `sse-widgets serve`, or pass "
        "--url (or set SSE_WIDGETS_URL) and --token"
    )


def _read_token_file(path: str) -> str:
    """The first line of ``path``, stripped; an unreadable or empty file stops ``serve``."""
    try:
        with open(path, encoding="utf-8") as file:
            token = file.readline().strip()
    except OSError as exc:
        raise SystemExit(f"sse-widgets serve: cannot read --token-file {path}: {exc}") from None
    if not token:
        raise SystemExit(
            f"sse-widgets serve: --token-file {path} is empty; put the token on its first line "
            "(or use --token '' to turn authentication off)"
        )
    return token


def cmd_serve(args: argparse.Namespace, extra: list[str]) -> int:
    from .server.config import SSEWidgets
    from .server.standalone import serve_forever

    overrides = _parse_config_overrides(extra)
    if args.allow_origin:
        overrides["allow_origins"] = args.allow_origin
    for name in ("history_size", "ping_interval", "buffer_bytes", "backend"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    known = set(SSEWidgets.class_trait_names(config=True))
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SystemExit(
            f"sse-widgets serve: unknown setting(s) {', '.join(unknown)}; "
            f"the settings are: {', '.join(sorted(known))}"
        )
    try:
        config = SSEWidgets(**overrides)
    except Exception as exc:  # noqa: BLE001 - traitlets raises several kinds; say which
        raise SystemExit(f"sse-widgets serve: bad configuration: {exc}") from None
    logging.basicConfig(
        level=logging.INFO, format="[%(levelname)s %(asctime)s %(name)s] %(message)s"
    )
    token = args.token
    if args.token_file is not None:
        if token is not None:
            raise SystemExit("sse-widgets serve: give --token or --token-file, not both")
        token = _read_token_file(args.token_file)
    try:
        asyncio.run(serve_forever(config, host=args.host, port=args.port, token=token))
    except (SSEWidgetsError, ModuleNotFoundError) as exc:  # e.g. Redis unreachable at start
        raise SystemExit(f"sse-widgets serve: {exc}") from None
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken: say so, without a traceback
        raise SystemExit(
            f"sse-widgets serve: cannot listen on port {args.port}: {exc.strerror or exc}; "
            "pick another with --port (0 picks a free one)"
        ) from None
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from .transport import TOKEN_HEADER, HubAddress

    url, token = _find_hub(args.url, args.token, publishing=True)
    if args.data == "-":
        lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    else:
        lines = [args.data]
    try:
        values = [json.loads(line) for line in lines]
    except ValueError as exc:
        raise SystemExit(
            f"sse-widgets publish: the data is not JSON ({exc}); quote it, e.g. "
            '\'{"message": "hi"}\''
        ) from None
    body = "\n".join(json.dumps({"event": args.event, "data": v}) for v in values).encode()
    address = HubAddress.parse(url)
    connection = address.connection(30)
    headers = {"Content-Type": "application/x-ndjson"}
    if token:
        headers[TOKEN_HEADER] = token
    try:
        connection.request(
            "POST", address.path(f"api/channels/{quote(args.channel)}/events"), body, headers
        )
        response = connection.getresponse()
        reply = response.read().decode("utf-8", "replace")
    except OSError as exc:
        raise SystemExit(f"sse-widgets publish: cannot reach {url}: {exc}") from None
    if response.status != 200:
        try:
            reply = json.loads(reply)["error"]
        except (ValueError, KeyError, TypeError):
            pass
        print(f"sse-widgets publish: HTTP {response.status}: {reply}", file=sys.stderr)
        return 1
    for cursor in json.loads(reply)["ids"]:
        print(cursor)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from .client import EventStream

    targets = args.target
    if len(targets) == 1 and "://" in targets[0]:
        url = targets[0]
        token = args.token if args.token is not None else os.environ.get("SSE_WIDGETS_TOKEN")
        stream = EventStream(
            url, events=args.event, token=token, replay="history" if args.from_start else "none"
        )
    else:
        url, token = _find_hub(args.url, args.token)
        stream = EventStream(
            url,
            channels=targets,
            events=args.event,
            token=token,
            replay="history" if args.from_start else "none",
        )
    count = 0
    try:
        for event in stream:
            if args.json:
                print(
                    json.dumps({"id": event.id, "event": event.event, "data": event.json()}),
                    flush=True,
                )
            else:
                print(_format_event(event.event, event.data or ""), flush=True)
            count += 1
            if args.count and count >= args.count:
                break
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - the CLI reports, it does not trace back
        print(f"sse-widgets tail: {exc}", file=sys.stderr)
        return 1
    finally:
        stream.close()
    return 0


def _format_event(name: str, data: str) -> str:
    try:
        frame = json.loads(data)
    except ValueError:
        return f"{name}: {data}"
    if isinstance(frame, dict) and "channel" in frame and "data" in frame:
        stamp = time.strftime("%H:%M:%S", time.localtime(frame.get("time") or time.time()))
        return f"{stamp} {frame['channel']} {name} {json.dumps(frame['data'], ensure_ascii=False)}"
    return f"{name} {json.dumps(frame, ensure_ascii=False)}"


def _launch_options(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """The :class:`~sse_widgets.launch.Launch` fields the Jupyter commands share.

    A token given as ``--IdentityProvider.token=`` or ``--SSEWidgets.publish_token=`` is
    taken out of the pass-through arguments: the printed URLs must carry it.
    """
    tokens = {
        "--IdentityProvider.token=": args.token,
        "--SSEWidgets.publish_token=": args.publish_token,
    }
    passed = []
    for arg in extra:
        prefix = next((p for p in tokens if arg.startswith(p)), None)
        if prefix is None:
            passed.append(arg)
        else:
            tokens[prefix] = arg.removeprefix(prefix)
    return {
        "host": args.host,
        "token": tokens["--IdentityProvider.token="],
        "publish_token": tokens["--SSEWidgets.publish_token="],
        "open_browser": args.open_browser,
        "jupyter_args": passed,
    }


def cmd_dashboard(args: argparse.Namespace, extra: list[str]) -> int:
    from .launch import Launch, LaunchError, run_jupyter

    launch = Launch(
        app="voila",
        notebook=Path(args.notebook),
        port=8866 if args.port is None else args.port,
        port_is_default=args.port is None,
        base_url=args.base_url,
        allow_origins=args.allow_origin,
        **_launch_options(args, extra),
    )
    try:
        return run_jupyter(launch, command="dashboard", what="Voilà on jupyter_server")
    except LaunchError as exc:
        print(f"sse-widgets dashboard: {exc}", file=sys.stderr)
        return exc.exit_code


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    if args.hub_only:
        if extra or args.notebook:
            raise SystemExit("sse-widgets demo --hub-only: takes no notebook or Jupyter options")
        from .demo import run_demo

        return run_demo(port=8765 if args.port is None else args.port, seconds=args.seconds)

    import tempfile

    from .demo import find_demo_notebook, publish_demo
    from .launch import Launch, LaunchError, run_jupyter

    with tempfile.TemporaryDirectory(prefix="sse-widgets-demo-") as scratch:
        notebook = Path(args.notebook) if args.notebook else find_demo_notebook(Path(scratch))
        launch = Launch(
            app="lab",
            notebook=notebook,
            port=8888 if args.port is None else args.port,
            port_is_default=args.port is None,
            **_launch_options(args, extra),
        )
        try:
            return run_jupyter(
                launch,
                command="demo",
                what="JupyterLab",
                on_ready=publish_demo,
                extra_lines=lambda server: [
                    "Publishing sample events (a bar, logs, text, a chart) to channel 'demo': "
                    'sse_widgets.show("demo") in a notebook shows them, '
                    "`sse-widgets tail demo` in a terminal"
                ],
                seconds=args.seconds,
            )
        except LaunchError as exc:
            print(f"sse-widgets demo: {exc}", file=sys.stderr)
            return exc.exit_code


def _version_line() -> str:
    import platform

    from . import __version__

    try:
        from importlib.metadata import version

        tornado = version("tornado")
    except Exception:  # noqa: BLE001 - the line is informative; never fail --version
        tornado = "not installed"
    return f"sse-widgets {__version__} (Python {platform.python_version()}, tornado {tornado})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sse-widgets", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version",
        action="version",
        version=_version_line(),
        help="print the version of sse_widgets (and of Python and Tornado) and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run a standalone hub (no Jupyter needed)",
        epilog="Any trait of c.SSEWidgets can be set as --SSEWidgets.name=value.",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)"
    )
    serve.add_argument(
        "--token",
        default=None,
        help="access token (default: generated and printed); '' turns auth off",
    )
    serve.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help="read the access token from this file (first line): a fixed token that survives "
        "restarts without showing on the command line (ps)",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow cross-origin use from ORIGIN (repeatable; '*' for any)",
    )
    serve.add_argument("--history-size", type=int, help="events kept per channel")
    serve.add_argument(
        "--backend",
        metavar="URL",
        help="'memory' (default) or redis://host:port/db: share channels with other servers",
    )
    serve.add_argument("--ping-interval", type=float, help="seconds between heartbeats")
    serve.add_argument("--buffer-bytes", type=int, help="send buffer per subscriber")

    publish = sub.add_parser("publish", help="publish one event (or NDJSON lines from stdin)")
    publish.add_argument("channel")
    publish.add_argument("event")
    publish.add_argument("data", help="the event's data as JSON, or - to read one JSON per line")

    tail = sub.add_parser("tail", help="print a stream's events as they arrive")
    tail.add_argument("target", nargs="+", help="channel name(s), or a full stream URL")
    tail.add_argument("--event", action="append", default=[], help="only events of this name")
    tail.add_argument(
        "--from-start",
        action="store_true",
        help="begin with the snapshot and the history the hub keeps",
    )
    tail.add_argument("--json", action="store_true", help="one JSON object per event")
    tail.add_argument("--count", type=int, default=0, help="exit after this many events")

    for command in (publish, tail):
        command.add_argument("--url", help="hub URL (default: $SSE_WIDGETS_URL or a running serve)")
        command.add_argument("--token", help="token (default: $SSE_WIDGETS_TOKEN or the serve's)")

    dashboard = sub.add_parser(
        "dashboard",
        help="serve a notebook as a Voilà dashboard (jupyter server + this extension)",
        epilog="Other --Class.name=value options go to jupyter server. Runs until Ctrl-C.",
    )
    dashboard.add_argument("notebook", help="the notebook (its directory is served)")
    dashboard.add_argument(
        "--port",
        type=int,
        help="port (default 8866, or a free one if taken; 0 picks a free one)",
    )
    dashboard.add_argument("--base-url", default="/", help="URL prefix of the server (default /)")
    dashboard.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN use the SSE endpoints (repeatable)",
    )

    demo = sub.add_parser(
        "demo",
        help="JupyterLab on the quickstart notebook, with sample events published live",
        epilog="Other --Class.name=value options go to jupyter lab. Runs until Ctrl-C.",
    )
    demo.add_argument(
        "notebook", nargs="?", help="notebook to open (default: notebooks/quickstart.ipynb)"
    )
    demo.add_argument(
        "--hub-only",
        action="store_true",
        help="no Jupyter: a standalone hub with the sample events (default port 8765)",
    )
    demo.add_argument(
        "--port", type=int, help="port (default 8888, or a free one if taken; 0 picks one)"
    )
    demo.add_argument("--seconds", type=float, default=0, help="stop after this long (0: never)")

    for command in (dashboard, demo):
        command.add_argument(
            "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
        )
        command.add_argument(
            "--token",
            default=None,
            help="Jupyter token (default: generated and printed in the URL); '' turns auth off",
        )
        command.add_argument(
            "--publish-token",
            default=None,
            metavar="TOKEN",
            help="the token producers publish with (default: generated and printed); fix it "
            "to keep producers working across restarts",
        )
        browser = command.add_mutually_exclusive_group()
        browser.add_argument(
            "--open",
            dest="open_browser",
            action="store_const",
            const=True,
            default=None,
            help="open a browser (default: unless root or no display)",
        )
        browser.add_argument(
            "--no-browser",
            dest="open_browser",
            action="store_const",
            const=False,
            help="do not open a browser",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sse-widgets`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    with_extra = {"serve": cmd_serve, "dashboard": cmd_dashboard, "demo": cmd_demo}
    if extra and args.command not in with_extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command in with_extra:
        return with_extra[args.command](args, extra)
    handlers = {"publish": cmd_publish, "tail": cmd_tail}
    return handlers[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
