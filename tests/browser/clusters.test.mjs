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
  await page.goto(process.env.SIGNIN);
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
