// The text widget's front-end module (anywidget `_esm`, built to sse_widgets/static/text.js).
import { createTextView } from "./views/text.js";
import { defineWidget } from "./widget.js";

export default defineWidget(createTextView, ["stream", "height", "max_chars"]);
