// Manual end-to-end check of connection.js against a real hub (not part of `npm test`: it
// needs Python). Start a hub whose channels "a" and "b" are unused, with a tiny history:
//   sse-widgets serve --port 18765 --token '' --history-size 3
//   node test/live-hub-check.mjs http://127.0.0.1:18765/
// It checks history, catch-up without duplicates, local replay, close and teardown. The
// EventSource here is a minimal fetch-based one (Node 20 has none): enough for these frames.
import { closeAll, setEventSourceImpl, subscribe } from "../src/connection.js";

const HUB = process.argv[2];
const opened = [];
class MiniES {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = new Map();
    this.last = "";
    this.ctrl = new AbortController();
    opened.push(this);
    this.run();
  }
  addEventListener(t, fn) {
    if (!this.listeners.has(t)) this.listeners.set(t, new Set());
    this.listeners.get(t).add(fn);
  }
  close() { this.readyState = 2; this.ctrl.abort(); }
  dispatch(t, e) { for (const fn of this.listeners.get(t) ?? []) fn(e); }
  async run() {
    try {
      const headers = { accept: "text/event-stream" };
      const res = await fetch(this.url, { signal: this.ctrl.signal, headers });
      if (res.status !== 200) { this.readyState = 2; this.dispatch("error", {}); return; }
      this.readyState = 1; this.dispatch("open", {});
      const dec = new TextDecoder(); let buf = "";
      for await (const chunk of res.body) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let type = "message", data = [], sawData = false;
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const c = line.indexOf(":"); const f = c < 0 ? line : line.slice(0, c);
            let v = c < 0 ? "" : line.slice(c + 1); if (v.startsWith(" ")) v = v.slice(1);
            if (f === "id") this.last = v; else if (f === "event") type = v;
            else if (f === "data") { data.push(v); sawData = true; }
          }
          if (sawData && this.readyState !== 2) {
            this.dispatch(type, { type, data: data.join("\n"), lastEventId: this.last });
          }
        }
      }
    } catch {
      if (this.readyState !== 2) {
        this.readyState = 2;
        this.dispatch("error", {});
      }
    }
  }
}
setEventSourceImpl(MiniES);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function publish(channel, items) {
  const res = await fetch(`${HUB}api/channels/${channel}/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(items.map((n) => ({ event: "log", data: { n } }))),
  });
  if (!res.ok) throw new Error(await res.text());
}
function rec(name, options) {
  const got = [];
  const un = subscribe({ url: HUB, channels: ["a"], ...options,
    onEvent: (ev, data, meta) => got.push(`${meta.channel}:${data.n}`),
    onReset: (ch, r) => got.push(`RESET ${ch} ${r}`),
    onClose: (ch, r) => got.push(`CLOSE ${ch} ${r}`),
  });
  return { name, got, un };
}
const check = (label, actual, expected) => {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  const wanted = ok ? "" : `expected ${JSON.stringify(expected)}`;
  console.log(ok ? "ok  " : "FAIL", label, JSON.stringify(actual), wanted);
  if (!ok) process.exitCode = 1;
};

await publish("a", [1, 2, 3, 4, 5]); // history-size 3: 1 and 2 evicted
await publish("b", ["x"]);
const A = rec("A", { channels: ["a"], replay: "history" });
await sleep(300);
check("A gets a's retained history", A.got, ["a:3", "a:4", "a:5"]);
await publish("a", [6]); await sleep(300);
const B = rec("B", { channels: ["b"], replay: "history" });
await sleep(300);
check("catch-up: one stream open", opened.filter((s) => s.readyState !== 2).length, 1);
console.log("     url:", opened.at(-1).url);
check("A: no duplicate, no reset", A.got, ["a:3", "a:4", "a:5", "a:6"]);
check("B gets b's history", B.got, ["b:x"]);
await publish("a", [7]); await publish("b", ["y"]); await sleep(300);
check("A live once", A.got, ["a:3", "a:4", "a:5", "a:6", "a:7"]);
check("B live once", B.got, ["b:x", "b:y"]);
const before = opened.length;
const C = rec("C", { channels: ["a"], replay: "history" });
await sleep(100);
check("C served locally (no new stream)", opened.length, before);
check("C gets a's history", C.got, ["a:3", "a:4", "a:5", "a:6", "a:7"]);
await fetch(`${HUB}api/channels/b`, { method: "DELETE" });
await sleep(300);
check("B closed", B.got.at(-1), "CLOSE b deleted");
const channelsNow = new URL(opened.at(-1).url).searchParams.getAll("channel");
check("stream reopened without b", channelsNow, ["a"]);
await publish("a", [8]); await sleep(300);
check("A after close of b", A.got.slice(-1), ["a:8"]);
check("C after close of b", C.got.slice(-1), ["a:8"]);
A.un(); B.un(); C.un();
await sleep(50);
check("all closed after last unsubscribe", opened.filter((s) => s.readyState !== 2).length, 0);
closeAll();
