// The "activity" view: everything a channel carries in one block — its bars, chart, text
// streams and log, each drawn by the widget's own view (progress.js, chart.js, text.js,
// log.js). The standalone page shows a channel with it; a notebook could too.
//
//   const view = createActivityView(el, { channel: "job", max_lines: 500 }, host);
//   view.events;  // the union of the sub-views' events: ["progress", "point", "text", "log"]
//
// A section stays hidden until its view took an event, so a channel that only logs shows a
// log and nothing else. Options go to every sub-view unchanged (each reads its own keys:
// `max_lines`, `window`, `series`, ...), except `event`: a sub-view would take it as the name
// of its one event, and then all four would read the same events. It follows the View
// contract of ./types.js.
//
// Must not: interpret payloads (the sub-views do), or render per event.

import { scheduleRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";
import { createChartView } from "./chart.js";
import { createLogView } from "./log.js";
import { createProgressView } from "./progress.js";
import { createTextView } from "./text.js";

/** @typedef {import("./types.js").View} View */
/** @typedef {import("./types.js").ViewHost} ViewHost */
/**
 * @typedef {(el: HTMLElement, options: Record<string, any>, host: ViewHost) => View} ViewFactory
 * @typedef {{progress: ViewFactory, chart: ViewFactory, text: ViewFactory, log: ViewFactory}}
 *   Factories
 */

/** @type {Factories} */
export const DEFAULT_FACTORIES = {
  progress: createProgressView,
  chart: createChartView,
  text: createTextView,
  log: createLogView,
};

/** Sections top to bottom: what a glance needs first (how far along) comes first. */
const SECTIONS = /** @type {const} */ ([
  ["progress", "Progress"],
  ["chart", "Chart"],
  ["text", "Text"],
  ["log", "Log"],
]);

const CSS = `
.ssew-activity { display: flex; flex-direction: column; gap: 12px; }
.ssew-activity-section[hidden] { display: none; }
.ssew-activity-title {
  font-size: 11px; font-weight: 600; letter-spacing: 0.04em; text-transform: uppercase;
  color: var(--ssew-muted); margin: 0 0 4px;
}
`;

/**
 * One channel's bars, chart, text and log in one block.
 * @param {HTMLElement} el the view's container (the view appends its root to it)
 * @param {Record<string, any>} options `channel`, plus any sub-view option
 * @param {ViewHost} host
 * @param {Factories} [factories] the sub-view factories (tests inject fakes)
 * @returns {View}
 */
export function createActivityView(el, options, host, factories = DEFAULT_FACTORIES) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "activity", CSS);
  const root = doc.createElement("div");
  root.className = "ssew-root ssew-activity";
  root.dataset.widget = "activity";
  root.dataset.count = "0";
  if (options.channel != null) root.dataset.channel = String(options.channel);
  el.appendChild(root);

  const sections = SECTIONS.map(([kind, title]) => {
    const section = doc.createElement("section");
    section.className = `ssew-activity-section ssew-activity-${kind}`;
    section.dataset.kind = kind;
    section.hidden = true;
    const heading = doc.createElement("div");
    heading.className = "ssew-activity-title";
    heading.textContent = title;
    const body = doc.createElement("div");
    body.className = "ssew-activity-body";
    section.append(heading, body);
    root.appendChild(section);
    const view = factories[kind](body, withoutEvent(options), host);
    return { kind, section, view, count: 0 };
  });

  /** @type {Map<string, typeof sections>} event name -> the sections whose view takes it */
  const routes = new Map();
  for (const entry of sections) {
    for (const name of entry.view.events) routes.set(name, [...(routes.get(name) ?? []), entry]);
  }
  let total = 0;
  let cancelDraw = () => {};

  // Visibility and counts follow at the next frame, with the sub-views' own renders.
  const draw = () => {
    root.dataset.count = String(total);
    for (const entry of sections) {
      if (entry.count > 0 && entry.section.hidden) entry.section.hidden = false;
      entry.section.dataset.count = String(entry.count);
    }
  };

  return {
    events: [...routes.keys()],
    onEvent(name, payload, meta) {
      const targets = routes.get(name);
      if (!targets) return;
      total += 1;
      for (const entry of targets) {
        entry.count += 1;
        entry.view.onEvent(name, payload, meta);
      }
      cancelDraw = scheduleRender(draw);
    },
    // A reset is followed by the snapshot: sections stay shown rather than flicker.
    onReset(channel, reason) {
      for (const { view } of sections) view.onReset(channel, reason);
    },
    onClose(channel, reason) {
      root.dataset.closed = reason;
      for (const { view } of sections) view.onClose(channel, reason);
    },
    setStatus(status) {
      for (const { view } of sections) view.setStatus(status);
    },
    setOptions(changed) {
      if (changed.channel != null) root.dataset.channel = String(changed.channel);
      const passed = withoutEvent(changed);
      if (Object.keys(passed).length === 0) return;
      for (const { view } of sections) view.setOptions(passed);
    },
    destroy() {
      cancelDraw();
      for (const { view } of sections) view.destroy();
      root.remove();
    },
  };
}

/**
 * A copy of `options` without `event` (each sub-view keeps its own event name).
 * @param {Record<string, any>} options
 */
function withoutEvent(options) {
  const { event: _ignored, ...rest } = options;
  return rest;
}
