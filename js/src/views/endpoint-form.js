// Endpoint form view: a form for one endpoint's parameters, a Run and a Cancel button, and
// what the call sends back: progress bars, log lines, streamed text, the yielded values, and
// the result or the error. The progress, log and text parts are the channel views of this
// folder, fed the call's events directly.
//
//   const view = createEndpointFormView(el, { endpoint: "summarize", button: "Run" }, {
//     run(args) {},   // the user submitted valid arguments: start the call
//     cancel() {},    // the user pressed Cancel
//   });
//   view.setInfo({ name, signature, doc, parameters: [{ name: "text", required: true, annotation: "str" }] });
//   view.started();                                   // state "running"
//   view.onEvent("progress", { bar: "b", value: 3, total: 10, state: "running" }, "4");
//   view.finish({ status: "complete", value: 42 });   // or { status: "error", type, message }
//   view.fail("too many concurrent calls", 429);      // refused before it ran
//
// DOM hooks for tests: the root has `data-state` (idle | running | complete | error |
// cancelled) and `data-testid="endpoint-form"`; inside, `data-testid` endpoint-input-<name>,
// endpoint-run, endpoint-cancel, endpoint-status, endpoint-progress (its bars have
// role="progressbar"), endpoint-log (lines `.ssew-log-line`), endpoint-text, endpoint-values
// (`[data-testid=endpoint-value]` each), endpoint-result, endpoint-error, endpoint-info-error.
//
// Must not: open connections or know the transport (calls go out through host.run), build
// HTML from parameter names, docs or payloads, or draw per event.

import { RingBuffer } from "../buffers.js";
import { scheduleRender } from "../frames.js";
import { BASE_CSS, ensureStyles } from "../styles.js";
import { formatDuration } from "./format.js";
import { createLogView } from "./log.js";
import { createProgressView } from "./progress.js";
import { createTextView } from "./text.js";

/** The channel name the progress, log and text views are fed the call's events under. */
export const CALL_CHANNEL = "call";
/** The states of the root's `data-state`. */
export const STATES = Object.freeze(["idle", "running", "complete", "error", "cancelled"]);

const CSS = `
.ssew-endpoint-form [hidden] { display: none !important; }
.ssew-endpoint-form { display: flex; flex-direction: column; gap: 8px; padding: 4px 0; }
.ssew-ef-signature { font-family: var(--ssew-mono); font-size: 12px; overflow-wrap: anywhere; }
.ssew-ef-name { font-weight: 600; }
.ssew-ef-doc { margin: 2px 0 0; white-space: pre-wrap; color: var(--ssew-muted); font-size: 12px; }
.ssew-ef-fields { display: grid; grid-template-columns: fit-content(30%) 1fr; gap: 6px 10px; align-items: start; margin: 0; }
.ssew-ef-field { display: contents; }
.ssew-ef-label { padding-top: 3px; font-family: var(--ssew-mono); font-size: 12px; overflow-wrap: anywhere; }
.ssew-ef-required { color: var(--ssew-err); margin-left: 2px; }
.ssew-ef-type { display: block; color: var(--ssew-muted); font-size: 11px; }
.ssew-ef-control { display: flex; flex-direction: column; gap: 2px; min-width: 0; }
.ssew-ef-input { font: inherit; color: var(--ssew-fg); background: var(--ssew-bg); border: 1px solid var(--ssew-border);
  border-radius: 3px; padding: 2px 6px; min-width: 0; }
textarea.ssew-ef-input { resize: vertical; min-height: 2.6em; font-family: var(--ssew-font); }
.ssew-ef-input[data-kind="json"] { font-family: var(--ssew-mono); font-size: 12px; }
.ssew-ef-input[type="checkbox"] { justify-self: start; align-self: start; margin: 5px 0; }
.ssew-ef-input[aria-invalid="true"] { border-color: var(--ssew-err); }
.ssew-ef-field-error { color: var(--ssew-err); font-size: 11px; }
.ssew-ef-field-error:empty { display: none; }
.ssew-ef-actions { grid-column: 1 / -1; display: flex; align-items: center; gap: 8px; }
.ssew-ef-actions button { font: inherit; cursor: pointer; border-radius: 3px; padding: 2px 12px; border: 1px solid var(--ssew-border);
  background: var(--ssew-bg2); color: var(--ssew-fg); }
.ssew-ef-run { border-color: var(--ssew-accent) !important; color: var(--ssew-accent) !important; font-weight: 600; }
.ssew-ef-actions button:disabled { opacity: 0.55; cursor: default; }
.ssew-ef-status { font-size: 12px; color: var(--ssew-muted); }
.ssew-ef-info-error, .ssew-ef-error { color: var(--ssew-err); white-space: pre-wrap; overflow-wrap: anywhere; }
.ssew-ef-error { border-left: 3px solid var(--ssew-err); padding: 2px 8px; }
.ssew-ef-error-type { font-weight: 600; margin-right: 6px; }
.ssew-ef-part-title { font-size: 11px; font-weight: 600; color: var(--ssew-muted); margin-bottom: 2px; }
.ssew-ef-values ol { margin: 0; padding-left: 2.5em; }
.ssew-ef-value, .ssew-ef-result-value { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--ssew-mono);
  font-size: 12px; max-height: 240px; overflow: auto; }
.ssew-ef-values-dropped { font-size: 11px; font-style: italic; color: var(--ssew-muted); }
.ssew-ef-result { border-left: 3px solid var(--ssew-ok); padding: 2px 8px; }
`;

/**
 * @typedef {object} Parameter one entry of the endpoint's `parameters`
 * @property {string} name
 * @property {boolean} [required]
 * @property {any} [default] present only when the parameter has one
 * @property {string} [annotation]
 *
 * @typedef {"integer" | "number" | "boolean" | "text" | "json"} InputKind
 *
 * @typedef {object} FormHost
 * @property {(args: Record<string, any>) => void} run
 * @property {() => void} cancel
 *
 * @typedef {object} Field
 * @property {Parameter} parameter
 * @property {InputKind} kind
 * @property {HTMLInputElement | HTMLTextAreaElement} input
 * @property {HTMLElement} error
 * @property {HTMLElement} row
 */

/**
 * The kind of input a parameter gets: its annotation first (`int`, `float`, `bool`, `str`,
 * also as `Optional[int]` or `int | None`), else the type of its default, else JSON.
 * @param {Parameter} parameter
 * @returns {InputKind}
 * @example inputKind({ name: "n", annotation: "int | None" }) // "integer"
 */
export function inputKind(parameter) {
  const base = baseType(parameter.annotation);
  if (base === "int") return "integer";
  if (base === "float") return "number";
  if (base === "bool") return "boolean";
  if (base === "str") return "text";
  if (base === "") {
    const value = parameter.default;
    if (typeof value === "boolean") return "boolean";
    if (typeof value === "number") return "number";
    if (typeof value === "string") return "text";
  }
  return "json";
}

/** @param {unknown} annotation */
function baseType(annotation) {
  let text = String(annotation ?? "").trim().replace(/^typing\./, "");
  const klass = /^<class '([\w.]+)'>$/.exec(text);
  if (klass) text = klass[1];
  const optional = /^Optional\[(.*)\]$/.exec(text);
  if (optional) text = optional[1].trim();
  const parts = text.split("|").map((part) => part.trim()).filter((part) => part !== "None");
  return parts.length === 1 ? parts[0] : parts.length === 0 ? "" : text;
}

/**
 * Read one field: the value to send, `omit` to let the endpoint use its default, or an error.
 * @param {InputKind} kind
 * @param {{ value: string, checked?: boolean }} input
 * @param {Parameter} parameter
 * @returns {{ value?: any, omit?: boolean, error?: string }}
 * @example readField("integer", { value: "3" }, { name: "n" }) // { value: 3 }
 */
export function readField(kind, input, parameter) {
  if (kind === "boolean") return { value: Boolean(input.checked) };
  const raw = input.value;
  if (raw === "" || (kind !== "text" && raw.trim() === "")) {
    if (parameter.required) return { error: "required" };
    // An emptied text field of a str parameter means "" unless its default is something else
    if (kind === "text" && typeof parameter.default === "string") return { value: "" };
    return { omit: true };
  }
  if (kind === "integer" || kind === "number") {
    const value = Number(raw);
    if (!Number.isFinite(value)) return { error: "a number, like 3 or 2.5" };
    if (kind === "integer" && !Number.isInteger(value)) return { error: "a whole number, like 3" };
    return { value };
  }
  if (kind === "json") {
    try {
      return { value: JSON.parse(raw) };
    } catch {
      return { error: 'not valid JSON: write a string in double quotes ("text"), a number, [1, 2] or {"a": 1}' };
    }
  }
  return { value: raw };
}

/**
 * What a field shows for a value (the inverse of readField).
 * @param {InputKind} kind
 * @param {any} value undefined: nothing
 */
function showField(kind, value) {
  if (value === undefined || value === null) return kind === "json" && value === null ? "null" : "";
  if (kind === "text") return String(value);
  if (kind === "integer" || kind === "number") return typeof value === "number" ? String(value) : "";
  return JSON.stringify(value);
}

/**
 * A value as the result and value panels show it: strings as they are, the rest as JSON, on
 * one line when it fits in `width` characters, else indented.
 * @param {any} value
 * @param {number} [width] 0: always indented
 * @example formatValue({ k: 1 }, 80) // '{"k":1}'
 */
export function formatValue(value, width = 0) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  try {
    const line = JSON.stringify(value);
    if (line === undefined) return String(value);
    return line.length <= width ? line : JSON.stringify(value, null, 2);
  } catch {
    return String(value); // a cycle cannot come from JSON; a BigInt from a test might
  }
}

let nextId = 0;

/**
 * The view of an endpoint form and of the calls made with it.
 * @param {HTMLElement} el the container (the view appends its root to it)
 * @param {Record<string, any>} options `endpoint`, `arguments`, `fields`, `button`, `max_items`, `max_log_lines`
 * @param {FormHost} host
 */
export function createEndpointFormView(el, options, host) {
  const doc = el.ownerDocument;
  ensureStyles(doc, "base", BASE_CSS);
  ensureStyles(doc, "endpoint-form", CSS);

  let opts = { endpoint: "", arguments: {}, fields: null, button: "Run", max_items: 20, max_log_lines: 500, ...options };
  /** @type {any} */
  let info = null;
  /** @type {Record<string, any>} values to show in place of the presets (a resumed call's) */
  let filled = {};
  /** @type {Field[]} */
  let fields = [];
  let state = "idle";
  let startedAt = 0;
  let destroyed = false;
  let values = new RingBuffer(capacity(opts.max_items, 20));
  let valueCount = 0;
  /** @type {{value: any, el: HTMLElement | null}[]} */
  let shownValues = [];
  let cancelRender = () => {};

  const make = (/** @type {string} */ tag, /** @type {string} */ className, text = "") => {
    const node = doc.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  };
  const testid = (/** @type {HTMLElement} */ node, /** @type {string} */ id) => {
    node.dataset.testid = id;
    return node;
  };

  const root = testid(make("div", "ssew-root ssew-endpoint-form"), "endpoint-form");
  root.dataset.widget = "endpoint-form";
  const head = make("div", "ssew-ef-head");
  const signature = make("div", "ssew-ef-signature");
  const nameEl = make("span", "ssew-ef-name");
  const paramsEl = make("span", "ssew-ef-params");
  signature.append(nameEl, paramsEl);
  const docEl = make("p", "ssew-ef-doc");
  head.append(signature, docEl);
  const infoError = testid(make("div", "ssew-ef-info-error"), "endpoint-info-error");
  infoError.setAttribute("role", "alert");

  const form = /** @type {HTMLFormElement} */ (make("form", "ssew-ef-fields"));
  form.noValidate = true; // our own messages, next to each field
  const fieldBox = make("div", "ssew-ef-field-list");
  fieldBox.style.display = "contents";
  const actions = make("div", "ssew-ef-actions");
  const runButton = /** @type {HTMLButtonElement} */ (testid(make("button", "ssew-ef-run"), "endpoint-run"));
  runButton.type = "submit";
  const cancelButton = /** @type {HTMLButtonElement} */ (testid(make("button", "ssew-ef-cancel", "Cancel"), "endpoint-cancel"));
  cancelButton.type = "button";
  const status = testid(make("span", "ssew-ef-status"), "endpoint-status");
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  actions.append(runButton, cancelButton, status);
  form.append(fieldBox, actions);

  const output = make("div", "ssew-ef-output");
  output.setAttribute("aria-live", "off");
  const progressBox = testid(make("div", "ssew-ef-progress"), "endpoint-progress");
  const textBox = testid(make("div", "ssew-ef-text"), "endpoint-text");
  const logBox = testid(make("div", "ssew-ef-log"), "endpoint-log");
  const valuesBox = testid(make("div", "ssew-ef-values"), "endpoint-values");
  const valuesTitle = make("div", "ssew-ef-part-title");
  const valuesDropped = make("div", "ssew-ef-values-dropped");
  const valueList = make("ol", "ssew-ef-value-list");
  valuesBox.append(valuesTitle, valuesDropped, valueList);
  const resultBox = testid(make("div", "ssew-ef-result"), "endpoint-result");
  const resultValue = make("pre", "ssew-ef-result-value");
  resultBox.append(make("div", "ssew-ef-part-title", "result"), resultValue);
  const errorBox = testid(make("div", "ssew-ef-error"), "endpoint-error");
  errorBox.setAttribute("role", "alert");
  const errorType = make("span", "ssew-ef-error-type");
  const errorMessage = make("span", "ssew-ef-error-message");
  errorBox.append(errorType, errorMessage);
  output.append(progressBox, textBox, logBox, valuesBox, resultBox, errorBox);
  root.append(head, infoError, form, output);
  el.appendChild(root);

  const progress = createProgressView(progressBox, { channel: CALL_CHANNEL, show_cancel: false }, {});
  const text = createTextView(textBox, { channel: CALL_CHANNEL, stream: null }, {});
  const log = createLogView(logBox, { channel: CALL_CHANNEL, max_lines: capacity(opts.max_log_lines, 500), height: "160px" }, {});
  for (const view of [progress, text, log]) view.setStatus("live"); // their feed is the call: no status of their own

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state === "running" || destroyed || runButton.disabled) return;
    const args = collect();
    if (args !== null) host.run(args);
  });
  cancelButton.addEventListener("click", () => {
    if (state !== "running" || destroyed) return;
    cancelButton.disabled = true;
    cancelButton.textContent = "cancelling…";
    host.cancel();
  });

  clearOutput();
  setState("idle");
  paintHead();

  function paintHead() {
    nameEl.textContent = String(info?.name ?? opts.endpoint);
    const sig = info?.signature == null ? "" : String(info.signature);
    paramsEl.textContent = sig;
    docEl.textContent = info?.doc == null ? "" : String(info.doc).trim();
    docEl.hidden = !docEl.textContent;
    runButton.textContent = String(opts.button || "Run");
    root.dataset.endpoint = String(opts.endpoint);
  }

  /** @param {string} value */
  function setState(value) {
    state = value;
    root.dataset.state = value;
    const running = value === "running";
    runButton.disabled = running || (info === null && !infoError.textContent);
    cancelButton.hidden = !running;
    cancelButton.disabled = false;
    cancelButton.textContent = "Cancel";
    output.setAttribute("aria-busy", String(running));
    for (const field of fields) field.input.disabled = running;
  }

  /** Which parameters get an input, in order: all, or those `fields` names. */
  function shownParameters() {
    /** @type {Parameter[]} */
    const parameters = Array.isArray(info?.parameters) ? info.parameters.filter((p) => p && typeof p.name === "string") : [];
    if (!Array.isArray(opts.fields)) return parameters;
    const byName = new Map(parameters.map((p) => [p.name, p]));
    return opts.fields.map((name) => byName.get(String(name)) ?? { name: String(name), required: false });
  }

  function buildFields() {
    // What the user typed survives a rebuild (a `fields` change): keep it by name.
    /** @type {Map<string, {value: string, checked: boolean}>} */
    const typed = new Map(fields.map((f) => [f.parameter.name, { value: f.input.value, checked: Boolean(/** @type {any} */ (f.input).checked) }]));
    fields = shownParameters().map((parameter) => makeField(parameter, typed.get(parameter.name)));
    fieldBox.replaceChildren(...fields.map((f) => f.row));
    for (const field of fields) field.input.disabled = state === "running";
  }

  /**
   * @param {Parameter} parameter
   * @param {{value: string, checked: boolean}} [typed]
   * @returns {Field}
   */
  function makeField(parameter, typed) {
    const kind = inputKind(parameter);
    const id = `ssew-ef-input-${(nextId += 1)}`;
    const row = make("div", "ssew-ef-field");
    row.dataset.param = parameter.name;
    row.dataset.kind = kind;
    const label = /** @type {HTMLLabelElement} */ (make("label", "ssew-ef-label", parameter.name));
    label.htmlFor = id;
    if (parameter.required) {
      const star = make("span", "ssew-ef-required", "*");
      star.title = "required";
      star.setAttribute("aria-hidden", "true");
      label.append(star);
    }
    if (parameter.annotation) label.append(make("span", "ssew-ef-type", String(parameter.annotation)));
    /** @type {HTMLInputElement | HTMLTextAreaElement} */
    let input;
    if (kind === "text") {
      input = /** @type {HTMLTextAreaElement} */ (make("textarea", "ssew-ef-input"));
      input.rows = 2;
    } else {
      input = /** @type {HTMLInputElement} */ (make("input", "ssew-ef-input"));
      input.type = kind === "boolean" ? "checkbox" : kind === "json" ? "text" : "number";
      if (kind === "integer") input.step = "1";
      if (kind === "number") input.step = "any";
      if (kind === "json") input.placeholder = 'JSON: "text", 3, [1, 2], {"a": 1}';
    }
    input.id = id;
    input.name = parameter.name;
    input.dataset.kind = kind;
    testid(input, `endpoint-input-${parameter.name}`);
    if (parameter.required) {
      input.required = true;
      input.setAttribute("aria-required", "true");
    }
    const error = make("div", "ssew-ef-field-error");
    error.id = `${id}-error`;
    input.setAttribute("aria-describedby", error.id);
    const value = typed ? undefined : initialValue(parameter);
    if (kind === "boolean") /** @type {HTMLInputElement} */ (input).checked = typed ? typed.checked : Boolean(value);
    else input.value = typed ? typed.value : showField(kind, value);
    const control = make("div", "ssew-ef-control");
    control.append(input, error);
    row.append(label, control);
    return { parameter, kind, input, error, row };
  }

  /** @param {Parameter} parameter */
  function initialValue(parameter) {
    const name = parameter.name;
    if (Object.prototype.hasOwnProperty.call(filled, name)) return filled[name];
    const preset = opts.arguments ?? {};
    if (Object.prototype.hasOwnProperty.call(preset, name)) return preset[name];
    return parameter.default === null ? undefined : parameter.default; // empty: the default goes
  }

  /** @returns {Record<string, any> | null} the arguments, or null after marking the bad fields */
  function collect() {
    /** @type {Record<string, any>} */
    const args = { ...(opts.arguments ?? {}) }; // presets of hidden parameters go too
    let ok = true;
    let first = null;
    for (const field of fields) {
      const read = readField(field.kind, /** @type {any} */ (field.input), field.parameter);
      field.error.textContent = read.error ?? "";
      field.input.setAttribute("aria-invalid", String(Boolean(read.error)));
      if (read.error) {
        ok = false;
        first ??= field.input;
      } else if (read.omit) delete args[field.parameter.name];
      else args[field.parameter.name] = read.value;
    }
    if (!ok) {
      first?.focus();
      status.textContent = "check the marked fields";
      return null;
    }
    return args;
  }

  function clearOutput() {
    for (const view of [progress, text, log]) view.onReset(CALL_CHANNEL, "new-call");
    progressBox.hidden = true;
    textBox.hidden = true;
    logBox.hidden = true;
    values.clear();
    valueCount = 0;
    shownValues = [];
    valueList.replaceChildren();
    valuesBox.hidden = true;
    resultBox.hidden = true;
    resultValue.textContent = "";
    errorBox.hidden = true;
    errorType.textContent = "";
    errorMessage.textContent = "";
    root.dataset.count = "0";
  }

  function drawValues() {
    const items = values.toArray();
    for (const item of items) {
      if (item.el === null) item.el = testid(make("pre", "ssew-ef-value", formatValue(item.value, 100)), "endpoint-value");
    }
    if (items.length !== shownValues.length || items.some((item, i) => item !== shownValues[i])) {
      valueList.replaceChildren(...items.map((item) => make("li", "")));
      items.forEach((item, i) => valueList.children[i].append(/** @type {HTMLElement} */ (item.el)));
      valueList.setAttribute("start", String(valueCount - items.length + 1));
      shownValues = items;
    }
    valuesTitle.textContent = `values (${valueCount})`;
    const dropped = valueCount - items.length;
    valuesDropped.textContent = dropped > 0 ? `${dropped} earlier not shown` : "";
    valuesDropped.hidden = dropped === 0;
    valuesBox.hidden = valueCount === 0;
    root.dataset.count = String(valueCount);
  }

  function elapsed() {
    return startedAt ? ` in ${formatDuration((Date.now() - startedAt) / 1000)}` : "";
  }

  return {
    /** @returns {string} idle | running | complete | error | cancelled */
    get state() {
      return state;
    },
    /** The endpoint's description (`GET api/endpoints/<name>`): the inputs follow it. */
    setInfo(/** @type {any} */ described) {
      if (destroyed) return;
      info = described && typeof described === "object" ? described : { parameters: [] };
      infoError.textContent = "";
      infoError.hidden = true;
      paintHead();
      buildFields();
      setState(state);
    },
    /** The description could not be read: say why; Run still sends the preset arguments. */
    setInfoError(/** @type {string} */ message) {
      if (destroyed) return;
      infoError.textContent = `could not describe endpoint “${opts.endpoint}”: ${message}`;
      infoError.hidden = false;
      setState(state);
    },
    /** Show these argument values in the inputs (those of a call resumed after a reload). */
    fill(/** @type {Record<string, any>} */ args) {
      filled = args && typeof args === "object" ? { ...args } : {};
      fields = [];
      if (info !== null) buildFields();
    },
    /** A call starts (or is resumed after a reload, `resumed`): clear the last one's output. */
    started(/** @type {{resumed?: boolean}} */ how = {}) {
      if (destroyed) return;
      clearOutput();
      startedAt = how.resumed ? 0 : Date.now();
      setState("running");
      status.textContent = how.resumed ? "resumed, running…" : "running…";
    },
    /**
     * One event of the running call (not the terminal one).
     * @param {string} name "message" (a yielded value) | "progress" | "log" | "text"
     * @param {any} data
     * @param {string} [id]
     */
    onEvent(name, data, id = "") {
      if (destroyed) return;
      const meta = { channel: CALL_CHANNEL, id, time: Date.now() / 1000 };
      if (name === "progress") {
        progressBox.hidden = false;
        progress.onEvent("progress", data, meta);
      } else if (name === "log") {
        logBox.hidden = false;
        log.onEvent("log", data, meta);
      } else if (name === "text") {
        textBox.hidden = false;
        text.onEvent("text", data, meta);
      } else if (name === "message") {
        values.push({ value: data, el: null });
        valueCount += 1;
        cancelRender = scheduleRender(drawValues);
      }
    },
    /** @param {{status: string, type?: string, message?: string, value?: any}} outcome */
    finish(outcome) {
      if (destroyed) return;
      drawValues();
      if (outcome.status === "complete") {
        resultValue.textContent = formatValue(outcome.value ?? null);
        resultBox.hidden = false;
        setState("complete");
        status.textContent = `done${elapsed()}`;
      } else if (outcome.type === "Cancelled") {
        setState("cancelled");
        status.textContent = "cancelled";
      } else {
        errorType.textContent = String(outcome.type ?? "Error");
        errorMessage.textContent = String(outcome.message ?? "");
        errorBox.hidden = false;
        setState("error");
        status.textContent = `failed${elapsed()}`;
      }
    },
    /**
     * The call was refused or lost (no outcome from the endpoint).
     * @param {string} message
     * @param {number} [httpStatus] 0 or absent: the network
     */
    fail(message, httpStatus = 0) {
      if (destroyed) return;
      errorType.textContent = httpStatus ? `HTTP ${httpStatus}` : "Disconnected";
      errorMessage.textContent = String(message);
      errorBox.hidden = false;
      errorBox.dataset.status = String(httpStatus);
      setState("error");
      status.textContent = "failed";
    },
    /** @param {Record<string, any>} changed traits that changed (only those keys) */
    setOptions(changed) {
      if (destroyed) return;
      opts = { ...opts, ...changed };
      if ("max_items" in changed) {
        const kept = values.toArray();
        values = new RingBuffer(capacity(opts.max_items, 20));
        for (const item of kept) values.push(item);
        cancelRender = scheduleRender(drawValues);
      }
      if ("max_log_lines" in changed) log.setOptions({ max_lines: capacity(opts.max_log_lines, 500) });
      if ("arguments" in changed) fields = []; // the new presets replace what the inputs show
      if ("fields" in changed || "arguments" in changed) {
        if (info !== null) buildFields();
      }
      paintHead();
      setState(state);
    },
    destroy() {
      destroyed = true;
      cancelRender();
      for (const view of [progress, text, log]) view.destroy();
      root.remove();
    },
  };
}

/**
 * @param {unknown} value
 * @param {number} fallback
 */
function capacity(value, fallback) {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}
