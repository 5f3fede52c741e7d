// check-monitoring.mjs — opens the asynqmon dashboard in Debian's Chromium,
// as an operator would, and screenshots it.
//
//   node check-monitoring.mjs [screenshot.png]
//
// Environment: BASE_URL (default http://127.0.0.1:8080), OPERATOR_TOKEN
// (default dev-operator-token, as scripts/run-dev.sh uses), QUEUES (default
// "reports,webhooks": the queues the table must list), CHROMIUM (default
// /usr/bin/chromium; `apt-get install -y chromium`), TIMEOUT_MS (default 30000).
//
// It checks that /monitoring/ refuses a request without credentials, then
// logs in with HTTP basic auth, waits until the queues table lists every
// queue, and saves the screenshot. It exits non-zero, with a screenshot
// beside the requested one (*.failed.png), when anything is missing. Only
// requests to BASE_URL leave the browser.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const baseURL = (process.env.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const token = process.env.OPERATOR_TOKEN || 'dev-operator-token';
const queues = (process.env.QUEUES || 'reports,webhooks').split(',').map((q) => q.trim()).filter(Boolean);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.TIMEOUT_MS || 30000);
const out = process.argv[2] || 'monitoring.png';
const url = `${baseURL}/monitoring/`;

function fail(msg) {
  console.error(`check-monitoring: FAIL: ${msg}`);
  process.exitCode = 1;
}

async function main() {
  if (!existsSync(executablePath)) {
    fail(`${executablePath} not found: apt-get install -y chromium`);
    return;
  }

  // Without credentials the dashboard must refuse, and ask for basic auth.
  const anon = await fetch(url);
  const challenge = anon.headers.get('www-authenticate') || '';
  if (anon.status !== 401 || !challenge.startsWith('Basic')) {
    fail(`GET ${url} without credentials = ${anon.status} (WWW-Authenticate: "${challenge}"), want 401 with a Basic challenge`);
    return;
  }

  const userDataDir = mkdtempSync(join(tmpdir(), 'reportd-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    httpCredentials: { username: 'operator', password: token },
    viewport: { width: 1400, height: 900 },
  });
  try {
    // The page loads web fonts from the internet; keep every request local.
    const origin = new URL(baseURL).origin;
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === origin ? route.continue() : route.abort());

    const page = context.pages()[0] || (await context.newPage());
    const errors = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
    if (!res || res.status() !== 200) {
      fail(`GET ${url} with credentials = ${res ? res.status() : 'no response'}, want 200`);
      await page.screenshot({ path: out.replace(/\.png$/, '') + '.failed.png', fullPage: true });
      return;
    }
    try {
      for (const q of queues) {
        // A cell of the queues table holds exactly the queue's name.
        await page.locator('table tbody tr').locator('td, th')
          .filter({ hasText: new RegExp(`^\\s*${q}\\s*$`) }).first()
          .waitFor({ state: 'visible', timeout });
      }
    } catch (err) {
      fail(`queues table does not list ${queues.join(', ')}: ${err.message.split('\n')[0]}` +
        (errors.length ? `; page errors: ${errors.join('; ')}` : ''));
      await page.screenshot({ path: out.replace(/\.png$/, '') + '.failed.png', fullPage: true });
      return;
    }
    await page.waitForLoadState('networkidle', { timeout }).catch(() => {});
    await page.screenshot({ path: out, fullPage: true });
    console.log(`check-monitoring: ok: ${url} lists ${queues.join(', ')}; screenshot ${out}`);
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  fail(err.stack || String(err));
});
