// The progress view's styles (injected once per document by ./progress.js).

export const CSS = `
.ssew-progress [hidden] { display: none !important; }
.ssew-progress { padding: 2px 0; line-height: 18px; container-type: inline-size; }
/* One grid for all bars, each row a subgrid: tracks and numbers line up like a table. Cells
   always exist (emptied, not removed), so no row shifts a column. */
.ssew-bars, .ssew-bar, .ssew-bar-line { display: grid; column-gap: 8px; align-items: center;
  grid-template-columns: fit-content(40%) minmax(60px, 1fr) repeat(6, auto); }
@supports (grid-template-columns: subgrid) {
  .ssew-bar, .ssew-bar-line { grid-template-columns: subgrid; }
}
.ssew-bars { row-gap: 3px; }
.ssew-bar, .ssew-bar-line, .ssew-bar-sub { grid-column: 1 / -1; }
.ssew-bar-line { white-space: nowrap; }
.ssew-bar-label { display: flex; align-items: center; gap: 6px; min-width: 0; overflow: hidden;
  padding-left: calc(var(--ssew-depth, 0) * 16px); }
.ssew-bar-desc { min-width: 0; overflow: hidden; text-overflow: ellipsis; }
.ssew-bar-desc:empty, .ssew-bar-phase:empty { display: none; }
.ssew-bar-phase { flex: none; color: var(--ssew-muted); font-size: 11px; border: 1px solid var(--ssew-border); border-radius: 8px; padding: 0 6px; line-height: 15px; }
.ssew-bar-track { height: 8px; position: relative; overflow: hidden; border-radius: 4px; background: var(--ssew-bg2); box-shadow: inset 0 0 0 1px var(--ssew-border); }
.ssew-bar:not([data-depth="0"]) .ssew-bar-track { height: 6px; }
.ssew-bar:not([data-depth="0"]) .ssew-bar-line { font-size: 12px; }
.ssew-bar-fill { height: 100%; width: 0; border-radius: 4px; background: var(--ssew-accent); transition: width 0.15s linear; }
.ssew-bar[data-state="done"] .ssew-bar-fill { background: var(--ssew-ok); }
.ssew-bar[data-state="error"] .ssew-bar-fill { background: var(--ssew-err); }
.ssew-bar[data-state="cancelled"] .ssew-bar-fill { background: var(--ssew-warn); opacity: 0.7; }
.ssew-bar.ssew-indeterminate .ssew-bar-fill { position: absolute; width: 30%; animation: ssew-indeterminate 1.4s ease-in-out infinite; transition: none; }
@keyframes ssew-indeterminate { from { left: -30%; } to { left: 100%; } }
@media (prefers-reduced-motion: reduce) { .ssew-bar.ssew-indeterminate .ssew-bar-fill { animation: none; left: 35%; } .ssew-bar-fill { transition: none; } }
.ssew-bar-pct, .ssew-bar-count, .ssew-bar-rate, .ssew-bar-eta { text-align: right; font-variant-numeric: tabular-nums; }
.ssew-bar-pct { min-width: 4ch; }
.ssew-bar-rate, .ssew-bar-eta { color: var(--ssew-muted); font-size: 12px; }
@container (max-width: 460px) { .ssew-bar-rate, .ssew-bar-eta { display: none; } }
.ssew-bar-outcome { font-size: 12px; font-variant-numeric: tabular-nums; color: var(--ssew-ok); }
.ssew-bar-failmark, .ssew-bar-failed { color: var(--ssew-muted); }
.ssew-has-failed .ssew-bar-failmark, .ssew-has-failed .ssew-bar-failed { color: var(--ssew-err); }
.ssew-cancel { font: inherit; font-size: 11px; line-height: 14px; padding: 0 6px; border-radius: 3px; cursor: pointer;
  color: var(--ssew-muted); background: transparent; border: 1px solid var(--ssew-border); }
.ssew-cancel:hover:not(:disabled) { color: var(--ssew-err); border-color: var(--ssew-err); }
.ssew-cancel:disabled { cursor: default; font-style: italic; }
.ssew-bar-sub { font-size: 12px; padding-left: calc(var(--ssew-depth, 0) * 16px + 2px); color: var(--ssew-muted); white-space: pre-wrap; overflow-wrap: anywhere; }
.ssew-bar[data-state="error"] .ssew-bar-msg, .ssew-cancel-error { color: var(--ssew-err); }
.ssew-bar[data-state="cancelled"] .ssew-bar-msg { color: var(--ssew-warn); }
.ssew-bar-msg:empty, .ssew-cancel-error:empty { display: none; }
.ssew-bar-errors summary { cursor: pointer; color: var(--ssew-err); }
.ssew-bar-errors ol { margin: 2px 0 2px 18px; padding: 0; font-family: var(--ssew-mono); font-size: 11px; color: var(--ssew-fg); }
.ssew-empty, .ssew-foot { color: var(--ssew-muted); font-size: 12px; }
.ssew-foot { display: flex; gap: 8px; }
.ssew-closed { color: var(--ssew-warn); }
`;
