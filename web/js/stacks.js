// The session's stacks (session/stack.npy, session/stack_index.csv, session/channels.npz): found
// by their paths wherever the manifest or the status lists them, so that the client keeps working
// whichever field the server puts them in, and shown as download links with what each holds.

import { h } from './dom.js';
import { formatBytes } from './format.js';

const KNOWN = {
  'session/stack.npy': 'every registered file\'s ML array, float32 (K, N, N), in observation-time order',
  'session/stack_index.csv': 'one row per slice of the stack: file, time (UTC), observatory, instrument, channel, exposure, normalised or not',
  'session/channels.npz': 'one (T, N, N) array per channel (aia_171, hmi_magnetogram, …) with its times in seconds since 1970',
};
const MAX_DEPTH = 4;
const MAX_NODES = 20000;

/** Every {path, bytes, ...} under session/ that the status or its manifest names, once each. */
export function sessionOutputs(st) {
  const found = new Map();
  let nodes = 0;
  const walk = (v, depth) => {
    if (!v || typeof v !== 'object' || depth > MAX_DEPTH || ++nodes > MAX_NODES) return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    if (typeof v.path === 'string' && /^session\/[^/]+$/.test(v.path)) {
      if (!found.has(v.path) || (v.key && !found.get(v.path).key)) found.set(v.path, v);
      return;
    }
    for (const [k, x] of Object.entries(v)) if (k !== 'files') walk(x, depth + 1);
  };
  if (st) {
    walk({ ...st, manifest: undefined }, 0);
    walk(st.manifest, 0);
  }
  return [...found.values()].sort((a, b) => {
    const order = Object.keys(KNOWN);
    const ia = order.indexOf(a.path);
    const ib = order.indexOf(b.path);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.path.localeCompare(b.path);
  });
}

/** Why the session has no stacks, when the manifest says. */
function stacksReason(manifest) {
  const s = manifest && manifest.stacks;
  const why = s && typeof s === 'object' && (s.note || s.reason);
  return typeof why === 'string' ? why.trim() : '';
}

/** The "Session stacks" block: a heading and one link per stack, or nothing when there is none. */
export function stacksBlock(outs, urlOf, manifest) {
  const why = stacksReason(manifest);
  if (!outs.length && !why) return null;
  const list = h('ul', { class: 'outputs stacks' }, outs.map((o) => h('li', {},
    h('a', { href: urlOf(o), download: o.path.split('/').pop(), text: o.path }),
    h('span', { class: 'muted', text: ` ${formatBytes(o.bytes)}` }),
    KNOWN[o.path] ? h('span', { class: 'stack-what', text: ` — ${KNOWN[o.path]}` }) : null)));
  return [
    h('h3', { class: 'small-heading', id: 'stacks-title', text: 'Session stacks (level 1.5, ML-ready)' }),
    outs.length ? list : null,
    why ? h('p', { class: 'notice', text: `No stacks for this session: ${why}` }) : null,
    outs.some((o) => o.path === 'session/channels.npz')
      ? h('p', { class: 'muted small' }, 'In Python: ', h('code', { text: "np.load('channels.npz')['aia_171']" }), ' is one channel\'s (T, N, N) tensor.')
      : null,
  ];
}
