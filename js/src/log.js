// The log widget's front-end module (anywidget `_esm`, built to sse_widgets/static/log.js).
import { createLogView } from "./views/log.js";
import { defineWidget } from "./widget.js";

export default defineWidget(createLogView, ["level", "max_lines", "height", "search"]);
