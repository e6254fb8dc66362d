// A stand-in for anywidget's model: traits, change events, custom messages both ways.

export class FakeModel {
  /** @param {Record<string, any>} traits */
  constructor(traits) {
    this.traits = {
      channel: "a",
      event: "log",
      transport: "auto",
      replay: "history",
      _hub_kind: "external",
      _hub_url: "http://hub.test/sse-widgets/",
      _hub_token: "",
      ...traits,
    };
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    /** @type {any[]} messages the front-end sent to the kernel */
    this.sent = [];
  }

  /** @param {string} name */
  get(name) {
    return this.traits[name];
  }

  /** @param {string} name @param {Function} fn */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name)?.add(fn);
  }

  /** @param {string} name @param {Function} fn */
  off(name, fn) {
    this.listeners.get(name)?.delete(fn);
  }

  /** @param {any} content */
  send(content) {
    this.sent.push(content);
  }

  /** The front-end changed a trait (anywidget: set then save_changes). */
  save_changes() {
    this.saved = (this.saved ?? 0) + 1;
  }

  /** The kernel changed a trait. @param {string} name @param {any} value */
  set(name, value) {
    this.traits[name] = value;
    for (const fn of [...(this.listeners.get(`change:${name}`) ?? [])]) fn();
  }

  /** The kernel sent a custom message. @param {any} content */
  receive(content) {
    for (const fn of [...(this.listeners.get("msg:custom") ?? [])]) fn(content, []);
  }

  /** How many listeners are attached (all of them go on cleanup). */
  get listenerCount() {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
