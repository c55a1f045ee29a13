// Which picked files may join a session, and under what name. Mirrors the server's rules
// (ff_upload_name_valid) so that a refusal is shown at once, with its reason, instead of after
// an upload: accepted endings, names of [A-Za-z0-9._-] (other characters become '_'), no
// duplicate names or bases, no name the session's own logs use, a FITS signature in the first
// bytes, and the session's storage limit.

import { formatBytes } from './format.js';

// Until GET /api/config answers with its accepted_extensions: the same list (src/base/endings.c).
export const DEFAULT_EXTENSIONS = ['.fits', '.fit', '.fts', '.fits.gz'];
const RESERVED = ['summary', 'skipped', 'download_summary'];

export function endingOf(name, extensions = DEFAULT_EXTENSIONS) {
  const lower = name.toLowerCase();
  // Longest first, so that ".fits.gz" wins over ".gz"-less endings.
  return [...extensions].sort((a, b) => b.length - a.length).find((e) => lower.endsWith(e.toLowerCase()) && lower.length > e.length) || '';
}

/** The name without its FITS ending, as the server names the outputs. */
export function baseOf(name, extensions = DEFAULT_EXTENSIONS) {
  return name.slice(0, name.length - endingOf(name, extensions).length);
}

/** The name the upload gets: disallowed characters become '_', no leading dots. */
export function uploadName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '');
}

export function contentTypeOf(name) {
  return name.toLowerCase().endsWith('.gz') ? 'application/gzip' : 'application/fits';
}

/** Checks a name alone: {ok: true, name} or {ok: false, reason}. */
export function checkName(original, { extensions = DEFAULT_EXTENSIONS, maxNameBytes = 200 } = {}) {
  if (!endingOf(original, extensions)) {
    return { ok: false, reason: `not a FITS file name: it must end in ${extensions.join(', ')}` };
  }
  const name = uploadName(original);
  if (!endingOf(name, extensions)) return { ok: false, reason: 'the name is only an ending' };
  if (name.length > maxNameBytes) return { ok: false, reason: `the name is longer than ${maxNameBytes} characters` };
  const base = baseOf(name, extensions);
  if (RESERVED.includes(base)) {
    return { ok: false, reason: `"${base}" is a name the session's own logs use; rename the file` };
  }
  return { ok: true, name, base, renamed: name !== original };
}

/**
 * Reads the first bytes of a file: a FITS file starts with "SIMPLE  =", a gzip one with 1f 8b.
 * Returns '' when the content looks right, else the reason.
 */
export async function checkSignature(file) {
  if (file.size < 10) return 'the file is empty or too short to be FITS';
  let bytes;
  try {
    bytes = new Uint8Array(await file.slice(0, 9).arrayBuffer());
  } catch {
    return 'the file cannot be read (was it moved or deleted?)';
  }
  const gz = file.name.toLowerCase().endsWith('.gz');
  if (gz) return bytes[0] === 0x1f && bytes[1] === 0x8b ? '' : 'the file ends in .gz but is not gzip-compressed';
  const head = String.fromCharCode(...bytes);
  return head === 'SIMPLE  =' ? '' : 'the content is not FITS (it does not start with "SIMPLE  =")';
}

/**
 * Sorts picked files into accepted and refused, against what the session already holds.
 * existing: [{name, base, size}]. Returns {accepted: [{file, name, base, renamed}], refused:
 * [{name, reason}]}.
 */
export async function admit(files, existing, { extensions, maxNameBytes, limitBytes }) {
  const accepted = [];
  const refused = [];
  const names = new Set(existing.map((f) => f.name.toLowerCase()));
  const bases = new Set(existing.map((f) => f.base));
  let used = existing.reduce((s, f) => s + f.size, 0);
  for (const file of files) {
    const c = checkName(file.name, { extensions, maxNameBytes });
    if (!c.ok) {
      refused.push({ name: file.name, reason: c.reason });
      continue;
    }
    if (names.has(c.name.toLowerCase()) || bases.has(c.base)) {
      refused.push({ name: file.name, reason: `a file named ${c.name} (or with the same base name) is already selected` });
      continue;
    }
    const sig = await checkSignature(file);
    if (sig) {
      refused.push({ name: file.name, reason: sig });
      continue;
    }
    if (limitBytes && used + file.size > limitBytes) {
      refused.push({
        name: file.name,
        reason: `${formatBytes(file.size)} would take the session to ${formatBytes(used + file.size)}, ` +
          `over its limit of ${formatBytes(limitBytes)}`,
      });
      continue;
    }
    used += file.size;
    names.add(c.name.toLowerCase());
    bases.add(c.base);
    accepted.push({ file, name: c.name, base: c.base, renamed: c.renamed, size: file.size });
  }
  return { accepted, refused };
}
