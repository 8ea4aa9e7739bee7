// End-to-end test of the governance panels of the UI: for each API call,
// the policy decision that allowed it, the approval that gated it
// (verified or not, by whom) and the attestation check. Playwright
// (playwright-core) drives Debian's Chromium, headless.
//
// web/governance_test.go (TestBrowserGovernance) starts serve with an
// allowed-signers file, a gate on wires and an attestation allow-list,
// sends the run over OTLP and runs this file with:
//   BASE_URL, TOKEN     the query server and a bearer token
//   GOV_TRACE_ID        the run
//   GOV_CREDENTIAL_ID   the credential its four calls used
//   SCREENSHOT_DIR, CHROMIUM
// (The file is named .spec.mjs so that the main UI test's `node --test
// e2e/` does not pick it up.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, def) => {
  const v = process.env[k] ?? def;
  if (v === undefined) throw new Error(`${k} is not set: run this through go test ./web -run TestBrowserGovernance`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const TOKEN = env('TOKEN');
const TRACE = env('GOV_TRACE_ID');
const CRED = env('GOV_CREDENTIAL_ID');
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
mkdirSync(SHOTS, { recursive: true });

let browser;
let page;
const problems = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[14]/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.goto('/');
  await page.waitForURL(/#\/signin/);
  await page.getByLabel('Bearer token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Search the ledger' }).waitFor();
});

after(async () => {
  await browser?.close();
});

// The four cases, by the path of the call: what its approval badge says,
// the finding it raises, and whether a policy decision allowed it.
const cases = [
  { path: '/v1/payments', approval: /approved by alice@example\.com, signature verified$/, finding: null, policy: 'cedar allow' },
  { path: '/v1/payouts', approval: /signature not verified \(bad signature\)/, finding: 'approval_unverified', policy: null },
  { path: '/v1/invoices', approval: /signature verified, expired when used/, finding: 'approval_expired', policy: null },
  { path: '/v1/wires', approval: /approved by alice@example\.com, unsigned/, finding: 'approval_missing', policy: null },
];

async function checkCall(scope, c) {
  const approval = scope.locator('.approval-check');
  await approval.waitFor();
  const text = (await approval.innerText()).trim();
  assert.match(text, c.approval, `${c.path}: approval badge "${text}"`);
  const decisions = await scope.locator('.policy-decision').allInnerTexts();
  assert.deepEqual(decisions.map((d) => d.trim()), c.policy ? [c.policy] : [], `${c.path}: policy decisions`);
  const findings = await scope.locator('.gov-finding').evaluateAll((els) => els.map((e) => e.dataset.kind));
  for (const f of ['approval_unverified', 'approval_expired', 'approval_missing']) {
    assert.equal(findings.includes(f), f === c.finding, `${c.path}: finding ${f} in ${findings}`);
  }
  // The run attests sha256:rogue-image-77aa, which the allow-list does not name.
  const att = scope.locator('.attestation-check');
  assert.equal(await att.getAttribute('data-status'), 'mismatch', `${c.path}: attestation check`);
  assert.match(await att.innerText(), /attestation mismatch: image sha256:rogue-image-77aa not in the allow-list/);
  assert.ok(findings.includes('attestation_mismatch'), `${c.path}: attestation_mismatch finding`);
}

test('the credential page shows, per call, decision, approval and attestation', async () => {
  await page.goto(`/#/credentials/${encodeURIComponent(CRED)}`);
  for (const c of cases) {
    const row = page.locator('tr[data-index]', { hasText: `api.bank.example${c.path}` });
    await row.waitFor();
    await checkCall(row, c);
  }
  await page.locator('tr[data-index]', { hasText: 'api.bank.example/v1/payments' }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'governance-credential.png'), fullPage: true });
});

test('the run page shows the same for each of its calls', async () => {
  await page.goto(`/#/runs/${TRACE}`);
  const card = page.locator('#governance');
  await card.waitFor();
  assert.equal(await card.locator('.gov-call').count(), cases.length);
  for (const c of cases) {
    await checkCall(card.locator('.gov-call', { hasText: `api.bank.example${c.path}` }), c);
  }
  // The verified approval links to its entry in the run.
  await card.locator('.gov-call', { hasText: '/v1/payments' }).locator('a:has(.approval-check)').click();
  await page.waitForURL(/entry=\d+/);
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, 'governance-run.png'), fullPage: true });
});

test('no page errors', () => {
  assert.deepEqual(problems, []);
});
