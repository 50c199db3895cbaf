// Redeems the one-time token in this page's URL fragment for a console
// session cookie, then opens the console. The fragment never reaches the
// server's logs; it is removed from the address bar at once.
import { $ } from './dom.js';

const msg = $('#signin-message');
const title = $('h1');
const token = decodeURIComponent(location.hash.slice(1));
history.replaceState(null, '', location.pathname);

async function signin() {
  // Where the console sends a browser whose session is over: a clean page,
  // with nothing of the signed-in page left on it.
  const over = {
    'signed-out': ['Signed out', 'You have signed out of the airlock console. Run `airlock console` to sign in again.'],
    expired: ['Session expired', 'Your console session has expired. Run `airlock console` for a new sign-in link.'],
    'not-signed-in': ['Not signed in', 'This browser is not signed in to the airlock console. Run `airlock console` for a sign-in link.'],
  };
  if (Object.hasOwn(over, token)) {
    [title.textContent, msg.textContent] = over[token];
    document.title = `${over[token][0]} · airlock console`;
    document.body.dataset.state = token;
    return;
  }
  if (!token) {
    title.textContent = 'Cannot sign in';
    msg.textContent = 'This sign-in link has no token. Run `airlock console` for a new one.';
    return;
  }
  let r;
  let body = {};
  try {
    r = await fetch('/console/api/signin', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Token: token }),
    });
    body = await r.json().catch(() => ({}));
  } catch (e) {
    title.textContent = 'Cannot sign in';
    msg.textContent = `error: cannot reach the airlock server: ${e.message}`;
    return;
  }
  if (!r.ok) {
    title.textContent = 'Cannot sign in';
    msg.textContent = body.message || `The server refused the sign-in (HTTP ${r.status}).`;
    return;
  }
  msg.textContent = `Signed in as ${body.UserName}.`;
  location.replace('/console/#/nodes');
}

signin();
