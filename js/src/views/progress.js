// Progress view: one compact line per bar of a channel's `progress` events (docs/events.md),
// tqdm-like (`desc ▕████░░▏ 42% 420/1000 812 it/s ETA 0:01`), nested bars indented under their
// parent, a cancel button per running bar. Follows the View contract of ./types.js.
//
//   const view = createProgressView(el, { channel: "train", bar: null }, host);
//   view.onEvent("progress", { bar: "b1", value: 3, total: 10, state: "running" }, meta);
//
// Must not: open connections or know the transport (events come in through onEvent, cancel
// goes out through host.control), build HTML from payload text, or draw per event.

import { scheduleRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";
import { formatDuration, formatNumber, formatRate } from "./format.js";
import { CSS } from "./progress-css.js";

export { formatDuration, formatNumber, formatRate };

/** Bars kept per view: a loop that opens a child bar per epoch must not grow the page forever. */
export const MAX_BARS = 200;


/**
 * @typedef {object} BarRow the DOM of one bar, made once and then only updated
 * @property {HTMLElement} el
 * @property {Record<string, HTMLElement>} parts
 * @property {Map<string, string>} shown what each part shows now (skip unchanged DOM writes)
 *
 * @typedef {object} Bar
 * @property {string} id
 * @property {any} p the latest payload (shared: read only)
 * @property {boolean} cancelling a cancel was sent and the bar has not ended yet
 * @property {string | null} cancelError why the last cancel failed
 * @property {BarRow | null} row
 */

/**
 * The view of a channel's progress bars.
 * @param {HTMLElement} el the container (the view appends its root to it)
 * @param {Record<string, any>} options `channel`, `event`, `bar`, `show_cancel`
 * @param {import("./types.js").ViewHost} host
 * @returns {import("./types.js").View}
 */
export function createProgressView(el, options, host) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "progress", CSS);

  let channel = String(options.channel ?? "default");
  let filter = options.bar ?? null;
  let showCancel = options.show_cancel ?? true;
  const events = [options.event ?? "progress"];

  /** @type {Map<string, Bar>} insertion order is first appearance */
  const bars = new Map();
  /** @type {Set<Bar>} bars whose row must be redrawn */
  const dirty = new Set();
  let structureChanged = true; // a bar came or went, or a parent changed: re-layout
  let count = 0;
  let evicted = 0;
  let orderKey = "";
  let destroyed = false;
  let cancelRender = () => {};

  const root = make("div", "ssew-root ssew-progress");
  root.dataset.widget = "progress";
  root.dataset.status = "connecting";
  root.dataset.count = "0";
  root.dataset.channel = channel;
  const list = make("div", "ssew-bars");
  const empty = make("div", "ssew-empty");
  const foot = make("div", "ssew-foot");
  const status = make("span", "ssew-status");
  const closed = make("span", "ssew-closed");
  const note = make("span", "ssew-progress-note");
  foot.append(status, closed, note);
  root.append(list, empty, foot);
  el.appendChild(root);
  setStatus("connecting");
  paintFoot();

  /**
   * @param {string} tag
   * @param {string} className
   * @param {string} [text]
   */
  function make(tag, className, text) {
    const node = doc.createElement(tag);
    node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function schedule() {
    if (!destroyed) cancelRender = scheduleRender(draw);
  }

  /** @param {string} value */
  function setStatus(value) {
    root.dataset.status = value;
    status.dataset.status = value;
    // "live" needs no words: moving bars say it. Anything else (connecting, errors) does.
    status.textContent = value === "live" || value === "relay" ? "" : value === "connecting" ? "connecting…" : value;
    paintFoot();
  }

  function paintFoot() {
    note.textContent = evicted > 0 ? `${evicted} older finished bar${evicted === 1 ? "" : "s"} not shown` : "";
    foot.hidden = !status.textContent && !closed.textContent && !note.textContent;
  }

  function clear() {
    bars.clear();
    dirty.clear();
    evicted = 0;
    structureChanged = true;
  }

  /** Drop the oldest finished bars (with their finished children) past MAX_BARS. */
  function evict() {
    const finished = (/** @type {Bar} */ b) => b.p.state !== "running";
    while (bars.size > MAX_BARS) {
      let victim = [...bars.values()].find((b) => finished(b) && !(b.p.parent != null && bars.has(b.p.parent)));
      victim ??= [...bars.values()].find(finished) ?? bars.values().next().value;
      if (!victim) return;
      const doomed = new Set([victim.id]);
      for (const b of bars.values()) if (b.p.parent != null && doomed.has(b.p.parent) && finished(b)) doomed.add(b.id);
      for (const id of doomed) bars.delete(id);
      evicted += doomed.size;
    }
  }

  /**
   * Bars to show, in order: roots by first appearance, each followed by its children.
   * @returns {{bar: Bar, depth: number}[]}
   */
  function layout() {
    /** @type {Map<string, Bar[]>} */
    const children = new Map();
    /** @type {Bar[]} */
    const roots = [];
    for (const bar of bars.values()) {
      const parent = bar.p.parent;
      if (parent != null && parent !== bar.id && bars.has(String(parent))) {
        const key = String(parent);
        if (!children.has(key)) children.set(key, []);
        /** @type {Bar[]} */ (children.get(key)).push(bar);
      } else roots.push(bar);
    }
    let starts = roots;
    if (filter != null) {
      const matches = (/** @type {Bar} */ b) => b.id === filter || b.p.desc === filter;
      starts = [...bars.values()].filter((b) => matches(b) && !ancestors(b).some(matches));
    }
    /** @type {{bar: Bar, depth: number}[]} */
    const out = [];
    const seen = new Set();
    const visit = (/** @type {Bar} */ bar, /** @type {number} */ depth) => {
      if (seen.has(bar)) return; // a parent cycle in bad data must not loop
      seen.add(bar);
      out.push({ bar, depth });
      for (const child of children.get(bar.id) ?? []) visit(child, depth + 1);
    };
    for (const bar of starts) visit(bar, 0);
    return out;
  }

  /** @param {Bar} bar */
  function ancestors(bar) {
    const out = [];
    for (let b = bar; b.p.parent != null && out.length < bars.size; ) {
      const parent = bars.get(String(b.p.parent));
      if (!parent || parent === bar) break;
      out.push(parent);
      b = parent;
    }
    return out;
  }

  /** @param {Bar} bar */
  function makeRow(bar) {
    const parts = {
      desc: make("span", "ssew-bar-desc"),
      phase: make("span", "ssew-bar-phase"),
      track: make("div", "ssew-bar-track"),
      fill: make("div", "ssew-bar-fill"),
      pct: make("span", "ssew-bar-pct"),
      count: make("span", "ssew-bar-count"),
      rate: make("span", "ssew-bar-rate"),
      eta: make("span", "ssew-bar-eta"),
      outcome: make("span", "ssew-bar-outcome"),
      ok: make("span", "ssew-bar-ok"),
      failed: make("span", "ssew-bar-failed"),
      cancel: make("button", "ssew-cancel"),
      sub: make("div", "ssew-bar-sub"),
      msg: make("span", "ssew-bar-msg"),
      cancelError: make("span", "ssew-cancel-error"),
      errors: make("details", "ssew-bar-errors"),
      errorsSummary: make("summary", ""),
      errorsList: make("ol", ""),
    };
    parts.track.setAttribute("role", "progressbar");
    parts.track.setAttribute("aria-valuemin", "0");
    parts.track.setAttribute("aria-valuemax", "100"); // aria-valuenow is the percentage
    parts.track.append(parts.fill);
    parts.outcome.append("✓ ", parts.ok, make("span", "ssew-bar-failmark", " ✗ "), parts.failed);
    parts.cancel.setAttribute("type", "button");
    parts.cancel.addEventListener("click", () => cancel(bar));
    parts.errors.append(parts.errorsSummary, parts.errorsList);
    parts.sub.append(parts.msg, parts.cancelError, parts.errors);
    // Grid cells: label, track, pct, count, rate, eta, outcome, actions (see the CSS).
    const label = make("span", "ssew-bar-label");
    label.append(parts.desc, parts.phase);
    const outcomeCell = make("span", "ssew-bar-outcome-cell");
    outcomeCell.append(parts.outcome);
    const actions = make("span", "ssew-bar-actions");
    actions.append(parts.cancel);
    const line = make("div", "ssew-bar-line");
    line.append(label, parts.track, parts.pct, parts.count, parts.rate, parts.eta, outcomeCell, actions);
    const rowEl = make("div", "ssew-bar");
    rowEl.dataset.bar = bar.id;
    rowEl.append(line, parts.sub);
    return { el: rowEl, parts, shown: new Map() };
  }

  /**
   * @param {Bar} bar
   * @param {number} depth
   */
  function paint(bar, depth) {
    const row = /** @type {BarRow} */ (bar.row);
    const { parts } = row;
    const p = bar.p;
    const put = (/** @type {string} */ key, /** @type {string} */ text, node = parts[key]) => {
      if (row.shown.get(key) === text) return;
      row.shown.set(key, text);
      node.textContent = text;
    };
    const attr = (/** @type {string} */ name, /** @type {string} */ value, node = row.el) => {
      if (row.shown.get(`@${name}`) === value) return;
      row.shown.set(`@${name}`, value);
      node.setAttribute(name, value);
    };
    const state = ["running", "done", "error", "cancelled"].includes(p.state) ? p.state : "running";
    const running = state === "running";
    const value = typeof p.value === "number" ? p.value : 0;
    const total = typeof p.total === "number" && Number.isFinite(p.total) ? p.total : null;
    const unit = typeof p.unit === "string" && p.unit ? p.unit : "it";
    if (!running) bar.cancelling = false;

    attr("data-state", state);
    attr("data-value", String(p.value ?? 0));
    attr("data-total", total === null ? "" : String(total));
    attr("data-depth", String(depth));
    if (row.shown.get("depth") !== String(depth)) {
      row.shown.set("depth", String(depth));
      row.el.style.setProperty("--ssew-depth", String(depth));
    }
    const desc = p.desc == null ? "" : String(p.desc);
    put("desc", desc);
    attr("title", desc, parts.desc);

    // The fill: a fraction of the total, full once done, a sweeping block while unknown.
    const indeterminate = total === null && running;
    row.el.classList.toggle("ssew-indeterminate", indeterminate);
    let fraction = total === null ? (running ? 0 : 1) : total > 0 ? value / total : running ? 0 : 1;
    fraction = Math.min(1, Math.max(0, fraction));
    const width = indeterminate ? "" : `${(fraction * 100).toFixed(2)}%`;
    if (row.shown.get("width") !== width) {
      row.shown.set("width", width);
      parts.fill.style.width = width;
    }
    if (total !== null) {
      attr("aria-valuenow", String(Math.floor(fraction * 100)), parts.track);
      put("pct", `${Math.floor(fraction * 100)}%`);
    } else put("pct", "");
    // A phase-weighted bar counts in weights, not in the user's units: its percentage and
    // phase say it all ("0.14/6" and "50 s/it" would only puzzle).
    const weighted = Boolean(p.phases && typeof p.phases === "object");
    put("count", weighted ? "" : total === null ? formatNumber(value) : `${formatNumber(value)}/${formatNumber(total)}`);
    put("rate", !weighted && (running || typeof p.rate === "number") ? formatRate(p.rate, unit) : "");
    const elapsed = typeof p.elapsed === "number" ? formatDuration(p.elapsed) : "";
    const eta = running && typeof p.eta === "number" && Number.isFinite(p.eta) ? `ETA ${formatDuration(p.eta)}` : elapsed;
    put("eta", eta);
    attr("title", eta === elapsed ? "elapsed" : `elapsed ${elapsed}`, parts.eta);

    // Phase-weighted bars: the current phase and its place among them.
    const phases = p.phases && typeof p.phases === "object" ? Object.keys(p.phases) : [];
    const at = phases.indexOf(p.phase);
    put("phase", p.phase == null ? "" : at >= 0 ? `${p.phase} ${at + 1}/${phases.length}` : String(p.phase));
    attr("title", phases.map((name) => `${name}: ${p.phases[name]}`).join(", "), parts.phase);

    // Outcome counts (bar.ok() / bar.fail()) and the last errors, as a tooltip and a list.
    const counted = typeof p.ok === "number" || typeof p.failed === "number";
    parts.outcome.hidden = !counted;
    put("ok", formatNumber(p.ok ?? 0));
    put("failed", formatNumber(p.failed ?? 0));
    parts.outcome.classList.toggle("ssew-has-failed", (p.failed ?? 0) > 0);
    const errors = Array.isArray(p.errors) ? p.errors.map(String) : [];
    attr("title", errors.length ? `last errors:\n${errors.join("\n")}` : "", parts.outcome);
    const errorsKey = errors.join("\u0000");
    if (row.shown.get("errors") !== errorsKey) {
      row.shown.set("errors", errorsKey);
      parts.errors.hidden = errors.length === 0;
      parts.errorsSummary.textContent = `last ${errors.length === 1 ? "error" : `${errors.length} errors`}`;
      parts.errorsList.replaceChildren(...errors.map((text) => make("li", "", text)));
    }

    put("msg", p.message == null ? "" : String(p.message));
    put("cancelError", bar.cancelError ? `cancel failed: ${bar.cancelError}` : "");
    parts.sub.hidden = !parts.msg.textContent && !bar.cancelError && errors.length === 0;
    paintCancel(bar, running);
  }

  /**
   * @param {Bar} bar
   * @param {boolean} running
   */
  function paintCancel(bar, running) {
    const button = /** @type {BarRow} */ (bar.row).parts.cancel;
    button.hidden = !(showCancel && running && typeof host?.control === "function");
    /** @type {HTMLButtonElement} */ (button).disabled = bar.cancelling;
    button.textContent = bar.cancelling ? "cancelling…" : "✕";
    button.setAttribute("title", bar.cancelling ? "cancel sent" : "Cancel: the loop raises sse_widgets.Cancelled");
  }

  /** @param {Bar} bar */
  function cancel(bar) {
    if (bar.cancelling || destroyed) return;
    bar.cancelling = true;
    bar.cancelError = null;
    if (bar.row) paintCancel(bar, true); // a click answers at once, not at the next event
    /** @type {Promise<void>} */
    let sent;
    try {
      sent = Promise.resolve(host.control(channel, { event: "cancel", data: { bar: bar.id } }));
    } catch (error) {
      sent = Promise.reject(error);
    }
    // Success changes nothing here: the bar says "cancelled" itself once the loop stops.
    sent.catch((/** @type {unknown} */ error) => {
      bar.cancelling = false;
      bar.cancelError = error instanceof Error ? error.message : String(error);
      dirty.add(bar);
      schedule();
    });
  }

  function draw() {
    root.dataset.count = String(count);
    if (structureChanged) {
      const shown = layout();
      const key = shown.map(({ bar, depth }) => `${bar.id}\u0000${depth}`).join("\u0001");
      for (const { bar, depth } of shown) {
        bar.row ??= makeRow(bar);
        paint(bar, depth);
      }
      if (key !== orderKey) list.replaceChildren(...shown.map(({ bar }) => /** @type {BarRow} */ (bar.row).el));
      orderKey = key;
      structureChanged = false;
      empty.hidden = shown.length > 0;
      empty.textContent = filter == null ? "waiting for progress…" : `waiting for bar “${filter}”…`;
      paintFoot();
    } else {
      for (const bar of dirty) {
        if (bar.row && bar.row.el.parentNode === list) paint(bar, Number(bar.row.el.dataset.depth));
      }
    }
    dirty.clear();
  }

  return {
    events,
    onEvent(name, payload, meta) {
      if (destroyed || name !== events[0]) return;
      if (meta && meta.channel != null && meta.channel !== channel) return;
      count += 1;
      if (payload && typeof payload === "object" && payload.bar != null) {
        const id = String(payload.bar);
        let bar = bars.get(id);
        if (!bar) {
          bar = { id, p: payload, cancelling: false, cancelError: null, row: null };
          bars.set(id, bar);
          structureChanged = true;
          if (bars.size > MAX_BARS) evict();
        } else {
          if (bar.p.parent !== payload.parent || (filter != null && bar.p.desc !== payload.desc)) structureChanged = true;
          bar.p = payload;
        }
        if (payload.leave === false && payload.state === "done") {
          // tqdm's leave=False: a finished bar goes (an error or a cancel stays, to be seen)
          bars.delete(id);
          dirty.delete(bar);
          bar.row?.el.remove();
          structureChanged = true;
        } else dirty.add(bar);
      }
      schedule();
    },
    onReset(resetChannel) {
      if (resetChannel !== channel) return;
      clear();
      schedule();
    },
    onClose(closedChannel) {
      if (closedChannel !== channel || destroyed) return;
      closed.textContent = "channel closed";
      root.dataset.closed = "true";
      paintFoot();
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
      if ("event" in changed) events[0] = changed.event ?? "progress";
      if ("bar" in changed) filter = changed.bar ?? null;
      if ("show_cancel" in changed) showCancel = changed.show_cancel ?? true;
      structureChanged = true; // cheap: at most MAX_BARS rows, and options change rarely
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
