// The console's clusters page against a real cluster: sign in with the link
// in SIGNIN, open Clusters, and print the page's text (the Rust test checks
// it); a screenshot goes to SHOT.
import { chromium } from 'playwright-core';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 700 } });
  // Chromium fails a navigation with ERR_NETWORK_CHANGED when it sees the
  // host's network change (CI saw it once): retry that, and only that.
  for (let tries = 1; ; tries++) {
    try {
      await page.goto(process.env.SIGNIN);
      break;
    } catch (e) {
      if (tries >= 3 || !String(e).includes('ERR_NETWORK_CHANGED')) throw e;
      process.stderr.write(`retrying the sign-in page after: ${String(e).split('\n')[0]}\n`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    await page.click('#nav-clusters');
  } catch (e) {
    // Say where the sign-in left the browser, for the test's failure message.
    const body = await page.locator('body').innerText().catch((x) => `(no body: ${x})`);
    process.stderr.write(`no Clusters link at ${page.url()}; the page said:\n${body}\n`);
    throw e;
  }
  await page.locator('article.cluster pre').first().waitFor({ state: 'visible', timeout: 15000 });
  process.stdout.write(await page.locator('main').innerText());
  await page.screenshot({ path: process.env.SHOT, fullPage: true });
} finally {
  await browser.close();
}
