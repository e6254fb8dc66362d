// The log view's styles (injected once per document by ./log.js).

export const CSS = `
.ssew-log [hidden] { display: none !important; }
.ssew-log { border: 1px solid var(--ssew-border); border-radius: 4px; background: var(--ssew-bg); overflow: hidden; }
.ssew-log-toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; padding: 3px 6px; font-size: 12px;
  background: var(--ssew-bg2); border-bottom: 1px solid var(--ssew-border); }
.ssew-log-toolbar select, .ssew-log-toolbar input, .ssew-log-toolbar button, .ssew-log-new {
  font: inherit; color: var(--ssew-fg); background: var(--ssew-bg); border: 1px solid var(--ssew-border);
  border-radius: 3px; padding: 0 6px; height: 22px; }
.ssew-log-toolbar button, .ssew-log-new { cursor: pointer; }
.ssew-log-search { flex: 0 1 220px; min-width: 90px; }
.ssew-log-count { margin-left: auto; color: var(--ssew-muted); font-variant-numeric: tabular-nums; }
.ssew-log-follow[aria-pressed="true"] { color: var(--ssew-accent); border-color: var(--ssew-accent); }
.ssew-log .ssew-status:empty, .ssew-closed:empty { display: none; }
.ssew-closed { color: var(--ssew-warn); }
.ssew-log-body { position: relative; }
.ssew-log-lines { overflow: auto; resize: vertical; min-height: 48px; padding: 2px 0; contain: content;
  font-family: var(--ssew-mono); font-size: 12px; line-height: 1.5; }
/* content-visibility: lines out of view skip style and layout (a full log is ~1000 lines, and
   at thousands of lines/s the per-frame layout of all of them would take the frame rate) */
.ssew-log-line { display: flex; flex-wrap: wrap; column-gap: 8px; padding: 0 8px 0 5px; border-left: 3px solid transparent;
  content-visibility: auto; contain-intrinsic-size: auto 18px; }
.ssew-log-line:hover { background: var(--ssew-bg2); }
.ssew-log-time { flex: none; color: var(--ssew-muted); font-variant-numeric: tabular-nums; }
.ssew-log-levelname { flex: none; width: 8ch; font-weight: 600; }
.ssew-log-logger { flex: none; max-width: 18ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; color: var(--ssew-muted); }
.ssew-log-logger:empty, .ssew-log-time:empty { display: none; }
.ssew-log-msg { flex: 1 1 0; min-width: 16ch; white-space: pre-wrap; overflow-wrap: anywhere; }
.ssew-sev-debug, .ssew-sev-debug .ssew-log-levelname { color: var(--ssew-muted); }
.ssew-sev-warning { border-left-color: var(--ssew-warn); }
.ssew-sev-warning .ssew-log-levelname { color: var(--ssew-warn); }
.ssew-sev-error { border-left-color: var(--ssew-err); background: rgba(198, 40, 40, 0.08);
  background: color-mix(in srgb, var(--ssew-err) 10%, transparent); }
.ssew-sev-error .ssew-log-levelname { color: var(--ssew-err); }
.ssew-log-exc { flex: 1 0 100%; margin-bottom: 2px; }
.ssew-log-exc summary { cursor: pointer; color: var(--ssew-err); overflow-wrap: anywhere; }
.ssew-log-exc pre { margin: 2px 0; padding: 4px 8px; max-height: 320px; overflow: auto; white-space: pre;
  font: inherit; background: var(--ssew-bg2); border-radius: 3px; }
.ssew-log-dropped, .ssew-log-empty { padding: 2px 8px; color: var(--ssew-muted); font-family: var(--ssew-font); font-style: italic; }
.ssew-log-new { position: absolute; right: 16px; bottom: 8px; color: var(--ssew-accent); border-color: var(--ssew-accent);
  box-shadow: 0 1px 4px rgba(0, 0, 0, 0.25); }
`;
