// The Header tab: the header JSON ({"header": {...}, "comments": {...}}) as a searchable
// keyword / value / comment table. Numbers keep the exact text the file wrote (JSON.parse's
// source text, where the browser offers it), so 64-bit integers and "1.0" are shown as written.

import { h } from './dom.js';

/** Parses header JSON keeping each number's source text as {raw}. */
export function parseHeaderJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === 'number' && context && typeof context.source === 'string' ? { raw: context.source } : value);
}

export function displayValue(v) {
  if (v === null || v === undefined) return '(undefined)';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'object' && typeof v.raw === 'string') return v.raw;
  return String(v);
}

/** Rows [{key, value, comment}] in header order; COMMENT/HISTORY give one row per text. */
export function headerRows(doc) {
  const header = (doc && doc.header) || {};
  const comments = (doc && doc.comments) || {};
  const rows = [];
  for (const [key, v] of Object.entries(header)) {
    if (Array.isArray(v)) for (const t of v) rows.push({ key, value: displayValue(t), comment: '' });
    else rows.push({ key, value: displayValue(v), comment: typeof comments[key] === 'string' ? comments[key] : '' });
  }
  return rows;
}

let idSeq = 0;

export function headerTable(doc) {
  const rows = headerRows(doc);
  const id = `hdr-search-${++idSeq}`;
  const count = h('span', { class: 'muted', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const trs = rows.map((r) => {
    const tr = h('tr', {}, h('th', { scope: 'row', text: r.key || '(blank)' }), h('td', { text: r.value }), h('td', { class: 'muted', text: r.comment }));
    tr.dataset.search = `${r.key}\u0000${r.value}\u0000${r.comment}`.toLowerCase();
    return tr;
  });
  tbody.append(...trs);
  const show = (q) => {
    const needle = q.trim().toLowerCase();
    let n = 0;
    for (const tr of trs) {
      const hit = !needle || tr.dataset.search.includes(needle);
      tr.hidden = !hit;
      if (hit) n++;
    }
    count.textContent = `${n} of ${rows.length} cards`;
  };
  const input = h('input', {
    id, type: 'search', class: 'search', placeholder: 'e.g. TELESCOP, WAVELNTH, 2011-02-15',
    autocomplete: 'off', spellcheck: 'false', oninput: (e) => show(e.target.value),
  });
  show('');
  return h('div', { class: 'header-tab' },
    h('div', { class: 'search-row' }, h('label', { for: id, text: 'Search the header' }), input, count),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'kv' },
        h('caption', { class: 'visually-hidden', text: 'FITS header keywords, values and comments' }),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Keyword' }), h('th', { scope: 'col', text: 'Value' }), h('th', { scope: 'col', text: 'Comment' }))),
        tbody)));
}
