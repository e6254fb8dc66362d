// A stand-in for the browser's EventSource in tests: records every instance, exposes the URL's
// query, and lets a test play hub frames and failures. Like the real one, a named event reaches
// only listeners registered for that name, and readyState says whether it will retry itself.
// Test-only: lives outside src/ so no bundle can pick it up.

export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  /** @type {FakeEventSource[]} every instance created, oldest first */
  static instances = [];

  /** @param {string} url */
  constructor(url) {
    this.url = url;
    this.readyState = FakeEventSource.CONNECTING;
    /** @type {Map<string, Set<(event: any) => void>>} */
    this.listeners = new Map();
    FakeEventSource.instances.push(this);
  }

  /** The newest instance (the one the connection is using, unless it was closed). */
  static get last() {
    return FakeEventSource.instances[FakeEventSource.instances.length - 1];
  }

  /** Instances not closed by the code under test. */
  static get live() {
    return FakeEventSource.instances.filter((s) => s.readyState !== FakeEventSource.CLOSED);
  }

  static reset() {
    FakeEventSource.instances = [];
  }

  /** @param {string} type @param {(event: any) => void} fn */
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type)?.add(fn);
  }

  /** @param {string} type @param {(event: any) => void} fn */
  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn);
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
  }

  // -- test controls --------------------------------------------------------------------------

  /** @returns {URLSearchParams} */
  get params() {
    return new URL(this.url).searchParams;
  }

  /** @param {string} type @param {any} event */
  dispatch(type, event) {
    for (const fn of [...(this.listeners.get(type) ?? [])]) fn(event);
  }

  /** The response started. */
  open() {
    this.readyState = FakeEventSource.OPEN;
    this.dispatch("open", { type: "open" });
  }

  /**
   * A multiplexed frame, as the hub sends it.
   * @param {string} name event name
   * @param {string} channel
   * @param {any} data payload
   * @param {string} id cursor
   */
  frame(name, channel, data, id) {
    if (this.readyState === FakeEventSource.CLOSED) throw new Error("frame on a closed source");
    this.readyState = FakeEventSource.OPEN;
    const text = JSON.stringify({ channel, data, time: 1795257636.957 });
    this.dispatch(name, { type: name, data: text, lastEventId: id });
  }

  /** The connection dropped; the browser will reconnect by itself. */
  drop() {
    this.readyState = FakeEventSource.CONNECTING;
    this.dispatch("error", { type: "error" });
  }

  /** The browser gave up (HTTP error, wrong content type): it will not retry. */
  fail() {
    this.readyState = FakeEventSource.CLOSED;
    this.dispatch("error", { type: "error" });
  }
}
