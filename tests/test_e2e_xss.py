"""Event text is shown as text in a real JupyterLab: markup in a log message, a logger name,
a traceback, a text delta, a text stream's name, a bar's description and its error message
shows literally, creates no element, and runs no script.
"""

from __future__ import annotations

from jupyter_app import (
    chromium,
    new_page,
    open_notebook,
    run_all_cells,
    running_jupyter,
    wait_widgets,
    widget_state,
)

IMG = '<img src=x onerror="window.__ssew_xss=1">'
SCRIPT = "<script>window.__ssew_xss=2</script>"
SVG = '<svg onload="window.__ssew_xss=3"></svg>'
PAYLOAD = f"{IMG} {SCRIPT} {SVG}"

PRODUCER = f"""
import logging, sse_widgets
PAYLOAD = {PAYLOAD!r}
ch = sse_widgets.channel("xss")
ch.log("message", PAYLOAD, logger=PAYLOAD, level="WARNING")
log = logging.getLogger("xss-test")
sse_widgets.log_to("xss", logger=log)
try:
    raise ValueError(PAYLOAD)
except ValueError:
    log.exception("failed: %s", PAYLOAD)
ch.text("answer").write("answer: " + PAYLOAD)
ch.text({IMG!r}).write("named stream")
for _ in sse_widgets.progress(range(3), channel="xss", desc=PAYLOAD):
    pass
try:
    with sse_widgets.progress(total=3, channel="xss", desc="failing") as bar:
        bar.update()
        raise RuntimeError(PAYLOAD)
except RuntimeError:
    pass
assert sse_widgets.get_publisher().flush(30)
"""

# Any element inside a widget that markup could have made: an image, script, SVG, iframe,
# or any element with an inline event handler.
_INJECTED_JS = """() => [...document.querySelectorAll('.ssew-root, .ssew-root *')].filter((e) =>
  ['IMG', 'SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(e.tagName.toUpperCase())
  || (e.tagName.toLowerCase() === 'svg' && e.hasAttribute('onload'))
  || [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on'))
).map((e) => e.outerHTML.slice(0, 200))"""


def test_markup_in_events_shows_as_text_and_runs_nothing(tmp_path):
    with running_jupyter(tmp_path) as server, chromium(tmp_path) as browser:
        notebook = server.write_notebook(
            "xss.ipynb",
            [
                "from sse_widgets.widgets import ProgressBar, LogView, TextStream",
                'ProgressBar(channel="xss")',
                'LogView(channel="xss", level="DEBUG")',
                'TextStream(channel="xss")',
            ],
        )
        page = new_page(browser)
        open_notebook(page, server, notebook)
        run_all_cells(page)
        wait_widgets(page, ["progress", "log", "text"])
        server.wait_subscribers("xss", 1)
        server.wait_producer(server.start_producer(PRODUCER))
        page.wait_for_function(
            """() => document.querySelectorAll('.ssew-bar').length === 2
              && document.querySelector('.ssew-bar[data-state=error]')
              && document.querySelector('.ssew-root[data-widget=log]')?.dataset.count === '2'
              && document.querySelectorAll('.ssew-text-stream').length === 2""",
            timeout=30_000,
        )
        page.wait_for_timeout(500)  # an injected image would have failed to load by now

        state = widget_state(page)
        messages = [line["message"] for line in state["lines"]]
        assert messages[0] == f"message {PAYLOAD}"
        assert PAYLOAD in messages[1]
        assert state["texts"]["answer"]["body"] == f"answer: {PAYLOAD}"
        assert state["texts"][IMG]["body"] == "named stream"
        descs = [bar["text"] for bar in state["bars"]]
        assert any(PAYLOAD in text for text in descs), descs
        texts = dict(
            page.evaluate(
                "() => [...document.querySelectorAll('.ssew-root')]"
                ".map((e) => [e.dataset.widget, e.textContent])"
            )
        )
        assert texts["log"].count(PAYLOAD) >= 2
        assert PAYLOAD in texts["progress"]
        assert PAYLOAD in texts["text"]

        assert page.evaluate(_INJECTED_JS) == []
        assert page.evaluate("() => typeof window.__ssew_xss") == "undefined"
        assert not page.errors, page.errors
