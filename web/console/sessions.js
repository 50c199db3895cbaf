// Sessions: active and past sessions (owner, target, document, start, end,
// status), each recorded one with a Replay button, each active one with a
// Terminate button. The server decides Terminate (ssm:TerminateSession on
// the session's ARN, as for `airlock ssm terminate-session`); the button
// claims nothing before it answers, and a refusal shows under the
// session's row in the CLI's words, the session still listed as active.
import * as api from './api.js';
import { $, labelCells } from './dom.js';
import * as replay from './replay.js';

let errorSink = () => {};

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// The refusal under a session's row (none: `e` unset).
function refusal(tr, e) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains('refusal')) next.remove();
  if (!e) return;
  const row = document.createElement('tr');
  row.className = 'refusal';
  row.dataset.refusalFor = tr.dataset.sessionId;
  const td = document.createElement('td');
  td.colSpan = tr.children.length;
  const box = document.createElement('div');
  box.className = 'error';
  box.setAttribute('role', 'alert');
  box.textContent = api.describe(e);
  td.appendChild(box);
  row.appendChild(td);
  tr.after(row);
}

async function terminate(button, sessionId) {
  const tr = button.closest('tr');
  refusal(tr, null);
  button.disabled = true;
  button.textContent = 'Terminating…';
  try {
    await api.call('ssm', 'TerminateSession', { SessionId: sessionId });
  } catch (e) {
    button.disabled = false;
    button.textContent = 'Terminate';
    refusal(tr, e);
    return;
  }
  await show(errorSink);
}

function fill(table, list, active) {
  const body = $('tbody', table);
  body.replaceChildren();
  for (const s of list) {
    const tr = document.createElement('tr');
    tr.dataset.sessionId = s.SessionId;
    for (const [v, cls] of [[s.SessionId, 'mono'], [s.Owner], [s.Target, 'mono'], [s.DocumentName],
      [when(s.StartDate)], [when(s.EndDate)], [s.Status, `status-${String(s.Status).toLowerCase()}`]]) {
      const td = document.createElement('td');
      td.textContent = v || '';
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    const td = document.createElement('td');
    td.className = 'actions';
    if (s.Recording) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'replay';
      b.textContent = 'Replay';
      b.addEventListener('click', () => replay.open(s.SessionId));
      td.appendChild(b);
    }
    if (active) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'terminate';
      b.textContent = 'Terminate';
      b.title = `End session ${s.SessionId}`;
      b.addEventListener('click', () => terminate(b, s.SessionId));
      td.appendChild(b);
    }
    tr.appendChild(td);
    body.appendChild(tr);
  }
  labelCells(table);
  if (list.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 8;
    td.className = 'muted';
    td.textContent = 'None';
    tr.appendChild(td);
    body.appendChild(tr);
  }
}

export async function show(showError) {
  errorSink = showError;
  replay.setErrorSink(showError);
  try {
    const [active, history] = await Promise.all([
      api.call('ssm', 'DescribeSessions', { State: 'Active' }),
      api.call('ssm', 'DescribeSessions', { State: 'History' }),
    ]);
    fill($('#sessions-active'), active.Sessions || [], true);
    fill($('#sessions-history'), history.Sessions || [], false);
  } catch (e) {
    showError(e);
  }
}

export function leave() {
  replay.stop();
}
