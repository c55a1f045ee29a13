// The results viewer: one processed file at a time with image tabs (local colour and gray
// renders, Helioviewer, JSOC: whichever exist), a Level 1.5 tab (the ML array drawn here from its
// .npy, or why the file was not registered), a Header tab, a HEK tab, the file's observation
// metadata from manifest.json and its outputs to download; prev / play / next and the arrow keys
// move between files.

import { h, replace } from './dom.js';
import { formatBytes, seconds } from './format.js';
import { headerTable, parseHeaderJson } from './header_table.js';
import { jsonTree } from './jsontree.js';
import { mlFigure } from './mlview.js';
import { MAX_ELEMENTS, parseNpy } from './npy.js';

const IMAGE_TABS = [
  { id: 'color', label: 'Colour', what: 'Colour render (made here from the data)', test: (p) => /^images\/local\/.*_color\.png$/.test(p) },
  { id: 'gray', label: 'Gray', what: 'Gray render (made here from the data)', test: (p) => /^images\/local\/.*_gray\.png$/.test(p) },
  { id: 'sdo', label: 'Helioviewer', what: 'Helioviewer colour image at the observation time', test: (p) => /^images\/sdo\//.test(p) },
  { id: 'jsoc', label: 'JSOC', what: 'JSOC grayscale image at the observation time', test: (p) => /^images\/jsoc\//.test(p) },
];

const PLAY_MS = 2500;
const PREP_STEP = 8;
const NPY_CACHE = 6; // parsed ML arrays kept (about 1 MiB each at 512 x 512)

export const isMlPath = (p) => /^prep\/.*_ml\.npy$/.test(p);
export const isLev15Path = (p) => /^prep\/.*_lev15\.fits$/.test(p);

const text = (v) => (typeof v === 'string' && v.trim() ? v.trim() : '');

/**
 * Why a file has no level-1.5 output, from whichever field the manifest or the status carries:
 * a "prep" object ({status, reason}) or string, "prep_reason", a note about level 1.5 or
 * registration, or the message of a failed level-1.5 step. '' when nothing says why.
 */
export function prepReason(f) {
  for (const src of [f, f.meta].filter(Boolean)) {
    const p = src.prep;
    if (typeof p === 'string' && p.trim()) return p.trim();
    if (p && typeof p === 'object') {
      const r = text(p.reason) || text(p.skipped) || text(p.error) || text(p.message);
      if (r) return r;
    }
    const r = text(src.prep_reason) || text(src.lev15_reason) || text(src.level15_reason);
    if (r) return r;
  }
  const notes = [...((f.meta && f.meta.notes) || []), ...(f.notes || [])].filter((n) => typeof n === 'string');
  const note = notes.find((n) => /level[ -]?1\.5|regist|\bprep\b/i.test(n));
  if (note) return note;
  const s = f.steps && f.steps[String(PREP_STEP)];
  if (s && s.ok === false && text(s.message)) return s.message.trim();
  return '';
}

/** Events in a HEK answer: Helioviewer's tree ([{name, groups: [{data: [...]}]}]), a flat list,
 * or a {"label": [...]} map. */
export function countEvents(doc) {
  if (Array.isArray(doc)) {
    return doc.reduce((n, v) => n + (v && Array.isArray(v.groups)
      ? v.groups.reduce((m, g) => m + (g && Array.isArray(g.data) ? g.data.length : 0), 0)
      : 1), 0);
  }
  if (doc && typeof doc === 'object') return Object.values(doc).reduce((n, v) => n + (Array.isArray(v) ? v.length : 0), 0);
  return 0;
}

/** The events of a HEK answer as one flat list, or null for a shape this client does not know. */
export function flattenEvents(doc) {
  if (Array.isArray(doc)) {
    if (!doc.some((v) => v && Array.isArray(v.groups))) return doc;
    return doc.flatMap((v) => (v && Array.isArray(v.groups) ? v.groups.flatMap((g) => (g && Array.isArray(g.data) ? g.data : [])) : [v]));
  }
  if (doc && typeof doc === 'object') return Object.values(doc).filter(Array.isArray).flat();
  return null;
}

/** Joins the status's files (steps, outputs with keys) with the manifest's (metadata). */
export function viewerFiles(status) {
  const meta = new Map(((status.manifest && status.manifest.files) || []).map((f) => [f.base, f]));
  const files = (status.files || []).map((f) => ({ ...(meta.get(f.base) || {}), ...f, meta: meta.get(f.base) || null }));
  // Files only the manifest knows (an older run) still get shown.
  for (const [base, m] of meta) if (!files.some((f) => f.base === base)) files.push({ ...m, meta: m, steps: {} });
  return files;
}

function metaList(f) {
  const m = f.meta || f;
  const rows = [
    ['Status', f.status + (f.reason ? `: ${f.reason}` : '')],
    ['Observatory', m.observatory],
    ['Instrument', [m.instrument, m.detector && m.detector !== m.instrument ? m.detector : null].filter(Boolean).join(' / ')],
    ['Measurement', m.measurement],
    ['Wavelength', m.wavelength ? `${m.wavelength} Å` : null],
    ['Observed (UTC)', m.observation_time],
    ['Image', m.shape && m.shape.length ? `${m.shape.join(' × ')} ${m.dtype || ''}` : null],
    ['HDU', m.hdu !== undefined && m.hdu !== null ? String(m.hdu) : null],
    ['Compression', m.compression],
    ['Rendering', m.render_scaling],
    ['Processing time', m.seconds !== undefined ? seconds(m.seconds) : null],
    ['Level 1.5', (f.outputs || []).some((o) => o && typeof o.path === 'string' && isMlPath(o.path)) ? 'registered, ML array made'
      : prepReason(f) ? `not made: ${prepReason(f)}` : null],
  ];
  const dl = h('dl', { class: 'meta' });
  for (const [k, v] of rows) if (v) dl.append(h('dt', { text: k }), h('dd', { text: v }));
  for (const n of m.notes || []) dl.append(h('dt', { text: 'Note' }), h('dd', { text: n }));
  return dl;
}

export function createViewer(root, { api, sid, status, onChange }) {
  const files = viewerFiles(status);
  const cache = new Map(); // url -> Promise of parsed JSON
  const arrays = new Map(); // url -> Promise of a parsed .npy; the last NPY_CACHE used
  let index = 0;
  let tab = 'color';
  let timer = null;

  const urlOf = (f, o) => api.fileUrl(o.key || api.outputKey(sid, o.path));
  const outputsOf = (f) => (f.outputs || []).filter((o) => o && typeof o.path === 'string');
  const tabsOf = (f) => {
    const outs = outputsOf(f);
    const tabs = [];
    for (const t of IMAGE_TABS) {
      const o = outs.find((x) => t.test(x.path));
      if (o) tabs.push({ ...t, output: o });
    }
    const ml = outs.find((o) => isMlPath(o.path));
    if (ml || prepReason(f) || (f.steps && f.steps[String(PREP_STEP)])) {
      tabs.push({ id: 'lev15', label: 'Level 1.5', what: 'Level-1.5 ML array (drawn here from its .npy)', output: ml,
        fits: outs.find((o) => isLev15Path(o.path)) });
    }
    if (f.status !== 'skipped' || outs.length) {
      tabs.push({ id: 'header', label: 'Header', output: outs.find((o) => /^header\/.*_header\.json$/.test(o.path)) });
      tabs.push({ id: 'hek', label: 'HEK', output: outs.find((o) => /^hek\/.*_hek\.json$/.test(o.path)) });
    }
    return tabs;
  };

  const fetchJson = (url, parse = JSON.parse) => {
    if (!cache.has(url)) {
      cache.set(url, fetch(url, { cache: 'no-cache' }).then(async (r) => {
        if (!r.ok) throw new Error(`${r.status}`);
        return parse(await r.text());
      }).catch((e) => {
        cache.delete(url);
        throw e;
      }));
    }
    return cache.get(url);
  };

  const fetchNpy = (url, bytes) => {
    let p = arrays.get(url);
    if (p) arrays.delete(url); // re-inserted below as the most recent
    else {
      p = (async () => {
        if (Number.isFinite(bytes) && bytes > MAX_ELEMENTS * 8 + 65536) throw new Error(`the array is ${formatBytes(bytes)}, more than this page draws`);
        const r = await fetch(url, { cache: 'no-cache' });
        if (!r.ok) throw new Error(`${r.status}`);
        return parseNpy(await r.arrayBuffer());
      })();
      p.catch(() => arrays.delete(url));
    }
    arrays.set(url, p);
    while (arrays.size > NPY_CACHE) arrays.delete(arrays.keys().next().value);
    return p;
  };

  function renderLevel15(f, t) {
    if (!t.output) {
      const why = prepReason(f) || stepMessage(f, PREP_STEP);
      replace(panel, h('p', { class: 'notice', text: why ? `No level-1.5 output for this file: ${why}` : 'No level-1.5 output for this file.' }));
      return;
    }
    const url = urlOf(f, t.output);
    const links = h('p', { class: 'ml-links' },
      h('a', { href: url, download: t.output.path.split('/').pop(), text: `Download the ML array (.npy, ${formatBytes(t.output.bytes)})` }),
      t.fits ? ' · ' : null,
      t.fits ? h('a', { href: urlOf(f, t.fits), download: t.fits.path.split('/').pop(), text: `the level-1.5 FITS (${formatBytes(t.fits.bytes)})` }) : null);
    replace(panel, h('p', { class: 'muted', text: 'Loading the ML array…' }), links);
    const want = `${f.base}/lev15`;
    fetchNpy(url, t.output.bytes).then((arr) => {
      if (`${files[index].base}/${tab}` !== want) return;
      if (arr.shape.length !== 2) throw new Error(`its shape is (${arr.shape.join(', ')}), not an image`);
      const { figure } = mlFigure(arr, f.meta || f, `Level-1.5 ML array of ${f.base}`);
      replace(panel, figure, links);
    }).catch((e) => {
      if (`${files[index].base}/${tab}` === want) replace(panel, h('p', { class: 'notice', text: `Could not show ${t.output.path}: ${e.message}.` }), links);
    });
  }

  // Static frame.
  const title = h('h3', { class: 'viewer-title', id: 'viewer-title', tabindex: '-1' });
  const position = h('span', { class: 'muted', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'btn', 'aria-label': 'Previous file', text: '◀ Prev', onclick: () => go(index - 1) });
  const play = h('button', { type: 'button', class: 'btn', 'aria-pressed': 'false', text: '▶ Play', onclick: () => togglePlay() });
  const next = h('button', { type: 'button', class: 'btn', 'aria-label': 'Next file', text: 'Next ▶', onclick: () => go(index + 1) });
  const tablist = h('div', { role: 'tablist', class: 'tabs', 'aria-labelledby': 'viewer-title' });
  const panel = h('div', { role: 'tabpanel', class: 'tabpanel', id: 'viewer-panel', tabindex: '0' });
  const side = h('aside', { class: 'viewer-side', 'aria-label': 'Observation metadata and downloads' });
  root.replaceChildren(
    h('div', { class: 'viewer-bar' }, h('div', { class: 'viewer-heading' }, title, position), h('div', { class: 'viewer-buttons' }, prev, play, next)),
    h('div', { class: 'viewer-body' }, h('div', { class: 'viewer-main' }, tablist, panel), side),
  );

  tablist.addEventListener('keydown', (e) => {
    const tabs = [...tablist.querySelectorAll('[role=tab]')];
    const i = tabs.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = tabs.length - 1;
    if (j < 0) return;
    e.preventDefault();
    e.stopPropagation();
    tabs[j].focus();
    tabs[j].click();
    // The click rebuilt the tab list: keep the focus on the selected tab for the next key.
    tablist.querySelector('[role=tab][aria-selected=true]')?.focus();
  });

  function renderTabs(f) {
    const tabs = tabsOf(f);
    if (!tabs.some((t) => t.id === tab)) tab = tabs.length ? tabs[0].id : '';
    replace(tablist, tabs.map((t) => h('button', {
      type: 'button', role: 'tab', id: `tab-${t.id}`, class: 'tab', 'aria-selected': String(t.id === tab),
      'aria-controls': 'viewer-panel', tabindex: t.id === tab ? '0' : '-1', text: t.label, dataset: { tab: t.id },
      onclick: () => {
        tab = t.id;
        renderTabs(f);
        renderPanel(f, t);
      },
    })));
    panel.setAttribute('aria-labelledby', tab ? `tab-${tab}` : 'viewer-title');
    return tabs.find((t) => t.id === tab);
  }

  function stepMessage(f, n) {
    const s = f.steps && f.steps[String(n)];
    return s && s.message ? s.message : '';
  }

  function renderPanel(f, t) {
    if (!t) {
      replace(panel, h('p', { class: 'notice', text: f.reason ? `This file was not processed: ${f.reason}` : 'No outputs for this file.' }));
      return;
    }
    if (t.id === 'lev15') {
      renderLevel15(f, t);
      return;
    }
    if (t.id === 'header' || t.id === 'hek') {
      if (!t.output) {
        const why = t.id === 'hek' ? stepMessage(f, 6) : stepMessage(f, 2);
        replace(panel, h('p', { class: 'notice', text: why ? `Not available: ${why}` : 'Not available for this file.' }));
        return;
      }
      const url = urlOf(f, t.output);
      replace(panel, h('p', { class: 'muted', text: 'Loading…' }));
      const want = `${f.base}/${t.id}`;
      fetchJson(url, t.id === 'header' ? parseHeaderJson : JSON.parse).then((doc) => {
        if (`${files[index].base}/${tab}` !== want) return;
        if (t.id === 'header') replace(panel, headerTable(doc));
        else {
          const n = countEvents(doc);
          const head = h('p', { class: 'muted', text: `${n} HEK event${n === 1 ? '' : 's'} around the observation time. ` },
            h('a', { href: url, download: t.output.path.split('/').pop(), text: 'Download the JSON' }));
          const events = flattenEvents(doc);
          replace(panel, head, h('div', { class: 'tree-wrap' }, jsonTree(events || doc, { openDepth: 1 })));
        }
      }, (e) => {
        if (`${files[index].base}/${tab}` === want) replace(panel, h('p', { class: 'notice', text: `Could not load ${t.output.path} (${e.message}).` }));
      });
      return;
    }
    const url = urlOf(f, t.output);
    const img = h('img', { src: url, alt: `${t.what}: ${f.base}`, decoding: 'async' });
    img.addEventListener('error', () => replace(panel, h('p', { class: 'notice', text: `The image ${t.output.path} could not be loaded.` })));
    replace(panel, h('figure', { class: 'render' },
      h('a', { href: url, target: '_blank', rel: 'noopener', title: 'Open the full-size image' }, img),
      h('figcaption', {}, h('span', { text: t.what }), h('span', { class: 'muted', text: ` · ${formatBytes(t.output.bytes)}` }))));
  }

  function renderSide(f) {
    const outs = outputsOf(f);
    const list = h('ul', { class: 'outputs' }, outs.map((o) => h('li', {},
      h('a', { href: urlOf(f, o), download: o.path.split('/').pop(), text: o.path }),
      h('span', { class: 'muted', text: ` ${formatBytes(o.bytes)}` }))));
    replace(side, h('h4', { text: 'Observation' }), metaList(f), h('h4', { text: 'Outputs of this file' }),
      outs.length ? list : h('p', { class: 'muted', text: 'None.' }));
  }

  function render() {
    const f = files[index];
    if (!f) {
      replace(root, h('p', { class: 'notice', text: 'No files in this session.' }));
      return;
    }
    title.textContent = f.input || f.base;
    position.textContent = `File ${index + 1} of ${files.length}`;
    prev.disabled = next.disabled = play.disabled = files.length < 2;
    renderPanel(f, renderTabs(f));
    renderSide(f);
    onChange?.(index, f);
  }

  function go(i) {
    if (!files.length) return;
    index = (i + files.length) % files.length;
    render();
  }

  function togglePlay(force) {
    const on = force !== undefined ? force : !timer;
    clearInterval(timer);
    timer = on && files.length > 1 ? setInterval(() => go(index + 1), PLAY_MS) : null;
    play.setAttribute('aria-pressed', String(!!timer));
    play.textContent = timer ? '❚❚ Pause' : '▶ Play';
  }

  const onKey = (e) => {
    if (!root.isConnected || root.closest('[hidden]') || e.altKey || e.ctrlKey || e.metaKey) return;
    const t = e.target;
    if (t && (t.closest('input, textarea, select, [role=tablist], video') || t.isContentEditable)) return;
    if (e.key === 'ArrowLeft') go(index - 1);
    else if (e.key === 'ArrowRight') go(index + 1);
    else return;
    e.preventDefault();
  };
  document.addEventListener('keydown', onKey);

  render();
  return {
    go,
    get index() { return index; },
    files,
    destroy() {
      togglePlay(false);
      document.removeEventListener('keydown', onKey);
      root.replaceChildren();
    },
  };
}
