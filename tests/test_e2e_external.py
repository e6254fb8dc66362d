"""A widget showing an external hub (`sse-widgets serve`), from JupyterLab: the kernel was told
`sse_widgets.connect(url, token)`, so the page streams from that hub directly, cross-origin
(CORS, the hub's token), while the Jupyter server's own endpoint is not involved."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from conftest import run_python, start_hub
from jupyter_app import (
    StreamRequests,
    chromium,
    new_page,
    open_notebook,
    run_all_cells,
    running_jupyter,
    transports,
    wait_widgets,
    widget_state,
)


def test_widgets_stream_from_an_external_hub_cross_origin(tmp_path):
    with running_jupyter(tmp_path) as server, chromium(tmp_path) as browser:
        lab = urlsplit(server.url)
        origin = f"{lab.scheme}://{lab.netloc}"
        hub = start_hub(tmp_path, "--allow-origin", origin, token="external-token")
        try:
            notebook = server.write_notebook(
                "external.ipynb",
                [
                    "import sse_widgets\n"
                    f"sse_widgets.connect({hub.url!r}, {hub.token!r})\n"
                    "from sse_widgets.widgets import ProgressBar, LogView",
                    'ProgressBar(channel="ext")',
                    'LogView(channel="ext")',
                ],
            )
            page = new_page(browser)
            external = StreamRequests(page, path=f"127.0.0.1:{hub.port}/api/events")
            jupyter = StreamRequests(page)
            open_notebook(page, server, notebook)
            run_all_cells(page)
            wait_widgets(page, ["progress", "log"])
            page.wait_for_function(
                """() => [...document.querySelectorAll('.ssew-root')]
                     .every((e) => e.dataset.status === 'live')""",
                timeout=30_000,
            )
            assert transports(page) == {"progress": "direct", "log": "direct"}
            run_python(
                "import sse_widgets, logging\n"
                f"sse_widgets.connect({hub.url!r}, {hub.token!r})\n"
                "sse_widgets.log_to('ext')\n"
                "for i in sse_widgets.progress(range(200), channel='ext', desc='far away'):\n"
                "    logging.getLogger('far').warning('step %d', i)\n"
                "sse_widgets.get_publisher().flush(30)\n",
            )
            page.wait_for_function(
                """() => document.querySelector('.ssew-bar[data-state=done]')
                     && document.querySelector('.ssew-root[data-widget=log]')
                          ?.dataset.count === '200'""",
                timeout=30_000,
            )
            state = widget_state(page)
            assert [b["count"] for b in state["bars"]] == ["200/200"]
            assert state["lines"][-1]["message"] == "step 199"
            assert len(external.open) == 1, json.dumps(external.open)
            assert jupyter.started == [], "the page used the Jupyter endpoint"
            assert not page.errors, page.errors
        finally:
            hub.stop()
