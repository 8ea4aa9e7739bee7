// End-to-end tests of the agentledger UI in a real browser: Playwright
// (playwright-core) driving Debian's Chromium, headless, against a running
// `agentledger serve` loaded with a realistic agent run over OTLP.
//
// web/e2e_test.go (TestBrowserEndToEnd) starts the server, loads the runs
// and runs this file with:
//   BASE_URL        the query server, e.g. http://127.0.0.1:8080
//   TOKEN           a bearer token (admin or responder)
//   VERIFIER_KEY    the log's verifier key, as serve prints it
//   CREDENTIAL_ID   a credential used in TRACE_ID and in a foreign run
//   TRACE_ID        the run that obtained the credential
//   FOREIGN_TRACE_ID  the foreign run (optional)
//   RAW_TOKEN       the credential's raw bearer token (optional)
//   ERASED_INDEX    an entry whose content was erased (optional)
//   DEMO_FOREIGN_TRACE_ID  the demo's foreign run (shadow-runner), which used
//                   DEMO_CREDENTIAL_ID, obtained in DEMO_OWNER_TRACE_ID (optional)
//   DEMO_OWNER_TRACE_ID, DEMO_CREDENTIAL_ID
//   DEMO_ANALYST_TRACE_ID  the demo's data-analyst run, whose STS session
//                   DEMO_SESSION_ID CloudTrail shows used from the attacker's IP
//   SCREENSHOT_DIR  where screenshots go
//   CHROMIUM        the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (k, def) => {
  const v = process.env[k] ?? def;
  if (v === undefined) throw new Error(`${k} is not set: run this through go test ./web -run TestBrowserEndToEnd`);
  return v;
};
const BASE = env('BASE_URL').replace(/\/$/, '');
const TOKEN = env('TOKEN');
const VKEY = env('VERIFIER_KEY');
const CRED = env('CREDENTIAL_ID');
const TRACE = env('TRACE_ID');
const FOREIGN = env('FOREIGN_TRACE_ID', '');
const RAW = env('RAW_TOKEN', '');
const ERASED = env('ERASED_INDEX', '');
const DEMO_FOREIGN = env('DEMO_FOREIGN_TRACE_ID', '');
const DEMO_OWNER = env('DEMO_OWNER_TRACE_ID', '');
const DEMO_CRED = env('DEMO_CREDENTIAL_ID', '');
const SHOTS = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

mkdirSync(SHOTS, { recursive: true });
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM)`);

let browser;
let context;
let page;
const problems = []; // page errors and console errors
const requested = []; // every URL the page asked for

async function shot(name, opts = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true, ...opts });
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true, baseURL: BASE });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[14]/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => requested.push(r.url()));
});

after(async () => {
  await browser?.close();
});

test('sign in with a bearer token', async () => {
  await page.goto('/');
  await page.waitForURL(/#\/signin/);
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await shot('01-signin');
  await page.getByLabel('Bearer token').fill('alt_wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
  await page.getByLabel('Bearer token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Search the ledger' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('agentledger.token')), TOKEN);
  assert.ok(!(await page.evaluate(() => Object.values(localStorage))).includes(TOKEN), 'the token is not in localStorage');
  assert.ok(!page.url().includes(TOKEN), 'the token is not in the URL');
});

test('pin the verifier key', async () => {
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  await page.getByRole('textbox', { name: 'Verifier key' }).fill('example.com/log+00000000+AQ==');
  await page.getByRole('button', { name: 'Pin key' }).click();
  await page.locator('#key-error').filter({ hasText: 'verifier key' }).waitFor();
  await page.getByRole('textbox', { name: 'Verifier key' }).fill(VKEY);
  await page.getByRole('button', { name: 'Pin key' }).click();
  await page.locator('#pinned-key-value').filter({ hasText: VKEY }).waitFor();
  await page.getByText('matches your pinned key').waitFor();
  await shot('02-settings');
});

test('search page shows the ledger size and recent checkpoints', async () => {
  await page.getByRole('link', { name: 'Search' }).click();
  await page.locator('#ledger-size').waitFor();
  await page.getByRole('heading', { name: 'Recent checkpoints' }).waitFor();
  const size = Number((await page.locator('#ledger-size').innerText()).replace(/,/g, ''));
  assert.ok(size > 10, `ledger size ${size}`);
  await page.getByText('pinned key matches the server’s').waitFor();
  await shot('03-search');
});

test('search a credential: facts, lineage, foreign usage, blast radius', async () => {
  await page.getByLabel('Credential, leaked token, trace or agent').fill(CRED);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(`**/#/credentials/${encodeURIComponent(CRED)}`);
  await page.getByRole('heading', { name: CRED, level: 1 }).waitFor();
  await page.locator('#blast-radius table').waitFor();
  const foreign = page.locator('.usage-foreign');
  await foreign.first().waitFor();
  assert.ok(await foreign.count() >= 1, 'a foreign run is highlighted');
  if (FOREIGN) assert.equal(await foreign.first().getAttribute('data-trace'), FOREIGN);
  await page.locator(`.usage[data-trace="${TRACE}"][data-foreign="false"]`).waitFor();
  await page.locator('#foreign-alert').waitFor();
  // The lineage graph links to the parent and the child credentials.
  assert.ok(await page.locator('#lineage svg a').count() >= 2, 'lineage links');
  assert.ok(await page.locator('#blast-radius tbody tr').count() >= 3, 'blast radius rows');
  // The issuer's side: no issuer audit log was imported, so the issuance
  // is the agents' account only.
  await page.locator('#evidence').waitFor();
  assert.equal((await page.locator('#evidence-status').textContent()).trim(), 'agent-reported only');
  await shot('04-credential');
  // The foreign run's chain of thought, expanded.
  await foreign.first().locator('.cot-details > summary').click();
  await foreign.first().locator('.part-reasoning:visible').first().waitFor();
  await foreign.first().scrollIntoViewIfNeeded();
  await shot('04b-credential-foreign-cot', { fullPage: false });
});

test('verify a credential event and an API call from the credential page', async () => {
  const call = page.locator(`.usage[data-trace="${TRACE}"] tbody tr[data-index]`).first();
  await call.getByRole('button', { name: /Verify entry/ }).click();
  await page.locator(`.usage[data-trace="${TRACE}"] [data-state="verified"]`).first().waitFor();
  await page.locator('#facts').getByRole('button', { name: /Verify entry/ }).first().click();
  await page.locator('#facts [data-state="verified"]').waitFor();
});

test('the credential view is proved complete in the browser', async () => {
  const panel = page.locator('#completeness');
  await panel.and(page.locator(':not([data-state="pending"])')).waitFor();
  assert.equal(await panel.getAttribute('data-state'), 'complete', await panel.textContent());
  assert.match(await panel.textContent(), /Complete as of checkpoint \d+/);
});

test('export the credential view as JSON and CSV', async () => {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
  assert.match(dl.suggestedFilename(), /^credential-.*\.json$/);
  const json = JSON.parse(readFileSync(await dl.path(), 'utf8'));
  assert.equal(json.credential_view.credential.id, CRED);
  assert.ok(json.blast_radius.targets.length >= 1);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const lines = readFileSync(await csv.path(), 'utf8').trim().split('\r\n');
  assert.match(lines[0], /^credential_id,trace_id,foreign_run,/);
  assert.ok(lines.length >= 3, `csv has ${lines.length} lines`);
  assert.ok(lines.some((l) => l.includes(',true,')), 'a foreign row');
});

test('look up a raw leaked token without putting it in the URL', { skip: !RAW && 'RAW_TOKEN not set' }, async () => {
  await page.goto('/#/');
  await page.getByLabel('Credential, leaked token, trace or agent').fill(RAW);
  await page.locator('#search-kind').filter({ hasText: 'JSON Web Token' }).waitFor();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.locator('#lookup-results').waitFor();
  await page.locator('#lookup-results').getByRole('link', { name: CRED }).waitFor();
  assert.equal(await page.getByLabel('Credential, leaked token, trace or agent').inputValue(), '', 'the box is cleared');
  assert.ok(!page.url().includes(RAW.slice(0, 20)), 'not in the URL');
  assert.ok(!requested.some((u) => u.includes(RAW.slice(0, 20))), 'not in any request URL');
  const hist = await page.evaluate(() => history.length);
  assert.ok(hist >= 1);
  await shot('05-lookup');
});

test('look up a token pasted as a header on lines of its own', { skip: !RAW && 'RAW_TOKEN not set' }, async () => {
  await page.goto('/#/');
  const box = page.getByLabel('Credential, leaked token, trace or agent');
  await box.fill(`Authorization: Bearer ${RAW}\nAccept: */*`);
  await page.locator('#search-kind').filter({ hasText: 'pasted text' }).waitFor();
  await box.press('Enter');
  await page.locator('#lookup-results').getByRole('link', { name: CRED }).waitFor();
  assert.equal(await box.inputValue(), '', 'the box is cleared');
  assert.ok(!requested.some((u) => u.includes(RAW.slice(0, 20))), 'not in any request URL');
});

test('search a trace ID and an agent ID', async () => {
  await page.goto('/#/');
  const box = page.getByLabel('Credential, leaked token, trace or agent');
  await box.fill(TRACE.toUpperCase());
  await page.locator('#search-kind').filter({ hasText: 'trace ID' }).waitFor();
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(`**/#/runs/${TRACE}`);
  await page.locator('.wf-row').first().waitFor();
  const agent = await page.locator('.page-sub a').first().innerText();
  await page.goto('/#/');
  await box.fill(agent);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL(`**/#/agents/${encodeURIComponent(agent)}`);
  await page.getByRole('link', { name: TRACE }).waitFor();
  await shot('05b-agent');
  await page.goto('/#/');
  await box.fill('no-such-credential-or-agent');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.locator('#search-results').getByText('Nothing in the ledger names').waitFor();
});

test('open the run: waterfall, credential tags, approval, attestation', async () => {
  await page.goto(`/#/credentials/${encodeURIComponent(CRED)}`);
  await page.locator(`.usage[data-trace="${TRACE}"]`).getByRole('link', { name: 'Open run' }).click();
  await page.waitForURL(`**/#/runs/${TRACE}`);
  await page.locator('.wf-row').first().waitFor();
  assert.ok(await page.locator('.wf-row').count() >= 10, 'rows');
  assert.ok(await page.locator('.wf-row[data-kind="api_call"] .chip-credential').count() >= 2, 'API calls tagged with their credential');
  await page.locator('.wf-row[data-kind="approval"]').getByText('approved', { exact: true }).waitFor();
  await page.locator('#summary').getByText(/approved by alice@example.com/).waitFor();
  await page.locator('#attestation').getByText('sha256:').waitFor();
  // Bars are laid out by time: the root spans the whole track.
  const root = await page.locator('.wf-row[data-kind="agent"] .wf-bar').boundingBox();
  const track = await page.locator('.wf-row[data-kind="agent"] .wf-track').boundingBox();
  assert.ok(root.width > track.width * 0.9, `root bar ${root.width} of ${track.width}`);
  await shot('06-run');
});

test('expand an LLM step with the keyboard to its chain of thought', async () => {
  const step = page.locator('.wf-row[data-kind="llm"]').nth(1);
  const toggle = step.locator('.wf-toggle');
  await toggle.focus();
  await page.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await step.locator('.part-reasoning:visible').first().waitFor();
  await step.locator('.part-tool-call:visible').first().waitFor();
  // Arrow keys move between rows.
  await toggle.focus();
  await page.keyboard.press('ArrowDown');
  const next = await page.evaluate(() => document.activeElement?.classList.contains('wf-toggle'));
  assert.ok(next, 'ArrowDown focuses the next row');
  await shot('07-run-step');
});

test('verify a proof in the browser', async () => {
  const step = page.locator('.wf-row[data-kind="llm"]').nth(1);
  await step.getByRole('button', { name: /Verify entry/ }).click();
  const ok = step.locator('[data-state="verified"]');
  await ok.waitFor();
  const text = await ok.innerText();
  assert.match(text, /Verified/);
  assert.match(text, /Content commitments/);
  await step.scrollIntoViewIfNeeded();
  await shot('08-verified');
});

test('a tampered inclusion proof fails with root mismatch', async () => {
  await page.route('**/v1/proofs/inclusion**', async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    const h = Buffer.from(body.hashes[0], 'base64');
    h[0] ^= 0xff;
    body.hashes[0] = h.toString('base64');
    await route.fulfill({ response: resp, json: body });
  });
  const step = page.locator('.wf-row[data-kind="llm"]').nth(1);
  await step.getByRole('button', { name: /Verify entry/ }).click();
  const failed = step.locator('[data-state="failed"][data-failure="root_mismatch"]');
  await failed.waitFor();
  assert.match(await failed.innerText(), /Verification failed: Root mismatch/);
  await page.unroute('**/v1/proofs/inclusion**');
  await step.scrollIntoViewIfNeeded();
  await shot('09-tampered-proof');
});

test('a tampered checkpoint fails its signature', async () => {
  await page.route('**/v1/checkpoint', async (route) => {
    const resp = await route.fetch();
    const lines = (await resp.text()).split('\n');
    const root = Buffer.from(lines[2], 'base64');
    root[5] ^= 1;
    lines[2] = root.toString('base64');
    await route.fulfill({ response: resp, body: lines.join('\n') });
  });
  const step = page.locator('.wf-row[data-kind="llm"]').nth(1);
  await step.getByRole('button', { name: /Verify entry/ }).click();
  await step.locator('[data-failure="signature"]').waitFor();
  await page.unroute('**/v1/checkpoint');
});

test('tampered content fails its commitment', async () => {
  await page.route(`**/v1/runs/${TRACE}*`, async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    // Rewrite the first step's reasoning wherever it appears, as a server
    // hiding what the agent thought would.
    const forged = 'The user asked me to copy the deploy token to a paste site.';
    const step = body.entries.find((e) => e.kind === 'llm');
    for (const c of step.content || []) {
      if (c.name === 'reasoning' && c.data) c.data = forged;
      if (c.name === 'output.messages' && c.data) {
        const msgs = JSON.parse(c.data);
        for (const m of msgs) for (const p of m.parts || []) if (p.type === 'reasoning') p.content = forged;
        c.data = JSON.stringify(msgs);
      }
    }
    await route.fulfill({ response: resp, json: body });
  });
  await page.goto(`/#/runs/${TRACE}`);
  await page.reload();
  const step = page.locator('.wf-row[data-kind="llm"]').first();
  await step.locator('.wf-toggle').click();
  await step.getByRole('button', { name: /Verify entry/ }).click();
  await step.getByText('copy the deploy token to a paste site').first().waitFor();
  const failed = step.locator('[data-failure="content_commitment_mismatch"]');
  await failed.waitFor();
  assert.match(await failed.innerText(), /Content commitment mismatch/);
  assert.match(await failed.innerText(), /content output\.messages/);
  await page.unroute(`**/v1/runs/${TRACE}*`);
  await shot('10-tampered-content');
});

test('erased content is shown as erased and still verifies', { skip: !ERASED && 'ERASED_INDEX not set' }, async () => {
  await page.goto(`/#/runs/${TRACE}?entry=${ERASED}`);
  const row = page.locator(`.wf-row[data-index="${ERASED}"]`);
  await row.locator('.wf-toggle[aria-expanded="true"]').waitFor();
  await row.locator('[data-erased="true"]').first().waitFor();
  await row.getByRole('button', { name: /Verify entry/ }).click();
  const ok = row.locator('[data-state="verified"]');
  await ok.waitFor();
  assert.match(await ok.innerText(), /erased/);
  await shot('11-erased');
});

test('entry deep link verifies', async () => {
  const index = await page.locator('.wf-row[data-kind="api_call"]').first().getAttribute('data-index');
  await page.goto(`/#/entries/${index}`);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByRole('button', { name: /Verify entry/ }).click();
  await page.locator('[data-state="verified"]').waitFor();
  await shot('12-entry');
});

test('export the run as JSON and CSV', async () => {
  await page.goto(`/#/runs/${TRACE}`);
  await page.locator('.wf-row').first().waitFor();
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).click()]);
  assert.equal(dl.suggestedFilename(), `run-${TRACE}.json`);
  assert.equal(JSON.parse(readFileSync(await dl.path(), 'utf8')).trace_id, TRACE);
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  assert.match(readFileSync(await csv.path(), 'utf8'), /^index,leaf_hash,kind,name,/);
});

const noDemo = !DEMO_FOREIGN && 'DEMO_FOREIGN_TRACE_ID not set';
const DEMO_ANALYST = env('DEMO_ANALYST_TRACE_ID', '');
const DEMO_SESSION = env('DEMO_SESSION_ID', '');

test('the demo\'s foreign run shows its foreign credential and links to the run that obtained it', { skip: noDemo }, async () => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`/#/runs/${DEMO_FOREIGN}`);
  await page.getByRole('heading', { name: 'shadow-runner', level: 1 }).waitFor();
  await page.locator('#foreign-alert').filter({ hasText: 'obtained in another run' }).waitFor();
  // Every API call of the run is tagged with the foreign credential.
  const calls = page.locator('.wf-row[data-kind="api_call"]');
  assert.ok(await calls.count() >= 2, 'API call rows');
  for (const row of await calls.all()) {
    await row.locator('.chip-foreign').filter({ hasText: DEMO_CRED }).waitFor();
    await row.locator('.foreign-badge').waitFor();
  }
  assert.match(await page.locator('#summary #foreign-uses').innerText(), /^2 calls$/);
  // A call's detail names the run that obtained its credential.
  const first = calls.first();
  await first.locator('.wf-toggle').click();
  await first.locator(`.cross-facts a[href^="#/runs/${DEMO_OWNER}"]`).filter({ hasText: 'deploy-bot' }).waitFor();
  const card = page.locator(`#cross-run article[data-link="foreign"][data-credential="${DEMO_CRED}"]`);
  await card.getByText('Foreign credential').waitFor();
  const owner = card.locator(`a[href^="#/runs/${DEMO_OWNER}"]`);
  assert.match(await owner.innerText(), /deploy-bot/);
  await shot('15-demo-foreign-run');
  await owner.click();
  await page.waitForURL(`**/#/runs/${DEMO_OWNER}?entry=*`);
  await page.getByRole('heading', { name: 'deploy-bot', level: 1 }).waitFor();
});

test('the run that obtained the credential names the run it leaked to', { skip: noDemo }, async () => {
  await page.goto(`/#/runs/${DEMO_OWNER}`);
  await page.getByRole('heading', { name: 'deploy-bot', level: 1 }).waitFor();
  await page.locator('#leak-alert').waitFor();
  assert.equal(await page.locator('.wf-row .chip-foreign').count(), 0, 'no foreign use in the owning run');
  const card = page.locator(`#cross-run article[data-link="leaked"][data-credential="${DEMO_CRED}"]`);
  await card.getByText('Obtained here').waitFor();
  assert.match(await card.innerText(), /leaked to shadow-runner/);
  await page.locator('.wf-row[data-kind="credential"] .leak-badge').waitFor();
  await shot('16-demo-owner-run');
  await card.locator(`a[href^="#/runs/${DEMO_FOREIGN}"]`).click();
  await page.waitForURL(`**/#/runs/${DEMO_FOREIGN}?entry=*`);
  await page.locator('#foreign-alert').waitFor();
});

test('the run page shows the issuer and provider evidence of the credentials it used', { skip: !DEMO_ANALYST && 'DEMO_ANALYST_TRACE_ID not set' }, async () => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`/#/runs/${DEMO_ANALYST}`);
  await page.getByRole('heading', { name: 'data-analyst', level: 1 }).waitFor();
  const card = page.locator(`#run-evidence article[data-credential="${DEMO_SESSION}"]`);
  await card.waitFor();
  assert.equal((await card.locator('.evidence-status').textContent()).trim(), 'issuer-confirmed');
  const unaccounted = card.locator('.finding[data-kind="unaccounted_use"]');
  assert.equal(await unaccounted.count(), 2, 'two uses CloudTrail saw that no agent run accounts for');
  assert.match(await unaccounted.first().innerText(), /203\.0\.113\.66/);
  await shot('17-demo-analyst-run-evidence');
});

test('the agent\'s run list marks the run with foreign uses', { skip: noDemo }, async () => {
  await page.goto('/#/');
  await page.getByLabel('Credential, leaked token, trace or agent').fill('agent-unknown');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.waitForURL('**/#/agents/agent-unknown');
  const row = page.locator(`tr[data-trace="${DEMO_FOREIGN}"][data-foreign="true"]`);
  await row.locator('.foreign-badge').filter({ hasText: '2 foreign uses' }).waitFor();
  await page.goto(`/#/agents/${encodeURIComponent('agent-deploy-7')}`);
  await page.locator(`tr[data-trace="${DEMO_OWNER}"][data-foreign="false"]`).waitFor();
});

test('identical attestation entries are shown once, each still verifiable', { skip: noDemo }, async () => {
  await page.goto(`/#/runs/${DEMO_FOREIGN}`);
  const att = page.locator('#attestation');
  await att.locator('.attest').first().waitFor();
  assert.equal(await att.locator('.attest').count(), 1, 'one block for what ran');
  const n = Number(await att.locator('.attest').getAttribute('data-entries'));
  assert.ok(n >= 2, `the block stands for ${n} entries`);
  await att.locator('.attest-count').filter({ hasText: `${n} entries` }).click();
  const items = att.locator('.attest-list > li');
  assert.equal(await items.count(), n);
  for (const li of await items.all()) {
    await li.getByRole('button', { name: /Verify entry/ }).click();
    await li.locator('[data-state="verified"]').waitFor();
  }
  await att.scrollIntoViewIfNeeded();
  await shot('17-demo-attestation', { fullPage: false });
});

test('status badges and credential chips never clip, at 1024, 1280 and 1440 px', { skip: noDemo }, async () => {
  for (const w of [1024, 1280, 1440]) {
    await page.setViewportSize({ width: w, height: 900 });
    for (const trace of [DEMO_FOREIGN, DEMO_OWNER, TRACE]) {
      await page.goto(`/#/runs/${trace}`);
      await page.locator('.wf-row').first().waitFor();
      await page.waitForLoadState('networkidle');
      const clipped = await page.evaluate(() => {
        const out = [];
        for (const b of document.querySelectorAll('.badge, .chip')) {
          if (b.scrollWidth > b.clientWidth) out.push(`${b.textContent}: scroll width ${b.scrollWidth} > ${b.clientWidth}`);
        }
        // A badge in the timeline must also lie wholly inside its row's
        // name column, which hides what overflows.
        for (const label of document.querySelectorAll('.wf-label')) {
          const box = label.getBoundingClientRect();
          for (const b of label.querySelectorAll('.badge, .chip')) {
            const r = b.getBoundingClientRect();
            if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(`${b.textContent}: ${r.left}–${r.right} outside its column ${box.left}–${box.right}`);
          }
          for (const c of [label, ...label.querySelectorAll('.wf-tags')]) {
            if (c.scrollWidth > c.clientWidth) out.push(`${c.className} of "${label.textContent}": scroll width ${c.scrollWidth} > ${c.clientWidth}`);
          }
        }
        return out;
      });
      assert.deepEqual(clipped, [], `run ${trace} at ${w}px`);
      assert.ok(await page.locator('.wf-row .badge', { hasText: 'error' }).count() >= (trace === DEMO_FOREIGN ? 1 : 0));
    }
    await page.goto(`/#/runs/${DEMO_FOREIGN}`);
    await page.locator('.wf-row').first().waitFor();
    await shot(`18-demo-foreign-run-${w}`);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('laptop widths: no horizontal overflow', async () => {
  for (const [w, hgt] of [[1280, 800], [1366, 768], [1440, 900], [1024, 768]]) {
    await page.setViewportSize({ width: w, height: hgt });
    for (const hash of ['#/', `#/runs/${TRACE}`, `#/credentials/${encodeURIComponent(CRED)}`]) {
      await page.goto(`/${hash}`);
      await page.locator('h1').waitFor();
      await page.waitForLoadState('networkidle');
      const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(over <= 0, `${hash} at ${w}px overflows by ${over}px`);
    }
    await shot(`14-credential-${w}`, { fullPage: false });
  }
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('sign out forgets the token', async () => {
  await page.goto('/#/');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/#\/signin/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('agentledger.token')), null);
});

test('no page errors', () => {
  assert.deepEqual(problems, []);
});
