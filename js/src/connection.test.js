import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource } from "../test/fake-event-source.js";
import { E, HUB, channelsOf, recorder, settle } from "../test/helpers.js";
import { closeAll, parseCursor, setEventSourceImpl, subscribe } from "./connection.js";

beforeEach(() => {
  FakeEventSource.reset();
  setEventSourceImpl(FakeEventSource);
});

afterEach(() => {
  closeAll();
  vi.useRealTimers();
});

describe("multiplexing", () => {
  it("opens one EventSource for every subscription to the same hub", async () => {
    recorder({ channels: ["a"] });
    recorder({ channels: ["b", "a"] });
    recorder({ channels: ["c"], events: ["log"] });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1);
    const source = FakeEventSource.last;
    expect(source.url.startsWith("http://hub.test/sse-widgets/api/events?")).toBe(true);
    expect(channelsOf(source)).toEqual(["a", "b", "c"]);
    expect(source.params.has("last_event_id")).toBe(false);
  });

  it("opens one EventSource per hub URL", async () => {
    recorder({ url: HUB });
    recorder({ url: "http://other.test/sse-widgets/" });
    await settle();
    expect(FakeEventSource.instances.map((s) => new URL(s.url).host)).toEqual([
      "hub.test",
      "other.test",
    ]);
  });

  it("does not reopen for a subscription to a channel already streamed", async () => {
    recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("log", "a", { message: "x" }, `${E}-1`);
    recorder({ channels: ["a"] });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it("adds the token and keeps the base URL's query; adds a missing final slash", async () => {
    recorder({ url: "http://hub.test/base?x=1", token: "s3cret" });
    await settle();
    const url = new URL(FakeEventSource.last.url);
    expect(url.pathname).toBe("/base/api/events");
    expect(url.searchParams.get("x")).toBe("1");
    expect(url.searchParams.get("token")).toBe("s3cret");
  });

  it("refuses bad options with a message saying what to pass", () => {
    expect(() => subscribe(/** @type {any} */ ({ channels: ["a"], onEvent() {} }))).toThrow(/url/);
    expect(() => subscribe({ url: HUB, channels: [], onEvent() {} })).toThrow(/channels/);
    for (const replay of ["all", "toString"]) {
      const options = /** @type {any} */ ({ url: HUB, channels: ["a"], replay, onEvent() {} });
      expect(() => subscribe(options)).toThrow(/replay/);
    }
    expect(() => subscribe(/** @type {any} */ ({ url: HUB, channels: ["a"] }))).toThrow(/onEvent/);
    setEventSourceImpl(null); // Node has no EventSource of its own
    expect(() => subscribe({ url: HUB, channels: ["a"], onEvent() {} })).toThrow(/EventSource/);
  });
});

describe("routing", () => {
  it("delivers an event only to subscriptions of its channel", async () => {
    const a = recorder({ channels: ["a"] });
    const b = recorder({ channels: ["b"] });
    const ab = recorder({ channels: ["a", "b"] });
    await settle();
    const source = FakeEventSource.last;
    source.frame("log", "a", { message: "to a" }, `${E}-1`);
    source.frame("log", "b", { message: "to b" }, `${E}-2`);
    expect(a.got).toEqual([["log", "a", { message: "to a" }, `${E}-1`]]);
    expect(b.got).toEqual([["log", "b", { message: "to b" }, `${E}-2`]]);
    expect(ab.ids()).toEqual([`${E}-1`, `${E}-2`]);
  });

  it("applies the event-name filter, and listens to names only a filter mentions", async () => {
    const logs = recorder({ events: ["log"] });
    const custom = recorder({ events: ["epoch-end"] });
    const all = recorder();
    await settle();
    const source = FakeEventSource.last;
    source.frame("progress", "a", { bar: "b1" }, `${E}-1`);
    source.frame("log", "a", { message: "m" }, `${E}-2`);
    source.frame("epoch-end", "a", { n: 1 }, `${E}-3`);
    expect(logs.ids()).toEqual([`${E}-2`]);
    expect(custom.ids()).toEqual([`${E}-3`]);
    expect(all.ids()).toEqual([`${E}-1`, `${E}-2`, `${E}-3`]);
  });

  it("starts listening to a new event name on the open stream, without reopening", async () => {
    recorder();
    await settle();
    const source = FakeEventSource.last;
    source.frame("log", "a", {}, `${E}-1`);
    const custom = recorder({ events: ["epoch-end"] });
    await settle();
    source.frame("epoch-end", "a", { n: 1 }, `${E}-2`);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(custom.ids()).toEqual([`${E}-2`]);
  });

  it("keeps delivering to the others when one handler throws", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => {});
    subscribe({ url: HUB, channels: ["a"], onEvent: () => { throw new Error("boom"); } });
    const ok = recorder();
    await settle();
    FakeEventSource.last.frame("log", "a", {}, `${E}-1`);
    expect(ok.ids()).toEqual([`${E}-1`]);
    expect(error).toHaveBeenCalledOnce();
    error.mockRestore();
  });
});

describe("reopening when the channel set changes", () => {
  it("reopens with every channel and the last cursor when a channel is added", async () => {
    const a = recorder({ channels: ["a"] });
    await settle();
    const first = FakeEventSource.last;
    first.frame("log", "a", {}, `${E}-4`);
    first.frame("log", "a", {}, `${E}-9`);
    recorder({ channels: ["b"] });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(first.readyState).toBe(FakeEventSource.CLOSED);
    const second = FakeEventSource.last;
    expect(channelsOf(second)).toEqual(["a", "b"]);
    expect(second.params.get("last_event_id")).toBe(`${E}-9`);
    expect(second.params.has("replay")).toBe(false);
    second.frame("log", "a", {}, `${E}-10`);
    expect(a.ids()).toEqual([`${E}-4`, `${E}-9`, `${E}-10`]);
  });

  it("reopens without a channel when its last subscription goes", async () => {
    recorder({ channels: ["a"] });
    const b1 = recorder({ channels: ["b"] });
    const b2 = recorder({ channels: ["b"] });
    await settle();
    FakeEventSource.last.frame("log", "b", {}, `${E}-3`);
    b1.unsubscribe();
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1); // "b" still has a subscriber
    b2.unsubscribe();
    b2.unsubscribe(); // idempotent
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(channelsOf(FakeEventSource.last)).toEqual(["a"]);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-3`);
  });

  it("ignores frames from a stream it already replaced", async () => {
    const a = recorder({ channels: ["a"] });
    await settle();
    const first = FakeEventSource.last;
    first.frame("log", "a", {}, `${E}-1`);
    recorder({ channels: ["b"] });
    await settle();
    first.readyState = FakeEventSource.OPEN; // a late frame queued before close()
    first.frame("log", "a", {}, `${E}-2`);
    expect(a.ids()).toEqual([`${E}-1`]);
  });
});

describe("reconnecting", () => {
  it("leaves a dropped stream to the browser's own reconnect", async () => {
    vi.useFakeTimers();
    recorder();
    await settle();
    FakeEventSource.last.drop();
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.live).toHaveLength(1);
  });

  it("resumes after a fatal error from the last cursor, with exponential backoff", async () => {
    vi.useFakeTimers();
    const a = recorder();
    await settle();
    FakeEventSource.last.frame("log", "a", {}, `${E}-7`);
    FakeEventSource.last.fail();
    vi.advanceTimersByTime(999);
    expect(FakeEventSource.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-7`);

    FakeEventSource.last.fail(); // still down: wait twice as long
    vi.advanceTimersByTime(1999);
    expect(FakeEventSource.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(3);

    FakeEventSource.last.open(); // back: the next failure starts from 1 s again
    FakeEventSource.last.frame("log", "a", {}, `${E}-8`);
    FakeEventSource.last.fail();
    vi.advanceTimersByTime(1000);
    expect(FakeEventSource.instances).toHaveLength(4);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-8`);
    expect(a.ids()).toEqual([`${E}-7`, `${E}-8`]);
  });

  it("caps the backoff at 30 seconds", async () => {
    vi.useFakeTimers();
    recorder();
    await settle();
    for (let i = 0; i < 8; i += 1) {
      FakeEventSource.last.fail();
      vi.advanceTimersByTime(30_000);
    }
    expect(FakeEventSource.instances).toHaveLength(9);
    FakeEventSource.last.fail();
    vi.advanceTimersByTime(29_999);
    expect(FakeEventSource.instances).toHaveLength(9);
    vi.advanceTimersByTime(1);
    expect(FakeEventSource.instances).toHaveLength(10);
  });
});

describe("hub events", () => {
  it("calls onReset for the channel's subscriptions, then delivers the snapshot", async () => {
    const a = recorder({ channels: ["a"] });
    const b = recorder({ channels: ["b"] });
    await settle();
    const source = FakeEventSource.last;
    source.frame("progress", "a", { bar: "1", value: 1 }, `${E}-1`);
    source.frame("reset", "a", { reason: "history-exceeded" }, `${E}-50`);
    source.frame("progress", "a", { bar: "1", value: 40 }, `${E}-50`);
    expect(a.got).toEqual([
      ["progress", "a", { bar: "1", value: 1 }, `${E}-1`],
      ["RESET", "a", "history-exceeded"],
      ["progress", "a", { bar: "1", value: 40 }, `${E}-50`],
    ]);
    expect(b.got).toEqual([]);
  });

  it("calls onClose and drops a closed channel from the stream", async () => {
    const a = recorder({ channels: ["a", "b"] });
    const b = recorder({ channels: ["b"] });
    await settle();
    FakeEventSource.last.frame("close", "b", { reason: "deleted" }, `${E}-5`);
    expect(a.got).toEqual([["CLOSE", "b", "deleted"]]);
    expect(b.got).toEqual([["CLOSE", "b", "deleted"]]);
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(channelsOf(FakeEventSource.last)).toEqual(["a"]);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-5`);
  });

  it("closes the stream when every channel is closed, and does not reconnect", async () => {
    vi.useFakeTimers();
    recorder({ channels: ["a"] });
    await settle();
    const source = FakeEventSource.last;
    source.frame("close", "a", { reason: "deleted" }, `${E}-5`);
    await settle();
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.live).toHaveLength(0);
  });
});

describe("teardown", () => {
  it("closes the EventSource when the last subscription goes, and never reopens it", async () => {
    vi.useFakeTimers();
    const a = recorder({ channels: ["a"] });
    const b = recorder({ channels: ["b"] });
    await settle();
    const source = FakeEventSource.last;
    source.frame("log", "a", {}, `${E}-1`);
    a.unsubscribe();
    b.unsubscribe();
    await settle();
    expect(source.readyState).toBe(FakeEventSource.CLOSED);
    source.fail(); // a late error must not bring it back
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.live).toHaveLength(0);
  });

  it("cancels a pending retry when the last subscription goes during backoff", async () => {
    vi.useFakeTimers();
    const a = recorder();
    await settle();
    FakeEventSource.last.fail();
    a.unsubscribe();
    await settle();
    vi.advanceTimersByTime(60_000);
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it("keeps the stream when a widget is re-created in the same tick", async () => {
    const a = recorder();
    await settle();
    a.unsubscribe();
    recorder();
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(FakeEventSource.last.readyState).not.toBe(FakeEventSource.CLOSED);
  });
});

describe("parseCursor", () => {
  it.each([
    ["3f9a1c2b-42", { epoch: "3f9a1c2b", seq: 42 }],
    ["a-b-7", { epoch: "a-b", seq: 7 }],
    ["42", null],
    ["x-", null],
    ["", null],
  ])("%s", (id, expected) => {
    expect(parseCursor(id)).toEqual(expected);
  });
});

describe("status", () => {
  it("reports connecting, live, retrying to every subscription, and the current one to newcomers", async () => {
    /** @type {string[]} */
    const first = [];
    recorder({ onStatus: (s) => first.push(s) });
    await settle();
    expect(first).toEqual(["connecting"]);
    FakeEventSource.last.open();
    FakeEventSource.last.drop();
    expect(first).toEqual(["connecting", "live", "retrying"]);
    FakeEventSource.last.frame("message", "a", 1, `${E}-1`);
    /** @type {string[]} */
    const late = [];
    recorder({ channels: ["a"], onStatus: (s) => late.push(s) });
    await settle();
    expect(late).toEqual(["live"]);
    expect(first.at(-1)).toBe("live");
  });

  it("says unreachable when the stream fails before it was ever live, retrying after", async () => {
    vi.useFakeTimers();
    /** @type {string[]} */
    const seen = [];
    recorder({ onStatus: (s) => seen.push(s) });
    await settle();
    FakeEventSource.last.fail();
    expect(seen).toEqual(["connecting", "unreachable"]);
    vi.advanceTimersByTime(1000);
    FakeEventSource.last.open();
    FakeEventSource.last.fail();
    expect(seen).toEqual(["connecting", "unreachable", "live", "retrying"]);
  });
});
