// The "Level 1.5" view: the ML-ready array (prep/{base}_ml.npy, N x N float32, NaN where there is
// no Sun for HMI) drawn on a canvas in the instrument's colour table, scaled as the server scales
// its renders (asinh between the 0.5 and 99.9 percentiles for EUV imagers, linear for HMI, a fixed
// -1500..+1500 G for magnetograms), NaN-aware, solar north up. The colour tables are computed from
// their formulas as the server's colormap.c does (aia_lct.pro; IDL table 3 otherwise).

import { h } from './dom.js';

const ASINH_A = 0.01;
const MAG_CLIP = 1500;

/* The ramps the AIA tables are made of (levels 0..255), and IDL table 3's, truncated as IDL stores them. */
const c0 = (i) => i;
const c1 = (i) => Math.sqrt(i) * Math.sqrt(255);
const c2 = (i) => (i * i) / 255;
const c3 = (i) => ((c1(i) + c2(i) / 2) * 255) / (255 + 255 / 2);
const r0 = (i) => (i >= 176 ? 255 : Math.floor((i * 255) / 176));
const g0 = (i) => (i <= 120 ? 0 : Math.floor(((i - 120) * 255) / 135));
const b0 = (i) => (i <= 190 ? 0 : Math.floor(((i - 190) * 255) / 65));
const halfB0 = (i) => b0(i) / 2;

const AIA = {
  94: [c2, c3, c0], 131: [g0, r0, r0], 171: [r0, c0, b0], 193: [c1, c0, c2], 211: [c1, c0, c3],
  304: [r0, g0, b0], 335: [c2, c0, c1], 1600: [c3, c3, c2], 1700: [c1, c0, c0], 4500: [c0, c0, halfB0],
};
const SAME_AS_AIA = { 195: 193, 284: 335, 174: 171 };

const eq = (a, b) => typeof a === 'string' && a.toUpperCase() === b;
const isMagnetogram = (m) => typeof m === 'string' && /magnetogram/i.test(m);

function table(name, [r, g, b]) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    lut[i * 3] = Math.round(r(i));
    lut[i * 3 + 1] = Math.round(g(i));
    lut[i * 3 + 2] = Math.round(b(i));
  }
  return { name, lut };
}

/** The colour table the server's renders use for this instrument: {name, lut: 256 x RGB}. */
export function colormapFor(instrument, measurement, wavelength) {
  const wl = Number(wavelength);
  if (isMagnetogram(measurement)) return table('gray', [c0, c0, c0]);
  if (eq(instrument, 'AIA') && AIA[wl]) return table(`sdoaia${wl}`, AIA[wl]);
  if (['EIT', 'EUVI', 'SUVI', 'SWAP'].some((n) => eq(instrument, n))) {
    const w = SAME_AS_AIA[wl] || wl;
    if (AIA[w]) return table(`sdoaia${w}`, AIA[w]);
  }
  return table('heat', [r0, g0, b0]);
}

/** How the server would scale this instrument: {kind: 'asinh'|'linear', fixed?: [lo, hi], p?: [plo, phi]}. */
export function scalingFor(instrument, measurement) {
  if (isMagnetogram(measurement)) return { kind: 'linear', fixed: [-MAG_CLIP, MAG_CLIP] };
  if (['AIA', 'EIT', 'EUVI', 'SWAP', 'SUVI'].some((n) => eq(instrument, n))) return { kind: 'asinh', p: [0.5, 99.9] };
  if (eq(instrument, 'HMI')) return { kind: 'linear', p: [0.5, 99.9] };
  return { kind: 'linear', p: [1, 99] };
}

/** Percentiles (0..100) of the finite values, linear between ranks as numpy does; null when none is finite. */
export function nanPercentiles(data, ps) {
  let n = 0;
  const vals = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) if (Number.isFinite(data[i])) vals[n++] = data[i];
  if (!n) return null;
  const v = vals.subarray(0, n).sort();
  return ps.map((p) => {
    const x = (p / 100) * (n - 1);
    const i = Math.floor(x);
    return i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (x - i) : v[n - 1];
  });
}

/**
 * Draws a 2-D array (rows x cols, C order, row 0 at the bottom as FITS has it) on canvas.
 * Returns {lo, hi, kind, cmap, finite} describing what was done.
 */
export function drawArray(canvas, data, rows, cols, meta = {}) {
  const sc = scalingFor(meta.instrument, meta.measurement);
  const cm = colormapFor(meta.instrument, meta.measurement, meta.wavelength);
  let lo;
  let hi;
  let range;
  if (sc.fixed) {
    [lo, hi] = sc.fixed;
    range = `${lo} to ${hi}`;
  } else {
    const q = nanPercentiles(data, sc.p);
    if (q) [lo, hi] = q;
    range = `the ${sc.p[0]} and ${sc.p[1]} percentiles`;
    if (q && !(hi > lo)) {
      // Flat image: its extremes, as the server does when the percentiles coincide.
      let mn = Infinity;
      let mx = -Infinity;
      for (const x of data) if (Number.isFinite(x)) { if (x < mn) mn = x; if (x > mx) mx = x; }
      [lo, hi] = [mn, mx];
      range = 'the minimum and maximum';
    }
  }
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(cols, rows);
  const px = img.data;
  const inv = hi > lo ? 1 / (hi - lo) : 0;
  const norm = Math.asinh(1 / ASINH_A);
  const level = new Uint8Array(4096); // the stretch as a table over 0..1
  for (let k = 0; k < level.length; k++) {
    const t = k / (level.length - 1);
    const y = sc.kind === 'asinh' ? Math.asinh(t / ASINH_A) / norm : t;
    level[k] = Math.max(0, Math.min(255, Math.round(y * 255)));
  }
  let finite = 0;
  for (let r = 0; r < rows; r++) {
    const out = (rows - 1 - r) * cols * 4; // north up: FITS row 0 is the bottom line
    for (let c = 0; c < cols; c++) {
      const v = data[r * cols + c];
      const o = out + c * 4;
      if (!Number.isFinite(v) || lo === undefined) {
        px[o + 3] = 0; // no data: transparent
        continue;
      }
      finite++;
      let t = (v - lo) * inv;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const l = level[Math.round(t * (level.length - 1))] * 3;
      px[o] = cm.lut[l];
      px[o + 1] = cm.lut[l + 1];
      px[o + 2] = cm.lut[l + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return { lo, hi, kind: sc.kind, range, cmap: cm.name, finite };
}

const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) >= 1e5 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : String(Number(x.toPrecision(4)))) : 'no data');

/**
 * A figure with the array drawn in a canvas (role img, named), a caption saying how it was scaled,
 * and a readout of the value under the pointer. label names the file for assistive technology.
 */
export function mlFigure(arr, meta, label) {
  const [rows, cols] = arr.shape;
  const canvas = h('canvas', { class: 'ml-canvas', role: 'img', 'aria-label': label, dataset: { rows: String(rows), cols: String(cols) } });
  const d = drawArray(canvas, arr.data, rows, cols, meta);
  canvas.setAttribute('aria-label', `${label}: ${rows} × ${cols} array, ${d.cmap} colour table, ${d.kind} stretch between ${fmt(d.lo)} and ${fmt(d.hi)}`);
  canvas.dataset.finite = String(d.finite);
  const readout = h('span', { class: 'muted ml-readout', text: 'Point at the image to read a value.' });
  canvas.addEventListener('pointermove', (e) => {
    const b = canvas.getBoundingClientRect();
    if (!b.width || !b.height) return;
    const c = Math.floor(((e.clientX - b.left) / b.width) * cols);
    const rTop = Math.floor(((e.clientY - b.top) / b.height) * rows);
    if (c < 0 || c >= cols || rTop < 0 || rTop >= rows) return;
    const r = rows - 1 - rTop;
    readout.textContent = `[${r}, ${c}] = ${fmt(arr.data[r * cols + c])}`;
  });
  const caption = h('figcaption', {},
    h('span', { text: `ML array ${rows} × ${cols} (${arr.descr}), solar north up, ${d.cmap} colour table, ${d.kind} stretch between ${d.range} (${fmt(d.lo)} to ${fmt(d.hi)}); ${d.finite ? '' : 'no finite values; '}transparent where there are no data.` }),
    h('br'), readout);
  return { figure: h('figure', { class: 'render ml' }, canvas, caption), info: d };
}
