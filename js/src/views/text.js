// Text view: a channel's `text` events (docs/events.md), streamed text such as an LLM's answer,
// one block per stream, deltas appended in order. Follows the View contract of ./types.js.
//
//   const view = createTextView(el, { channel: "chat", stream: "answer" }, host);
//   view.onEvent("text", { stream: "answer", delta: "Once" }, meta);
//   view.onEvent("text", { stream: "answer", reset: true }, meta);
//
// A frame appends one text node holding the deltas since the last frame (re-setting textContent
// would make the browser lay the whole stream out again). The text is cut into blocks of about
// CHUNK_CHARS at line ends, so a frame lays out the last block only, and blocks out of view skip
// layout (content-visibility): a 1,000,000-character stream costs a frame what a short one does.
// Each stream keeps its last `max_chars` characters.
//
// Must not: open connections, build HTML from payload text, or draw per event.

import { scheduleRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";

/** Streams kept per view, oldest dropped first: names made per request must not pile up. */
export const MAX_STREAMS = 64;
/** A new block starts at the first line end after this many characters in the last one. */
export const CHUNK_CHARS = 2000;
/** Text nodes in a block before they are merged into one (memory per node, once in a while). */
const MERGE_AFTER = 256;
const BOTTOM_TOLERANCE = 6; // px, as in the log view

const CSS = `
.ssew-text [hidden] { display: none !important; }
.ssew-text { display: flex; flex-direction: column; gap: 10px; }
.ssew-text-stream { border-left: 2px solid var(--ssew-border); padding-left: 10px; }
.ssew-text-label { font-size: 11px; font-weight: 600; letter-spacing: 0.02em; color: var(--ssew-muted); margin-bottom: 2px; }
.ssew-text-body { white-space: pre-wrap; overflow-wrap: anywhere; line-height: 1.55; max-height: 400px; overflow: auto; }
.ssew-text-chunk { content-visibility: auto; contain-intrinsic-size: auto 300px; }
.ssew-text-truncated { font-size: 11px; font-style: italic; color: var(--ssew-muted); }
/* The caret shows for 1.5 s after each delta: every frame with new text flips data-tick between
   a and b, which swaps the animation name and so restarts the fade. No timers. */
.ssew-text-stream[data-tick] .ssew-text-chunk:last-child::after { content: "▍"; color: var(--ssew-accent); visibility: hidden; }
.ssew-text-stream[data-tick="a"] .ssew-text-chunk:last-child::after { animation: ssew-caret-a 1.5s linear forwards, ssew-blink 1s step-end infinite; }
.ssew-text-stream[data-tick="b"] .ssew-text-chunk:last-child::after { animation: ssew-caret-b 1.5s linear forwards, ssew-blink 1s step-end infinite; }
@keyframes ssew-caret-a { from, 99% { visibility: visible; } to { visibility: hidden; } }
@keyframes ssew-caret-b { from, 99% { visibility: visible; } to { visibility: hidden; } }
@keyframes ssew-blink { 50% { opacity: 0; } }
@media (prefers-reduced-motion: reduce) {
  .ssew-text-stream[data-tick="a"] .ssew-text-chunk:last-child::after { animation: ssew-caret-a 1.5s linear forwards; }
  .ssew-text-stream[data-tick="b"] .ssew-text-chunk:last-child::after { animation: ssew-caret-b 1.5s linear forwards; }
}
.ssew-text .ssew-empty, .ssew-text .ssew-foot { color: var(--ssew-muted); font-size: 12px; }
.ssew-text .ssew-foot { display: flex; gap: 8px; }
.ssew-text .ssew-closed { color: var(--ssew-warn); }
`;

/**
 * @typedef {object} StreamDom
 * @property {HTMLElement} el the `.ssew-text-stream` block
 * @property {HTMLElement} label
 * @property {HTMLElement} note says how much of the head was cut (above the body)
 * @property {HTMLElement} body scroll container holding the text's blocks (`.ssew-text-chunk`)
 *   only: its textContent is exactly the stream's kept text (tests and readers rely on it)
 *
 * @typedef {object} Stream
 * @property {string} name
 * @property {string} text the kept tail (at most max_chars after each frame)
 * @property {number} dropped characters dropped from the head since the last reset
 * @property {string} pending text taken since the last frame, not in the DOM yet
 * @property {boolean} rebuild the DOM must be made again from `text`
 * @property {boolean} typed a delta came since the last frame (restarts the caret)
 * @property {boolean} following keep the end in view
 * @property {number} domChars characters in the body
 * @property {HTMLElement | null} tail the last block, where text is appended
 * @property {number} tailNodes text nodes in `tail`
 * @property {StreamDom | null} dom present while shown
 */

/** @param {unknown} value */
function maxCharsOf(value) {
  const n = Number(value ?? 1_000_000);
  return Number.isInteger(n) && n > 0 ? n : 1_000_000;
}

/**
 * The view of a channel's text streams.
 * @param {HTMLElement} el the container (the view appends its root to it)
 * @param {Record<string, any>} options `channel`, `event`, `stream`, `height`, `max_chars`
 * @param {import("./types.js").ViewHost} _host unused: text sends nothing back
 * @returns {import("./types.js").View}
 */
export function createTextView(el, options, _host) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "text", CSS);

  let channel = String(options.channel ?? "default");
  const events = [options.event ?? "text"];
  /** @type {string | null} */
  let only = options.stream ?? null;
  let height = String(options.height ?? "auto");
  let maxChars = maxCharsOf(options.max_chars);
  /** @type {Map<string, Stream>} insertion order is first appearance */
  const streams = new Map();
  /** @type {Set<Stream>} */
  const dirty = new Set();
  /** @type {WeakMap<HTMLElement, number>} characters per block (no textContent reads per frame) */
  const sizes = new WeakMap();
  let structureChanged = true;
  let count = 0;
  let destroyed = false;
  let cancelRender = () => {};

  const make = (/** @type {string} */ tag, /** @type {string} */ className, text = "") => {
    const node = doc.createElement(tag);
    node.className = className;
    if (text) node.textContent = text;
    return node;
  };

  const root = make("div", "ssew-root ssew-text");
  root.dataset.widget = "text";
  root.dataset.count = "0";
  root.dataset.channel = channel;
  const blocks = make("div", "ssew-text-streams");
  const empty = make("div", "ssew-empty", "waiting for text…");
  const foot = make("div", "ssew-foot");
  const status = make("span", "ssew-status");
  const closed = make("span", "ssew-closed");
  foot.append(status, closed);
  root.append(blocks, empty, foot);
  el.appendChild(root);
  setStatus("connecting");

  function schedule() {
    if (!destroyed) cancelRender = scheduleRender(draw);
  }

  /** @param {string} value */
  function setStatus(value) {
    root.dataset.status = value;
    status.dataset.status = value;
    status.textContent = value === "live" || value === "relay" ? "" : value === "connecting" ? "connecting…" : value;
    foot.hidden = !status.textContent && !closed.textContent;
  }

  function clear() {
    streams.clear();
    dirty.clear();
    structureChanged = true;
  }

  /** Keep the last maxChars characters of `s.text`. @param {Stream} s */
  function trimText(s) {
    const excess = s.text.length - maxChars;
    if (excess <= 0) return;
    s.text = s.text.slice(excess);
    s.dropped += excess;
  }

  /** @param {Stream} s */
  function makeDom(s) {
    const dom = {
      el: make("div", "ssew-text-stream"),
      label: make("div", "ssew-text-label", s.name || "(unnamed)"),
      body: make("div", "ssew-text-body"),
      note: make("div", "ssew-text-truncated"),
    };
    dom.el.dataset.stream = s.name;
    dom.el.append(dom.label, dom.note, dom.body);
    applyHeight(dom.body);
    // Follow the end while the reader is there; stop when they scroll up, resume at the bottom.
    dom.body.addEventListener("scroll", () => {
      const b = dom.body;
      s.following = b.scrollHeight - b.scrollTop - b.clientHeight <= BOTTOM_TOLERANCE;
    }, { passive: true });
    return dom;
  }

  /** @param {HTMLElement} body */
  function applyHeight(body) {
    const fixed = height !== "auto" && height !== "";
    body.style.height = fixed ? height : "";
    body.style.maxHeight = fixed ? "none" : ""; // "auto": the stylesheet's max-height
  }

  /**
   * Append `text` to the stream's last block; start a new block at the first line end once the
   * block holds CHUNK_CHARS (cutting after a "\n" renders exactly as one pre-wrap block would).
   * @param {Stream} s
   * @param {string} text
   */
  function append(s, text) {
    const { body } = /** @type {StreamDom} */ (s.dom);
    while (text) {
      let tail = s.tail;
      const size = tail ? /** @type {number} */ (sizes.get(tail)) : 0;
      if (!tail || (size >= CHUNK_CHARS && tail.lastChild?.textContent?.endsWith("\n"))) {
        tail = s.tail = make("div", "ssew-text-chunk");
        body.appendChild(tail);
        s.tailNodes = 0;
        sizes.set(tail, 0);
      }
      const room = CHUNK_CHARS - (sizes.get(tail) ?? 0);
      const lineEnd = text.length > room ? text.indexOf("\n", Math.max(room - 1, 0)) : -1;
      const part = lineEnd >= 0 ? text.slice(0, lineEnd + 1) : text;
      text = text.slice(part.length);
      tail.appendChild(doc.createTextNode(part));
      sizes.set(tail, (sizes.get(tail) ?? 0) + part.length);
      s.domChars += part.length;
      s.tailNodes += 1;
      if (s.tailNodes >= MERGE_AFTER) {
        tail.replaceChildren(doc.createTextNode(/** @type {string} */ (tail.textContent)));
        s.tailNodes = 1;
      }
    }
  }

  /** Cut the DOM's head to the tail kept in `s.text`: whole blocks first, then within one. @param {Stream} s */
  function trimHead(s) {
    const { body } = /** @type {StreamDom} */ (s.dom);
    let excess = s.domChars - s.text.length;
    while (excess > 0 && body.firstChild) {
      const block = /** @type {HTMLElement} */ (body.firstChild);
      const size = /** @type {number} */ (sizes.get(block));
      if (size <= excess) {
        block.remove();
        if (block === s.tail) s.tail = null;
        excess -= size;
        s.domChars -= size;
        continue;
      }
      while (excess > 0 && block.firstChild) {
        const node = /** @type {Text} */ (block.firstChild);
        const cut = Math.min(excess, node.length);
        if (cut === node.length) {
          node.remove();
          if (block === s.tail) s.tailNodes -= 1;
        } else node.deleteData(0, cut);
        sizes.set(block, /** @type {number} */ (sizes.get(block)) - cut);
        excess -= cut;
        s.domChars -= cut;
      }
    }
  }

  /** @param {Stream} s */
  function paint(s) {
    const { el: block, body, note } = /** @type {StreamDom} */ (s.dom);
    trimText(s);
    if (s.rebuild) {
      body.replaceChildren();
      s.tail = null;
      s.domChars = 0;
      append(s, s.text);
      s.rebuild = false;
    } else if (s.pending) append(s, s.pending);
    s.pending = "";
    trimHead(s);
    block.dataset.chars = String(s.text.length);
    note.hidden = s.dropped === 0;
    note.textContent = s.dropped === 0 ? "" : `… ${s.dropped} earlier character${s.dropped === 1 ? "" : "s"} dropped (max_chars ${maxChars})`;
    if (s.typed) block.dataset.tick = block.dataset.tick === "a" ? "b" : "a";
    s.typed = false;
    if (s.following) body.scrollTop = body.scrollHeight;
  }

  function draw() {
    root.dataset.count = String(count);
    const shown = [...streams.values()].filter((s) => only === null || s.name === only);
    if (structureChanged) {
      for (const s of streams.values()) if (!shown.includes(s)) s.dom = null;
      for (const s of shown) {
        if (!s.dom) {
          s.dom = makeDom(s);
          s.rebuild = true;
        }
        s.dom.label.hidden = shown.length < 2; // one stream needs no name
        paint(s);
      }
      blocks.replaceChildren(...shown.map((s) => /** @type {StreamDom} */ (s.dom).el));
      empty.hidden = shown.length > 0;
      structureChanged = false;
    } else {
      for (const s of dirty) if (s.dom) paint(s);
    }
    // Streams not shown keep their text, not their DOM: drop what was waiting for it.
    for (const s of dirty) if (!s.dom) s.pending = "";
    dirty.clear();
  }

  return {
    events,
    onEvent(name, payload, meta) {
      if (destroyed || name !== events[0]) return;
      if (meta && meta.channel != null && meta.channel !== channel) return;
      count += 1;
      if (payload && typeof payload === "object") {
        const streamName = payload.stream == null ? "" : String(payload.stream);
        let s = streams.get(streamName);
        if (!s) {
          s = { name: streamName, text: "", dropped: 0, pending: "", rebuild: true, typed: false, following: true,
            domChars: 0, tail: null, tailNodes: 0, dom: null };
          streams.set(streamName, s);
          structureChanged = true;
          if (streams.size > MAX_STREAMS) streams.delete(/** @type {string} */ (streams.keys().next().value));
        }
        if (payload.reset) {
          s.text = "";
          s.dropped = 0;
          s.pending = "";
          s.rebuild = true;
        }
        if (typeof payload.delta === "string" && payload.delta) {
          s.text += payload.delta;
          s.pending += payload.delta;
          s.typed = true;
          // No frames in a hidden tab: keep memory flat and rebuild from the tail later.
          if (s.text.length > 2 * maxChars) {
            trimText(s);
            s.pending = "";
            s.rebuild = true;
          }
        }
        dirty.add(s);
      }
      schedule();
    },
    onReset(resetChannel) {
      if (resetChannel !== channel || destroyed) return;
      clear();
      schedule();
    },
    onClose(closedChannel) {
      if (closedChannel !== channel || destroyed) return;
      closed.textContent = "channel closed";
      root.dataset.closed = "true";
      foot.hidden = false;
    },
    setStatus(value) {
      if (!destroyed) setStatus(String(value));
    },
    setOptions(changed) {
      if (destroyed) return;
      if ("channel" in changed && String(changed.channel ?? "default") !== channel) {
        channel = String(changed.channel ?? "default");
        root.dataset.channel = channel;
        clear();
      }
      if ("event" in changed) events[0] = changed.event ?? "text";
      if ("stream" in changed) only = changed.stream ?? null;
      if ("height" in changed) {
        height = String(changed.height ?? "auto");
        for (const s of streams.values()) if (s.dom) applyHeight(s.dom.body);
      }
      if ("max_chars" in changed) {
        maxChars = maxCharsOf(changed.max_chars);
        for (const s of streams.values()) dirty.add(s);
      }
      structureChanged = true;
      schedule();
    },
    destroy() {
      destroyed = true;
      cancelRender();
      root.remove();
      clear();
    },
  };
}
