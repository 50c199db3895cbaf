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
    await shot(page, 'nodes');

    // A user restricted by tag sees only the tagged node.
    await bob.locator(`#nodes tbody tr[data-instance-id="${NODE_A}"]`).waitFor({ timeout: 15000 });
    ok(await bob.locator('#nodes tbody tr').count() === 1, 'a user restricted by tag sees only the nodes they may describe',
      (await bob.locator('#nodes tbody tr').allTextContents()).join(' | '));
    await shot(bob, 'nodes-restricted-user');
    // …and is refused a session on the other one, in the CLI's words.
    await bob.goto(`${BASE}/console/#/terminal/${NODE_B}`);
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

    // 6. Terminate.
    await page.click('#term-terminate');
    await page.waitForFunction(() => document.querySelector('#term-status').textContent === 'Terminated', null, { timeout: 15000 }).catch(() => {});
    ok((await page.textContent('#term-status')) === 'Terminated', 'Terminate ends the session', await page.textContent('#term-status'));
    await shot(page, 'terminal-terminated');

    // 7. The session is in the history; replay it at 8x.
    await page.click('#nav-sessions');
    const hrow = page.locator(`#sessions-history tbody tr[data-session-id="${sessionId}"]`);
    await hrow.waitFor({ timeout: 10000 });
    const hcells = await hrow.locator('td').allTextContents();
    ok(hcells[1] === 'admin' && hcells[2] === NODE_A && hcells[3] === 'SSM-SessionManagerRunShell' && hcells[4] !== '' && hcells[5] !== '' && hcells[6] === 'Terminated',
      'the history shows owner, target, document, start, end and status', JSON.stringify(hcells));
    await shot(page, 'sessions');
    await hrow.locator('button.replay').click();
    await page.locator('#replay-term .xterm-rows').waitFor({ timeout: 10000 });
    await page.click('#replay button[data-speed="8"]');
    await page.click('#replay-play');
    await page.waitForFunction(() => /^Finished/.test(document.querySelector('#replay-status').textContent), null, { timeout: 60000 }).catch(() => {});
    const st = await page.textContent('#replay-status');
    ok(/^Finished/.test(st), 'the recording replays to the end in the page', st);
    const wall = Number(await page.getAttribute('#replay', 'data-wall-seconds'));
    const rec = Number(await page.getAttribute('#replay', 'data-recording-seconds'));
    ok(rec > 2 && wall < rec / 4 && wall > rec / 16, `8x replays ${rec.toFixed(1)} s of recording in ${wall.toFixed(1)} s`);
    await waitScreen(page, /still here 42/, 'the replay shows what the session printed', '#replay-term', 5000);
    await shot(page, 'replay');

    // 8. An active session is ended from the sessions page's Terminate button.
    const other = await admin.newPage();
    watch(other, 'admin-2');
    await other.goto(`${BASE}/console/#/terminal/${NODE_A}`);
    await other.waitForFunction(() => /^[a-z0-9]+-[0-9a-f]{17}$/.test(document.querySelector('#term-session-id').textContent), null, { timeout: 30000 });
    const activeId = await other.textContent('#term-session-id');
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

    // The clusters page.
    await page.click('#nav-clusters');
    await page.locator('#clusters-empty').waitFor({ state: 'visible', timeout: 10000 }).catch(() => {});
    ok(!(await page.isHidden('#clusters-empty')) || await page.locator('article.cluster').count() > 0, 'the clusters page lists clusters or says there are none');
    await shot(page, 'clusters');

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

    // Signing out ends the session.
    await page.click('#signout');
    await page.waitForURL(/\/console\/signin/, { timeout: 10000 });
    const after = await request('GET', '/console/api/whoami', { headers: { cookie } });
    ok(after.status === 401, 'after signing out the cookie no longer works', `${after.status} ${after.body}`);
    await shot(page, 'signed-out');
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
