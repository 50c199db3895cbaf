// The terminal in the page: xterm.js with the fit addon, joined to a shell
// session on the node through the console's WebSocket. Resizes follow the
// window; Ctrl+Shift+C copies the selection, Ctrl+Shift+V pastes.
import * as api from './api.js';
import { $, openTerminal } from './dom.js';

const encoder = new TextEncoder();

let term = null;
let fit = null;
let ws = null;
let sessionId = '';
let queued = [];
let terminating = false;
let finished = false;

function status(s) {
  $('#term-status').textContent = s;
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

function onWindowResize() {
  if (fit) fit.fit();
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
    terminating = false;
    $('#term-terminate').disabled = false;
    fail(api.describe(e));
  }
}

export function open(target) {
  close();
  $('#term-target').textContent = target;
  $('#term-session-id').textContent = '(starting)';
  $('#term-error').hidden = true;
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
  const q = new URLSearchParams({ target, cols: term.cols, rows: term.rows });
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
  term.focus();
}

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
  $('#terminal').replaceChildren();
}
