// The browser's completeness check against a tampered database: Playwright
// (playwright-core) driving Debian's Chromium, headless, against a running
// `agentledger serve` on Postgres.
//
// web/completeness_e2e_test.go (TestBrowserCompleteness) starts the server,
// loads the runs, and runs this file once per PHASE, tampering with the
// database as a superuser (triggers disabled) between the phases:
//   clean   nothing changed: the credential, run and agent pages say
//           "Complete as of checkpoint N"
//   hidden  the entry_refs row of the foreign run's use of the credential
//           is deleted: the credential page no longer shows that use, and
//           its verification names the key, how many entries are missing
//           and which (HIDDEN_INDEX), as the block's lost list names it and
//           the signed list root confirms
//   stale   the latest index note is replaced by the first one (an old map
//           root served with the new checkpoint): the verification fails
// Environment: BASE_URL, TOKEN, VERIFIER_KEY, CREDENTIAL_ID, TRACE_ID,
// AGENT_ID, HIDDEN_INDEX, PHASE, SCREENSHOT_DIR, CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, def) => {
  const v = process.env[k] ?? def;
  if (v === undefined) throw new Error(`${k} is not set: run this through go test ./web -run TestBrowserCompleteness`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const TOKEN = env('TOKEN');
const VKEY = env('VERIFIER_KEY');
const CRED = env('CREDENTIAL_ID');
const TRACE = env('TRACE_ID');
const AGENT = env('AGENT_ID');
const HIDDEN = env('HIDDEN_INDEX');
const PHASE = env('PHASE');
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

mkdirSync(SHOTS, { recursive: true });
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found`);

let browser;
let page;
const problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: BASE });
  await context.addInitScript(([token, vkey]) => {
    sessionStorage.setItem('agentledger.token', token);
    localStorage.setItem('agentledger.verifierKey', vkey);
  }, [TOKEN, VKEY]);
  page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
});

after(async () => {
  await browser?.close();
  assert.deepEqual(problems, []);
});

/** verdict waits for the completeness panel to settle and returns it. */
async function verdict(name) {
  const panel = page.locator('#completeness');
  await panel.and(page.locator(':not([data-state="pending"])')).waitFor();
  await page.screenshot({ path: path.join(SHOTS, `completeness-${PHASE}-${name}.png`), fullPage: true });
  return { state: await panel.getAttribute('data-state'), text: (await panel.textContent()).trim() };
}

async function credentialPage() {
  await page.goto(`/#/credentials/${encodeURIComponent(CRED)}`);
  await page.getByRole('heading', { name: CRED, level: 1 }).waitFor();
  return verdict('credential');
}

const phases = {};

phases.clean = ['the credential, run and agent pages are proved complete', async () => {
  const cred = await credentialPage();
  assert.equal(cred.state, 'complete', cred.text);
  assert.match(cred.text, /^✓ Complete as of checkpoint \d+\./);
  assert.match(cred.text, new RegExp(`entries for credential:${CRED}`));

  await page.goto(`/#/runs/${TRACE}`);
  await page.locator('#run-completeness').waitFor();
  const run = await verdict('run');
  assert.equal(run.state, 'complete', run.text);
  assert.match(run.text, new RegExp(`Complete as of checkpoint \\d+\\..*for trace:${TRACE}`));

  await page.goto(`/#/agents/${encodeURIComponent(AGENT)}`);
  await page.locator('#agent-completeness').waitFor();
  const agent = await verdict('agent');
  assert.equal(agent.state, 'complete', agent.text);
  assert.match(agent.text, new RegExp(`Complete as of checkpoint \\d+\\..*for agent:${AGENT}`));
}];

phases.hidden = ['a deleted entry_refs row makes the credential view fail its check, naming the key', async () => {
  const cred = await credentialPage();
  assert.equal(cred.state, 'failed', cred.text);
  assert.match(cred.text, new RegExp(`index key credential:${CRED} is incomplete as of checkpoint \\d+: the signed index holds (\\d+) entries, the answer \\d+ \\(1 missing\\): the answer omits entry ${HIDDEN}, which carries the key`));
}];

phases.stale = ['an old map root served with the new checkpoint fails the check', async () => {
  const cred = await credentialPage();
  assert.equal(cred.state, 'failed', cred.text);
  assert.match(cred.text, new RegExp(`index key credential:${CRED}: its index note is not for checkpoint \\d+`));
}];

if (!phases[PHASE]) throw new Error(`PHASE ${PHASE}: want one of ${Object.keys(phases).join(', ')}`);
test(`${PHASE}: ${phases[PHASE][0]}`, phases[PHASE][1]);
