// The federated credential view in the browser: Playwright (playwright-core)
// driving Debian's Chromium, headless, against two `agentledger serve`
// shards, the first federating the second.
//
// web/federation_e2e_test.go (TestBrowserFederation) starts the shards,
// sends each a run that uses the credential, and runs this file once per
// PHASE:
//   up    both shards answer: the credential page leads to the view across
//         shards, where each shard's entries verify in the browser with its
//         own log's key; an answer changed on the way fails, and a shard
//         whose log has no pinned key cannot be verified
//   down  the second shard is stopped: the page names it as not answering
// Environment: BASE_URL, TOKEN, KEY_A, KEY_B, CREDENTIAL_ID, PHASE,
// SCREENSHOT_DIR, CHROMIUM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, def) => {
  const v = process.env[k] ?? def;
  if (v === undefined) throw new Error(`${k} is not set: run this through go test ./web -run TestBrowserFederation`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const TOKEN = env('TOKEN');
const KEY_A = env('KEY_A');
const KEY_B = env('KEY_B');
const CRED = env('CREDENTIAL_ID');
const PHASE = env('PHASE');
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

mkdirSync(SHOTS, { recursive: true });
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found`);

let browser;
const problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  assert.deepEqual(problems, []);
});

/** newPage opens a page signed in, with the given keys pinned. */
async function newPage(otherKeys) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: BASE });
  await context.addInitScript(([token, vkey, others]) => {
    sessionStorage.setItem('agentledger.token', token);
    localStorage.setItem('agentledger.verifierKey', vkey);
    localStorage.setItem('agentledger.otherKeys', others);
  }, [TOKEN, KEY_A, otherKeys]);
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return page;
}

/** verifyShard verifies a shard's entries and returns each row's state. */
async function verifyShard(page, id) {
  const shard = page.locator(`#${id}`);
  await shard.getByRole('button', { name: /^Verify with / }).click();
  const rows = shard.locator('tbody tr');
  const n = await rows.count();
  await shard.locator('.proof:not(.proof-pending)').nth(n - 1).waitFor();
  const states = [];
  for (let i = 0; i < n; i++) states.push(await rows.nth(i).locator('.proof').getAttribute('data-state'));
  return { states, text: (await shard.textContent()).trim() };
}

const phases = {};

phases.up = ['each shard\'s entries verify with its own log\'s key; a changed answer fails', async () => {
  const page = await newPage(KEY_B);
  await page.goto(`/#/credentials/${encodeURIComponent(CRED)}`);
  await page.getByRole('heading', { name: CRED, level: 1 }).waitFor();
  await page.locator('#across-shards').click();
  await page.getByText('Credential across shards').waitFor();
  assert.equal((await page.locator('#shards-answered').textContent()).trim(), '2 of 2 shards answered');
  const a = await verifyShard(page, 'shard-shard-a-test-ledger');
  const b = await verifyShard(page, 'shard-shard-b');
  await page.screenshot({ path: path.join(SHOTS, 'federation-verified.png'), fullPage: true });
  assert.deepEqual(a.states, ['verified'], a.text);
  assert.deepEqual(b.states, ['verified'], b.text);
  assert.match(b.text, /log shard-b\.test\/ledger/);
  assert.match(b.text, /signed by shard-b\.test\/ledger\+/);

  // Shard b's answer changed on the way: its entry fails in the browser.
  const tampered = await newPage(KEY_B);
  await tampered.route('**/v1/federation/credentials/**', async (route) => {
    const resp = await route.fetch();
    const v = await resp.json();
    const sh = v.shards.find((s) => s.name === 'shard-b');
    sh.answer.view.usages[0].calls[0].entry.attributes['server.address'] = 'api.elsewhere.example';
    await route.fulfill({ response: resp, json: v });
  });
  await tampered.goto(`/#/federation/${encodeURIComponent(CRED)}`);
  await tampered.getByText('Credential across shards').waitFor();
  const bad = await verifyShard(tampered, 'shard-shard-b');
  await tampered.screenshot({ path: path.join(SHOTS, 'federation-tampered.png'), fullPage: true });
  assert.deepEqual(bad.states, ['failed'], bad.text);
  assert.match(bad.text, /Entry does not match|api\.elsewhere\.example/);

  // No key pinned for shard b's log: its entries cannot be verified.
  const unkeyed = await newPage('');
  await unkeyed.goto(`/#/federation/${encodeURIComponent(CRED)}`);
  await unkeyed.getByText('Credential across shards').waitFor();
  await unkeyed.locator('#shard-shard-b [data-state="no-key"]').waitFor();
  const none = await verifyShard(unkeyed, 'shard-shard-b');
  assert.deepEqual(none.states, ['failed'], none.text);
}];

phases.down = ['a shard that does not answer is named', async () => {
  const page = await newPage(KEY_B);
  await page.goto(`/#/federation/${encodeURIComponent(CRED)}`);
  await page.getByText('Credential across shards').waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'federation-down.png'), fullPage: true });
  assert.equal((await page.locator('#shards-answered').textContent()).trim(), '1 of 2 shards answered');
  const b = page.locator('#shard-shard-b [data-state="not-answered"]');
  await b.waitFor();
  assert.match(await b.textContent(), /did not answer/);
  const a = await verifyShard(page, 'shard-shard-a-test-ledger');
  assert.deepEqual(a.states, ['verified'], a.text);
}];

if (!phases[PHASE]) throw new Error(`PHASE ${PHASE}: want one of ${Object.keys(phases).join(', ')}`);
test(`${PHASE}: ${phases[PHASE][0]}`, phases[PHASE][1]);
