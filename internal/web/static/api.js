// The page's client of doorlog's APIs. The session cookie authenticates
// every call; the CSRF header is sent with all of them, so an unsafe call
// added later is never refused for lacking it.

export class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const headers = { Accept: 'application/json', 'X-Doorlog-CSRF': '1' };

async function errorOf(resp) {
  let body = {};
  try {
    body = await resp.json();
  } catch {
    /* not JSON */
  }
  const err = new HttpError(resp.status, body.code || '', body.error || resp.statusText || `HTTP ${resp.status}`);
  if (resp.status === 401) window.dispatchEvent(new CustomEvent('doorlog:unauthorized'));
  return err;
}

// getJSON fetches path with the query params (URLSearchParams or object).
export async function getJSON(path, params, signal) {
  const q = params ? new URLSearchParams(params).toString() : '';
  const resp = await fetch(q ? `${path}?${q}` : path, { headers, credentials: 'same-origin', signal });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

// postForm posts a form body to path and returns the JSON answer, if any.
export async function post(path, body, signal) {
  const resp = await fetch(path, { method: 'POST', headers, body, credentials: 'same-origin', signal });
  if (!resp.ok) throw await errorOf(resp);
  return resp.status === 204 ? null : resp.json();
}

// notAvailable says whether err means the server has no such endpoint
// (an older or newer doorlog than the page expects).
export function notAvailable(err) {
  return err instanceof HttpError && (err.status === 404 || err.status === 405 || err.status === 501);
}

export function isAbort(err) {
  return err && err.name === 'AbortError';
}
