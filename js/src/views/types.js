// The contract between a widget's view (pure DOM, no transport) and whatever feeds it: the
// anywidget glue (../widget.js, direct stream or kernel relay) or the standalone page
// (../page.js). One file per view in this folder; each exports a `create<Name>View` factory.
//
//   const view = createLogView(el, { channel: "train", max_lines: 1000 }, host);
//   view.events;                          // ["log"]: the event names it consumes
//   view.onEvent("log", payload, meta);   // per event; updates state, schedules a render
//   view.onReset("train", "history-exceeded"); // drop that channel's state (snapshot follows)
//   view.onClose("train", "deleted");     // channel gone: show it, keep what is shown
//   view.setStatus("live");               // "connecting" | "live" | "relay" | "error: ..."
//   view.setOptions({ max_lines: 200 });  // a trait changed (only the changed keys)
//   view.destroy();                       // remove DOM, cancel scheduled renders
//
// Rules every view follows:
// - Never render per event: update state, then `scheduleRender(draw)` (../frames.js).
// - State is bounded (RingBuffer / RollingWindow from ../buffers.js, or explicit caps).
// - Text from events goes into the DOM as text (textContent / createTextNode), never HTML.
// - Payloads are shared between views: read them, never mutate them.
// - `el` belongs to the view; styles come from ../styles.js (`ensureStyles(document)`), all
//   class names prefixed `ssew-`.
// - `data-*` attributes on stable elements expose final state for tests, e.g.
//   `data-count` (events taken), `data-state` on a bar.

/**
 * @typedef {object} EventMeta
 * @property {string} channel
 * @property {string} id cursor of the event
 * @property {number} time hub receive time (unix seconds)
 *
 * @typedef {object} ViewHost
 * @property {(channel: string, message: {event: string, data: any}) => Promise<void>} control
 *   posts a control message (e.g. cancel) to the channel's producer; rejects with an Error
 *   whose message says why
 *
 * @typedef {object} View
 * @property {string[]} events
 * @property {(name: string, payload: any, meta: EventMeta) => void} onEvent
 * @property {(channel: string, reason: string) => void} onReset
 * @property {(channel: string, reason: string) => void} onClose
 * @property {(status: string) => void} setStatus
 * @property {(options: Record<string, any>) => void} setOptions
 * @property {() => void} destroy
 */

export {};
