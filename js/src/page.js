// The standalone page of `sse-widgets serve` (served at the hub's `/`, built to
// static/page.js): a live view of the hub without a notebook. A sidebar lists the channels
// (polled every 2 s), the main area shows the selected one with the activity view — its
// bars, chart, text and log drawn by the widgets' own views, fed by the page's shared stream.
//
// - Selection lives in the URL (`#channel=<name>`): reload, bookmark and share keep it. With
//   no channel in the URL the first listed one is shown.
// - Authentication is the hub's login cookie (set by `GET /?token=...`, HttpOnly): every
//   request here is same-origin and carries it, so this script never sees the token.
// - The page sets Jupyter's theme variables for a dark colour scheme, which is where the
//   views take their colours from (../styles.js).
//
// Must not: render per event (the views schedule their own renders), or keep a stream open
// for a channel that is no longer shown.

import { subscribe } from "./connection.js";
import { BASE_CSS, ensureStyles } from "./styles.js";
import { createActivityView } from "./views/activity.js";

const POLL_MS = 2000;

const CSS = `
html, body { margin: 0; height: 100%; }
body { background: var(--jp-layout-color1, #ffffff); }
@media (prefers-color-scheme: dark) {
  :root {
    --jp-ui-font-color1: #e6edf3; --jp-ui-font-color2: #9198a1;
    --jp-layout-color1: #0d1117; --jp-layout-color2: #161b22; --jp-border-color2: #30363d;
    --jp-brand-color1: #4493f8; --jp-success-color1: #3fb950; --jp-warn-color1: #d29922;
    --jp-error-color1: #f85149;
  }
}
.ssew-page { min-height: 100vh; display: flex; flex-direction: column; font-size: 14px;
  background: var(--ssew-bg); }
.ssew-page-header { display: flex; align-items: baseline; gap: 16px; padding: 10px 20px;
  border-bottom: 1px solid var(--ssew-border); background: var(--ssew-bg2); }
.ssew-page-header h1 { font-size: 15px; font-weight: 600; margin: 0; }
.ssew-page-body { flex: 1; display: flex; min-height: 0; }
.ssew-page-channels { width: 240px; flex: none; overflow-y: auto; padding: 8px 0;
  border-right: 1px solid var(--ssew-border); }
.ssew-page-channels ul { list-style: none; margin: 0; padding: 0; }
.ssew-page-channel { display: block; padding: 6px 16px; color: inherit; text-decoration: none;
  border-left: 3px solid transparent; }
.ssew-page-channel:hover { background: var(--ssew-bg2); }
.ssew-page-channel[aria-current="page"] { border-left-color: var(--ssew-accent);
  background: var(--ssew-bg2); }
.ssew-page-channel-name { display: block; font-family: var(--ssew-mono); overflow-wrap: anywhere; }
.ssew-page-channel-meta { display: block; font-size: 11px; color: var(--ssew-muted); }
.ssew-page-main { flex: 1; min-width: 0; overflow-y: auto; padding: 16px 24px; }
.ssew-page-main h2 { font-size: 16px; font-family: var(--ssew-mono); margin: 0 0 12px; }
.ssew-page-note { color: var(--ssew-muted); }
.ssew-page-empty pre { background: var(--ssew-bg2); border: 1px solid var(--ssew-border);
  border-radius: 6px; padding: 8px 12px; overflow-x: auto; font-family: var(--ssew-mono); }
@media (max-width: 640px) {
  .ssew-page-body { flex-direction: column; }
  .ssew-page-channels { width: auto; max-height: 30vh; border-right: 0;
    border-bottom: 1px solid var(--ssew-border); }
}
`;

/** What the page says for the stream's state (connection.js `onStatus`). */
const STATUS_TEXT = {
  connecting: "connecting…",
  live: "live",
  retrying: "reconnecting…",
  unreachable: "error: hub unreachable, retrying",
};

/** The same state in the views' vocabulary (views/types.js `setStatus`). */
const VIEW_STATUS = {
  connecting: "connecting",
  live: "live",
  retrying: "connecting",
  unreachable: "error: hub unreachable",
};

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children] strings become text nodes, never HTML
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

/** @param {number | null} time unix seconds */
function ago(time) {
  if (time == null) return "no events yet";
  const seconds = Math.max(0, Date.now() / 1000 - time);
  if (seconds < 2) return "just now";
  if (seconds < 60) return `${Math.round(seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** @returns {string | null} the channel named in the URL's `#channel=...` */
function channelInHash() {
  return new URLSearchParams(location.hash.slice(1)).get("channel") || null;
}

/** @param {string} name */
const hashFor = (name) => `#${new URLSearchParams({ channel: name })}`;

/**
 * Build the page in `mount` and keep it live.
 * @param {HTMLElement} mount
 */
export function startPage(mount) {
  ensureStyles(document, "base", BASE_CSS);
  ensureStyles(document, "page", CSS);
  const base = new URL(".", location.href);
  const title = `sse_widgets — ${location.host}`;
  document.title = title;

  const status = h("span", { class: "ssew-status ssew-page-status", "data-status": "connecting" });
  const list = h("ul");
  const main = h("main", { class: "ssew-page-main" });
  mount.replaceChildren(
    h("div", { class: "ssew-root ssew-page" }, [
      h("header", { class: "ssew-page-header" }, [h("h1", {}, [title]), status]),
      h("div", { class: "ssew-page-body" }, [
        h("nav", { class: "ssew-page-channels", "aria-label": "Channels" }, [list]),
        main,
      ]),
    ]),
  );

  /** @type {Map<string, {item: HTMLElement, link: HTMLElement, meta: HTMLElement}>} */
  const entries = new Map();
  /** @type {{name: string, view: any, unsubscribe: () => void, closed: boolean} | null} */
  let shown = null;
  let streamStatus = "connecting";
  /** @type {string | null} what went wrong with the listing, if anything */
  let listError = null;
  let listed = false;

  // The stream's state while a channel is shown, else the listing's; a listing error wins
  // (e.g. "not logged in" says more than the stream's "unreachable").
  const showStatus = () => {
    let [state, text] = listed ? ["live", "connected"] : ["connecting", "connecting…"];
    if (shown) [state, text] = [streamStatus, STATUS_TEXT[streamStatus] ?? streamStatus];
    if (listError) [state, text] = ["error", listError];
    status.textContent = text;
    status.dataset.status = state;
  };

  /** @type {import("./views/types.js").ViewHost} */
  const host = {
    async control(channel, message) {
      const url = new URL(`api/channels/${encodeURIComponent(channel)}/control`, base);
      const reply = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(message),
      });
      if (reply.ok) return;
      let reason = `HTTP ${reply.status}`;
      try {
        const body = await reply.json();
        reason = body?.error ?? body?.message ?? reason;
      } catch {
        // not JSON (a proxy's error page): the status says enough
      }
      throw new Error(reason);
    },
  };

  /** Show `name` (or the empty state for null), replacing what was shown. */
  const select = (/** @type {string | null} */ name) => {
    if (shown) {
      shown.unsubscribe();
      shown.view.destroy();
      shown = null;
    }
    for (const [channel, entry] of entries) {
      if (channel === name) entry.link.setAttribute("aria-current", "page");
      else entry.link.removeAttribute("aria-current");
    }
    if (name === null) {
      // Before the first listing there is nothing to explain yet.
      main.replaceChildren(listed ? emptyState(base, entries.size > 0) : loading());
      showStatus();
      return;
    }
    const waiting = h("p", { class: "ssew-page-note" }, ["Waiting for events…"]);
    const holder = h("div", { class: "ssew-page-view" });
    main.replaceChildren(h("h2", {}, [name]), waiting, holder);
    const view = createActivityView(holder, { channel: name }, host);
    const current = { name, view, closed: false, unsubscribe: () => {} };
    shown = current;
    streamStatus = "connecting";
    current.unsubscribe = subscribe({
      url: base.href,
      channels: [name],
      events: view.events,
      replay: "history",
      onEvent(event, payload, meta) {
        if (!waiting.hidden) waiting.hidden = true;
        view.onEvent(event, payload, meta);
      },
      onReset: (channel, reason) => view.onReset(channel, reason),
      onClose(channel, reason) {
        current.closed = true;
        waiting.hidden = false;
        waiting.textContent =
          "This channel was deleted; it reopens here when it is published to again.";
        view.onClose(channel, reason);
      },
      onStatus(state) {
        if (shown !== current) return;
        streamStatus = state;
        view.setStatus(VIEW_STATUS[state] ?? state);
        showStatus();
      },
    });
    showStatus();
  };

  /** @param {{name: string, retained: number, last_time: number | null}[]} channels */
  const updateList = (channels) => {
    const names = new Set();
    for (const channel of channels) {
      if (channel.name.includes("#")) continue; // control streams (name#control) are internal
      names.add(channel.name);
      let entry = entries.get(channel.name);
      if (!entry) {
        const meta = h("span", { class: "ssew-page-channel-meta" });
        const link = h("a", { class: "ssew-page-channel", href: hashFor(channel.name) }, [
          h("span", { class: "ssew-page-channel-name" }, [channel.name]),
          meta,
        ]);
        link.dataset.channel = channel.name;
        if (shown?.name === channel.name) link.setAttribute("aria-current", "page");
        entry = { item: h("li", {}, [link]), link, meta };
        entries.set(channel.name, entry);
      }
      const count = `${channel.retained} event${channel.retained === 1 ? "" : "s"}`;
      entry.meta.textContent =
        channel.last_time == null ? "no events yet" : `${count} · ${ago(channel.last_time)}`;
      list.append(entry.item); // in the listing's order (sorted by name); moves, not copies
    }
    for (const [name, entry] of entries) {
      if (!names.has(name)) {
        entry.item.remove();
        entries.delete(name);
      }
    }
    // A deleted channel that is published to again: resubscribe to see its new life.
    if (shown?.closed && names.has(shown.name)) select(shown.name);
    if (!shown && !channelInHash()) {
      const first = [...names][0];
      if (first !== undefined) {
        history.replaceState(null, "", hashFor(first)); // no hashchange: select it here
        select(first);
      } else if (!main.querySelector(".ssew-page-empty")) {
        main.replaceChildren(emptyState(base, false));
      }
    }
  };

  const poll = async () => {
    if (!document.hidden) {
      try {
        const reply = await fetch(new URL("api/channels", base), {
          credentials: "same-origin",
          cache: "no-store",
        });
        if (reply.status === 403) {
          listError = "error: not logged in — open the URL that sse-widgets serve printed";
        } else if (!reply.ok) {
          listError = `error: listing channels failed (HTTP ${reply.status})`;
        } else {
          listError = null;
          listed = true;
          updateList((await reply.json()).channels);
        }
      } catch {
        listError = "error: hub unreachable, retrying";
      }
      showStatus();
    }
    setTimeout(poll, POLL_MS);
  };

  window.addEventListener("hashchange", () => {
    const name = channelInHash();
    if (name !== shown?.name) select(name);
  });
  select(channelInHash());
  poll();
}

function loading() {
  return h("p", { class: "ssew-page-note" }, ["Loading channels…"]);
}

/**
 * What to do when no channel is shown: how to publish one.
 * @param {URL} base
 * @param {boolean} someListed whether the sidebar lists channels to pick from
 */
function emptyState(base, someListed) {
  const python = [
    "import sse_widgets",
    `sse_widgets.connect("${base.href}", token="<the token>")`,
    'for step in sse_widgets.progress(range(100), channel="job", desc="work"):',
    "    ...",
  ].join("\n");
  return h("div", { class: "ssew-page-empty" }, [
    h("h2", {}, [someListed ? "Pick a channel" : "No channel yet"]),
    h("p", {}, [
      "Anything published to this hub shows up here live: progress bars, logs, text and charts. ",
      "Publish from a shell (it finds the running hub by itself):",
    ]),
    h("pre", {}, [`sse-widgets publish job log '{"level": "INFO", "message": "hello"}'`]),
    h("p", {}, [
      "or from Python, with the token that sse-widgets serve printed ",
      "(or set SSE_WIDGETS_URL and SSE_WIDGETS_TOKEN):",
    ]),
    h("pre", {}, [python]),
  ]);
}

startPage(document.getElementById("ssew-page") ?? document.body);
