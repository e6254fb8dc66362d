// The activity widget's front-end module (anywidget `_esm`, built to sse_widgets/static/activity.js).
import { createActivityView } from "./views/activity.js";
import { defineWidget } from "./widget.js";

export default defineWidget(createActivityView, ["max_lines", "window", "series", "show_cancel"]);
