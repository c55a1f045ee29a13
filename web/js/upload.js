// Uploads through presigned URLs: one XMLHttpRequest PUT per file (fetch cannot report upload
// progress), headers exactly as presigned, and a pool that runs a bounded number at once.

/**
 * PUTs file to url. onProgress(loaded, total) as bytes go out. Resolves {status, body, retryAfter}
 * for any HTTP answer (status 0 when the network failed); never rejects. signal aborts.
 */
export function putFile(url, file, contentType, onProgress, signal) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.setRequestHeader('Content-Type', contentType);
    xhr.setRequestHeader('x-amz-server-side-encryption', 'AES256');
    xhr.upload.onprogress = (e) => {
      if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    };
    const done = (status) =>
      resolve({ status, body: xhr.responseText || '', retryAfter: status === 429 || status === 503 ? xhr.getResponseHeader('Retry-After') : null });
    xhr.onload = () => done(xhr.status);
    xhr.onerror = () => done(0);
    xhr.ontimeout = () => done(0);
    xhr.onabort = () => resolve({ status: -1, body: '', retryAfter: null });
    if (signal) {
      if (signal.aborted) return xhr.abort();
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(file);
  });
}

/** Runs worker(item) over items with at most `limit` running at once; resolves when all end. */
export async function pool(items, limit, worker) {
  const queue = [...items];
  const runners = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    while (queue.length) await worker(queue.shift());
  });
  await Promise.all(runners);
}
