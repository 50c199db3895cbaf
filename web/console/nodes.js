// Managed nodes: the nodes the user may describe, refreshed every few
// seconds, filtered as you type; "Start session" opens a terminal.
import * as api from './api.js';
import { $ } from './dom.js';

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
    cell(tr, n.Hostname);
    cell(tr, n.Cluster);
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
    b.addEventListener('click', () => {
      location.hash = `#/terminal/${encodeURIComponent(n.InstanceId)}`;
    });
    td.appendChild(b);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  $('#nodes-empty').hidden = shown.length > 0;
}

async function refresh() {
  try {
    const r = await api.post('/console/api/nodes', {}, 'DescribeInstanceInformation');
    latest = r.Nodes || [];
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
