// The FitsFlow HTTP API as the client uses it: JSON calls with readable errors, a bounded wait
// and retry on 429 (honouring Retry-After), and the URLs of events, outputs and the ZIP.

import { formatBytes, sleep } from './format.js';

export class ApiError extends Error {
  constructor(status, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const trimSlash = (s) => String(s || '').replace(/\/+$/, '');

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), clamped to 1..60. */
export function retryAfterSeconds(value) {
  if (!value) return 2;
  let s = Number(value);
  if (!Number.isFinite(s)) {
    const t = Date.parse(value);
    s = Number.isFinite(t) ? (t - Date.now()) / 1000 : 2;
  }
  return Math.min(60, Math.max(1, Math.ceil(s)));
}

/** A message a person can act on, for an HTTP status and the server's own {"error"} text. */
export function explain(status, serverText, limitBytes) {
  const detail = serverText ? ` (${serverText})` : '';
  switch (status) {
    case 0:
      return 'Could not reach the FitsFlow server. Check the network connection, then retry.';
    case 403:
      return `The upload link was refused or has expired${detail}. Retry to get a fresh link.`;
    case 413:
      return `Over the session's storage limit${limitBytes ? ` of ${formatBytes(limitBytes)}` : ''}${detail}. ` +
        'Remove some files, or submit them in another session.';
    case 429:
      return `The server is receiving too many requests${detail}. Wait a moment, then retry.`;
    case 400:
      return serverText || 'The server refused the request as malformed.';
    case 404:
      return serverText || 'Not found on the server.';
    default:
      return `The server answered ${status}${detail}.`;
  }
}

/** Reads {"error": "..."} from a response body, or returns ''. */
export function errorText(body) {
  try {
    const j = typeof body === 'string' ? JSON.parse(body) : body;
    return j && typeof j.error === 'string' ? j.error : '';
  } catch {
    return '';
  }
}

export function createApi(settings = {}) {
  const api = {
    apiBase: trimSlash(settings.apiBase),
    filesBase: trimSlash(settings.filesBase),
    limitBytes: 0,
    onBusy: null, // (seconds) => void, told when a 429 makes the client wait
  };

  async function call(path, { method = 'GET', tries = 4 } = {}) {
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        res = await fetch(api.apiBase + path, { method, cache: 'no-store', headers: { Accept: 'application/json' } });
      } catch {
        throw new ApiError(0, explain(0));
      }
      const text = await res.text();
      if (res.status === 429 && attempt < tries) {
        const wait = retryAfterSeconds(res.headers.get('Retry-After'));
        if (api.onBusy) api.onBusy(wait);
        await sleep(wait * 1000);
        continue;
      }
      if (!res.ok) {
        throw new ApiError(res.status, explain(res.status, errorText(text), api.limitBytes),
          retryAfterSeconds(res.headers.get('Retry-After')));
      }
      try {
        return JSON.parse(text);
      } catch {
        throw new ApiError(res.status, `The server's answer to ${path} is not JSON.`);
      }
    }
  }

  const enc = encodeURIComponent;
  const encPath = (key) => String(key).split('/').map(enc).join('/');

  Object.assign(api, {
    call,
    config: () => call('/api/config'),
    newSession: () => call('/api/sessions', { method: 'POST' }),
    presign: (sid, name, contentType) =>
      call(`/FitsFlow-2-Trigger?session_id=${enc(sid)}&filename=${enc(name)}&contentType=${enc(contentType)}`),
    startProcessing: (sid) => call(`/FitsFlow-2-Trigger?session_id=${enc(sid)}`),
    /** The session's status, or null when the server knows nothing of it. */
    status: async (sid) => {
      try {
        return await call(`/api/sessions/${enc(sid)}`);
      } catch (e) {
        if (e.status === 404) return null;
        throw e;
      }
    },
    /** {date, url, bytes} of the latest daily movie, or null when there is none. */
    latestVideo: async () => {
      try {
        const v = await call('/api/daily-video/latest', { tries: 1 });
        return v && typeof v.url === 'string' && v.url ? v : null;
      } catch (e) {
        if (e.status === 404) return null;
        throw e;
      }
    },
    eventsUrl: (sid) => `${api.apiBase}/api/sessions/${enc(sid)}/events`,
    archiveUrl: (sid) => `${api.apiBase}/api/sessions/${enc(sid)}/archive.zip`,
    /** URL of a stored object from its key ("temp/S/processed/...") or an absolute path. */
    fileUrl: (key) => {
      if (/^https?:\/\//i.test(key)) return key;
      return `${api.filesBase || api.apiBase}/${encPath(String(key).replace(/^\/+/, ''))}`;
    },
    outputKey: (sid, path) => `temp/${sid}/processed/${path}`,
  });
  return api;
}
