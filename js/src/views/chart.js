// The LiveChart view: `point` events drawn as lines with uPlot, several series on one chart.
//
//   const view = createChartView(el, { channel: "train", series: ["loss"], window: 2000 }, host);
//   view.onEvent("point", { x: [1, 2], y: { loss: [0.5, 0.4] } }, { channel: "train", ... });
//
// Per event the payload is only queued (chart-data.js); once a frame the queue is merged by x
// into the bounded window and handed to uPlot's `setData`, so 10,000 points/s cost one redraw
// a frame. While paused, points keep coming into the (bounded) window but the plot keeps the
// picture it had; resuming draws the latest once.
//
// DOM (tests rely on it): root `.ssew-root.ssew-chart[data-widget=chart]` with `data-status`,
// `data-count` (events taken), `data-points` (y values in them, every series), `data-frames`
// (redraws), `data-series` (names drawn, comma-separated), `data-paused`; toolbar
// `.ssew-chart-toolbar` > `button.ssew-chart-pause` + `.ssew-chart-counter` + `.ssew-status`;
// plot `.ssew-chart-plot`; legend `.ssew-chart-legend` > `.ssew-chart-legend-item[data-series]`.
// Clicking pause dispatches a bubbling `ssew-option` event, detail `{name: "paused", value}`,
// for the glue to mirror into the `paused` trait.
//
// Must not: render per event, mutate payloads, or put event text into the DOM as HTML.

import uPlot from "uplot";
import { scheduleRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";
import { ChartData } from "./chart-data.js";

/** Series colours, in order of first appearance (Tableau 10: distinct, fine on light and dark). */
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];

const DEFAULTS = { event: "point", window: 2000, height: 300 };

// The rules of uPlot 1.6.32's dist/uPlot.min.css this chart uses (its own legend is off).
// uPlot: Copyright (c) 2022 Leon Sorokin, MIT licence, https://github.com/leeoniya/uPlot
const UPLOT_CSS = `
.uplot, .uplot *, .uplot *::before, .uplot *::after { box-sizing: border-box; }
.uplot { font-family: inherit; line-height: 1.5; width: min-content; }
.u-title { text-align: center; font-size: 18px; font-weight: bold; }
.u-wrap { position: relative; user-select: none; }
.u-over, .u-under { position: absolute; }
.u-under { overflow: hidden; }
.uplot canvas { display: block; position: relative; width: 100%; height: 100%; }
.u-axis { position: absolute; }
.u-select { background: rgba(0,0,0,0.07); position: absolute; pointer-events: none; }
.u-cursor-x, .u-cursor-y { position: absolute; left: 0; top: 0; pointer-events: none; will-change: transform; }
.u-hz .u-cursor-x, .u-vt .u-cursor-y { height: 100%; border-right: 1px dashed #607D8B; }
.u-hz .u-cursor-y, .u-vt .u-cursor-x { width: 100%; border-bottom: 1px dashed #607D8B; }
.u-cursor-pt { position: absolute; top: 0; left: 0; border-radius: 50%; border: 0 solid; pointer-events: none; will-change: transform; background-clip: padding-box !important; }
.u-axis.u-off, .u-select.u-off, .u-cursor-x.u-off, .u-cursor-y.u-off, .u-cursor-pt.u-off { display: none; }
`;

const CHART_CSS = `
.ssew-chart { border: 1px solid var(--ssew-border); border-radius: 4px; padding: 6px 8px; background: var(--ssew-bg); }
.ssew-chart-toolbar { display: flex; align-items: center; gap: 8px; margin-bottom: 4px; }
.ssew-chart-pause { font: inherit; font-size: 12px; padding: 1px 10px; border: 1px solid var(--ssew-border); border-radius: 3px; background: var(--ssew-bg2); color: var(--ssew-fg); cursor: pointer; }
.ssew-chart-counter { font-size: 11px; color: var(--ssew-muted); font-variant-numeric: tabular-nums; }
.ssew-chart-toolbar .ssew-status { margin-left: auto; }
.ssew-chart-plot { position: relative; min-width: 0; overflow: hidden; }
.ssew-chart .u-title { color: var(--ssew-fg); font-size: 14px; }
.ssew-chart-legend { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 12px; margin-top: 4px; }
.ssew-chart-legend-item { display: inline-flex; align-items: center; gap: 4px; }
.ssew-chart-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; }
.ssew-chart-value { font-family: var(--ssew-mono); font-variant-numeric: tabular-nums; color: var(--ssew-muted); }
`;

/**
 * A legend value: short, and "–" for a gap or no value.
 * @param {number | null | undefined} value
 */
export function formatValue(value) {
  if (typeof value !== "number") return "–";
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const size = Math.abs(value);
  if (size !== 0 && (size >= 1e6 || size < 1e-3)) return value.toExponential(3);
  return String(Number(value.toPrecision(5)));
}

/** @param {any} value @param {number} fallback */
function positiveInt(value, fallback) {
  const n = Math.floor(Number(value));
  return Number.isFinite(n) && n >= 1 ? n : fallback;
}

/** Whether this document can give uPlot a 2D canvas (not in every test DOM). */
function canDraw(/** @type {Document} */ doc) {
  try {
    return doc.createElement("canvas").getContext("2d") != null;
  } catch {
    return false;
  }
}

/**
 * Create the LiveChart view in `el`.
 *
 * @param {HTMLElement} el the widget's element (the view adds its root inside)
 * @param {Record<string, any>} options `channel`, `event` ("point"), `series` (names; empty:
 *   all), `window` (x positions kept, 2000), `height` (px, 300), `title`, `x_label`,
 *   `y_label`, `paused`
 * @param {import("./types.js").ViewHost} [host] unused: the chart sends no control messages
 * @returns {import("./types.js").View}
 * @example
 *   const view = createChartView(el, { channel: "train", title: "loss" });
 *   view.onEvent("point", { series: "loss", x: 1, y: 0.5 }, { channel: "train", id: "1", time: 0 });
 */
export function createChartView(el, options, host) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "uplot", UPLOT_CSS);
  ensureStyles(doc, "chart", CHART_CSS);

  const opts = { ...options };
  const data = new ChartData({
    capacity: positiveInt(opts.window, DEFAULTS.window),
    series: opts.series,
  });
  const drawable = canDraw(doc);
  /** @type {Map<string, string>} series name -> colour, kept across resets */
  const colours = new Map();

  const root = doc.createElement("div");
  root.className = "ssew-root ssew-chart";
  root.dataset.widget = "chart";
  const toolbar = doc.createElement("div");
  toolbar.className = "ssew-chart-toolbar";
  const pauseButton = doc.createElement("button");
  pauseButton.type = "button";
  pauseButton.className = "ssew-chart-pause";
  const counter = doc.createElement("span");
  counter.className = "ssew-chart-counter";
  const statusEl = doc.createElement("span");
  statusEl.className = "ssew-status";
  toolbar.append(pauseButton, counter, statusEl);
  const plotHost = doc.createElement("div");
  plotHost.className = "ssew-chart-plot";
  const legend = doc.createElement("div");
  legend.className = "ssew-chart-legend";
  root.append(toolbar, plotHost, legend);
  el.appendChild(root);

  let count = 0;
  let points = 0;
  let frames = 0;
  let paused = false;
  let status = "";
  let closed = "";
  /** @type {uPlot | null} */
  let plot = null;
  let plotKey = ""; // series names + axis kind the plot was built for
  let optionsChanged = true; // title / labels: rebuild the plot at the next redraw
  /** @type {any[][]} the data last drawn: `[x, ...columns]` */
  let shown = [[]];
  /** @type {string[]} */
  let shownNames = [];
  /** @type {{item: HTMLElement, value: HTMLElement}[]} */
  let legendItems = [];
  let legendKey = "\u0001"; // the names legendItems were made for (none yet)
  let cancelRender = () => {};

  const view = {
    events: [opts.event ?? DEFAULTS.event],
    onEvent,
    onReset,
    onClose,
    setStatus,
    setOptions,
    destroy,
  };

  function colourOf(/** @type {string} */ name) {
    let colour = colours.get(name);
    if (colour === undefined) {
      colour = PALETTE[colours.size % PALETTE.length];
      colours.set(name, colour);
    }
    return colour;
  }

  function height() {
    return positiveInt(opts.height, DEFAULTS.height);
  }

  function width() {
    return Math.floor(plotHost.clientWidth || root.clientWidth || 600);
  }

  /** @param {string[]} names @param {boolean} time @param {any[][]} d */
  function buildPlot(names, time, d) {
    plot?.destroy();
    plot = null;
    if (!drawable) return;
    const ink = doc.defaultView?.getComputedStyle(root).color || "#1f2328";
    const grid = { stroke: "rgba(128,128,128,0.18)", width: 1 };
    const axis = (/** @type {any} */ label) => ({
      label: label ? String(label) : undefined,
      stroke: ink,
      grid,
      ticks: grid,
    });
    plot = new uPlot(
      {
        width: width(),
        height: height(),
        title: opts.title ? String(opts.title) : undefined,
        scales: { x: { time } },
        legend: { show: false },
        series: [
          {},
          ...names.map((name) => ({
            label: name,
            stroke: colourOf(name),
            width: 1.5,
            spanGaps: false, // null (a gap sent) breaks the line; undefined (no value) does not
          })),
        ],
        axes: [axis(opts.x_label), axis(opts.y_label)],
        hooks: { setCursor: [(u) => renderLegend(u.cursor.idx)] },
      },
      /** @type {uPlot.AlignedData} */ (d),
      plotHost,
    );
  }

  /** Legend entries for the drawn series, each with its latest value (or the hovered one). */
  function renderLegend(/** @type {number | null | undefined} */ idx) {
    const key = shownNames.join("\u0000");
    if (key !== legendKey) {
      legendKey = key;
      legendItems = shownNames.map((name) => {
        const item = doc.createElement("span");
        item.className = "ssew-chart-legend-item";
        item.dataset.series = name;
        const swatch = doc.createElement("span");
        swatch.className = "ssew-chart-swatch";
        swatch.style.background = colourOf(name);
        const label = doc.createElement("span");
        label.className = "ssew-chart-name";
        label.textContent = name;
        const value = doc.createElement("span");
        value.className = "ssew-chart-value";
        item.append(swatch, label, value);
        return { item, value };
      });
      legend.replaceChildren(...legendItems.map((entry) => entry.item));
    }
    for (let c = 0; c < legendItems.length; c += 1) {
      const column = shown[c + 1];
      let value = idx == null ? undefined : column[idx];
      if (idx == null) {
        for (let r = column.length - 1; r >= 0 && value === undefined; r -= 1) value = column[r];
      }
      legendItems[c].value.textContent = formatValue(value);
    }
  }

  /** Once a frame: merge what came in, update the counters, redraw unless paused. */
  function draw() {
    data.flush();
    root.dataset.count = String(count);
    root.dataset.points = String(points);
    counter.textContent = `${points} point${points === 1 ? "" : "s"}${paused ? " · paused" : ""}`;
    if (paused) return;
    const win = data.window;
    const names = win.series();
    const time = data.isTime();
    const key = `${time}\u0000${names.join("\u0000")}`;
    const d = win.data();
    if (key !== plotKey || optionsChanged || (drawable && plot === null)) {
      buildPlot(names, time, d);
      plotKey = key;
      optionsChanged = false;
    } else {
      plot?.setData(/** @type {uPlot.AlignedData} */ (d));
    }
    shown = d;
    shownNames = names;
    frames += 1;
    root.dataset.frames = String(frames);
    root.dataset.series = names.join(",");
    renderLegend(plot?.cursor.idx);
  }

  function schedule() {
    cancelRender = scheduleRender(draw);
  }

  /** @param {boolean} value @param {boolean} [fromButton] */
  function setPaused(value, fromButton = false) {
    value = Boolean(value);
    const changed = value !== paused;
    paused = value;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    root.dataset.paused = String(paused);
    if (!changed) return;
    // Paused: the plot keeps the arrays it was given; new points go to copies.
    if (paused) data.window.detach();
    if (fromButton) {
      root.dispatchEvent(
        new (doc.defaultView ?? globalThis).CustomEvent("ssew-option", {
          bubbles: true,
          detail: { name: "paused", value: paused },
        }),
      );
    }
    schedule();
  }

  function renderStatus() {
    root.dataset.status = status;
    statusEl.dataset.status = status;
    statusEl.textContent = closed ? `${status ? `${status} · ` : ""}closed: ${closed}` : status;
  }

  function clearAll() {
    data.clear();
    count = 0;
    points = 0;
    schedule();
  }

  /** @param {string} name @param {any} payload @param {import("./types.js").EventMeta} meta */
  function onEvent(name, payload, meta) {
    if (name !== view.events[0]) return;
    if (opts.channel != null && meta?.channel !== opts.channel) return;
    const taken = data.take(payload);
    if (taken === null) return;
    count += 1;
    points += taken;
    schedule();
  }

  /** @param {string} channel @param {string} _reason */
  function onReset(channel, _reason) {
    if (opts.channel != null && channel !== opts.channel) return;
    closed = "";
    renderStatus();
    clearAll();
  }

  /** @param {string} channel @param {string} reason */
  function onClose(channel, reason) {
    if (opts.channel != null && channel !== opts.channel) return;
    closed = String(reason || "closed");
    root.dataset.closed = closed;
    renderStatus();
  }

  /** @param {string} value */
  function setStatus(value) {
    status = String(value);
    renderStatus();
  }

  /** @param {Record<string, any>} changed */
  function setOptions(changed) {
    Object.assign(opts, changed);
    if ("channel" in changed) clearAll();
    if ("event" in changed) view.events = [opts.event ?? DEFAULTS.event];
    if ("series" in changed) data.setSeries(opts.series);
    if ("window" in changed) data.setCapacity(positiveInt(opts.window, DEFAULTS.window));
    if ("height" in changed) plot?.setSize({ width: width(), height: height() });
    if ("title" in changed || "x_label" in changed || "y_label" in changed) optionsChanged = true;
    if ("paused" in changed) setPaused(changed.paused);
    schedule();
  }

  const resizeObserver =
    typeof doc.defaultView?.ResizeObserver === "function"
      ? new doc.defaultView.ResizeObserver(() => {
          const w = width();
          if (plot && w > 0 && w !== plot.width) plot.setSize({ width: w, height: height() });
        })
      : null;
  resizeObserver?.observe(plotHost);

  function destroy() {
    cancelRender();
    resizeObserver?.disconnect();
    plot?.destroy();
    plot = null;
    root.remove();
  }

  pauseButton.addEventListener("click", () => setPaused(!paused, true));
  setPaused(Boolean(opts.paused));
  setStatus(status);
  root.dataset.count = "0";
  root.dataset.points = "0";
  root.dataset.frames = "0";
  root.dataset.series = "";
  schedule();
  return view;
}
