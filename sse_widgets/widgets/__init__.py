"""Jupyter widgets that show a channel's events live in the browser.

Example::

    from sse_widgets.widgets import ProgressBar, LogView, TextStream, LiveChart
    LiveChart(channel="train", series=["loss", "acc"], window=2_000)

Each widget's front-end subscribes to the hub from the page (one stream per page, whatever the
number of widgets) and falls back to a kernel relay where it cannot reach the hub.
"""

from .endpoint_form import EndpointForm
from .views import ChannelView, LiveChart, LogView, ProgressBar, TextStream, show

__all__ = [
    "ChannelView",
    "EndpointForm",
    "LiveChart",
    "LogView",
    "ProgressBar",
    "TextStream",
    "show",
]
