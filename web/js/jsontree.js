// A collapsible JSON tree (HEK events, the manifest) from <details> elements: keyboard and
// screen-reader friendly without scripts of its own, children built only when first opened so
// that thousands of events stay cheap. Every key and value is text, never HTML.

import { h } from './dom.js';

// Fields that name an object well enough to tell it apart in a closed list (manifest files,
// HEK events).
const HINTS = ['input', 'name', 'short_label', 'event_type', 'frm_name', 'event_starttime'];

function summaryOf(v) {
  if (Array.isArray(v)) return `[${v.length} item${v.length === 1 ? '' : 's'}]`;
  const n = Object.keys(v).length;
  const hint = HINTS.map((k) => v[k]).filter((x) => typeof x === 'string' && x).join(' · ');
  return `{${n} key${n === 1 ? '' : 's'}}${hint ? ` ${hint}` : ''}`;
}

function leaf(v) {
  if (v === null) return h('span', { class: 'jv-null', text: 'null' });
  if (typeof v === 'string') return h('span', { class: 'jv-str', text: JSON.stringify(v) });
  if (typeof v === 'number') return h('span', { class: 'jv-num', text: String(v) });
  if (typeof v === 'boolean') return h('span', { class: 'jv-bool', text: String(v) });
  return h('span', { text: String(v) });
}

const MAX_CHILDREN = 500;

function node(key, v, depth, openDepth) {
  const label = key === null ? null : h('span', { class: 'jk', text: key });
  if (v === null || typeof v !== 'object') {
    return h('li', { class: 'jt-leaf' }, label, label && ': ', leaf(v));
  }
  const details = h('details', { class: 'jt-node' });
  details.append(h('summary', {}, label, label && ' ', h('span', { class: 'jt-sum', text: summaryOf(v) })));
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    const ul = h('ul', { class: 'jt' });
    for (const [k, x] of entries.slice(0, MAX_CHILDREN)) ul.append(node(k, x, depth + 1, openDepth));
    if (entries.length > MAX_CHILDREN) {
      ul.append(h('li', { class: 'jt-more', text: `… ${entries.length - MAX_CHILDREN} more (download the file to see all)` }));
    }
    details.append(ul);
  };
  details.addEventListener('toggle', () => details.open && build());
  if (depth < openDepth) {
    build();
    details.open = true;
  }
  return h('li', {}, details);
}

/** A tree for value; levels above openDepth start open. */
export function jsonTree(value, { openDepth = 1, label = null } = {}) {
  return h('ul', { class: 'jt jt-root' }, node(label, value, 0, openDepth));
}
