// Follows a session's processing: Server-Sent Events from /api/sessions/S/events (one "log" event
// per log object, then "done"), falling back to polling /api/sessions/S when the stream cannot
// be opened or keeps failing. Either way the caller sees each log once, in arrival order, and
// one final status.

import { sleep } from './format.js';

const POLL_MS = 2000;
const MAX_STREAM_ERRORS = 3;

/** Splits "base_log_3.txt" into {base: "base", step: 3}; session logs keep their base name. */
export function parseLogName(name) {
  const m = /^(.*)_log_(\d+)\.txt$/.exec(name);
  return m ? { base: m[1], step: Number(m[2]) } : { base: name, step: 0 };
}

export const SESSION_LOGS = new Set(['download_summary', 'skipped', 'summary']);

/** The protocol's per-file steps, in order; a server may add steps after these. */
export const STEP_NAMES = ['', 'read', 'header', 'data', 'Helioviewer', 'JSOC', 'HEK', 'ASDF', 'level 1.5'];
/** Steps every file goes through before the client has seen any later one. */
export const BASE_STEPS = 7;

/** "3/8 data" for step 3 of 8; a step this client does not know is shown by its number. */
export function stepLabel(step, total) {
  if (!Number.isInteger(step) || step < 1) return '';
  const of = Math.max(total || 0, step);
  return `${step}/${of} ${STEP_NAMES[step] || `step ${step}`}`;
}

/** The logs a status object describes, as [{name, text, ok}] in the protocol's order. */
export function logsOfStatus(st) {
  const out = [];
  if (!st) return out;
  if (st.download_summary) out.push({ name: 'download_summary_log_1.txt', text: st.download_summary, ok: true });
  for (const f of st.files || []) {
    const steps = f.steps || {};
    for (const k of Object.keys(steps).sort((a, b) => a - b)) {
      out.push({ name: `${f.base}_log_${k}.txt`, text: steps[k].message, ok: steps[k].ok });
    }
  }
  if (st.skipped) out.push({ name: 'skipped_log_1.txt', text: st.skipped, ok: false });
  if (st.summary) out.push({ name: 'summary_log_2.txt', text: st.summary, ok: true });
  return out;
}

/**
 * watchSession(api, sid, {onLog(name, text), onStatus(status), onDone(status), onMode(mode), onError(msg)})
 * mode is 'stream' or 'polling'. Returns a function that stops watching.
 */
export function watchSession(api, sid, handlers) {
  const seen = new Set();
  let stopped = false;
  let es = null;
  let statusTimer = null;
  let statusBusy = false;

  const log = (name, text) => {
    if (seen.has(name)) return;
    seen.add(name);
    handlers.onLog?.(name, text);
  };

  // Status after logs arrive (for each step's ok flag), at most one request per second.
  const refreshSoon = () => {
    if (statusTimer || stopped) return;
    statusTimer = setTimeout(async () => {
      statusTimer = null;
      if (statusBusy || stopped) return;
      statusBusy = true;
      try {
        const st = await api.status(sid);
        if (st && !stopped) handlers.onStatus?.(st);
      } catch {
        /* the next log or the final status will try again */
      } finally {
        statusBusy = false;
      }
    }, 1000);
  };

  const finish = async () => {
    if (stopped) return;
    for (let i = 0; i < 5 && !stopped; i++) {
      try {
        const st = await api.status(sid);
        if (st) {
          for (const l of logsOfStatus(st)) log(l.name, l.text);
          stop();
          handlers.onStatus?.(st);
          handlers.onDone?.(st);
          return;
        }
      } catch {
        /* retried below */
      }
      await sleep(1000 * (i + 1));
    }
    if (!stopped) handlers.onError?.('Processing finished, but the results could not be fetched. Reload the page to try again.');
  };

  const poll = async () => {
    handlers.onMode?.('polling');
    let failures = 0;
    while (!stopped) {
      try {
        const st = await api.status(sid);
        failures = 0;
        if (st && !stopped) {
          for (const l of logsOfStatus(st)) log(l.name, l.text);
          handlers.onStatus?.(st);
          if (st.state === 'done') {
            stop();
            handlers.onDone?.(st);
            return;
          }
        }
      } catch (e) {
        if (++failures === 3) handlers.onError?.(`${e.message} Still trying every few seconds.`);
      }
      await sleep(POLL_MS * Math.min(failures + 1, 5));
    }
  };

  const stream = () => {
    let errors = 0;
    try {
      es = new EventSource(api.eventsUrl(sid));
    } catch {
      es = null;
    }
    if (!es) return void poll();
    handlers.onMode?.('stream');
    es.addEventListener('open', () => {
      errors = 0;
    });
    es.addEventListener('log', (e) => {
      let d;
      try {
        d = JSON.parse(e.data);
      } catch {
        return;
      }
      if (d && typeof d.name === 'string') {
        log(d.name, typeof d.text === 'string' ? d.text : '');
        refreshSoon();
      }
    });
    es.addEventListener('done', () => {
      es.close();
      finish();
    });
    es.addEventListener('error', () => {
      // EventSource reconnects by itself (the server replays the logs; we drop the repeats);
      // after a few failures in a row, or when it gives up, poll instead.
      if (stopped) return;
      errors++;
      if (es.readyState === EventSource.CLOSED || errors >= MAX_STREAM_ERRORS) {
        es.close();
        es = null;
        poll();
      }
    });
  };

  function stop() {
    stopped = true;
    if (es) es.close();
    es = null;
    clearTimeout(statusTimer);
  }

  if (typeof EventSource === 'function' && !handlers.forcePolling) stream();
  else poll();
  return stop;
}
