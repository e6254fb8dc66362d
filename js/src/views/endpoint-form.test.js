// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeModel } from "../../test/fake-model.js";
import { XSS, settle, useFrames } from "../../test/views-helpers.js";
import { callStorageKey } from "../endpoint-call.js";
import { render } from "../endpoint-form.js";
import { createEndpointFormView, formatValue, inputKind, readField } from "./endpoint-form.js";

const { nextFrame } = useFrames();

const INFO = {
  name: "summarize",
  signature: "(text: str, sentences: int = 3, ratio: float = 0.5, fast: bool = False, tags: list[str] = None)",
  doc: "Summarize a text.",
  parameters: [
    { name: "text", required: true, annotation: "str" },
    { name: "sentences", required: false, default: 3, annotation: "int" },
    { name: "ratio", required: false, default: 0.5, annotation: "float" },
    { name: "fast", required: false, default: false, annotation: "bool" },
    { name: "tags", required: false, default: null, annotation: "list[str]" },
  ],
  max_concurrency: 4,
  running: 0,
  workers: 1,
};

/** @param {Record<string, any>} [options] */
function setup(options = {}) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const host = { run: vi.fn(), cancel: vi.fn() };
  const view = createEndpointFormView(el, { endpoint: "summarize", ...options }, host);
  const root = /** @type {HTMLElement} */ (el.firstElementChild);
  const $ = (/** @type {string} */ id) => /** @type {any} */ (root.querySelector(`[data-testid="${id}"]`));
  const input = (/** @type {string} */ name) => $(`endpoint-input-${name}`);
  const submit = () => $("endpoint-run").click();
  return { el, view, root, host, $, input, submit };
}

describe("inputKind and readField", () => {
  it.each([
    [{ annotation: "int" }, "integer"],
    [{ annotation: "Optional[int]" }, "integer"],
    [{ annotation: "int | None" }, "integer"],
    [{ annotation: "<class 'float'>" }, "number"],
    [{ annotation: "bool" }, "boolean"],
    [{ annotation: "str" }, "text"],
    [{ annotation: "list[int]" }, "json"],
    [{ annotation: "int | str" }, "json"],
    [{ default: 2 }, "number"],
    [{ default: true }, "boolean"],
    [{ default: "x" }, "text"],
    [{}, "json"],
  ])("%j → %s", (parameter, kind) => {
    expect(inputKind({ name: "p", ...parameter })).toBe(kind);
  });

  it.each([
    ["integer", "5", {}, { value: 5 }],
    ["integer", "2.5", {}, { error: "a whole number, like 3" }],
    ["number", "2.5", {}, { value: 2.5 }],
    ["number", "abc", {}, { error: "a number, like 3 or 2.5" }],
    ["integer", "", { required: true }, { error: "required" }],
    ["integer", "", { default: 3 }, { omit: true }],
    ["json", "[1, 2]", {}, { value: [1, 2] }],
    ["json", "null", {}, { value: null }],
    ["json", "", {}, { omit: true }],
    ["text", "", { default: "x" }, { value: "" }],
    ["text", "", { default: null }, { omit: true }],
    ["text", "  keep spaces ", {}, { value: "  keep spaces " }],
  ])("%s %j %j → %j", (kind, value, parameter, expected) => {
    expect(readField(/** @type {any} */ (kind), { value }, { name: "p", ...parameter })).toEqual(expected);
  });

  it("says how to write JSON when it does not parse", () => {
    expect(readField("json", { value: "hello" }, { name: "p" }).error).toMatch(/double quotes/);
  });

  it("formats strings as text and the rest as pretty JSON", () => {
    expect(formatValue("hi")).toBe("hi");
    expect(formatValue({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}');
    expect(formatValue(null)).toBe("null");
    expect(formatValue({ a: [1] }, 20)).toBe('{"a":[1]}');
    expect(formatValue({ a: "x".repeat(30) }, 20)).toContain("\n");
  });
});

describe("the form", () => {
  it("is idle, with Run disabled, until the endpoint is described", () => {
    const { root, $ } = setup({ button: "Summarize" });
    expect(root.dataset.state).toBe("idle");
    expect($("endpoint-run").textContent).toBe("Summarize");
    expect($("endpoint-run").disabled).toBe(true);
    expect($("endpoint-cancel").hidden).toBe(true);
  });

  it("renders one input per parameter, of the right kind, defaults filled, required marked", () => {
    const { view, root, input, $ } = setup();
    view.setInfo(INFO);
    expect(input("text").tagName).toBe("TEXTAREA");
    expect(input("text").required).toBe(true);
    expect(input("text").getAttribute("aria-required")).toBe("true");
    expect(root.querySelector('[data-param="text"] .ssew-ef-required')).not.toBeNull();
    expect(root.querySelector('[data-param="sentences"] .ssew-ef-required')).toBeNull();
    expect([input("sentences").type, input("sentences").value, input("sentences").step]).toEqual(["number", "3", "1"]);
    expect([input("ratio").type, input("ratio").value, input("ratio").step]).toEqual(["number", "0.5", "any"]);
    expect([input("fast").type, input("fast").checked]).toEqual(["checkbox", false]);
    expect([input("tags").type, input("tags").dataset.kind, input("tags").value]).toEqual(["text", "json", ""]);
    // each input has its label
    const label = /** @type {HTMLLabelElement} */ (root.querySelector(`label[for="${input("sentences").id}"]`));
    expect(label.textContent).toContain("sentences");
    expect($("endpoint-run").disabled).toBe(false);
    expect(root.querySelector(".ssew-ef-signature")?.textContent).toBe(`summarize${INFO.signature}`);
    expect(root.querySelector(".ssew-ef-doc")?.textContent).toBe("Summarize a text.");
  });

  it("converts the inputs into the call's arguments", () => {
    const { view, input, submit, host } = setup();
    view.setInfo(INFO);
    input("text").value = "Some text.";
    input("sentences").value = "5";
    input("fast").checked = true;
    input("tags").value = '["a", "b"]';
    submit();
    expect(host.run).toHaveBeenCalledWith({ text: "Some text.", sentences: 5, ratio: 0.5, fast: true, tags: ["a", "b"] });
  });

  it("marks bad fields and does not run", () => {
    const { view, input, submit, host, root } = setup();
    view.setInfo(INFO);
    input("sentences").value = "2.5";
    submit();
    expect(host.run).not.toHaveBeenCalled();
    expect(input("text").getAttribute("aria-invalid")).toBe("true");
    expect(root.querySelector('[data-param="text"] .ssew-ef-field-error')?.textContent).toBe("required");
    expect(root.querySelector('[data-param="sentences"] .ssew-ef-field-error')?.textContent).toBe("a whole number, like 3");
    expect(root.dataset.state).toBe("idle");
  });

  it("shows only `fields`, in their order, and sends the presets of hidden ones", () => {
    const { view, root, input, submit, host } = setup({ fields: ["sentences", "text"], arguments: { text: "preset", ratio: 0.9, extra: [1] } });
    view.setInfo(INFO);
    expect([...root.querySelectorAll(".ssew-ef-field")].map((f) => /** @type {HTMLElement} */ (f).dataset.param)).toEqual(["sentences", "text"]);
    expect(input("text").value).toBe("preset");
    expect(input("ratio")).toBeNull();
    submit();
    expect(host.run).toHaveBeenCalledWith({ text: "preset", sentences: 3, ratio: 0.9, extra: [1] });
  });

  it("keeps what the user typed when `fields` changes, takes new presets when `arguments` does", () => {
    const { view, input } = setup({ fields: ["text"] });
    view.setInfo(INFO);
    input("text").value = "typed";
    view.setOptions({ fields: ["text", "sentences"] });
    expect([input("text").value, input("sentences").value]).toEqual(["typed", "3"]);
    view.setOptions({ arguments: { sentences: 7 } });
    expect(input("sentences").value).toBe("7");
  });

  it("runs: Cancel shows, inputs lock, progress, log, text and values show as text", () => {
    const { view, root, $, input } = setup({ max_items: 2 });
    view.setInfo(INFO);
    view.started();
    expect(root.dataset.state).toBe("running");
    expect($("endpoint-cancel").hidden).toBe(false);
    expect($("endpoint-run").disabled).toBe(true);
    expect(input("text").disabled).toBe(true);
    expect($("endpoint-progress").hidden).toBe(true); // nothing to show yet
    view.onEvent("progress", { bar: "b1", value: 3, total: 10, desc: "work", unit: "it", rate: 2.5, elapsed: 1.2, eta: 2.8, state: "running", message: null }, "1");
    view.onEvent("log", { level: "WARNING", logger: "", message: XSS, time: 1.7e9 }, "2");
    view.onEvent("text", { stream: "text", delta: "Once " }, "3");
    view.onEvent("text", { stream: "text", delta: "upon" }, "4");
    for (const n of [1, 2, 3]) view.onEvent("message", { n, html: XSS }, String(4 + n));
    nextFrame();
    nextFrame();
    const bar = $("endpoint-progress").querySelector('[role="progressbar"]');
    expect([bar.getAttribute("aria-valuenow"), bar.getAttribute("aria-valuemin"), bar.getAttribute("aria-valuemax")]).toEqual(["30", "0", "100"]);
    expect(root.querySelector(".ssew-bar")?.getAttribute("data-value")).toBe("3");
    expect(root.querySelector(".ssew-bar")?.getAttribute("data-total")).toBe("10");
    const lines = $("endpoint-log").querySelectorAll(".ssew-log-line");
    expect(lines.length).toBe(1);
    expect(lines[0].querySelector(".ssew-log-msg").textContent).toBe(XSS);
    expect($("endpoint-text").querySelector(".ssew-text-body").textContent).toBe("Once upon");
    const values = [...root.querySelectorAll('[data-testid="endpoint-value"]')].map((v) => JSON.parse(v.textContent ?? ""));
    expect(values.map((v) => v.n)).toEqual([2, 3]); // max_items
    expect($("endpoint-values").textContent).toContain("values (3)");
    expect($("endpoint-values").textContent).toContain("1 earlier not shown");
    expect(root.querySelector("img")).toBeNull();
  });

  it("shows the result when complete", () => {
    const { view, root, $ } = setup();
    view.setInfo(INFO);
    view.started();
    view.finish({ status: "complete", value: { summary: "short" } });
    expect(root.dataset.state).toBe("complete");
    expect($("endpoint-result").hidden).toBe(false);
    expect(JSON.parse($("endpoint-result").querySelector("pre").textContent)).toEqual({ summary: "short" });
    expect($("endpoint-error").hidden).toBe(true);
    expect($("endpoint-cancel").hidden).toBe(true);
    expect($("endpoint-status").textContent).toMatch(/^done in /);
  });

  it("shows the endpoint's error, a refusal, a cancel; a new run clears the last output", () => {
    const { view, root, $ } = setup();
    view.setInfo(INFO);
    view.started();
    view.onEvent("log", { level: "INFO", message: "working" }, "1");
    view.finish({ status: "error", type: "ValueError", message: XSS });
    expect(root.dataset.state).toBe("error");
    expect($("endpoint-error").textContent).toBe(`ValueError${XSS}`);
    expect(root.querySelector("img")).toBeNull();

    view.started();
    nextFrame();
    expect($("endpoint-error").hidden).toBe(true);
    expect($("endpoint-log").hidden).toBe(true);
    expect($("endpoint-log").querySelectorAll(".ssew-log-line").length).toBe(0);
    view.fail("too many concurrent calls", 429);
    expect(root.dataset.state).toBe("error");
    expect($("endpoint-error").textContent).toBe("HTTP 429too many concurrent calls");

    view.started();
    view.finish({ status: "error", type: "Cancelled", message: "cancelled" });
    expect(root.dataset.state).toBe("cancelled");
    expect($("endpoint-error").hidden).toBe(true);
    expect($("endpoint-status").textContent).toBe("cancelled");
  });

  it("Cancel asks the host once", () => {
    const { view, $, host } = setup();
    view.setInfo(INFO);
    view.started();
    $("endpoint-cancel").click();
    $("endpoint-cancel").click();
    expect(host.cancel).toHaveBeenCalledTimes(1);
    expect($("endpoint-cancel").textContent).toBe("cancelling…");
  });

  it("without a description, says why and still runs with the presets", () => {
    const { view, $, submit, host } = setup({ arguments: { text: "x" } });
    view.setInfoError("403 Forbidden");
    expect($("endpoint-info-error").textContent).toContain("403 Forbidden");
    expect($("endpoint-run").disabled).toBe(false);
    submit();
    expect(host.run).toHaveBeenCalledWith({ text: "x" });
  });
});

// -- the widget: the view wired to the hub (../endpoint-form.js) -------------------------

const HUB = "http://hub.test/sse-widgets/";

/** A fetch that answers GET describe, and streams whatever the test pushes for the rest. */
function fakeHub() {
  const encoder = new TextEncoder();
  /** @type {{url: string, init: any, read: Promise<void>, push: (text: string) => void, end: () => void}[]} */
  const streams = [];
  const fetch = vi.fn(async (/** @type {any} */ url, /** @type {any} */ init) => {
    const text = String(url);
    const method = init?.method ?? "GET";
    const base = { ok: true, status: 200, statusText: "", headers: { get: () => null }, json: async () => ({}) };
    if (method === "GET" && text === `${HUB}api/endpoints/summarize`) return { ...base, json: async () => INFO, body: null };
    if (method === "DELETE") return { ...base, ok: true, status: 204, body: null };
    /** @type {ReadableStreamDefaultController<Uint8Array>} */
    let controller;
    let cancelled = () => {};
    const read = new Promise((_, reject) => void (cancelled = reject));
    read.catch(() => {});
    const stream = new ReadableStream({ start: (c) => void (controller = c), cancel: () => cancelled(new Error("cancelled")) });
    streams.push({ url: text, init, read, push: (t) => controller.enqueue(encoder.encode(t)), end: () => controller.close() });
    const headers = new Map([["x-sse-widgets-call", "c1"]]);
    return { ...base, headers: { get: (/** @type {string} */ n) => headers.get(n.toLowerCase()) ?? null }, body: stream };
  });
  return { fetch, streams };
}

/** @param {number} id @param {string | null} event @param {any} data */
const frame = (id, event, data) => `id: ${id}\n${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

async function flush() {
  for (let i = 0; i < 20; i += 1) await new Promise((r) => setTimeout(r, 0));
}

describe("the widget", () => {
  /** @type {ReturnType<typeof fakeHub>} */
  let hub;
  beforeEach(() => {
    hub = fakeHub();
    vi.stubGlobal("fetch", hub.fetch);
    sessionStorage.clear();
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  /** @param {Record<string, any>} [traits] */
  function mountWidget(traits = {}) {
    const model = new FakeModel({
      endpoint: "summarize", arguments: {}, fields: null, button: "Run", resume_window: 60, max_items: 20,
      max_log_lines: 500, _form_id: "summarize#1", _hub_kind: "external", _hub_url: HUB, _hub_token: "", ...traits,
    });
    const el = document.createElement("div");
    document.body.appendChild(el);
    const cleanup = render({ model, el });
    const root = /** @type {HTMLElement} */ (el.firstElementChild);
    const $ = (/** @type {string} */ id) => /** @type {any} */ (root.querySelector(`[data-testid="${id}"]`));
    return { model, el, root, $, cleanup };
  }
  const KEY = callStorageKey("summarize", "summarize#1");

  it("describes the endpoint, runs a call from the page, and shows its result", async () => {
    const { root, $, cleanup } = mountWidget();
    await flush();
    $("endpoint-input-text").value = "Hello.";
    $("endpoint-run").click();
    await flush();
    const [post] = hub.streams;
    expect(post.url).toBe(`${HUB}api/endpoints/summarize?resume_window=60`);
    expect(JSON.parse(post.init.body)).toEqual({ text: "Hello.", sentences: 3, ratio: 0.5, fast: false });
    expect(root.dataset.state).toBe("running");
    expect(JSON.parse(sessionStorage.getItem(KEY) ?? "null")).toMatchObject({ call: "c1", name: "summarize" });
    post.push(frame(1, "log", { level: "INFO", message: "reading" }) + frame(2, "complete", "A summary."));
    await flush();
    expect(root.dataset.state).toBe("complete");
    expect($("endpoint-result").textContent).toContain("A summary.");
    expect(sessionStorage.getItem(KEY)).toBeNull();
    cleanup();
    expect(document.body.querySelector(".ssew-endpoint-form")).toBeNull();
  });

  it("shows a refusal with its status", async () => {
    const { root, $ } = mountWidget({ arguments: { text: "x" } });
    await flush();
    hub.fetch.mockResolvedValueOnce(/** @type {any} */ ({
      ok: false, status: 503, statusText: "", headers: { get: () => null }, body: null,
      json: async () => ({ error: "no worker serves endpoint summarize", status: 503 }),
    }));
    $("endpoint-run").click();
    await flush();
    expect(root.dataset.state).toBe("error");
    expect($("endpoint-error").textContent).toBe("HTTP 503no worker serves endpoint summarize");
  });

  it("Cancel stops reading, DELETEs the call and forgets it", async () => {
    const { root, $ } = mountWidget({ arguments: { text: "x" } });
    await flush();
    $("endpoint-run").click();
    await flush();
    hub.streams[0].push(frame(1, null, 1));
    await flush();
    $("endpoint-cancel").click();
    await flush();
    expect(root.dataset.state).toBe("cancelled");
    const del = hub.fetch.mock.calls.find((c) => c[1]?.method === "DELETE");
    expect(String(del?.[0])).toBe(`${HUB}api/endpoints/summarize/calls/c1`);
    expect(sessionStorage.getItem(KEY)).toBeNull();
    await expect(hub.streams[0].read).rejects.toThrow(); // the page stopped reading
  });

  it("resumes the call stored by a page that was reloaded, replaying it from its start", async () => {
    sessionStorage.setItem(KEY, JSON.stringify({ name: "summarize", call: "c9", lastEventId: "3", url: HUB, resumeWindow: 60, args: { text: "before the reload" } }));
    const { root, $ } = mountWidget();
    await flush();
    expect(root.dataset.state).toBe("running");
    expect($("endpoint-status").textContent).toBe("resumed, running…");
    expect($("endpoint-input-text").value).toBe("before the reload");
    const [resume] = hub.streams;
    expect(resume.url).toBe(`${HUB}api/endpoints/summarize/calls/c9/events`);
    expect(resume.init.method).toBe("GET");
    expect(resume.init.headers["Last-Event-ID"]).toBeUndefined();
    resume.push(frame(1, null, "first") + frame(2, null, "second") + frame(3, "complete", 2));
    await flush();
    nextFrame();
    expect([...root.querySelectorAll('[data-testid="endpoint-value"]')].map((v) => v.textContent)).toEqual(["first", "second"]);
    expect(root.dataset.state).toBe("complete");
    expect(sessionStorage.getItem(KEY)).toBeNull();
  });

  it("ignores a stored call made through another hub", async () => {
    sessionStorage.setItem(KEY, JSON.stringify({ name: "summarize", call: "c9", lastEventId: "", url: "http://other/", resumeWindow: 60 }));
    const { root } = mountWidget();
    await flush();
    expect(root.dataset.state).toBe("idle");
    expect(hub.streams).toEqual([]);
    expect(sessionStorage.getItem(KEY)).toBeNull();
  });

  it("through the kernel relay: describe, call and events are custom messages for this view", async () => {
    const { model, root, $ } = mountWidget({ _hub_kind: "relay", _hub_url: "" });
    const describe = model.sent.find((m) => m.type === "describe");
    expect(describe).toMatchObject({ name: "summarize" });
    model.receive({ type: "info", view: "someone-else", request: describe.request, info: { parameters: [] } });
    expect(root.querySelector('[data-testid="endpoint-input-text"]')).toBeNull();
    model.receive({ type: "info", view: describe.view, request: describe.request, info: INFO });
    await settle();
    $("endpoint-input-text").value = "via kernel";
    $("endpoint-run").click();
    const call = model.sent.find((m) => m.type === "call");
    expect(call).toMatchObject({ view: describe.view, args: { text: "via kernel", sentences: 3 }, resume_window: 60 });
    const reply = { view: call.view, request: call.request };
    model.receive({ ...reply, type: "started", call: "c3" });
    expect(JSON.parse(sessionStorage.getItem(KEY) ?? "null")).toMatchObject({ call: "c3", url: "relay" });
    model.receive({ ...reply, type: "events", events: [{ id: "1", event: "message", data: '"v1"' }, { id: "2", event: "complete", data: '{"ok": true}' }] });
    await settle();
    expect(root.dataset.state).toBe("complete");
    expect(JSON.parse($("endpoint-result").querySelector("pre").textContent)).toEqual({ ok: true });
    expect(hub.fetch).not.toHaveBeenCalled();
  });

  it("through the relay, Cancel tells the kernel to stop and cancel the call", async () => {
    const { model, root, $ } = mountWidget({ _hub_kind: "relay", _hub_url: "", arguments: { text: "x" } });
    const describe = model.sent.find((m) => m.type === "describe");
    model.receive({ type: "info", view: describe.view, request: describe.request, info: INFO });
    await settle();
    $("endpoint-run").click();
    const call = model.sent.find((m) => m.type === "call");
    model.receive({ view: call.view, request: call.request, type: "started", call: "c4" });
    $("endpoint-cancel").click();
    await settle();
    expect(root.dataset.state).toBe("cancelled");
    expect(model.sent.map((m) => m.type)).toEqual(["describe", "call", "stop", "cancel"]);
    expect(model.sent.at(-1)).toMatchObject({ call: "c4", name: "summarize" });
  });

  it("falls back to the relay when the page cannot fetch from the hub", async () => {
    hub.fetch.mockRejectedValueOnce(new TypeError("Failed to fetch"));
    const { model } = mountWidget();
    await flush();
    expect(model.sent.map((m) => m.type)).toEqual(["describe"]);
  });
});
