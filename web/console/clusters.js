// Clusters: each cluster's stack status and its Slurm node states, in
// sinfo's own columns.
import * as api from './api.js';
import { $ } from './dom.js';

export async function show(showError) {
  const box = $('#clusters');
  box.replaceChildren();
  let list = [];
  try {
    list = (await api.post('/console/api/clusters', {}, 'ListClusters')).Clusters || [];
  } catch (e) {
    showError(e);
    return;
  }
  $('#clusters-empty').hidden = list.length > 0;
  for (const c of list) {
    const art = document.createElement('article');
    art.className = 'cluster';
    art.dataset.cluster = c.Name;
    const h = document.createElement('h2');
    h.textContent = c.Name;
    const p = document.createElement('p');
    p.textContent = `Stack ${c.StackName}: `;
    const st = document.createElement('span');
    st.className = `stack stack-${String(c.StackStatus).toLowerCase()}`;
    st.textContent = c.StackStatus;
    p.appendChild(st);
    art.append(h, p);
    if (c.SinfoText) {
      const pre = document.createElement('pre');
      pre.className = 'sinfo';
      pre.textContent = c.SinfoText;
      art.appendChild(pre);
    } else {
      const n = document.createElement('p');
      n.className = 'muted';
      n.textContent = c.SlurmUnavailable || 'Slurm node states are not available.';
      art.appendChild(n);
    }
    box.appendChild(art);
  }
}
