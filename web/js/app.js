// The page's wiring: configuration, the file selection and its refusals, uploads with progress
// and retries, the processing log, the results and the daily movie. State lives here; the other
// modules are pure helpers or self-contained widgets.

import settings from '../config.js';
import { createApi, explain, errorText, retryAfterSeconds, ApiError } from './api.js';
import { $, h, replace } from './dom.js';
import { clockTime, formatBytes, sleep } from './format.js';
import { jsonTree } from './jsontree.js';
import { admit, contentTypeOf, DEFAULT_EXTENSIONS } from './selection.js';
import { pool, putFile } from './upload.js';
import { createViewer } from './viewer.js';
import { BASE_STEPS, parseLogName, SESSION_LOGS, stepLabel, watchSession } from './watch.js';
import { sessionOutputs, stacksBlock } from './stacks.js';

const PARALLEL_UPLOADS = 3;
const MAX_429_WAITS = 4;

const api = createApi(settings);
window.fitsflow = { api }; // handy from the console and for tests

const state = {
  config: { extensions: DEFAULT_EXTENSIONS, maxNameBytes: 200, limitBytes: 0, ttl: 0 },
  files: [], // {id, file, name, base, size, renamed, status, loaded, message, row}
  sid: null,
  phase: 'select', // select | uploading | processing | done
  stopWatch: null,
  viewer: null,
  lines: new Map(), // log name -> terminal line element
  steps: BASE_STEPS, // steps per file: grows when a later step (level 1.5) is seen
};
let nextId = 1;

/* ---------- views ---------- */

function showView() {
  const want = (location.hash || '#upload').slice(1);
  const views = [...document.querySelectorAll('[data-view-panel]')];
  const view = views.some((v) => v.dataset.viewPanel === want) ? want : 'upload';
  for (const v of views) v.hidden = v.dataset.viewPanel !== view;
  for (const a of document.querySelectorAll('nav a[data-view]')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/* ---------- configuration ---------- */

async function loadConfig() {
  try {
    const c = await api.config();
    const cfg = state.config;
    if (Array.isArray(c.accepted_extensions) && c.accepted_extensions.length) cfg.extensions = c.accepted_extensions.map(String);
    if (Number.isFinite(c.max_name_bytes)) cfg.maxNameBytes = c.max_name_bytes;
    if (Number.isFinite(c.session_limit_bytes)) cfg.limitBytes = c.session_limit_bytes;
    if (Number.isFinite(c.presign_ttl)) cfg.ttl = c.presign_ttl;
    api.limitBytes = cfg.limitBytes;
    $('#accepted-hint').textContent = `Accepted: ${cfg.extensions.join(', ')} · up to ${formatBytes(cfg.limitBytes)} per session`;
    $('#footer-limit').textContent = `Session limit ${formatBytes(cfg.limitBytes)}`;
    if (c.version) $('#about-version').textContent = `Server version ${c.version}.`;
    return true;
  } catch (e) {
    const el = $('#config-error');
    el.textContent = `The FitsFlow server's settings could not be read: ${e.message}`;
    el.hidden = false;
    return false;
  }
}

/* ---------- daily movie ---------- */

async function loadDailyMovie() {
  const media = $('#daily-media');
  const caption = $('#daily-caption');
  const placeholder = (text) => {
    caption.textContent = text;
  };
  let v = null;
  try {
    v = await api.latestVideo();
  } catch {
    v = null;
  }
  if (!v) return placeholder('No daily movie yet. Each night the server stitches a multi-wavelength movie of the Sun from two days before; it will appear here.');
  const date = /^\d{8}$/.test(v.date || '') ? `${v.date.slice(0, 4)}-${v.date.slice(4, 6)}-${v.date.slice(6)}` : v.date || '';
  const video = h('video', {
    src: api.fileUrl(v.url), controls: true, muted: true, loop: true, playsinline: true, preload: 'metadata',
    'aria-describedby': 'daily-caption',
  });
  video.muted = true;
  video.addEventListener('error', () => {
    replace(media, h('div', { class: 'placeholder', role: 'img', 'aria-label': 'A drawing of the Sun' }, h('div', { class: 'sun' })));
    placeholder(`The daily movie of ${date} could not be played in this browser.`);
  }, { once: true });
  replace(media, video);
  caption.replaceChildren(`The Sun on ${date}, in several SDO wavelengths. `,
    h('a', { href: api.fileUrl(v.url), download: '', text: `Download (${formatBytes(v.bytes)})` }));
}

/* ---------- selection ---------- */

const used = () => state.files.reduce((s, f) => s + f.size, 0);

function renderStorage() {
  const limit = state.config.limitBytes;
  const bar = $('#storage-bar');
  const u = used();
  bar.max = limit || 1;
  bar.value = Math.min(u, bar.max);
  const pct = limit ? Math.round((u / limit) * 100) : 0;
  $('#storage-text').textContent = limit ? `${formatBytes(u)} of ${formatBytes(limit)} (${pct}%)` : formatBytes(u);
  bar.classList.toggle('high', limit && u / limit > 0.85);
}

function showRefusals(list) {
  const box = $('#refusals');
  replace($('#refusal-list'), list.map((r) => h('li', {}, h('strong', { text: r.name }), h('span', { text: ` — ${r.reason}` }))));
  box.hidden = list.length === 0;
}

function fileRow(f) {
  const bar = h('progress', { max: String(f.size || 1), value: '0', 'aria-label': `Upload of ${f.name}` });
  const status = h('span', { class: 'file-status' });
  const remove = h('button', { type: 'button', class: 'btn small', text: 'Remove', 'aria-label': `Remove ${f.name}`, onclick: () => removeFile(f) });
  const retry = h('button', { type: 'button', class: 'btn small', text: 'Retry', 'aria-label': `Retry ${f.name}`, hidden: true, onclick: () => retryFile(f) });
  const row = h('li', { class: 'file' },
    h('div', { class: 'file-main' },
      h('span', { class: 'file-name', text: f.name }),
      h('span', { class: 'file-size muted', text: formatBytes(f.size) }),
      f.renamed ? h('span', { class: 'muted small', text: `(from ${f.file.name})` }) : null),
    bar, h('div', { class: 'file-foot' }, status, h('span', { class: 'file-buttons' }, retry, remove)));
  f.row = { row, bar, status, remove, retry };
  return row;
}

function renderFile(f) {
  const r = f.row;
  if (!r) return;
  r.bar.max = f.size || 1;
  r.bar.value = f.status === 'uploaded' ? r.bar.max : f.loaded;
  r.row.dataset.status = f.status;
  r.status.textContent = f.message || {
    ready: 'Ready', waiting: 'Waiting…', uploading: 'Uploading…', uploaded: 'Uploaded', failed: 'Failed',
  }[f.status] || '';
  r.status.classList.toggle('error', f.status === 'failed');
  r.retry.hidden = f.status !== 'failed';
  r.remove.hidden = !(state.phase === 'select' || f.status === 'failed');
}

function renderControls() {
  const busy = state.phase === 'uploading' && state.files.some((f) => f.status === 'uploading' || f.status === 'waiting');
  const selecting = state.phase === 'select';
  $('#submit').disabled = !selecting || state.files.length === 0;
  $('#file-input').disabled = !selecting;
  $('#dropzone').classList.toggle('disabled', !selecting);
  $('#pick-label').setAttribute('aria-disabled', String(!selecting));
  const uploaded = state.files.filter((f) => f.status === 'uploaded').length;
  const failed = state.files.filter((f) => f.status === 'failed').length;
  $('#continue').hidden = !(state.phase === 'uploading' && !busy && failed > 0 && uploaded > 0);
  renderStorage();
}

async function addFiles(list) {
  if (state.phase !== 'select') return;
  const { extensions, maxNameBytes, limitBytes } = state.config;
  document.body.dataset.selecting = 'true'; // reading the files' first bytes takes a moment
  let accepted;
  let refused;
  try {
    ({ accepted, refused } = await admit([...list], state.files, { extensions, maxNameBytes, limitBytes }));
  } finally {
    delete document.body.dataset.selecting;
  }
  for (const a of accepted) {
    const f = { id: nextId++, ...a, status: 'ready', loaded: 0, message: '' };
    state.files.push(f);
    $('#file-list').append(fileRow(f));
    renderFile(f);
  }
  showRefusals(refused);
  const renamed = accepted.filter((a) => a.renamed);
  setMessage(renamed.length ? `${renamed.length} file name${renamed.length > 1 ? 's were' : ' was'} changed to letters, digits, '.', '_' and '-' for the upload.` : '');
  renderControls();
}

function removeFile(f) {
  state.files = state.files.filter((x) => x !== f);
  f.row?.row.remove();
  renderControls();
  if (state.phase === 'uploading') maybeStartProcessing();
}

function setMessage(text, kind = '') {
  const m = $('#upload-message');
  m.textContent = text;
  m.className = `message ${kind}`;
}

/* ---------- uploads ---------- */

async function uploadOne(f) {
  let waits = 0;
  let freshLinks = 0;
  for (;;) {
    f.status = 'uploading';
    f.loaded = 0;
    f.message = '';
    renderFile(f);
    let link;
    try {
      link = await api.presign(state.sid, f.name, contentTypeOf(f.name));
    } catch (e) {
      return fail(f, e.message);
    }
    const res = await putFile(link.url, f.file, contentTypeOf(f.name), (loaded) => {
      f.loaded = loaded;
      renderFile(f);
    });
    if (res.status >= 200 && res.status < 300) {
      f.status = 'uploaded';
      f.message = '';
      renderFile(f);
      return;
    }
    if (res.status === 429 && waits < MAX_429_WAITS) {
      const s = retryAfterSeconds(res.retryAfter);
      waits++;
      f.status = 'waiting';
      f.message = `The server is busy (429); retrying in ${s} s…`;
      renderFile(f);
      await sleep(s * 1000);
      continue;
    }
    if (res.status === 403 && freshLinks < 1) {
      // The link may have expired while the file waited its turn: one fresh link, then give up.
      freshLinks++;
      continue;
    }
    return fail(f, explain(res.status, errorText(res.body), state.config.limitBytes));
  }
}

function fail(f, message) {
  f.status = 'failed';
  f.message = message;
  renderFile(f);
}

async function ensureSession() {
  if (state.sid) return state.sid;
  const s = await api.newSession();
  if (!s || typeof s.session_id !== 'string' || !/^[a-z0-9-]{8,64}$/.test(s.session_id)) {
    throw new ApiError(500, 'The server gave no usable session id.');
  }
  state.sid = s.session_id;
  return state.sid;
}

async function submit() {
  if (state.phase !== 'select' || !state.files.length) return;
  state.phase = 'uploading';
  showRefusals([]);
  setMessage('Uploading…');
  for (const f of state.files) {
    f.status = 'waiting';
    f.message = '';
    renderFile(f);
  }
  renderControls();
  try {
    await ensureSession();
  } catch (e) {
    state.phase = 'select';
    for (const f of state.files) {
      f.status = 'ready';
      renderFile(f);
    }
    setMessage(`Could not start a session: ${e.message}`, 'error');
    renderControls();
    return;
  }
  await pool(state.files.filter((f) => f.status === 'waiting'), PARALLEL_UPLOADS, uploadOne);
  maybeStartProcessing();
}

async function retryFile(f) {
  f.status = 'waiting';
  renderControls();
  await uploadOne(f);
  maybeStartProcessing();
}

function maybeStartProcessing(force = false) {
  if (state.phase !== 'uploading') return;
  const active = state.files.some((f) => f.status === 'uploading' || f.status === 'waiting');
  const failed = state.files.filter((f) => f.status === 'failed').length;
  const uploaded = state.files.filter((f) => f.status === 'uploaded').length;
  renderControls();
  if (active) return;
  if (failed && !force) {
    setMessage(`${failed} file${failed > 1 ? 's' : ''} could not be uploaded. Retry ${failed > 1 ? 'them' : 'it'}, ` +
      `remove ${failed > 1 ? 'them' : 'it'}${uploaded ? ', or process the files that did upload' : ''}.`, 'error');
    return;
  }
  if (!uploaded) {
    setMessage('Nothing was uploaded.', 'error');
    return;
  }
  startProcessing();
}

async function startProcessing() {
  state.phase = 'processing';
  renderControls();
  for (const f of state.files) renderFile(f);
  setMessage('All files uploaded. Processing has started.');
  try {
    await api.startProcessing(state.sid);
  } catch (e) {
    state.phase = 'uploading';
    renderControls();
    setMessage(`Processing could not be started: ${e.message}`, 'error');
    $('#continue').hidden = false;
    return;
  }
  const url = new URL(location.href);
  url.searchParams.set('session', state.sid);
  history.replaceState(null, '', url);
  watch(state.sid);
}

/* ---------- progress ---------- */

function terminalLine(name, text) {
  const { base, step } = parseLogName(name);
  const session = SESSION_LOGS.has(base);
  const line = h('div', { class: 'line', dataset: { name } },
    h('span', { class: 'ts', text: clockTime() }),
    h('span', { class: 'mark', 'aria-hidden': 'true', text: '•' }),
    h('span', { class: 'who', text: session ? 'session' : base }),
    h('span', { class: 'step', text: session ? '' : stepLabel(step, state.steps) }),
    h('span', { class: 'text', text }, h('span', { class: 'visually-hidden sr' })));
  return line;
}

function markLine(name, ok) {
  const line = state.lines.get(name);
  if (!line || ok === null || ok === undefined) return;
  line.classList.toggle('ok', ok === true);
  line.classList.toggle('fail', ok === false);
  line.querySelector('.mark').textContent = ok ? '✓' : '✗';
  line.querySelector('.sr').textContent = ok ? '' : ' (not done)';
}

function updateOverall(st) {
  const files = (st && st.files) || [];
  const n = files.length || state.files.filter((f) => f.status === 'uploaded').length || 1;
  let doneSteps = 0;
  let finished = 0;
  const STEPS = state.steps;
  for (const f of files) {
    const k = Object.keys(f.steps || {}).length;
    const over = f.status === 'processed' || f.status === 'skipped' || f.status === 'failed';
    doneSteps += over ? STEPS : Math.min(k, STEPS);
    if (over) finished++;
  }
  const bar = $('#overall-bar');
  bar.max = n * STEPS;
  bar.value = st && st.state === 'done' ? bar.max : doneSteps;
  $('#overall-label').textContent = st && st.state === 'done'
    ? 'Done.'
    : `${finished} of ${n} file${n > 1 ? 's' : ''} finished`;
}

/** A step later than any seen so far (a server with more steps): every file has that many. */
function noteStep(step) {
  if (!Number.isInteger(step) || step <= state.steps || step > 99) return;
  state.steps = step;
  for (const [name, line] of state.lines) {
    const { base, step: s } = parseLogName(name);
    if (!SESSION_LOGS.has(base)) line.querySelector('.step').textContent = stepLabel(s, state.steps);
  }
}

function watch(sid) {
  $('#progress-panel').hidden = false;
  $('#session-line').textContent = `Session ${sid}`;
  const term = $('#terminal');
  const stickToBottom = () => term.scrollHeight - term.scrollTop - term.clientHeight < 40;
  state.stopWatch = watchSession(api, sid, {
    onLog(name, text) {
      const stick = stickToBottom();
      noteStep(parseLogName(name).step);
      const line = terminalLine(name, text);
      state.lines.set(name, line);
      term.append(line);
      const { base } = parseLogName(name);
      if (base === 'download_summary' || base === 'summary') markLine(name, true);
      if (stick) term.scrollTop = term.scrollHeight;
      const m = $('#overall-bar');
      if (m.value < m.max - 1 && !SESSION_LOGS.has(base)) m.value += 1;
    },
    onStatus(st) {
      for (const f of st.files || []) for (const k of Object.keys(f.steps || {})) noteStep(Number(k));
      for (const f of st.files || []) {
        for (const [k, s] of Object.entries(f.steps || {})) markLine(`${f.base}_log_${k}.txt`, s.ok);
      }
      if (st.skipped) markLine('skipped_log_1.txt', false);
      updateOverall(st);
    },
    onMode(mode) {
      term.dataset.mode = mode;
      $('#watch-message').textContent = mode === 'polling' ? 'Live updates are unavailable; checking for progress every few seconds.' : '';
    },
    onDone(st) {
      state.phase = 'done';
      $('#watch-message').textContent = '';
      setMessage('Finished. Reset starts a new session with other files.');
      updateOverall(st);
      showResults(sid, st);
    },
    onError(msg) {
      $('#watch-message').textContent = msg;
    },
  });
}

/* ---------- results ---------- */

function showResults(sid, st) {
  const panel = $('#results-panel');
  panel.hidden = false;
  $('#zip-link').href = api.archiveUrl(sid);
  $('#zip-link').setAttribute('download', `fitsflow-${sid}.zip`);
  const manifestUrl = api.fileUrl(api.outputKey(sid, 'manifest.json'));
  $('#manifest-link').href = manifestUrl;
  $('#manifest-link').hidden = !st.manifest;
  const s = st.manifest && st.manifest.summary;
  const summaryText = (st.summary || '').split('\n')[0];
  $('#summary-line').textContent = s
    ? `${summaryText ? `${summaryText} — ` : ''}${s.processed} processed, ${s.skipped} skipped, ${s.failed} failed.`
    : summaryText;
  const stacks = $('#stacks');
  const outs = sessionOutputs(st);
  replace(stacks, stacksBlock(outs, (o) => api.fileUrl(o.key || api.outputKey(sid, o.path)), st.manifest));
  stacks.hidden = !stacks.childElementCount;
  replace($('#manifest-tree'), st.manifest ? jsonTree(st.manifest, { openDepth: 1 }) : h('p', { class: 'muted', text: 'No manifest.' }));
  state.viewer?.destroy();
  state.viewer = createViewer($('#viewer'), { api, sid, status: st });
  window.fitsflow.viewer = state.viewer;
  $('#results-title').focus?.();
}

/* ---------- reset and resume ---------- */

function reset() {
  state.stopWatch?.();
  state.stopWatch = null;
  state.viewer?.destroy();
  state.viewer = null;
  state.files = [];
  state.sid = null;
  state.phase = 'select';
  state.lines.clear();
  state.steps = BASE_STEPS;
  replace($('#file-list'));
  replace($('#terminal'));
  showRefusals([]);
  setMessage('');
  $('#file-input').value = '';
  $('#progress-panel').hidden = true;
  $('#results-panel').hidden = true;
  const url = new URL(location.href);
  url.searchParams.delete('session');
  history.replaceState(null, '', url);
  renderControls();
}

async function resume(sid) {
  if (!/^[a-z0-9-]{8,64}$/.test(sid)) return;
  let st;
  try {
    st = await api.status(sid);
  } catch (e) {
    setMessage(`Session ${sid} could not be read: ${e.message}`, 'error');
    return;
  }
  if (!st) {
    setMessage(`Session ${sid} is not on the server (sessions are deleted after a day).`, 'error');
    return;
  }
  state.sid = sid;
  for (const u of st.uploads || []) {
    const f = { id: nextId++, file: null, name: u.name, base: u.name, size: u.bytes || 0, status: 'uploaded', loaded: 0, message: '' };
    state.files.push(f);
    $('#file-list').append(fileRow(f));
  }
  if (st.state === 'processing' || st.state === 'done' || st.state === 'uploaded') {
    state.phase = 'processing';
    for (const f of state.files) renderFile(f);
    renderControls();
    setMessage(`Session ${sid}.`);
    if (st.state === 'uploaded') await api.startProcessing(sid).catch(() => {});
    watch(sid);
  }
}

/* ---------- start ---------- */

function wireDrop() {
  const zone = $('#dropzone');
  const input = $('#file-input');
  input.addEventListener('change', () => {
    addFiles(input.files);
    input.value = '';
  });
  for (const ev of ['dragenter', 'dragover']) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      if (state.phase === 'select') zone.classList.add('over');
    });
  }
  for (const ev of ['dragleave', 'drop']) zone.addEventListener(ev, () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files?.length) addFiles(e.dataTransfer.files);
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

async function main() {
  api.onBusy = (s) => setMessage(`The server is busy; trying again in ${s} s…`);
  window.addEventListener('hashchange', showView);
  showView();
  wireDrop();
  $('#submit').addEventListener('click', submit);
  $('#reset').addEventListener('click', reset);
  $('#continue').addEventListener('click', () => {
    $('#continue').hidden = true;
    maybeStartProcessing(true);
  });
  renderControls();
  const ok = await loadConfig();
  renderControls();
  loadDailyMovie();
  const sid = new URL(location.href).searchParams.get('session');
  if (ok && sid) await resume(sid);
  document.body.dataset.ready = 'true';
}

main();
