// The page's client of doorlog's APIs. The session cookie authenticates
// every call; the CSRF header is sent with all of them, so an unsafe call
// added later is never refused for lacking it. Every call also tells the
// page whether the server could be reached (the events doorlog:offline
// and doorlog:online), which the offline banner follows.

export class HttpError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    // retryAfter is the answer's Retry-After in seconds (0 when none).
    this.retryAfter = retryAfter;
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
  const retry = Number.parseInt(resp.headers.get('Retry-After') || '', 10);
  const err = new HttpError(resp.status, body.code || '', body.error || resp.statusText || `HTTP ${resp.status}`, Number.isFinite(retry) ? retry : 0);
  if (resp.status === 401) window.dispatchEvent(new CustomEvent('doorlog:unauthorized'));
  return err;
}

// send is fetch that reports whether the server answered at all. A proxy's
// 502 to 504 means the server behind it is gone too.
export async function send(url, init) {
  let resp;
  try {
    resp = await fetch(url, { credentials: 'same-origin', ...init });
  } catch (err) {
    if (!isAbort(err)) window.dispatchEvent(new CustomEvent('doorlog:offline'));
    throw err;
  }
  const gone = resp.status >= 502 && resp.status <= 504;
  window.dispatchEvent(new CustomEvent(gone ? 'doorlog:offline' : 'doorlog:online'));
  return resp;
}

// getJSON fetches path with the query params (URLSearchParams or object).
export async function getJSON(path, params, signal) {
  const q = params ? new URLSearchParams(params).toString() : '';
  const resp = await send(q ? `${path}?${q}` : path, { headers, signal });
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

// post posts a form body to path and returns the JSON answer, if any.
export async function post(path, body, signal) {
  const resp = await send(path, { method: 'POST', headers, body, signal });
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
