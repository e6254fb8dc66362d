// Log view: a channel's `log` events (docs/events.md) as a filterable, searchable, bounded list
// that follows the tail. Follows the View contract of ./types.js.
//
//   const view = createLogView(el, { channel: "train", level: "INFO", max_lines: 1000 }, host);
//   view.onEvent("log", { level: "WARNING", logger: "trainer", message: "lr too high" }, meta);
//
// Built for 10,000 lines a second: an event only pushes into a RingBuffer; a frame appends the
// new lines in one DocumentFragment and removes the dropped ones from the top. Only a change of
// filter, search or max_lines redraws the whole list.
//
// Must not: open connections, build HTML from payload text, or draw per event.

import { RingBuffer } from "../buffers.js";
import { throttledRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";
import { CSS } from "./log-css.js";

/** Python's level numbers; names not here sort by their number if the payload has one, else INFO. */
export const LEVELS = Object.freeze({
  NOTSET: 0, DEBUG: 10, INFO: 20, WARN: 30, WARNING: 30, ERROR: 40, CRITICAL: 50, FATAL: 50,
});
const CHOICES = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];
/** Pixels from the bottom that still count as "at the bottom" (zoom makes scrollTop fractional). */
export const BOTTOM_TOLERANCE = 6;
/** Under a flood (more new lines per draw than a screen holds) draw at most every 50 ms. */
const FLOOD_LINES = 40;
const FLOOD_GAP_MS = 50;
/** Lines kept in the DOM while following the tail (several screens of a tall log view). */
export const TAIL_LINES = 150;


/**
 * A level's number: Python's for the known names, `levelno` when given, "Level 25" as 25,
 * else INFO's (an unknown level is shown rather than hidden at the default filter).
 * @param {unknown} level a name ("WARNING") or a number
 * @param {unknown} [levelno] the number the producer sent, if any
 * @example levelNumber("WARN") // 30
 */
export function levelNumber(level, levelno) {
  if (typeof levelno === "number" && Number.isFinite(levelno)) return levelno;
  if (typeof level === "number" && Number.isFinite(level)) return level;
  const name = String(level ?? "").trim().toUpperCase();
  if (Object.prototype.hasOwnProperty.call(LEVELS, name)) return LEVELS[/** @type {keyof LEVELS} */ (name)];
  const digits = /^(?:LEVEL\s+)?(\d+)$/.exec(name);
  return digits ? Number(digits[1]) : LEVELS.INFO;
}

/** @param {number} levelno */
function severity(levelno) {
  return levelno >= 40 ? "error" : levelno >= 30 ? "warning" : levelno >= 20 ? "info" : "debug";
}

/**
 * Local wall-clock time of a unix timestamp as HH:MM:SS.mmm.
 * @param {number} seconds
 * @example formatClock(Date.UTC(2026, 0, 1, 9, 5, 7, 42) / 1000) // "09:05:07.042" in UTC
 */
export function formatClock(seconds) {
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) return "";
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/** @param {unknown} value */
function capacityOf(value) {
  const n = Number(value ?? 1000);
  return Number.isInteger(n) && n > 0 ? n : 1000;
}

/**
 * @typedef {object} Line one log record, as the view keeps it
 * @property {number} seq arrival number: lines in the buffer have consecutive seqs
 * @property {string} level
 * @property {number} levelno
 * @property {string} logger
 * @property {string} message
 * @property {string | null} exception
 * @property {number | null} time unix seconds
 * @property {HTMLElement | null} el built on first display, reused when a filter changes
 * @property {string | null} hay lower-cased message + logger, made on the first search
 */

/**
 * The view of a channel's log records.
 * @param {HTMLElement} el the container (the view appends its root to it)
 * @param {Record<string, any>} options `channel`, `event`, `level`, `max_lines`, `height`, `search`
 * @param {import("./types.js").ViewHost} _host unused: a log sends nothing back
 * @returns {import("./types.js").View}
 */
export function createLogView(el, options, _host) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "log", CSS);

  let channel = String(options.channel ?? "default");
  const events = [options.event ?? "log"];
  let minLevel = LEVELS.DEBUG;
  let needle = "";
  /** @type {RingBuffer<Line>} */
  let lines = new RingBuffer(capacityOf(options.max_lines));
  let nextSeq = 0; // the oldest line held has seq `nextSeq - lines.size`
  let dropped = 0;
  /** @type {Line[]} lines taken since the last frame */
  let pending = [];
  /** @type {Line[]} lines in the DOM, oldest first, from index `shownHead` on */
  let shown = [];
  let shownHead = 0;
  let redrawAll = true;
  let following = true;
  let unseen = 0; // lines appended while not following
  let count = 0;
  let destroyed = false;
  const render = throttledRender(() => draw());
  /** Lines the last frame appended: a flood (more than a screenful) slows the redraws. */
  let lastAdded = 0;

  const make = (/** @type {string} */ tag, /** @type {string} */ className, text = "") => {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  };
  const option = (/** @type {string} */ name) => {
    const node = /** @type {HTMLOptionElement} */ (make("option", "", name));
    node.value = name;
    return node;
  };

  const root = make("div", "ssew-root ssew-log");
  root.dataset.widget = "log";
  root.dataset.count = "0";
  root.dataset.channel = channel;
  const toolbar = make("div", "ssew-log-toolbar");
  const levelSelect = /** @type {HTMLSelectElement} */ (make("select", "ssew-log-level"));
  levelSelect.setAttribute("title", "lowest level shown");
  for (const name of CHOICES) levelSelect.append(option(name));
  const searchInput = /** @type {HTMLInputElement} */ (make("input", "ssew-log-search"));
  searchInput.type = "search";
  searchInput.placeholder = "filter…";
  searchInput.setAttribute("title", "show lines whose message or logger contains this (any case)");
  const counter = make("span", "ssew-log-count");
  const followButton = make("button", "ssew-log-follow", "follow");
  followButton.setAttribute("type", "button");
  followButton.setAttribute("title", "keep the newest line in view");
  const status = make("span", "ssew-status");
  const closed = make("span", "ssew-closed");
  toolbar.append(levelSelect, searchInput, counter, followButton, status, closed);
  const body = make("div", "ssew-log-body");
  const list = make("div", "ssew-log-lines");
  list.tabIndex = 0; // scrollable with the keyboard
  const droppedNote = make("div", "ssew-log-dropped");
  const emptyNote = make("div", "ssew-log-empty");
  const newButton = make("button", "ssew-log-new");
  newButton.setAttribute("type", "button");
  list.append(droppedNote, emptyNote);
  body.append(list, newButton);
  root.append(toolbar, body);
  el.appendChild(root);

  applyOptions({ level: "DEBUG", height: "300px", search: "", ...options });
  setStatus("connecting");
  paintFollow();

  function schedule() {
    if (!destroyed) render.schedule(lastAdded > FLOOD_LINES ? FLOOD_GAP_MS : 0);
  }

  /** @param {string} value */
  function setStatus(value) {
    root.dataset.status = value;
    status.dataset.status = value;
    status.textContent = value === "live" || value === "relay" ? "" : value === "connecting" ? "connecting…" : value;
  }

  /** @param {Record<string, any>} changed */
  function applyOptions(changed) {
    if ("level" in changed) {
      const wanted = changed.level ?? "DEBUG";
      minLevel = levelNumber(wanted);
      const label = typeof wanted === "number" ? String(wanted) : String(wanted).toUpperCase();
      if (![...levelSelect.options].some((o) => o.value === label)) levelSelect.append(option(label));
      levelSelect.value = label;
      redrawAll = true;
    }
    if ("search" in changed) {
      searchInput.value = String(changed.search ?? "");
      needle = searchInput.value.toLowerCase();
      redrawAll = true;
    }
    if ("max_lines" in changed) {
      const capacity = capacityOf(changed.max_lines);
      if (capacity !== lines.capacity) {
        const kept = lines.toArray().slice(-capacity);
        dropped += lines.size - kept.length;
        lines = new RingBuffer(capacity);
        for (const line of kept) lines.push(line);
        redrawAll = true;
      }
    }
    if ("height" in changed) list.style.height = String(changed.height ?? "300px");
    if ("event" in changed) events[0] = changed.event ?? "log";
    if ("channel" in changed && String(changed.channel ?? "default") !== channel) {
      channel = String(changed.channel ?? "default");
      root.dataset.channel = channel;
      clear();
    }
  }

  function clear() {
    lines.clear();
    pending = [];
    dropped = 0;
    unseen = 0;
    redrawAll = true;
  }

  /** @param {Line} line */
  function passes(line) {
    if (line.levelno < minLevel) return false;
    if (!needle) return true;
    line.hay ??= `${line.message}\n${line.logger}`.toLowerCase();
    return line.hay.includes(needle);
  }

  /** @param {Line} line */
  function build(line) {
    const row = make("div", `ssew-log-line ssew-sev-${severity(line.levelno)}`);
    row.dataset.level = line.level;
    const logger = make("span", "ssew-log-logger", line.logger);
    if (line.logger) logger.setAttribute("title", line.logger);
    row.append(
      make("span", "ssew-log-time", line.time === null ? "" : formatClock(line.time)),
      make("span", "ssew-log-levelname", line.level),
      logger,
      make("span", "ssew-log-msg", line.message),
    );
    if (line.exception) {
      // The summary is the traceback's last line ("ValueError: bad"): what one needs at a glance.
      const last = line.exception.trimEnd().split("\n").pop() ?? "";
      const details = make("details", "ssew-log-exc");
      details.append(make("summary", "", last.trim() || "exception"), make("pre", "", line.exception));
      row.append(details);
    }
    return row;
  }

  function paintFollow() {
    followButton.setAttribute("aria-pressed", String(following));
    newButton.hidden = following || unseen === 0;
    newButton.textContent = `↓ ${unseen} new`;
  }

  function toBottom() {
    list.scrollTop = list.scrollHeight;
  }

  /** @param {boolean} on */
  function follow(on) {
    if (on === following) return;
    following = on;
    if (on) {
      unseen = 0;
      redrawAll = true; // back to the tail, with what arrived while paused
      draw();
    } else {
      expandAbove();
    }
    paintFollow();
  }

  // Follow while the user is at the bottom; stop as soon as they scroll up to read. Our own
  // scroll to the bottom lands here too and changes nothing.
  list.addEventListener("scroll", () => {
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight <= BOTTOM_TOLERANCE;
    if (atBottom !== following) follow(atBottom);
  }, { passive: true });
  newButton.addEventListener("click", () => follow(true));
  followButton.addEventListener("click", () => follow(!following));
  levelSelect.addEventListener("change", () => {
    minLevel = levelNumber(levelSelect.value);
    redrawAll = true;
    schedule();
  });
  searchInput.addEventListener("input", () => {
    needle = searchInput.value.toLowerCase();
    redrawAll = true;
    schedule();
  });

  function draw() {
    root.dataset.count = String(count);
    const oldest = nextSeq - lines.size;
    if (!following && !redrawAll) {
      // Paused (the user scrolled up to read): the DOM stands still; new lines are counted
      // for the "↓ N new" button and drawn when following resumes.
      unseen += pending.filter((line) => line.seq >= oldest && passes(line)).length;
      pending = [];
      paintCounters();
      return;
    }
    if (redrawAll) {
      if (!following) unseen += pending.filter((line) => line.seq >= oldest && passes(line)).length;
      const matching = lines.filter(passes);
      shown = following ? matching.slice(-TAIL_LINES) : matching;
      shownHead = 0;
      const fragment = doc.createDocumentFragment();
      for (const line of shown) fragment.appendChild((line.el ??= build(line)));
      list.replaceChildren(droppedNote, emptyNote, fragment);
      redrawAll = false;
      lastAdded = 0;
    } else {
      const fragment = doc.createDocumentFragment();
      let added = 0;
      for (const line of pending) {
        if (line.seq < oldest || !passes(line)) continue;
        fragment.appendChild((line.el ??= build(line)));
        shown.push(line);
        added += 1;
      }
      if (added) list.appendChild(fragment);
      lastAdded = added;
      // Following, the DOM holds only the tail (the lines above are rebuilt when the user
      // scrolls up): layout and paint cost per frame stay flat whatever max_lines is.
      const keepFrom = Math.max(shown.length - TAIL_LINES, 0);
      while (shownHead < shown.length && (shownHead < keepFrom || shown[shownHead].seq < oldest)) {
        /** @type {HTMLElement} */ (shown[shownHead].el).remove();
        shownHead += 1;
      }
      if (shownHead > 1024 && shownHead * 2 > shown.length) {
        shown = shown.slice(shownHead);
        shownHead = 0;
      }
    }
    pending = [];
    paintCounters();
    if (following) toBottom();
  }

  /** Leaving the tail: put the older lines above what is shown, keeping the view in place. */
  function expandAbove() {
    pending.length && draw(); // what arrived up to now is part of what the user reads
    const first = shown[shownHead];
    const older = lines.filter((line) => passes(line) && (!first || line.seq < first.seq));
    if (older.length === 0) return;
    const fragment = doc.createDocumentFragment();
    for (const line of older) fragment.appendChild((line.el ??= build(line)));
    const before = list.scrollHeight;
    list.insertBefore(fragment, first ? first.el : null);
    list.scrollTop += list.scrollHeight - before;
    shown = [...older, ...shown.slice(shownHead)];
    shownHead = 0;
  }

  function paintCounters() {
    const total = lines.size;
    const matching = minLevel <= LEVELS.NOTSET && !needle ? total : lines.filter(passes).length;
    counter.textContent =
      matching === total ? `${total} line${total === 1 ? "" : "s"}` : `${matching} of ${total} lines`;
    // Said at the top of the list, so only when the top is in the DOM.
    droppedNote.hidden = dropped === 0 || (following && matching > TAIL_LINES);
    droppedNote.textContent = `${dropped} older line${dropped === 1 ? "" : "s"} dropped (max_lines ${lines.capacity})`;
    emptyNote.hidden = shown.length - shownHead > 0;
    emptyNote.textContent = total === 0 ? "waiting for log lines…" : "no line matches the filter";
    paintFollow();
  }

  return {
    events,
    onEvent(name, payload, meta) {
      if (destroyed || name !== events[0]) return;
      if (meta && meta.channel != null && meta.channel !== channel) return;
      count += 1;
      if (payload && typeof payload === "object") {
        const time = typeof payload.time === "number" ? payload.time : typeof meta?.time === "number" ? meta.time : null;
        /** @type {Line} */
        const line = {
          seq: nextSeq,
          level: payload.level == null ? "INFO" : String(payload.level),
          levelno: levelNumber(payload.level, payload.levelno),
          logger: payload.logger == null ? "" : String(payload.logger),
          message: payload.message == null ? "" : String(payload.message),
          exception: typeof payload.exception === "string" && payload.exception ? payload.exception : null,
          time,
          el: null,
          hay: null,
        };
        nextSeq += 1;
        if (lines.push(line) !== undefined) dropped += 1;
        pending.push(line);
        // A hidden tab runs no frames: keep only what can still be shown (amortised O(1)).
        if (pending.length > 2 * lines.capacity) pending = pending.slice(-lines.capacity);
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
    },
    setStatus(value) {
      if (!destroyed) setStatus(String(value));
    },
    setOptions(changed) {
      if (destroyed) return;
      applyOptions(changed);
      schedule();
    },
    destroy() {
      destroyed = true;
      render.cancel();
      root.remove();
      clear();
    },
  };
}
