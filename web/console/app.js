// The console's single page: who is signed in, sign-out, and the routes
// #/nodes, #/terminal/TARGET, #/sessions, #/audit?FILTERS, #/clusters,
// #/preferences (anything else is "Page not found"). Exactly one nav item
// is lit on a page of its own, and none on "Page not found".
//
// A terminal outlives the page it is on: going to another page keeps the
// shell running and the "Terminal" nav item brings it back. Only a click on
// "Start session" starts a session (or opening a #/terminal/ link in a
// fresh page); Back, Forward and reload never do. Closing or reloading the
// page while a shell is live asks first, as does signing out.
import { $ } from './dom.js';
import * as api from './api.js';
import * as nodes from './nodes.js';
import * as terminal from './terminal.js';
import * as sessions from './sessions.js';
import * as clusters from './clusters.js';
import * as preferences from './preferences.js';
import * as audit from './audit.js';

export function showError(e) {
  const box = $('#error');
  if (!e) {
    box.hidden = true;
    box.textContent = '';
    return;
  }
  box.textContent = api.describe(e);
  box.hidden = false;
}

const pages = ['nodes', 'terminal', 'sessions', 'audit', 'clusters', 'preferences', 'notfound'];
// The nav items app.js lights; terminal.js lights #nav-terminal itself.
const navs = ['nodes', 'sessions', 'audit', 'clusters', 'preferences'];

// Set while the page is being left on purpose (sign-out, an expired
// session): no "leave this page?" question then.
let leaving = false;

// Whether this document was opened fresh (a link, a bookmark, a typed
// address), rather than by reload or Back/Forward into it.
function freshLoad() {
  const nav = performance.getEntriesByType('navigation')[0];
  return !nav || nav.type === 'navigate';
}

function route(first = false) {
  showError(null);
  let hash = location.hash;
  if (!hash || hash === '#' || hash === '#/') {
    history.replaceState(null, '', '#/nodes');
    hash = '#/nodes';
  }
  // Only the audit page takes a query (its filters): #/audit?user=bob.
  const q = hash.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : '');
  const [, page, ...rest] = (q >= 0 ? hash.slice(0, q) : hash).split('/');
  let target = '';
  try {
    target = decodeURIComponent(rest.join('/'));
  } catch {
    /* a malformed address: "Page not found" */
  }
  const known = pages.includes(page) && page !== 'notfound' && (page !== 'terminal' || target !== '')
    && (q < 0 || page === 'audit');
  const name = known ? page : 'notfound';
  for (const p of pages) $(`#page-${p}`).hidden = p !== name;
  for (const n of navs) {
    const link = $(`#nav-${n}`);
    const lit = n === name;
    link.classList.toggle('active', lit);
    if (lit) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (name !== 'nodes') nodes.stop();
  if (name !== 'terminal') terminal.hide();
  if (name !== 'sessions') sessions.leave();
  if (name !== 'audit') audit.leave();
  if (name === 'nodes') nodes.start(showError);
  if (name === 'terminal') {
    terminal.show(target, { fresh: first && freshLoad() });
  }
  if (name === 'sessions') sessions.show(showError);
  if (name === 'audit') audit.show(params);
  if (name === 'clusters') clusters.show(showError);
  if (name === 'preferences') preferences.show();
  if (name === 'notfound') $('#notfound-route').textContent = hash;
}

// A 401 from any call: the console session is over (expired, signed out
// elsewhere, key deactivated). Leave for the clean signed-out page.
function signedOut(e) {
  leaving = true;
  terminal.close();
  nodes.stop();
  let why = 'not-signed-in';
  if (e && e.code === 'ExpiredSession') why = 'expired';
  else if (e && /signed out/.test(e.message)) why = 'signed-out';
  location.replace(`/console/signin#${why}`);
}

async function main() {
  api.onSignedOut(signedOut);
  try {
    const me = await api.whoami();
    $('#whoami').textContent = me.UserName;
    $('#whoami').title = me.Arn;
    $('#signout').hidden = false;
  } catch (e) {
    if (e.status === 401) return;
    document.body.classList.add('signed-out');
    showError(e);
    return;
  }
  $('#signout').addEventListener('click', async () => {
    if (terminal.isLive() && !window.confirm(`Signing out ends the shell session ${terminal.describe()}. Sign out?`)) return;
    try {
      await api.post('/console/api/signout', {}, 'SignOut');
    } catch (e) {
      showError(e);
      return;
    }
    leaving = true;
    terminal.close();
    location.replace('/console/signin#signed-out');
  });
  window.addEventListener('beforeunload', (e) => {
    if (leaving || !terminal.isLive()) return;
    e.preventDefault();
    e.returnValue = '';
  });
  window.addEventListener('hashchange', () => route());
  route(true);
}

main();
