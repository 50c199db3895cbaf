// Audit: the server's audit log, read-only, as `airlock audit` reads it
// (cloudtrail:LookupEvents, so the user's policies decide who may read
// it): every decision, allowed or denied, newest first, filtered by user,
// target (an instance or session id, or any part of a resource ARN),
// action, decision and a time range. The filters live in the address
// (#/audit?user=bob&action=ssm:StartSession), so Back returns to the
// previous ones and a filtered view can be shared. Nothing here changes
// anything; the page reads only when it opens or its filters are applied.
import * as api from './api.js';
import { $, labelCells } from './dom.js';

// The newest this many events; older ones need narrower filters.
const LIMIT = 500;
// Actions offered as you type (any other can be typed).
const COMMON = ['ssm:StartSession', 'ssm:TerminateSession', 'ssm:ResumeSession', 'ssm:DescribeSessions',
  'ssm:DescribeInstanceInformation', 'ssm:GetSessionRecording', 'ssm:UpdateDocument', 'signin:ConsoleLogin',
  'signin:ConsoleLogout', 'cloudtrail:LookupEvents'];
// Address parameter, filter field, request field.
const FIELDS = [['user', 'user', 'Principal'], ['target', 'target', 'Resource'], ['action', 'action', 'Action'],
  ['decision', 'decision', 'Decision'], ['from', 'from', 'StartTime'], ['to', 'to', 'EndTime']];

let run = 0;

function fail(e) {
  const box = $('#audit-error');
  box.hidden = !e;
  box.textContent = e ? api.describe(e) : '';
}

// A datetime-local value (the browser's local time) and an ISO UTC time.
function pad(n) {
  return String(n).padStart(2, '0');
}
function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().replace(/\.000Z$/, 'Z');
}

// The address for these filters.
export function href(filters) {
  const q = new URLSearchParams();
  for (const [k] of FIELDS) if (filters[k]) q.set(k, filters[k]);
  const s = q.toString();
  return s ? `#/audit?${s}` : '#/audit';
}

// (By id: a form's .action and .target are its own attributes, not fields.)
function readForm() {
  return {
    user: $('#audit-user').value.trim(),
    target: $('#audit-target').value.trim(),
    action: $('#audit-action').value.trim(),
    decision: $('#audit-decision').value,
    from: fromLocalInput($('#audit-from').value),
    to: fromLocalInput($('#audit-to').value),
  };
}

function fillForm(filters) {
  $('#audit-user').value = filters.user || '';
  $('#audit-target').value = filters.target || '';
  $('#audit-action').value = filters.action || '';
  $('#audit-decision').value = filters.decision === 'Allow' || filters.decision === 'Deny' ? filters.decision : '';
  $('#audit-from').value = filters.from ? toLocalInput(filters.from) : '';
  $('#audit-to').value = filters.to ? toLocalInput(filters.to) : '';
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// The user name of an IAM ARN (arn:aws:iam::1:user/bob: bob), else the whole.
function shortPrincipal(arn) {
  const m = /:(?:user|role|assumed-role)\/(.+)$/.exec(arn || '');
  return m ? m[1] : arn || '';
}

// A cell whose value is a link to the same page filtered by it.
function filterCell(tr, text, title, filters, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  if (text) {
    const a = document.createElement('a');
    a.href = href(filters);
    arnBreaks(a, text);
    a.title = title;
    td.appendChild(a);
  }
  tr.appendChild(td);
}

// Fills `el` with `text`, with a line-break opportunity after each ':' and
// '/' (ssm:StartSession, ARNs), where a narrow column breaks it first.
// (dom.js's breakable() does this for node names, at hyphens.)
function arnBreaks(el, text) {
  if (!text) return;
  for (const part of String(text).split(/(?<=[:/])/)) el.append(part, document.createElement('wbr'));
}

function cell(tr, text, cls, title, breaks = false) {
  const td = document.createElement('td');
  if (breaks) arnBreaks(td, text || '');
  else td.textContent = text || '';
  if (cls) td.className = cls;
  if (title) td.title = title;
  tr.appendChild(td);
}

function render(events, filters) {
  const body = $('#audit tbody');
  body.replaceChildren();
  const actions = new Set(COMMON);
  // Newest first.
  for (const e of [...events].reverse()) {
    actions.add(e.Action);
    const tr = document.createElement('tr');
    tr.dataset.eventId = e.EventId;
    tr.dataset.decision = e.Decision;
    cell(tr, when(e.EventTime), 'time', e.EventTime);
    const who = shortPrincipal(e.Principal);
    filterCell(tr, who, `${e.Principal}: show only this user's events`, { ...filters, user: who }, 'principal');
    filterCell(tr, e.Action, 'Show only this action', { ...filters, action: e.Action }, 'mono action');
    filterCell(tr, e.Resource, 'Show only this resource', { ...filters, target: e.Resource }, 'mono resource');
    cell(tr, e.Decision, `decision decision-${String(e.Decision).toLowerCase()}`);
    cell(tr, e.Statement, 'mono statement', '', true);
    cell(tr, e.SourceIp, 'mono');
    cell(tr, e.Detail, 'detail', e.RequestId ? `Request ${e.RequestId}` : '');
    body.appendChild(tr);
  }
  labelCells($('#audit'));
  $('#audit-actions').replaceChildren(...[...actions].sort().map((a) => {
    const o = document.createElement('option');
    o.value = a;
    return o;
  }));
  $('#audit-empty').hidden = events.length > 0;
  const n = events.length;
  $('#audit-count').textContent = n >= LIMIT
    ? `The newest ${n} events: narrow the filters or the time range to see older ones.`
    : `${n} event${n === 1 ? '' : 's'}`;
}

async function load(filters) {
  const mine = ++run;
  fail(null);
  $('#audit-count').textContent = 'Loading…';
  const req = { MaxResults: LIMIT };
  for (const [k, , field] of FIELDS) if (filters[k]) req[field] = filters[k];
  try {
    const r = await api.call('cloudtrail', 'LookupEvents', req);
    if (mine !== run) return;
    render(r.Events || [], filters);
    $('#page-audit').dataset.loaded = href(filters);
  } catch (e) {
    if (mine !== run) return;
    $('#audit tbody').replaceChildren();
    $('#audit-empty').hidden = true;
    $('#audit-count').textContent = '';
    fail(e);
  }
}

// The page #/audit?FILTERS (`params`: its URLSearchParams).
export function show(params) {
  const filters = {};
  for (const [k] of FIELDS) filters[k] = (params.get(k) || '').trim();
  fillForm(filters);
  const form = $('#audit-filters');
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const next = href(readForm());
    // The same filters again: read again (the log has grown).
    if (next === location.hash) load(readForm());
    else location.hash = next;
  };
  $('#audit-clear').onclick = () => {
    if (location.hash === '#/audit') {
      fillForm({});
      load({});
    } else location.hash = '#/audit';
  };
  delete $('#page-audit').dataset.loaded;
  load(filters);
}

export function leave() {
  run += 1;
}
