// Human-readable sizes, times and durations. Sizes use 1024-based units, as the server's
// FITSFLOW_SESSION_LIMIT_MB does.

export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '?';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  // Three significant digits at most, without trailing zeros: "1 MB", "1.5 MB", "146 KB".
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits))} ${units[i]}`;
}

export function clockTime(d = new Date()) {
  return d.toTimeString().slice(0, 8);
}

export function seconds(s) {
  if (!Number.isFinite(s)) return '';
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
