// Drives the airlock web console in Debian's chromium through Playwright,
// against a real server and agents started by crates/cli/tests/console.rs.
//
// Inputs (environment): AIRLOCK_URL, AIRLOCK_CA, SIGNIN_ADMIN (a sign-in
// link), SIGNIN_SHORT (a link for a 2-second console session), SIGNIN_BOB
// (a link for a user restricted by tag), NODE_A (tagged Team=hpc), NODE_B
// (untagged), NODE_HOSTNAME, ARTIFACTS (where screenshots go).
// Prints one line per check and ends with "N passed, N failed".
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('AIRLOCK_URL').replace(/\/$/, '');
const CA = fs.readFileSync(env('AIRLOCK_CA'));
const NODE_A = env('NODE_A');
const NODE_B = env('NODE_B');
const HOSTNAME = env('NODE_HOSTNAME');
const ARTIFACTS = env('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(ARTIFACTS, { recursive: true });

let passed = 0;
let failed = 0;
const cspViolations = [];

function ok(cond, what, detail = '') {
  if (cond) {
    passed += 1;
    console.log(`ok - ${what}`);
  } else {
    failed += 1;
    console.log(`not ok - ${what}${detail ? `: ${detail}` : ''}`);
  }
  return cond;
}

async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`# screenshot ${file}`);
}

// A raw HTTPS request to the server, trusting only its CA.
function request(method, p, { headers = {}, body } = {}) {
  const u = new URL(BASE + p);
  return new Promise((resolve, reject) => {
    const req = https.request(
      { method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, ca: CA, headers },
      (res) => {
        let data = '';
        res.on('data', (c) => { data += c; });
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
      },
    );
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// Redeems a sign-in link outside the browser; returns the cookie header.
async function redeem(link) {
  const token = link.split('#')[1];
  const r = await request('POST', '/console/api/signin', {
    headers: { origin: BASE, 'content-type': 'application/json' },
    body: JSON.stringify({ Token: token }),
  });
  const set = (r.headers['set-cookie'] || [])[0] || '';
  return { status: r.status, cookie: set.split(';')[0], body: r.body };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function screenText(page, sel = '#terminal') {
  return page.evaluate((s) => {
    const rows = document.querySelector(`${s} .xterm-rows`);
    return rows ? Array.from(rows.children).map((r) => r.textContent.replace(/\u00a0/g, ' ')).join('\n') : '';
  }, sel);
}

async function waitScreen(page, re, what, sel = '#terminal', ms = 20000) {
  const deadline = Date.now() + ms;
  let text = '';
  while (Date.now() < deadline) {
    text = await screenText(page, sel);
    if (re.test(text)) return ok(true, what);
    await sleep(100);
  }
  return ok(false, what, `screen was:\n${text}`);
}

async function typeLine(page, line) {
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

// The nav items that are marked current (aria-current) and the ones that
// look lit (a coloured underline), among those shown; both must be `want`.
async function checkNav(page, want, where) {
  const r = await page.evaluate(() => {
    const shown = [...document.querySelectorAll('header nav a')].filter((a) => !a.hidden);
    return {
      current: shown.filter((a) => a.getAttribute('aria-current') === 'page').map((a) => a.id),
      looks: shown.filter((a) => getComputedStyle(a).borderBottomColor !== 'rgba(0, 0, 0, 0)').map((a) => a.id),
    };
  });
  const same = (l) => l.length === want.length && l.every((x, i) => x === want[i]);
  return ok(same(r.current) && same(r.looks), `${where}: the nav lights ${want.length ? want.join(', ') : 'nothing'}`, JSON.stringify(r));
}

// The ids of the Active sessions the console session in `cookie` can see.
async function activeSessions(cookie) {
  const who = JSON.parse((await request('GET', '/console/api/whoami', { headers: { cookie } })).body);
  const r = await request('POST', '/console/api/call/ssm/DescribeSessions', {
    headers: { cookie, origin: BASE, 'x-airlock-csrf': who.CsrfToken, 'content-type': 'application/json' },
    body: JSON.stringify({ State: 'Active' }),
  });
  return (JSON.parse(r.body).Sessions || []).map((x) => x.SessionId).sort();
}

// A console API call with the session in `cookie`, built by hand (no page):
// the status and the parsed body.
async function consoleCall(cookie, operation, body) {
  const who = JSON.parse((await request('GET', '/console/api/whoami', { headers: { cookie } })).body);
  const r = await request('POST', `/console/api/call/${operation}`, {
    headers: { cookie, origin: BASE, 'x-airlock-csrf': who.CsrfToken, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  let json = {};
  try {
    json = JSON.parse(r.body);
  } catch {
    json = {};
  }
  return { status: r.status, json, body: r.body };
}

// The audit page's rows: [time, user, action, resource, decision, …] each.
const auditRows = (page) => page.evaluate(() => [...document.querySelectorAll('#audit tbody tr')]
  .map((tr) => [...tr.children].map((td) => td.textContent)));

// Applies the audit page's filters as a user would (the time fields take
// Date objects, entered in the page's local time) and waits for the rows.
async function auditFilter(page, f) {
  await page.fill('#audit-user', f.user || '');
  await page.fill('#audit-target', f.target || '');
  await page.fill('#audit-action', f.action || '');
  await page.selectOption('#audit-decision', f.decision || '');
  await page.evaluate(([from, to]) => {
    const local = (ms) => {
      if (ms === null) return '';
      const d = new Date(ms);
      const p = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    for (const [id, v] of [['#audit-from', from], ['#audit-to', to]]) {
      const el = document.querySelector(id);
      el.value = local(v);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
  }, [f.from ? f.from.getTime() : null, f.to ? f.to.getTime() : null]);
  await page.evaluate(() => { delete document.querySelector('#page-audit').dataset.loaded; });
  await page.click('#audit-apply');
  await page.waitForFunction(() => document.querySelector('#page-audit').dataset.loaded !== undefined
    || !document.querySelector('#audit-error').hidden, null, { timeout: 10000 }).catch(() => {});
}

const visibleSection = (page) => page.evaluate(() => [...document.querySelectorAll('main > section')].filter((x) => !x.hidden).map((x) => x.id).join(','));

function watch(page, label) {
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${label}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`# ${label} page error: ${e.message}`));
}

async function main() {
  // Everything the browser does happens after this (to the second).
  const T0 = new Date(Math.floor(Date.now() / 1000) * 1000);
  // Redeem the short-session link first: links are valid for 60 s.
  const short = await redeem(env('SIGNIN_SHORT'));
  ok(short.status === 200 && short.cookie.startsWith('airlock-console='), 'a sign-in link is exchanged for a session cookie', `${short.status} ${short.body}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const ctxOpts = { ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } };
  const admin = await browser.newContext(ctxOpts);
  await admin.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  const bobCtx = await browser.newContext(ctxOpts);
  const page = await admin.newPage();
  const bob = await bobCtx.newPage();
  watch(page, 'admin');
  watch(bob, 'bob');
  const failedResponses = [];
  page.on('response', (r) => {
    if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.url()}`);
  });
  try {
    // 1. Sign in with a link (and the restricted user with theirs).
    await page.goto(env('SIGNIN_ADMIN'));
    await page.waitForURL(/\/console\/#\/nodes$/, { timeout: 15000 });
    await bob.goto(env('SIGNIN_BOB'));
    await bob.waitForURL(/\/console\/#\/nodes$/, { timeout: 15000 });
    ok(true, 'the sign-in link opens the console');
    const cookies = await admin.cookies(`${BASE}/console/`);
    const c = cookies.find((k) => k.name === 'airlock-console');
    ok(c && c.httpOnly && c.secure && c.sameSite === 'Strict', 'the session cookie is HttpOnly, Secure and SameSite=Strict', JSON.stringify(c));
    ok((await page.textContent('#whoami')) === 'admin', 'the page names the signed-in user');
    const adminCookie = `airlock-console=${c.value}`;
    const icon = await page.getAttribute('link[rel="icon"]', 'href');
    const iconGet = await request('GET', icon || '/none');
    ok(iconGet.status === 200 && /^image\/svg\+xml/.test(iconGet.headers['content-type'] || '') && /<svg/.test(iconGet.body),
      'the page has a favicon, and the server serves it', `${icon} ${iconGet.status} ${iconGet.headers['content-type']}`);
    await checkNav(page, ['nav-nodes'], 'on the nodes page');

    // A second use of the link fails.
    const again = await browser.newContext(ctxOpts);
    const p2 = await again.newPage();
    await p2.goto(env('SIGNIN_ADMIN'));
    await p2.waitForSelector('#signin-message:has-text("already been used")', { timeout: 10000 }).catch(() => {});
    ok(/already been used/.test(await p2.textContent('#signin-message')), 'a second use of the sign-in link fails', await p2.textContent('#signin-message'));
    await shot(p2, 'signin-link-reused');
    await again.close();

    // 2. The node the test agent registered is listed, with its columns.
    const rowA = page.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"]`);
    await rowA.waitFor({ timeout: 15000 });
    const cells = await rowA.locator('td').allTextContents();
    ok(cells[0] === NODE_A && cells[1] === HOSTNAME && cells[6] === 'Online' && cells[3] !== '' && cells[5] !== '',
      'the nodes page shows the agent\'s node: id, hostname, IP, agent version, Online', JSON.stringify(cells));
    ok(await page.locator(`#nodes tbody tr[data-instance-id="${NODE_B}"]`).count() === 1, 'an administrator sees every node');
    const before = await page.textContent('#nodes-updated');
    await sleep(3500);
    ok((await page.textContent('#nodes-updated')) !== before, 'the nodes list refreshes by itself');
    await page.fill('#node-filter', NODE_B);
    ok(await page.locator('#nodes tbody tr').count() === 1 && await page.locator(`#nodes tbody tr[data-instance-id="${NODE_B}"]`).count() === 1,
      'the filter narrows the list');
    await page.fill('#node-filter', '');
    ok(!/\(Linux\)/.test(cells[4]) && cells[4] !== '', 'the platform is named once', cells[4]);
    // Node names wrap after their hyphens, never inside a word.
    const wrap = await page.evaluate(async () => {
      const { breakable } = await import('/console/assets/dom.js');
      const el = document.createElement('span');
      el.style.cssText = 'display:inline-block;width:9ch;font-family:monospace';
      document.body.append(el);
      breakable(el, 'queue1-dy-c5large-12');
      const words = [...el.childNodes].filter((n) => n.nodeType === 3 && n.data !== '-');
      const range = document.createRange();
      const tops = words.map((n) => {
        range.selectNodeContents(n);
        const rects = range.getClientRects();
        return rects.length === 1 ? Math.round(rects[0].top) : -1;
      });
      const r = { html: el.innerHTML, text: el.textContent, tops };
      el.remove();
      return r;
    });
    ok(wrap.html === 'queue1-<wbr>dy-<wbr>c5large-<wbr>12' && wrap.text === 'queue1-dy-c5large-12' && !wrap.tops.includes(-1) && new Set(wrap.tops).size >= 3,
      'a long node name wraps at its hyphens and nowhere else', JSON.stringify(wrap));
    await shot(page, 'nodes');

    // A user restricted by tag sees only the tagged node.
    await bob.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"]`).waitFor({ timeout: 15000 });
    ok(await bob.locator('#nodes tbody tr').count() === 1, 'a user restricted by tag sees only the nodes they may describe',
      (await bob.locator('#nodes tbody tr').allTextContents()).join(' | '));
    await shot(bob, 'nodes-restricted-user');
    // …and is refused a session on the other one, in the CLI's words.
    await bob.goto(`${BASE}/console/#/terminal/${NODE_B}`);
    await bob.locator('#term-idle').waitFor({ state: 'visible', timeout: 10000 });
    ok(await bob.locator('#term-live').isHidden(), 'a terminal address typed into the page starts no session: it offers a Start button');
    await bob.click('#term-start');
    await bob.locator('#term-error').waitFor({ state: 'visible', timeout: 15000 });
    const refusal = await bob.textContent('#term-error');
    ok(/^An error occurred \(AccessDeniedException\) when calling the StartSession operation: User: arn:aws:iam::\d+:user\/bob is not authorized to perform: ssm:StartSession on resource: arn:aws:ssm:[^ ]+:managed-instance\/mi-/.test(refusal),
      'a session the user may not start is refused as the CLI words it', refusal);
    await shot(bob, 'terminal-refused');

    // 3. A terminal: type hostname, see the output.
    await page.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"] button.start-session`).click();
    await page.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    const sessionId = await page.textContent('#term-session-id');
    ok(sessionId.startsWith('admin-'), `the session id is shown (${sessionId})`);
    await page.locator('#terminal .xterm').click();
    await typeLine(page, 'hostname');
    await waitScreen(page, new RegExp(`^${HOSTNAME.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm'), 'typing hostname shows the node\'s hostname');

    // 4. Resize the window: stty size follows.
    for (const [w, h] of [[900, 600], [1400, 900]]) {
      const old = await page.textContent('#term-size');
      await page.setViewportSize({ width: w, height: h });
      await page.waitForFunction((o) => document.querySelector('#term-size').textContent !== o, old, { timeout: 5000 }).catch(() => {});
      const [cols, rows] = (await page.textContent('#term-size')).split('×').map(Number);
      await sleep(300);
      await typeLine(page, 'clear; stty size');
      await waitScreen(page, new RegExp(`^${rows} ${cols}\\s*$`, 'm'), `after resizing to ${w}x${h}, stty size says ${rows} ${cols}`);
    }

    // 5. Copy, and a paste of 5,000 lines.
    await typeLine(page, "clear; printf 'COPY%s\\n' ME-42");
    const copyRow = page.locator('#terminal .xterm-rows > div', { hasText: /^COPYME-42/ });
    await copyRow.waitFor({ timeout: 10000 });
    const box = await copyRow.boundingBox();
    await page.mouse.dblclick(box.x + 10, box.y + box.height / 2);
    await page.keyboard.press('Control+Shift+C');
    await sleep(200);
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    ok(copied === 'COPYME-42', 'a selection is copied with Ctrl+Shift+C', JSON.stringify(copied));

    await typeLine(page, 'clear; stty -echo; cat > /tmp/airlock-console-paste.$$');
    await sleep(500);
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} of the paste`).join('\n');
    await page.evaluate((t) => navigator.clipboard.writeText(t), lines);
    await page.locator('#terminal .xterm').click();
    await page.keyboard.press('Control+Shift+V');
    await sleep(1500);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+D');
    await typeLine(page, 'stty echo; echo PASTED-$(wc -l < /tmp/airlock-console-paste.$$)-$(tail -n 1 /tmp/airlock-console-paste.$$ | tr " " _); rm -f /tmp/airlock-console-paste.$$');
    await waitScreen(page, /^PASTED-5000-line_4999_of_the_paste\s*$/m, 'a paste of 5,000 lines arrives whole', '#terminal', 60000);
    await typeLine(page, 'echo "still here $((6*7))"');
    await waitScreen(page, /^still here 42\s*$/m, 'the session is alive after the paste');
    await shot(page, 'terminal');

    // 5b. The header names the node; leaving the page keeps the shell.
    ok((await page.textContent('#term-host')) === HOSTNAME, "the terminal's header shows the node's hostname", await page.textContent('#term-host'));
    await checkNav(page, ['nav-terminal'], 'on the terminal page');
    await page.click('#nav-sessions');
    await page.locator('#page-sessions').waitFor({ state: 'visible', timeout: 5000 });
    await checkNav(page, ['nav-sessions'], 'on the sessions page with a shell open');
    ok(await page.locator('#nav-terminal.live').count() === 1, 'the nav shows the running terminal');
    await sleep(1000);
    ok(JSON.stringify(await activeSessions(adminCookie)) === JSON.stringify([sessionId]), 'going to another page leaves the shell running, alone');
    await page.goBack();
    await page.locator('#page-terminal').waitFor({ state: 'visible', timeout: 5000 });
    await checkNav(page, ['nav-terminal'], 'back on the terminal page, the mouse still over Sessions');
    ok((await page.textContent('#term-session-id')) === sessionId && await page.locator('#term-live').isVisible(), 'Back returns to the same live session');
    await page.locator('#terminal .xterm').click();
    await typeLine(page, 'clear; echo "back again $((6*7+1))"');
    await waitScreen(page, /^back again 43\s*$/m, 'the shell answers after leaving its page and coming back');
    // Start session on another node while one runs: asked first; No keeps it.
    await page.click('#nav-nodes');
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
    await page.locator(`#nodes tbody tr[data-instance-id="${NODE_B}"] button.start-session`).click();
    await sleep(500);
    ok(/^End the shell session admin-/.test(asked) && (await visibleSection(page)) === 'page-nodes', 'Start session while a shell runs asks before ending it', asked);
    ok(JSON.stringify(await activeSessions(adminCookie)) === JSON.stringify([sessionId]), 'answering No keeps the shell and starts none');
    await page.click('#nav-terminal');
    await page.locator('#page-terminal').waitFor({ state: 'visible', timeout: 5000 });
    ok((await page.textContent('#term-session-id')) === sessionId, 'the Terminal nav item leads back to the shell');

    // 6. Terminate.
    await page.click('#term-terminate');
    await page.waitForFunction(() => document.querySelector('#term-status').textContent === 'Terminated', null, { timeout: 15000 }).catch(() => {});
    ok((await page.textContent('#term-status')) === 'Terminated', 'Terminate ends the session', await page.textContent('#term-status'));
    await shot(page, 'terminal-terminated');
    // Back to the ended session's page: it shows, and no new session starts.
    await page.click('#nav-nodes');
    await page.goBack();
    await page.locator('#page-terminal').waitFor({ state: 'visible', timeout: 5000 });
    await sleep(1000);
    ok((await page.textContent('#term-session-id')) === sessionId && (await page.textContent('#term-status')) === 'Terminated'
      && (await activeSessions(adminCookie)).length === 0, 'Back to an ended session shows it and starts no new one');

    // 7. The session is in the history; replay it at 8x.
    await page.click('#nav-sessions');
    const hrow = page.locator(`#sessions-history tbody tr[data-session-id="${sessionId}"]`);
    await hrow.waitFor({ timeout: 10000 });
    const hcells = await hrow.locator('td').allTextContents();
    ok(hcells[1] === 'admin' && hcells[2] === NODE_A && hcells[3] === 'SSM-SessionManagerRunShell' && hcells[4] !== '' && hcells[5] !== '' && hcells[6] === 'Terminated',
      'the history shows owner, target, document, start, end and status', JSON.stringify(hcells));
    await shot(page, 'sessions');
    await checkNav(page, ['nav-sessions'], 'on the sessions page');
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await hrow.locator('button.replay').click();
    await page.locator('#replay-term .xterm-rows').waitFor({ timeout: 10000 });
    await sleep(300);
    const view = await page.evaluate(() => {
      const r = document.querySelector('#replay-term').getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, h: window.innerHeight };
    });
    ok(view.top >= 0 && view.top < view.h / 2, 'the replay opens in view', JSON.stringify(view));
    await waitScreen(page, /\S/, 'the replay opens with its first frame drawn', '#replay-term', 5000);
    await shot(page, 'replay-opened');
    await page.click('#replay button[data-speed="8"]');
    await page.click('#replay-play');
    await page.waitForFunction(() => /^Finished/.test(document.querySelector('#replay-status').textContent), null, { timeout: 60000 }).catch(() => {});
    const st = await page.textContent('#replay-status');
    ok(/^Finished/.test(st), 'the recording replays to the end in the page', st);
    const wall = Number(await page.getAttribute('#replay', 'data-wall-seconds'));
    const rec = Number(await page.getAttribute('#replay', 'data-recording-seconds'));
    ok(rec > 2 && wall < rec / 4 && wall > rec / 16, `8x replays ${rec.toFixed(1)} s of recording in ${wall.toFixed(1)} s`);
    await waitScreen(page, /back again 43/, 'the replay shows what the session printed', '#replay-term', 5000);
    await shot(page, 'replay');

    // 8. An active session is ended from the sessions page's Terminate button.
    const other = await admin.newPage();
    watch(other, 'admin-2');
    await other.goto(`${BASE}/console/#/terminal/${NODE_A}`);
    await other.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    const activeId = await other.textContent('#term-session-id');
    // Closing (or reloading) the page while its shell runs asks first.
    await other.locator('#terminal .xterm').click();
    let unload = '';
    other.once('dialog', (d) => { unload = d.type(); d.dismiss(); });
    await other.close({ runBeforeUnload: true });
    await sleep(1000);
    ok(unload === 'beforeunload' && !other.isClosed(), 'leaving the page while a shell runs asks first', unload);
    await page.click('#nav-nodes');
    await page.click('#nav-sessions');
    const arow = page.locator(`#sessions-active tbody tr[data-session-id="${activeId}"]`);
    await arow.waitFor({ timeout: 10000 });
    ok(await arow.locator('button.terminate').count() === 1, 'an active session has a Terminate button');
    ok(await page.locator('#sessions-history tbody button.terminate').count() === 0, 'ended sessions have none');
    await shot(page, 'sessions-active');

    // bob may end only his own sessions (ssm:TerminateSession on
    // session/${aws:username}-*). The server refuses him admin's: the page
    // says so under its row, in the CLI's words, and the session runs on.
    await bob.click('#nav-sessions');
    const brow = bob.locator(`#sessions-active tbody tr[data-session-id="${activeId}"]`);
    await brow.waitFor({ timeout: 10000 });
    const bobStatusBefore = await brow.locator('td').nth(6).textContent();
    await brow.locator('button.terminate').click();
    const bobRefusal = bob.locator(`#sessions-active tr.refusal[data-refusal-for="${activeId}"] .error`);
    await bobRefusal.waitFor({ timeout: 10000 }).catch(() => {});
    const bobTermText = (await bobRefusal.count()) ? await bobRefusal.textContent() : '(no refusal shown)';
    ok(/^An error occurred \(AccessDeniedException\) when calling the TerminateSession operation: User: arn:aws:iam::\d+:user\/bob is not authorized to perform: ssm:TerminateSession on resource: arn:aws:ssm:[^ ]+:session\/admin-[0-9a-f]+ because no identity-based policy allows the ssm:TerminateSession action$/.test(bobTermText),
      'Terminate on a session the user may not end is refused by the server, under its row, in the CLI\'s words', bobTermText);
    const bobButton = brow.locator('button.terminate');
    ok(await bobButton.isEnabled() && (await bobButton.textContent()) === 'Terminate' && (await brow.locator('td').nth(6).textContent()) === bobStatusBefore
      && (await activeSessions(adminCookie)).includes(activeId), 'after the refusal the session is still listed and running, and the button claims nothing', bobStatusBefore);
    await shot(bob, 'sessions-terminate-refused');
    const bobConsoleCookie = (await bobCtx.cookies(`${BASE}/console/`)).find((k) => k.name === 'airlock-console');
    const bobCookieHeader = `airlock-console=${bobConsoleCookie.value}`;
    const byHand = await consoleCall(bobCookieHeader, 'ssm/TerminateSession', { SessionId: activeId });
    ok(byHand.status === 403 && byHand.json.__type === 'AccessDeniedException'
      && byHand.json.message.includes(`ssm:TerminateSession on resource: arn:aws:ssm:`) && byHand.json.message.endsWith(`:session/${activeId} because no identity-based policy allows the ssm:TerminateSession action`)
      && (await activeSessions(adminCookie)).includes(activeId),
      'a hand-built TerminateSession request for a session the user may not end is refused (403 AccessDeniedException), and the session runs on', `${byHand.status} ${byHand.body}`);
    await arow.locator('button.terminate').click();
    await arow.waitFor({ state: 'detached', timeout: 15000 }).catch(() => {});
    ok(await arow.count() === 0, 'Terminate removes the session from the Active table');
    const trow = page.locator(`#sessions-history tbody tr[data-session-id="${activeId}"]`);
    await trow.waitFor({ timeout: 10000 }).catch(() => {});
    ok(await trow.count() === 1 && (await trow.locator('td').nth(6).textContent()) === 'Terminated',
      'the terminated session is in the history as Terminated');
    await other.close();
    // …and bob may end his own session, from the same page.
    await bob.click('#nav-nodes');
    await bob.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"] button.start-session`).click();
    await bob.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    const bobSession = await bob.textContent('#term-session-id');
    await bob.click('#nav-sessions');
    const own = bob.locator(`#sessions-active tbody tr[data-session-id="${bobSession}"]`);
    await own.waitFor({ timeout: 10000 });
    await own.locator('button.terminate').click();
    await own.waitFor({ state: 'detached', timeout: 15000 }).catch(() => {});
    const ownHistory = bob.locator(`#sessions-history tbody tr[data-session-id="${bobSession}"]`);
    await ownHistory.waitFor({ timeout: 10000 }).catch(() => {});
    ok(bobSession.startsWith('bob-') && await own.count() === 0 && await ownHistory.count() === 1
      && (await ownHistory.locator('td').nth(6).textContent()) === 'Terminated' && await bob.locator('tr.refusal').count() === 0,
      'a user may terminate a session the policy lets them end (their own), from the sessions page', bobSession);

    // An address typed, Back or reload starts no session; only the button does.
    const p3 = await admin.newPage();
    watch(p3, 'admin-3');
    await p3.goto(`${BASE}/console/#/nodes`);
    await p3.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"]`).waitFor({ timeout: 15000 });
    await p3.goto(`${BASE}/console/#/terminal/${NODE_A}`);
    await p3.locator('#term-idle').waitFor({ state: 'visible', timeout: 5000 });
    await p3.reload();
    await p3.locator('#term-idle').waitFor({ state: 'visible', timeout: 10000 });
    await sleep(1000);
    ok((await activeSessions(adminCookie)).length === 0, 'a terminal address reached by typing or reload starts no session');
    await checkNav(p3, [], 'on a terminal page with no session');
    await p3.click('#term-start');
    await p3.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    ok((await activeSessions(adminCookie)).length === 1, 'its Start session button starts one');
    await p3.click('#term-terminate');
    await p3.waitForFunction(() => document.querySelector('#term-status').textContent === 'Terminated', null, { timeout: 15000 }).catch(() => {});
    // Back into the console from another document (a new page load of the
    // terminal's address) starts none either.
    await p3.goto(`${BASE}/console/assets/favicon.svg`);
    await p3.goBack();
    await p3.locator('#page-terminal').waitFor({ state: 'visible', timeout: 10000 });
    await sleep(1500);
    const backIn = await p3.evaluate(() => ({
      idle: !document.querySelector('#term-idle').hidden,
      status: document.querySelector('#term-status').textContent,
      nav: performance.getEntriesByType('navigation')[0]?.type,
    }));
    ok((await activeSessions(adminCookie)).length === 0 && (backIn.idle || backIn.status === 'Terminated'),
      'Back into the console from another page starts no session', JSON.stringify(backIn));
    await p3.close();

    // An unknown address: "Page not found", nothing lit.
    await page.goto(`${BASE}/console/#/nosuch`);
    await page.locator('#page-notfound').waitFor({ state: 'visible', timeout: 5000 });
    ok((await visibleSection(page)) === 'page-notfound', 'an unknown address shows Page not found, alone');
    await checkNav(page, [], 'on an unknown address');
    await page.goto(`${BASE}/console/#/terminal/`);
    await sleep(300);
    ok((await visibleSection(page)) === 'page-notfound', 'a terminal address without a node is not found either');

    // The clusters page.
    await page.click('#nav-clusters');
    await page.locator('#clusters-empty').waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    ok(!(await page.isHidden('#clusters-empty')) || await page.locator('article.cluster').count() > 0, 'the clusters page lists clusters or says there are none');
    await checkNav(page, ['nav-clusters'], 'on the clusters page');
    await shot(page, 'clusters');

    // Session Manager preferences: read, refused when invalid, saved.
    await page.click('#nav-preferences');
    await page.locator('#page-preferences').waitFor({ state: 'visible', timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('#pref-idle').value !== '', null, { timeout: 10000 }).catch(() => {});
    await checkNav(page, ['nav-preferences'], 'on the preferences page');
    const prefs = await page.evaluate(() => {
      const f = document.querySelector('#prefs');
      return [f.idleSessionTimeout.value, f.maxSessionDuration.value, f.runAsEnabled.checked, f.recordingEnabled.checked, f.maxRecordingSizeMB.value, f.recordingCapAction.value];
    });
    ok(JSON.stringify(prefs) === JSON.stringify(['20', '', false, true, '100', 'continue']), 'the preferences page shows the current preferences', JSON.stringify(prefs));
    await page.fill('#pref-idle', '99');
    await page.click('#prefs-save');
    await page.locator('#prefs-error').waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    const prefErr = await page.textContent('#prefs-error');
    ok(/^An error occurred \(\w+\) when calling the UpdateDocument operation: idleSessionTimeout must be minutes \(1-60\)/.test(prefErr), 'an invalid preference is refused in the CLI\'s words', prefErr);
    // (That refusal is the one failed request the page is meant to make.)
    const refusedSave = failedResponses.findIndex((x) => /^400 .*\/UpdateDocument$/.test(x));
    if (refusedSave >= 0) failedResponses.splice(refusedSave, 1);
    await page.fill('#pref-idle', '15');
    await page.fill('#pref-rec-max', '50');
    await page.selectOption('#pref-rec-cap', 'terminate');
    await page.fill('#pref-profile', 'export AIRLOCK_CONSOLE_PREF=1');
    await page.click('#prefs-save');
    await page.waitForFunction(() => /^Saved/.test(document.querySelector('#prefs-status').textContent), null, { timeout: 10000 }).catch(() => {});
    ok(/^Saved/.test(await page.textContent('#prefs-status')) && await page.isHidden('#prefs-error'), 'valid preferences are saved', await page.textContent('#prefs-status'));
    await shot(page, 'preferences');
    const adminWho = JSON.parse((await request('GET', '/console/api/whoami', { headers: { cookie: adminCookie } })).body);
    const doc = await request('POST', '/console/api/call/ssm/GetDocument', {
      headers: { cookie: adminCookie, origin: BASE, 'x-airlock-csrf': adminWho.CsrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ Name: 'SSM-SessionManagerRunShell' }),
    });
    const saved = JSON.parse(JSON.parse(doc.body).Content || '{}').inputs || {};
    ok(saved.idleSessionTimeout === '15' && saved.maxRecordingSizeMB === '50' && saved.recordingCapAction === 'terminate'
      && saved.shellProfile && saved.shellProfile.linux === 'export AIRLOCK_CONSOLE_PREF=1', 'the server holds the saved preferences', doc.body);
    await page.click('#nav-nodes');
    await page.click('#nav-preferences');
    await page.waitForFunction(() => document.querySelector('#pref-idle').value === '15', null, { timeout: 10000 }).catch(() => {});
    ok((await page.inputValue('#pref-idle')) === '15', 'the preferences page shows them again later');
    // bob may not read the preferences document: refused, in the CLI's words.
    await bob.click('#nav-preferences');
    await bob.locator('#prefs-error').waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    const bobPrefs = (await bob.textContent('#prefs-error')) || '';
    ok(/^An error occurred \(AccessDeniedException\) when calling the GetDocument operation: User: arn:aws:iam::\d+:user\/bob is not authorized to perform: ssm:GetDocument/.test(bobPrefs),
      'a user without ssm:GetDocument is refused the preferences', bobPrefs);

    // The audit log: read-only, filtered by user, target, action, decision
    // and time; the filters in the address, so Back returns to the last.
    const calls = [];
    const onCall = (r) => {
      const m = /\/console\/api\/call\/(.*)$/.exec(r.url());
      if (m) calls.push(m[1]);
    };
    page.on('request', onCall);
    await page.click('#nav-audit');
    await page.locator('#page-audit').waitFor({ state: 'visible', timeout: 5000 });
    await page.waitForFunction(() => document.querySelector('#page-audit').dataset.loaded !== undefined, null, { timeout: 10000 }).catch(() => {});
    await checkNav(page, ['nav-audit'], 'on the audit page');
    const all = await auditRows(page);
    ok(all.length > 10 && all.some((r) => r[1] === 'admin') && all.some((r) => r[1] === 'bob' && r[4] === 'Deny'),
      'the audit page lists the log, allowed and denied, newest first', JSON.stringify(all.slice(0, 3)));
    ok(await page.locator('#audit tbody button, #audit tbody input').count() === 0, 'the audit page has nothing that changes anything');
    await shot(page, 'audit');
    await auditFilter(page, { user: 'bob', action: 'ssm:TerminateSession', decision: 'Deny' });
    const refusedTerm = await auditRows(page);
    ok(refusedTerm.length >= 2 && refusedTerm.every((r) => r[1] === 'bob' && r[2] === 'ssm:TerminateSession' && r[4] === 'Deny')
      && refusedTerm.filter((r) => r[3].endsWith(`:session/${activeId}`)).length >= 2,
      "filtered by user, action and decision: bob's two refused Terminates (the button's and the hand-built one)", JSON.stringify(refusedTerm));
    const filteredHash = new URL(page.url()).hash;
    ok(/^#\/audit\?/.test(filteredHash) && /user=bob/.test(filteredHash) && /decision=Deny/.test(filteredHash), 'the filters are in the address', filteredHash);
    await shot(page, 'audit-filtered');
    await auditFilter(page, { user: 'bob', target: NODE_B });
    const onB = await auditRows(page);
    ok(onB.length >= 1 && onB.every((r) => r[1] === 'bob' && r[3].includes(NODE_B)) && onB.some((r) => r[2] === 'ssm:StartSession' && r[4] === 'Deny'),
      "filtered by target: bob's refused session on the untagged node", JSON.stringify(onB));
    await auditFilter(page, { user: 'bob', action: 'ssm:TerminateSession', to: T0 });
    ok((await auditRows(page)).length === 0 && await page.isVisible('#audit-empty'), 'a time range that ends before the refusals shows none, and says so');
    await auditFilter(page, { user: 'bob', action: 'ssm:TerminateSession', from: T0, to: new Date(Date.now() + 60000) });
    const inRange = await auditRows(page);
    ok(inRange.length >= 3 && inRange.some((r) => r[4] === 'Allow') && inRange.some((r) => r[4] === 'Deny'),
      "a time range around them shows bob's Terminates, allowed and refused", JSON.stringify(inRange));
    await page.evaluate(() => { delete document.querySelector('#page-audit').dataset.loaded; });
    await page.goBack();
    await page.waitForFunction(() => document.querySelector('#page-audit').dataset.loaded !== undefined, null, { timeout: 10000 }).catch(() => {});
    ok((await page.inputValue('#audit-action')) === 'ssm:TerminateSession' && (await page.inputValue('#audit-to')) !== '' && (await page.inputValue('#audit-from')) === ''
      && (await auditRows(page)).length === 0, 'Back returns to the previous filters and their result');
    await page.evaluate(() => { delete document.querySelector('#page-audit').dataset.loaded; });
    await page.goBack();
    await page.waitForFunction(() => document.querySelector('#page-audit').dataset.loaded !== undefined, null, { timeout: 10000 }).catch(() => {});
    await page.locator('#audit tbody tr td a', { hasText: NODE_B }).first().waitFor({ timeout: 5000 }).catch(() => {});
    await page.evaluate(() => { delete document.querySelector('#page-audit').dataset.loaded; });
    await page.locator('#audit tbody tr td:nth-child(3) a', { hasText: 'ssm:StartSession' }).first().click();
    await page.waitForFunction(() => document.querySelector('#page-audit').dataset.loaded !== undefined, null, { timeout: 10000 }).catch(() => {});
    const clicked = await auditRows(page);
    ok((await page.inputValue('#audit-action')) === 'ssm:StartSession' && clicked.length >= 1 && clicked.every((r) => r[2] === 'ssm:StartSession' && r[1] === 'bob'),
      "a row's action is a link that adds it to the filters", JSON.stringify(clicked));
    page.off('request', onCall);
    ok(calls.length >= 6 && calls.every((c) => c === 'cloudtrail/LookupEvents'), 'the audit page only reads (cloudtrail:LookupEvents)', calls.join(' '));
    // The server filters (not the page): the same API, by hand.
    const lookup = await consoleCall(adminCookie, 'cloudtrail/LookupEvents', { Principal: 'bob', Resource: activeId, Action: 'ssm:TerminateSession' });
    const looked = lookup.json.Events || [];
    ok(lookup.status === 200 && looked.length >= 2 && looked.every((e) => e.Resource.endsWith(`:session/${activeId}`) && e.Decision === 'Deny'),
      'LookupEvents filters by resource on the server', lookup.body.slice(0, 400));
    const badTime = await consoleCall(adminCookie, 'cloudtrail/LookupEvents', { EndTime: 'tomorrow' });
    ok(badTime.status === 400 && badTime.json.__type === 'ValidationError' && /EndTime "tomorrow" is not an RFC 3339 time/.test(badTime.json.message),
      'a malformed time is refused, naming the field', badTime.body);
    // bob may not read the audit log: refused, in the CLI's words.
    await bob.click('#nav-audit');
    await bob.locator('#audit-error').waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    const bobAudit = (await bob.textContent('#audit-error')) || '';
    ok(/^An error occurred \(AccessDeniedException\) when calling the LookupEvents operation: User: arn:aws:iam::\d+:user\/bob is not authorized to perform: cloudtrail:LookupEvents/.test(bobAudit)
      && await bob.locator('#audit tbody tr').count() === 0, 'a user without cloudtrail:LookupEvents is refused the audit log', bobAudit);
    await shot(bob, 'audit-refused');

    // Every page at 1280x800 and on a phone (390x844): nothing wider than
    // the screen; screenshots of each.
    for (const [w, h, tag] of [[1280, 800, 'wide'], [390, 844, 'narrow']]) {
      await page.setViewportSize({ width: w, height: h });
      for (const route of ['nodes', 'sessions', 'audit', 'clusters', 'preferences', `terminal/${NODE_A}`]) {
        await page.goto(`${BASE}/console/#/${route}`);
        await sleep(800);
        const fits = await page.evaluate(() => ({
          over: document.documentElement.scrollWidth - window.innerWidth,
          signout: document.querySelector('#signout').getBoundingClientRect().right,
        }));
        const name = route.split('/')[0];
        ok(fits.over <= 0 && fits.signout <= w, `at ${w}x${h} the ${name} page fits the screen`, JSON.stringify(fits));
        await shot(page, `${tag}-${name}`);
      }
    }
    const cards = await page.evaluate(() => { // still 390 wide, on the terminal page
      location.hash = '#/nodes';
      return new Promise((r) => setTimeout(() => {
        const td = document.querySelector('#nodes tbody td[data-label]');
        r(td ? getComputedStyle(td, '::before').content : '');
      }, 800));
    });
    ok(cards === '"Instance ID"', 'on a phone each node is a card with labelled fields', cards);
    await page.setViewportSize({ width: 1280, height: 800 });

    // Security.
    const wsPath = `/console/ws/terminal?target=${NODE_A}`;
    const upgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
    const cookie = `airlock-console=${c.value}`;
    const cross = await request('GET', wsPath, { headers: { ...upgrade, cookie, origin: 'https://evil.example' } });
    ok(cross.status === 403 && /Cross-origin/.test(cross.body), 'a WebSocket upgrade from another Origin is refused', `${cross.status} ${cross.body}`);
    const none = await request('GET', wsPath, { headers: { ...upgrade, cookie } });
    ok(none.status === 403, 'a WebSocket upgrade without an Origin is refused', `${none.status}`);
    const noCsrf = await request('POST', '/console/api/call/ssm/DescribeSessions', { headers: { cookie, origin: BASE, 'content-type': 'application/json' }, body: '{}' });
    ok(noCsrf.status === 403 && /CSRF/.test(noCsrf.body), 'a POST without the CSRF token is refused', `${noCsrf.status} ${noCsrf.body}`);
    const who = JSON.parse((await request('GET', '/console/api/whoami', { headers: { cookie } })).body);
    const xsite = await request('POST', '/console/api/call/ssm/DescribeSessions', { headers: { cookie, origin: 'https://evil.example', 'x-airlock-csrf': who.CsrfToken, 'content-type': 'application/json' }, body: '{}' });
    ok(xsite.status === 403, 'a POST from another Origin is refused even with the token', `${xsite.status}`);
    const index = await request('GET', '/console/');
    const csp = index.headers['content-security-policy'] || '';
    const directive = (name) => (csp.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) || '');
    ok(directive('script-src') === "script-src 'self'" && directive('default-src') === "default-src 'none'"
      && !/https?:|wss?:|\*/.test(csp) && directive('frame-ancestors') === "frame-ancestors 'none'",
      'the console is served with a strict Content-Security-Policy', csp);
    ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(index.body), 'the page has no inline script');
    ok(cspViolations.length === 0, 'no Content-Security-Policy violation in the pages', cspViolations.join('\n'));
    await sleep(Math.max(0, 2500));
    const expired = await request('GET', '/console/api/whoami', { headers: { cookie: short.cookie } });
    ok(expired.status === 401 && /expired/.test(expired.body), 'an expired session cookie is refused', `${expired.status} ${expired.body}`);
    // The console with an expired cookie: a clean page, not the stale one.
    const expCtx = await browser.newContext(ctxOpts);
    await expCtx.addCookies([{ name: 'airlock-console', value: short.cookie.split('=').slice(1).join('='), url: BASE }]);
    const ep = await expCtx.newPage();
    watch(ep, 'expired');
    await ep.goto(`${BASE}/console/#/sessions`);
    await ep.waitForURL(/\/console\/signin/, { timeout: 10000 }).catch(() => {});
    await ep.locator('h1', { hasText: 'Session expired' }).waitFor({ timeout: 5000 }).catch(() => {});
    const epText = await ep.locator('body').innerText();
    ok(/\/console\/signin/.test(ep.url()) && /^Session expired/m.test(epText) && !/Sign out|admin|Sessions/.test(epText),
      'an expired console session goes to a clean signed-out page', `${ep.url()}\n${epText}`);
    await shot(ep, 'session-expired');
    await expCtx.close();
    // A page left open when its session ends elsewhere leaves for it too.
    await bob.click('#nav-nodes');
    const bobCookie = (await bobCtx.cookies(`${BASE}/console/`)).find((k) => k.name === 'airlock-console');
    const bobWho = JSON.parse((await request('GET', '/console/api/whoami', { headers: { cookie: `airlock-console=${bobCookie.value}` } })).body);
    await request('POST', '/console/api/signout', { headers: { cookie: `airlock-console=${bobCookie.value}`, origin: BASE, 'x-airlock-csrf': bobWho.CsrfToken, 'content-type': 'application/json' }, body: '{}' });
    await bob.waitForURL(/\/console\/signin/, { timeout: 10000 }).catch(() => {});
    await bob.locator('h1', { hasText: 'Signed out' }).waitFor({ timeout: 5000 }).catch(() => {});
    const bobText = await bob.locator('body').innerText();
    ok(/^Signed out/m.test(bobText) && !/Sign out|bob/.test(bobText), 'an open page whose session ended goes to the signed-out page', `${bob.url()}\n${bobText}`);

    // Signing out with a live shell asks first; No keeps both.
    await page.click('#nav-nodes');
    await page.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"] button.start-session`).click();
    await page.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    let signoutAsked = '';
    page.once('dialog', (d) => { signoutAsked = d.message(); d.dismiss(); });
    await page.click('#signout');
    await sleep(500);
    ok(/^Signing out ends the shell session admin-/.test(signoutAsked) && /\/console\/#\/terminal\//.test(page.url())
      && (await activeSessions(adminCookie)).length === 1, 'Sign out with a live shell asks first; No keeps the shell and the session', signoutAsked);
    page.once('dialog', (d) => d.accept());

    // Signing out ends the session.
    await page.click('#signout');
    await page.waitForURL(/\/console\/signin/, { timeout: 10000 });
    const after = await request('GET', '/console/api/whoami', { headers: { cookie } });
    ok(after.status === 401, 'after signing out the cookie no longer works', `${after.status} ${after.body}`);
    await shot(page, 'signed-out');
    ok(failedResponses.length === 0, 'no request of the page failed (favicon included)', failedResponses.join('\n'));
  } catch (e) {
    ok(false, 'the flow ran to the end', e.stack || String(e));
    await shot(page, 'failure').catch(() => {});
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
