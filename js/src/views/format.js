// How numbers, rates and durations read in the views (tqdm's conventions, so they look
// familiar next to a terminal's progress bars).
//
// Must not: touch the DOM.

/**
 * A count as tqdm shows it: integers as they are, other numbers with at most 2 decimals.
 * @param {unknown} value
 * @example formatNumber(1000) // "1000";  formatNumber(2.456) // "2.46"
 */
export function formatNumber(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "?";
  if (Number.isInteger(value)) return String(value);
  return String(Math.round(value * 100) / 100);
}

/**
 * A rate or magnitude in a short, steady width: 8.12, 81.2, 812, 12.3k, 4.56M.
 * @param {number} x a positive finite number
 */
function compact(x) {
  if (x >= 1e9) return `${(x / 1e9).toFixed(x >= 1e11 ? 0 : 2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(x >= 1e8 ? 0 : 2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(x >= 1e5 ? 0 : 1)}k`;
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(x >= 10 ? 1 : 2);
}

/**
 * Rate as tqdm says it: "812 it/s", and "2.50 s/it" below one unit per second.
 * @param {unknown} rate units per second, or null when not known yet
 * @param {string} unit
 * @example formatRate(0.4, "it") // "2.50 s/it"
 */
export function formatRate(rate, unit) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return `? ${unit}/s`;
  if (rate <= 0) return `0 ${unit}/s`;
  if (rate < 1) return `${compact(1 / rate)} s/${unit}`;
  return `${compact(rate)} ${unit}/s`;
}

/**
 * Seconds as "M:SS", or "H:MM:SS" from an hour on.
 * @param {number} seconds
 * @example formatDuration(75) // "1:15"
 */
export function formatDuration(seconds) {
  const total = Math.max(0, Math.round(seconds));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const h = Math.floor(total / 3600);
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}
