// The progress widget's front-end module (anywidget `_esm`, built to sse_widgets/static/progress.js).
import { createProgressView } from "./views/progress.js";
import { defineWidget } from "./widget.js";

export default defineWidget(createProgressView, ["bar", "show_cancel"]);
