// The chart widget's front-end module (anywidget `_esm`, built to sse_widgets/static/chart.js).
import { createChartView } from "./views/chart.js";
import { defineWidget } from "./widget.js";

export default defineWidget(createChartView, ["series", "window", "height", "title", "x_label", "y_label", "paused"]);
