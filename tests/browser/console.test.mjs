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

const visibleSection = (page) => page.evaluate(() => [...document.querySelectorAll('main > section')].filter((x) => !x.hidden).map((x) => x.id).join(','));

function watch(page, label) {
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${label}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`# ${label} page error: ${e.message}`));
}

async function main() {
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
    await arow.locator('button.terminate').click();
    await arow.waitFor({ state: 'detached', timeout: 15000 }).catch(() => {});
    ok(await arow.count() === 0, 'Terminate removes the session from the Active table');
    const trow = page.locator(`#sessions-history tbody tr[data-session-id="${activeId}"]`);
    await trow.waitFor({ timeout: 10000 }).catch(() => {});
    ok(await trow.count() === 1 && (await trow.locator('td').nth(6).textContent()) === 'Terminated',
      'the terminated session is in the history as Terminated');
    await other.close();

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

    // Every page at 1280x800 and on a phone (390x844): nothing wider than
    // the screen; screenshots of each.
    for (const [w, h, tag] of [[1280, 800, 'wide'], [390, 844, 'narrow']]) {
      await page.setViewportSize({ width: w, height: h });
      for (const route of ['nodes', 'sessions', 'clusters', 'preferences', `terminal/${NODE_A}`]) {
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
