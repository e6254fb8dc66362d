// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource } from "../test/fake-event-source.js";
import { FakeModel } from "../test/fake-model.js";
import { E, settle } from "../test/helpers.js";
import { closeAll, setEventSourceImpl } from "./connection.js";
import { directEndpoint, openSource } from "./source.js";
import { defineWidget } from "./widget.js";

/** A view that records what reaches it. */
function recordingView() {
  /** @type {any[]} */
  const got = [];
  /** @type {any[]} */
  const options = [];
  const factory = (/** @type {any} */ el, /** @type {any} */ opts, /** @type {any} */ host) => {
    options.push({ ...opts });
    recordingView.host = host;
    return {
      events: [opts.event],
      onEvent: (/** @type {string} */ name, /** @type {any} */ payload, /** @type {any} */ meta) =>
        got.push([name, meta.channel, payload, meta.id]),
      onReset: (/** @type {string} */ ch, /** @type {string} */ reason) =>
        got.push(["RESET", ch, reason]),
      onClose: (/** @type {string} */ ch) => got.push(["CLOSE", ch]),
      setStatus: (/** @type {string} */ status) => got.push(["STATUS", status]),
      setOptions: (/** @type {any} */ changed) => options.push(changed),
      destroy: () => got.push(["DESTROY"]),
    };
  };
  return { factory, got, options };
}
/** @type {any} */
recordingView.host = null;

const el = () => /** @type {any} */ ({ querySelector: () => null, dataset: {} });

beforeEach(() => {
  FakeEventSource.reset();
  setEventSourceImpl(FakeEventSource);
});
afterEach(() => {
  closeAll();
  vi.useRealTimers();
});

describe("defineWidget", () => {
  it("subscribes directly to the model's channel and feeds the view", async () => {
    const { factory, got, options } = recordingView();
    const model = new FakeModel({ max_lines: 5 });
    defineWidget(factory, ["max_lines"]).render({ model, el: el() });
    await settle();
    expect(options[0]).toEqual({ channel: "a", event: "log", max_lines: 5 });
    const source = FakeEventSource.last;
    expect(source.params.get("replay")).toBe("history");
    source.open();
    source.frame("log", "a", { message: "hi" }, `${E}-1`);
    expect(got).toContainEqual(["log", "a", { message: "hi" }, `${E}-1`]);
    expect(got).toContainEqual(["STATUS", "live"]);
  });

  it("passes option changes to the view and resubscribes on a channel change", async () => {
    const { factory, got, options } = recordingView();
    const model = new FakeModel({ max_lines: 5 });
    defineWidget(factory, ["max_lines"]).render({ model, el: el() });
    await settle();
    model.set("max_lines", 9);
    expect(options.at(-1)).toEqual({ max_lines: 9 });
    model.set("channel", "b");
    await settle();
    expect(got).toContainEqual(["RESET", "a", "widget-changed"]);
    expect(FakeEventSource.live).toHaveLength(1);
    expect(FakeEventSource.last.params.getAll("channel")).toEqual(["b"]);
  });

  it("saves a trait a view's own control changed (the chart's Pause button)", async () => {
    const { factory, options } = recordingView();
    const model = new FakeModel({ paused: false });
    const element = document.createElement("div");
    defineWidget(factory, ["paused"]).render({ model, el: element });
    const bubble = (/** @type {any} */ detail) =>
      element.dispatchEvent(new CustomEvent("ssew-option", { detail, bubbles: true }));
    bubble({ name: "paused", value: true });
    expect(model.get("paused")).toBe(true);
    expect(model.saved).toBe(1);
    expect(options.at(-1)).toEqual({ paused: true }); // every view follows the trait
    bubble({ name: "channel", value: "elsewhere" }); // not the view's to change
    expect(model.get("channel")).toBe("a");
  });

  it("cleans up: stream closed, listeners off, view destroyed", async () => {
    const { factory, got } = recordingView();
    const model = new FakeModel({});
    const cleanup = defineWidget(factory, []).render({ model, el: el() });
    await settle();
    cleanup();
    await settle();
    expect(FakeEventSource.live).toHaveLength(0);
    expect(model.listenerCount).toBe(0);
    expect(got.at(-1)).toEqual(["DESTROY"]);
  });
});

describe("kernel relay", () => {
  it("is used when the kernel says only it reaches the hub", async () => {
    const { factory, got } = recordingView();
    const model = new FakeModel({ _hub_kind: "relay", _hub_url: "" });
    defineWidget(factory, []).render({ model, el: el() });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(0);
    const start = model.sent[0];
    expect(start).toMatchObject({
      type: "sse-relay",
      action: "start",
      channels: ["a"],
      events: ["log"],
      replay: "history",
    });
    const frame = (/** @type {string} */ name, /** @type {any} */ data, /** @type {string} */ id) => [
      name,
      id,
      JSON.stringify({ channel: "a", data, time: 1 }),
    ];
    model.receive({ type: "sse-relay", view: "someone-else", frames: [frame("log", 0, `${E}-1`)] });
    model.receive({
      type: "sse-relay",
      view: start.view,
      frames: [
        frame("log", 1, `${E}-1`),
        frame("reset", { reason: "history-exceeded" }, `${E}-2`),
        frame("log", 2, `${E}-3`),
        ["log", `${E}-4`, "not json"],
        frame("point", 3, `${E}-5`), // not an event this view asked for
      ],
    });
    expect(got.filter((g) => g[0] !== "STATUS")).toEqual([
      ["log", "a", 1, `${E}-1`],
      ["RESET", "a", "history-exceeded"],
      ["log", "a", 2, `${E}-3`],
    ]);
  });

  it("falls back to the relay when the direct stream fails before it was ever live", async () => {
    const { factory, got } = recordingView();
    const model = new FakeModel({});
    defineWidget(factory, []).render({ model, el: el() });
    await settle();
    expect(model.sent).toHaveLength(0);
    FakeEventSource.last.fail();
    await settle();
    expect(FakeEventSource.live).toHaveLength(0);
    expect(model.sent[0]).toMatchObject({ action: "start" });
    expect(got).toContainEqual(["STATUS", "connecting"]);
  });

  it("falls back when the stream is not live after 8 s, and not once it is live", async () => {
    vi.useFakeTimers();
    const slow = new FakeModel({});
    defineWidget(recordingView().factory, []).render({ model: slow, el: el() });
    await settle();
    vi.advanceTimersByTime(8_000);
    expect(slow.sent[0]).toMatchObject({ action: "start" });
    closeAll();
    FakeEventSource.reset();
    const fine = new FakeModel({ channel: "b" });
    defineWidget(recordingView().factory, []).render({ model: fine, el: el() });
    await settle();
    FakeEventSource.last.open();
    vi.advanceTimersByTime(60_000);
    expect(fine.sent.filter((m) => m.action === "start")).toHaveLength(0);
  });

  it("never relays with transport='direct'", async () => {
    const model = new FakeModel({ transport: "direct" });
    defineWidget(recordingView().factory, []).render({ model, el: el() });
    await settle();
    FakeEventSource.last.fail();
    expect(model.sent).toHaveLength(0);
  });

  it("sends control messages through the kernel and settles them by its reply", async () => {
    const { factory } = recordingView();
    const model = new FakeModel({ transport: "relay" });
    defineWidget(factory, []).render({ model, el: el() });
    const view = model.sent[0].view;
    const ok = recordingView.host.control("a", { event: "cancel", data: { bar: "x" } });
    const sent = model.sent.at(-1);
    expect(sent).toMatchObject({ action: "control", channel: "a", view });
    model.receive({ type: "sse-relay", view, reply: sent.request, error: null });
    await expect(ok).resolves.toBeUndefined();
    const refused = recordingView.host.control("a", { event: "cancel", data: {} });
    model.receive({ type: "sse-relay", view, reply: model.sent.at(-1).request, error: "no" });
    await expect(refused).rejects.toThrow("no");
  });

  it("stops the relay and pings while open", async () => {
    vi.useFakeTimers();
    const model = new FakeModel({ transport: "relay" });
    const cleanup = defineWidget(recordingView().factory, []).render({ model, el: el() });
    vi.advanceTimersByTime(30_000);
    expect(model.sent.filter((m) => m.action === "ping")).toHaveLength(2);
    cleanup();
    expect(model.sent.at(-1)).toMatchObject({ action: "stop" });
    expect(model.listenerCount).toBe(0);
  });
});

describe("directEndpoint", () => {
  it("uses the page's origin for the Jupyter path and the page config token", () => {
    const config = document.createElement("script");
    config.id = "jupyter-config-data";
    config.textContent = JSON.stringify({ baseUrl: "/", token: "lab-token" });
    document.body.appendChild(config);
    try {
      const model = new FakeModel({ _hub_kind: "jupyter", _hub_url: "/base/sse-widgets/" });
      expect(directEndpoint(model)).toEqual({
        kind: "jupyter",
        url: new URL("/base/sse-widgets/", location.href).href,
        token: "lab-token",
      });
    } finally {
      config.remove();
    }
  });

  it("has none for the relay kind", () => {
    expect(directEndpoint(new FakeModel({ _hub_kind: "relay", _hub_url: "" }))).toBeNull();
    expect(typeof openSource).toBe("function");
  });
});
