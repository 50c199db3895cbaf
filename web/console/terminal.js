// The terminal in the page: xterm.js with the fit addon, joined to a shell
// session on the node through the console's WebSocket. Resizes follow the
// window; Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes.
//
// One terminal at a time, and it outlives the page it is on: hide() keeps
// the shell running while another page shows, and the "Terminal" nav item
// (#nav-terminal) leads back to it. A session starts only when asked:
// start() (the "Start session" buttons) or a #/terminal/ link opened in a
// fresh page; Back, Forward and reload show "No session open" instead.
import * as api from './api.js';
import { $, breakable, openTerminal } from './dom.js';
import * as nodes from './nodes.js';

const encoder = new TextEncoder();

let term = null;
let fit = null;
let ws = null;
let target = '';
let hostname = '';
let sessionId = '';
let queued = [];
let terminating = false;
let finished = false;
let visible = false;
// The target "Start session" was clicked for, until its page shows.
let intent = null;

function status(s) {
  $('#term-status').textContent = s;
  updateNav();
}

function fail(message) {
  const box = $('#term-error');
  box.textContent = message;
  box.hidden = false;
}

function showSize() {
  if (term) $('#term-size').textContent = `${term.cols}×${term.rows}`;
}

function send(bytes) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytes);
  else if (ws && ws.readyState === WebSocket.CONNECTING) queued.push(bytes);
}

// A hidden terminal has no size: fit it only while it shows.
function refit() {
  if (fit && visible) fit.fit();
}

function onWindowResize() {
  refit();
}

// Whether a shell of this page is running (or starting).
export function isLive() {
  return Boolean(ws) && !finished;
}

// "SESSION on HOST (TARGET)", for questions before ending it.
export function describe() {
  const where = hostname ? `${hostname} (${target})` : target;
  return sessionId ? `${sessionId} on ${where}` : `on ${where}`;
}

function updateNav() {
  const link = $('#nav-terminal');
  if (!term) {
    link.hidden = true;
    link.classList.remove('active', 'live');
    link.removeAttribute('aria-current');
    return;
  }
  link.hidden = false;
  link.href = `#/terminal/${encodeURIComponent(target)}`;
  link.textContent = `Terminal: ${hostname || target}`;
  link.title = isLive() ? `Session ${sessionId || '(starting)'} on ${target}: running` : `Session on ${target}: ended`;
  link.classList.toggle('live', isLive());
  const lit = visible && !$('#term-live').hidden;
  link.classList.toggle('active', lit);
  if (lit) link.setAttribute('aria-current', 'page');
  else link.removeAttribute('aria-current');
}

function setHost(name) {
  hostname = name || '';
  breakable($('#term-host'), hostname);
  updateNav();
}

async function lookupHost(id) {
  const known = nodes.hostnameOf(id);
  if (known !== undefined) {
    setHost(known);
    return;
  }
  try {
    const n = await nodes.describe(id);
    if (n && id === target) setHost(n.Hostname);
  } catch {
    /* the header shows the instance id alone */
  }
}

function control(m) {
  switch (m.type) {
    case 'started':
      sessionId = m.sessionId;
      $('#term-session-id').textContent = m.sessionId;
      $('#term-terminate').disabled = false;
      status('Connected');
      break;
    case 'exit':
      finished = true;
      status(`Exited with status ${m.status}`);
      break;
    case 'ended':
      finished = true;
      status(terminating ? 'Terminated' : m.message);
      break;
    case 'error':
      finished = true;
      status('Failed');
      if (!sessionId) $('#term-session-id').textContent = '(not started)';
      fail(new api.ApiError(m.code, m.message, m.operation).sentence());
      break;
    default:
      break;
  }
  if (finished) $('#term-terminate').disabled = true;
}

function keys(e) {
  if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return true;
  const k = e.key.toLowerCase();
  if (k === 'c') {
    if (term.hasSelection()) navigator.clipboard.writeText(term.getSelection()).catch(() => {});
    e.preventDefault();
    return false;
  }
  // Leave Ctrl+Shift+V to the browser: its paste event reaches xterm.js.
  if (k === 'v') return false;
  return true;
}

async function terminate() {
  if (!sessionId || finished) return;
  terminating = true;
  $('#term-terminate').disabled = true;
  status('Terminating…');
  try {
    await api.call('ssm', 'TerminateSession', { SessionId: sessionId });
    finished = true;
    status('Terminated');
  } catch (e) {
    // Refused (or failed): the shell runs on, and says so.
    terminating = false;
    $('#term-terminate').disabled = finished;
    if (!finished) status('Connected');
    fail(api.describe(e));
  }
}

// "Start session" on `id`: ends this page's terminal, if any (the caller
// has asked), and shows a new one. Returns false if the user said no.
export function start(id) {
  if (isLive() && !window.confirm(`End the shell session ${describe()} and start a new one on ${id}?`)) return false;
  intent = id;
  const hash = `#/terminal/${encodeURIComponent(id)}`;
  if (location.hash === hash) show(id, {});
  else location.hash = hash;
  return true;
}

function showLive() {
  $('#term-live').hidden = false;
  $('#term-idle').hidden = true;
  visible = true;
  updateNav();
  requestAnimationFrame(() => {
    refit();
    showSize();
    if (term && visible) term.focus();
  });
}

// The page #/terminal/ID: the running terminal if it is on `id`, a new
// session if one was asked for (or `fresh`: a link opened in a new page),
// else "No session open" with a Start button.
export function show(id, { fresh = false }) {
  const wanted = intent === id;
  intent = null;
  visible = true;
  if (wanted || (fresh && !term)) {
    open(id);
    showLive();
    return;
  }
  if (term && id === target) {
    showLive();
    return;
  }
  // Any running terminal (on another node) stays hidden, and unfitted.
  visible = false;
  $('#term-live').hidden = true;
  $('#term-idle').hidden = false;
  $('#term-idle-target').textContent = id;
  $('#term-start').onclick = () => start(id);
  updateNav();
}

// Another page shows: the terminal keeps running behind it.
export function hide() {
  visible = false;
  intent = null;
  updateNav();
}

function open(id) {
  close();
  target = id;
  $('#term-target').textContent = id;
  setHost('');
  lookupHost(id);
  $('#term-session-id').textContent = '(starting)';
  $('#term-size').textContent = '';
  $('#term-error').hidden = true;
  $('#term-terminate').disabled = true;
  status('Starting…');
  if (!window.Terminal || !window.FitAddon) {
    fail('error: xterm.js did not load (/console/assets/vendor/xterm.js).');
    status('');
    return;
  }
  terminating = false;
  finished = false;
  sessionId = '';
  queued = [];
  term = new window.Terminal({
    cursorBlink: true,
    fontFamily: 'DejaVu Sans Mono, Liberation Mono, monospace',
    fontSize: 14,
    scrollback: 10000,
  });
  fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  // The page must show before xterm.js measures its box.
  $('#term-live').hidden = false;
  $('#term-idle').hidden = true;
  visible = true;
  openTerminal(term, $('#terminal'));
  fit.fit();
  showSize();
  term.attachCustomKeyEventHandler(keys);
  term.onData((d) => send(encoder.encode(d)));
  term.onBinary((d) => send(Uint8Array.from(d, (c) => c.charCodeAt(0) & 255)));
  term.onResize(({ cols, rows }) => {
    showSize();
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
  });
  window.addEventListener('resize', onWindowResize);
  $('#term-terminate').onclick = terminate;
  const q = new URLSearchParams({ target: id, cols: term.cols, rows: term.rows });
  ws = new WebSocket(`wss://${location.host}/console/ws/terminal?${q}`);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    for (const b of queued) ws.send(b);
    queued = [];
  };
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      try {
        control(JSON.parse(ev.data));
      } catch {
        /* not ours */
      }
    } else if (term) {
      term.write(new Uint8Array(ev.data));
    }
  };
  ws.onclose = () => {
    if (!finished) {
      finished = true;
      status(sessionId ? 'Disconnected' : 'Refused');
      if (!sessionId && $('#term-error').hidden) fail('error: the server refused the terminal (sign in again with `airlock console`).');
    }
    $('#term-terminate').disabled = true;
  };
  updateNav();
  term.focus();
}

// Ends the shell (if running) and removes the terminal.
export function close() {
  window.removeEventListener('resize', onWindowResize);
  if (ws) {
    ws.onclose = null;
    ws.close();
  }
  ws = null;
  if (term) term.dispose();
  term = null;
  fit = null;
  finished = true;
  $('#terminal').replaceChildren();
  updateNav();
}
