// The console's single page: who is signed in, sign-out, and the routes
// #/nodes, #/terminal/TARGET, #/sessions, #/clusters.
import { $ } from './dom.js';
import * as api from './api.js';
import * as nodes from './nodes.js';
import * as terminal from './terminal.js';
import * as sessions from './sessions.js';
import * as clusters from './clusters.js';

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

const pages = ['nodes', 'terminal', 'sessions', 'clusters'];

function route() {
  showError(null);
  const hash = location.hash || '#/nodes';
  const [, page, ...rest] = hash.split('/');
  const name = pages.includes(page) ? page : 'nodes';
  for (const p of pages) {
    $(`#page-${p}`).hidden = p !== name;
    const link = $(`#nav-${p}`);
    if (link) link.classList.toggle('active', p === name);
  }
  if (name !== 'nodes') nodes.stop();
  if (name !== 'terminal') terminal.close();
  if (name !== 'sessions') sessions.leave();
  if (name === 'nodes') nodes.start(showError);
  if (name === 'terminal') terminal.open(decodeURIComponent(rest.join('/')));
  if (name === 'sessions') sessions.show(showError);
  if (name === 'clusters') clusters.show(showError);
}

async function main() {
  try {
    const me = await api.whoami();
    $('#whoami').textContent = me.UserName;
    $('#whoami').title = me.Arn;
    $('#signout').hidden = false;
  } catch (e) {
    document.body.classList.add('signed-out');
    showError(e);
    return;
  }
  $('#signout').addEventListener('click', async () => {
    terminal.close();
    try {
      await api.post('/console/api/signout', {}, 'SignOut');
    } catch (e) {
      showError(e);
      return;
    }
    location.replace('/console/signin#signed-out');
  });
  window.addEventListener('hashchange', route);
  route();
}

main();
