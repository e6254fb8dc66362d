// History for subscriptions made after the page's stream started: served from the page's copy
// of a channel, or by a replay from the epoch's start that the other subscriptions skip.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource } from "../test/fake-event-source.js";
import { E, channelsOf, recorder, settle } from "../test/helpers.js";
import { closeAll, setEventSourceImpl } from "./connection.js";

beforeEach(() => {
  FakeEventSource.reset();
  setEventSourceImpl(FakeEventSource);
});

afterEach(() => {
  closeAll();
  vi.useRealTimers();
});

describe("history for late subscribers", () => {
  it("asks the first stream for the largest replay any subscription wants", async () => {
    recorder({ replay: "snapshot" });
    recorder({ replay: "history" });
    recorder();
    await settle();
    expect(FakeEventSource.last.params.get("replay")).toBe("history");
  });

  it("serves a streamed channel's history from the page's copy, without reopening", async () => {
    const first = recorder({ replay: "history" });
    await settle();
    const source = FakeEventSource.last;
    source.frame("log", "a", { n: 1 }, `${E}-1`);
    source.frame("log", "a", { n: 2 }, `${E}-2`);
    const late = recorder({ replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(late.ids()).toEqual([`${E}-1`, `${E}-2`]);
    source.frame("log", "a", { n: 3 }, `${E}-3`);
    expect(first.ids()).toEqual([`${E}-1`, `${E}-2`, `${E}-3`]);
    expect(late.ids()).toEqual([`${E}-1`, `${E}-2`, `${E}-3`]);
  });

  it("does not serve history from a copy that lacks a newly listened event name", async () => {
    recorder({ replay: "history" });
    await settle();
    FakeEventSource.last.frame("log", "a", {}, `${E}-1`);
    const late = recorder({ replay: "history", events: ["epoch-end"] });
    await settle();
    // The page never listened to "epoch-end", so its copy cannot hold them: ask the hub.
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-0`);
    FakeEventSource.last.frame("epoch-end", "a", { n: 0 }, `${E}-0`);
    expect(late.ids()).toEqual([`${E}-0`]);
  });

  it("replays from the epoch's start for a new channel; the others see no duplicates", async () => {
    const a = recorder({ channels: ["a"], replay: "history" });
    await settle();
    const first = FakeEventSource.last;
    first.frame("log", "a", { n: 1 }, `${E}-1`);
    first.frame("log", "a", { n: 3 }, `${E}-3`);
    const b = recorder({ channels: ["b"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    expect(channelsOf(second)).toEqual(["a", "b"]);
    expect(second.params.get("last_event_id")).toBe(`${E}-0`);
    // The hub replays both channels' history in id order, then goes live.
    second.frame("log", "a", { n: 1 }, `${E}-1`);
    second.frame("log", "b", { n: 2 }, `${E}-2`);
    second.frame("log", "a", { n: 3 }, `${E}-3`);
    second.frame("log", "b", { n: 4 }, `${E}-4`);
    second.frame("log", "a", { n: 5 }, `${E}-5`);
    expect(a.ids()).toEqual([`${E}-1`, `${E}-3`, `${E}-5`]);
    expect(b.ids()).toEqual([`${E}-2`, `${E}-4`]);
  });

  it("gives history on a live-only channel; its subscribers see no duplicates", async () => {
    const live = recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("log", "a", { n: 7 }, `${E}-7`);
    const late = recorder({ channels: ["a"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(second.params.get("last_event_id")).toBe(`${E}-0`);
    for (const n of [2, 7, 8]) second.frame("log", "a", { n }, `${E}-${n}`);
    expect(live.ids()).toEqual([`${E}-7`, `${E}-8`]);
    expect(late.ids()).toEqual([`${E}-2`, `${E}-7`, `${E}-8`]);
    // The replay completed the page's copy: a third subscriber is served locally.
    const third = recorder({ channels: ["a"], replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(third.ids()).toEqual([`${E}-2`, `${E}-7`, `${E}-8`]);
  });

  it("drops a replayed reset that history proves harmless to an existing subscriber", async () => {
    const a = recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("progress", "a", { bar: "1", value: 10 }, `${E}-10`);
    const b = recorder({ channels: ["b"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    second.frame("reset", "a", { reason: "history-exceeded" }, `${E}-0`);
    second.frame("progress", "a", { bar: "1", value: 3 }, `${E}-0`); // an evicted state
    second.frame("progress", "a", { bar: "1", value: 6 }, `${E}-6`); // retained, before 10
    second.frame("progress", "a", { bar: "1", value: 10 }, `${E}-10`);
    second.frame("progress", "a", { bar: "1", value: 11 }, `${E}-11`);
    expect(a.ids()).toEqual([`${E}-10`, `${E}-11`]);
    expect(b.got).toEqual([]);
  });

  it("rebuilds an existing subscriber when a replayed reset may hide a loss", async () => {
    const a = recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("progress", "a", { bar: "1", value: 10 }, `${E}-10`);
    recorder({ channels: ["b"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    second.frame("reset", "a", { reason: "history-exceeded" }, `${E}-0`);
    second.frame("progress", "a", { bar: "1", value: 12 }, `${E}-0`); // evicted past 10
    second.frame("progress", "a", { bar: "1", value: 13 }, `${E}-13`);
    expect(a.got).toEqual([
      ["progress", "a", { bar: "1", value: 10 }, `${E}-10`],
      ["RESET", "a", "history-exceeded"],
      ["progress", "a", { bar: "1", value: 12 }, `${E}-0`],
      ["progress", "a", { bar: "1", value: 13 }, `${E}-13`],
    ]);
  });

  it("rebuilds everyone when the hub restarted (another epoch)", async () => {
    const a = recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("log", "a", { n: 10 }, `${E}-10`);
    recorder({ channels: ["b"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    second.frame("reset", "a", { reason: "hub-restarted" }, "new-0");
    second.frame("log", "a", { n: 1 }, "new-1");
    expect(a.got.slice(1)).toEqual([
      ["RESET", "a", "hub-restarted"],
      ["log", "a", { n: 1 }, "new-1"],
    ]);
  });
  it("keeps the page's copy when a replayed reset proves harmless", async () => {
    recorder({ channels: ["a"], replay: "history" });
    await settle();
    for (const n of [3, 6, 10]) FakeEventSource.last.frame("log", "a", { n }, `${E}-${n}`);
    recorder({ channels: ["b"], replay: "history" }); // catch-up replay of every channel
    await settle();
    const second = FakeEventSource.last;
    second.frame("reset", "a", { reason: "history-exceeded" }, `${E}-0`); // 3 was evicted
    second.frame("log", "a", { n: 6 }, `${E}-6`); // retained below the copy's end: intact
    second.frame("log", "a", { n: 10 }, `${E}-10`);
    second.frame("log", "a", { n: 11 }, `${E}-11`);
    const late = recorder({ channels: ["a"], replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2); // served locally
    expect(late.ids()).toEqual([`${E}-3`, `${E}-6`, `${E}-10`, `${E}-11`]);
  });

  it("forgets an undecided reset on reopening (the hub re-announces a loss)", async () => {
    const a = recorder({ channels: ["a"], replay: "history" });
    await settle();
    for (const n of [6, 10]) FakeEventSource.last.frame("log", "a", { n }, `${E}-${n}`);
    recorder({ channels: ["b"], replay: "history" });
    await settle();
    FakeEventSource.last.frame("reset", "a", { reason: "history-exceeded" }, `${E}-0`);
    FakeEventSource.last.frame("log", "b", { n: 7 }, `${E}-7`);
    recorder({ channels: ["c"] }); // reopen from E-7; the hub sees no loss after 7
    await settle();
    const third = FakeEventSource.last;
    expect(third.params.get("last_event_id")).toBe(`${E}-7`);
    third.frame("log", "a", { n: 11 }, `${E}-11`);
    expect(a.ids()).toEqual([`${E}-6`, `${E}-10`, `${E}-11`]); // no spurious reset
    const late = recorder({ channels: ["a"], replay: "history" });
    await settle();
    expect(late.ids()).toEqual([`${E}-6`, `${E}-10`, `${E}-11`]);
  });

  it("restarts the page's copy when a replayed reset may hide a loss", async () => {
    recorder({ channels: ["a"], replay: "history" });
    await settle();
    FakeEventSource.last.frame("log", "a", { n: 10 }, `${E}-10`);
    recorder({ channels: ["b"], replay: "history" });
    await settle();
    const second = FakeEventSource.last;
    second.frame("reset", "a", { reason: "history-exceeded" }, `${E}-0`);
    second.frame("progress", "a", { bar: "1" }, `${E}-0`); // an evicted state, re-sent
    second.frame("log", "a", { n: 12 }, `${E}-12`); // first retained frame: past the copy
    const late = recorder({ channels: ["a"], replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(late.ids()).toEqual([`${E}-0`, `${E}-12`]);
  });

  it("asks the hub once the page's copy overflowed its bound", async () => {
    recorder({ channels: ["a"], replay: "history" });
    await settle();
    for (let n = 1; n <= 1001; n += 1) FakeEventSource.last.frame("log", "a", { n }, `${E}-${n}`);
    recorder({ channels: ["a"], replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(FakeEventSource.last.params.get("last_event_id")).toBe(`${E}-0`);
  });

  it("takes a history request made during backoff into the retry", async () => {
    vi.useFakeTimers();
    const a = recorder({ channels: ["a"] });
    await settle();
    FakeEventSource.last.frame("log", "a", { n: 4 }, `${E}-4`);
    FakeEventSource.last.fail();
    const b = recorder({ channels: ["b"], replay: "history" });
    await settle();
    expect(FakeEventSource.instances).toHaveLength(1); // waits for the backoff
    vi.advanceTimersByTime(1000);
    const retry = FakeEventSource.last;
    expect(FakeEventSource.instances).toHaveLength(2);
    expect(channelsOf(retry)).toEqual(["a", "b"]);
    expect(retry.params.get("last_event_id")).toBe(`${E}-0`);
    retry.frame("log", "b", { n: 2 }, `${E}-2`);
    retry.frame("log", "a", { n: 4 }, `${E}-4`);
    retry.frame("log", "a", { n: 5 }, `${E}-5`);
    expect(a.ids()).toEqual([`${E}-4`, `${E}-5`]);
    expect(b.ids()).toEqual([`${E}-2`]);
  });
});

