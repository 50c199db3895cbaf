// Calls to the console's JSON API with the session's CSRF token, and
// errors worded as the airlock CLI words them. A 401 (the console session
// expired or ended) goes to the handler given to onSignedOut.
let csrf = '';
let signedOut = () => {};

// `f(error)` runs on any 401: the console session is over.
export function onSignedOut(f) {
  signedOut = f;
}

export class ApiError extends Error {
  constructor(code, message, operation, status) {
    super(message);
    this.code = code || 'Error';
    this.operation = operation;
    this.status = status;
  }
  // The AWS CLI's sentence, as `airlock` prints it.
  sentence() {
    if (this.status === 401) return this.message;
    return `An error occurred (${this.code}) when calling the ${this.operation} operation: ${this.message}`;
  }
}

async function parse(r, operation) {
  let body = {};
  try {
    body = await r.json();
  } catch {
    body = {};
  }
  if (!r.ok) {
    const e = new ApiError(body.__type, body.message || `HTTP ${r.status}`, operation, r.status);
    if (r.status === 401) signedOut(e);
    throw e;
  }
  return body;
}

export async function whoami() {
  const r = await fetch('/console/api/whoami', { credentials: 'same-origin', cache: 'no-store' });
  const me = await parse(r, 'whoami');
  csrf = me.CsrfToken;
  return me;
}

export async function post(path, body, operation) {
  const r = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-airlock-csrf': csrf },
    body: JSON.stringify(body || {}),
  });
  return parse(r, operation);
}

export function call(service, operation, body) {
  return post(`/console/api/call/${service}/${operation}`, body, operation);
}

export function describe(e) {
  return e instanceof ApiError ? e.sentence() : `error: ${e && e.message ? e.message : e}`;
}
