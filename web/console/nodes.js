// Managed nodes: the nodes the user may describe, refreshed every few
// seconds, filtered as you type; "Start session" opens a terminal. Host and
// cluster names wrap after their hyphens.
import * as api from './api.js';
import { $, breakable, labelCells } from './dom.js';
import * as terminal from './terminal.js';

const REFRESH_MS = 3000;
let timer = null;
let latest = [];
let onError = () => {};

function text(v) {
  return v === null || v === undefined ? '' : String(v);
}

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function cell(tr, value, cls) {
  const td = document.createElement('td');
  td.textContent = text(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function render() {
  const q = $('#node-filter').value.trim().toLowerCase();
  const body = $('#nodes tbody');
  body.replaceChildren();
  const shown = latest.filter((n) => {
    if (!q) return true;
    const hay = [n.InstanceId, n.Hostname, n.Cluster, n.IpAddress, n.Platform, n.AgentVersion, n.PingStatus,
      ...(n.Tags || []).map(([k, v]) => `${k}=${v}`)].map(text).join(' ').toLowerCase();
    return hay.includes(q);
  });
  for (const n of shown) {
    const tr = document.createElement('tr');
    tr.dataset.instanceId = n.InstanceId;
    cell(tr, n.InstanceId, 'mono');
    breakable(cell(tr, ''), text(n.Hostname));
    breakable(cell(tr, ''), text(n.Cluster));
    cell(tr, n.IpAddress, 'mono');
    cell(tr, n.Platform);
    cell(tr, n.AgentVersion);
    cell(tr, n.PingStatus, `ping ping-${text(n.PingStatus).toLowerCase()}`);
    cell(tr, when(n.LastPingDateTime));
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Start session';
    b.className = 'start-session';
    b.disabled = n.PingStatus !== 'Online';
    b.addEventListener('click', () => terminal.start(n.InstanceId));
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  labelCells($('#nodes'));
  $('#nodes-empty').hidden = shown.length > 0;
}

async function fetchNodes() {
  const r = await api.post('/console/api/nodes', {}, 'DescribeInstanceInformation');
  latest = r.Nodes || [];
  return latest;
}

// The hostname of node `id` as last listed, or undefined if not listed.
export function hostnameOf(id) {
  const n = latest.find((x) => x.InstanceId === id);
  return n ? text(n.Hostname) : undefined;
}

// Node `id` as the server lists it now (undefined if the user may not
// describe it).
export async function describe(id) {
  return (await fetchNodes()).find((x) => x.InstanceId === id);
}

async function refresh() {
  try {
    await fetchNodes();
    render();
    $('#nodes-updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
    onError(null);
  } catch (e) {
    onError(e);
    if (e.status === 401) stop();
  }
}

export function start(showError) {
  onError = showError;
  stop();
  $('#node-filter').oninput = render;
  refresh();
  timer = setInterval(refresh, REFRESH_MS);
}

export function stop() {
  if (timer) clearInterval(timer);
  timer = null;
}
