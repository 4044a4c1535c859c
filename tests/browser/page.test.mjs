// Real-browser tests of the Password Manager page: Debian's chromium driven by playwright-core,
// axe-core for accessibility, against `passbroker serve --demo` on 127.0.0.1 (a random port, a
// fresh temp data dir). Run by scripts/browser-tests.sh; by hand:
//   cargo build -p passbroker && (cd tests/browser && npm ci && npm test)
// Environment: PASSBROKER_BIN (default target/debug/passbroker), CHROMIUM (/usr/bin/chromium),
// PASSBROKER_SCREENSHOT_DIR (default docs/; "none" to skip screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = process.env.PASSBROKER_BIN || path.join(ROOT, 'target', 'debug', 'passbroker');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.PASSBROKER_SCREENSHOT_DIR || path.join(ROOT, 'docs');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const WAIT_MS = 20_000;

let tmp;
let dataDir;
let server;
let serverLog = '';
let base;
let creds;
let context;
let page;
// Abby's sign-in password as it is now (the tests change it).
let abbyPassword;
// Every password typed in these tests, to prove none reaches the server's log.
const typed = [];
const cspViolations = [];

function newPassword(tag) {
  // Meets the demo policy (8+ characters, a letter, a digit, no run of 4); unique per run.
  const p = `${tag}-${Math.random().toString(36).slice(2, 8)}-Q7x`;
  typed.push(p);
  return p;
}

async function waitForFile(file, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(file)) {
      try {
        return JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch (_) {
        // Being written; read again.
      }
    }
    if (server.exitCode !== null) throw new Error(`passbroker exited:\n${serverLog}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`passbroker did not start within ${ms} ms:\n${serverLog}`);
}

before(async () => {
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: build it first (cargo build -p passbroker)`);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'passbroker-browser-'));
  dataDir = path.join(tmp, 'data');
  server = spawn(BIN, ['serve', '--demo', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, PASSBROKER_LOG_LEVEL: 'info', PASSBROKER_WORKERS: '4' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  creds = await waitForFile(path.join(dataDir, 'demo-credentials.json'), 120_000);
  base = creds.baseUrl;
  abbyPassword = creds.userPassword;
  assert.ok(abbyPassword, 'demo-credentials.json carries userPassword');
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1100, height: 820 },
  });
  page = context.pages()[0] || (await context.newPage());
  // English unless a test asks otherwise (the `locale` option would override this header).
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'en-US,en;q=0.9' });
  page.setDefaultTimeout(WAIT_MS);
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  // Readiness: the page answers.
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${base}/health/ready`);
      if (r.ok) break;
    } catch (_) {
      // Not listening yet.
    }
    if (Date.now() > end) throw new Error(`passbroker not ready:\n${serverLog}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});

after(async () => {
  if (context) await context.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---- helpers ---------------------------------------------------------------------------------

async function axe(name) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on the ${name} screen`,
  );
}

async function shot(name) {
  if (SHOTS === 'none') return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `page-${name}.png`), fullPage: true });
}

const heading = (name) => page.getByRole('heading', { level: 1, name });

async function open() {
  await page.goto(`${base}/`);
  await page.locator('#loading').waitFor({ state: 'hidden' });
}

async function signIn(password) {
  await page.getByLabel('Username', { exact: true }).fill(creds.userName);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signOut() {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await heading('Sign in').waitFor();
}

const card = (title) => page.locator(`section.card[data-card="${title}"]`);

async function openChange(title) {
  await card(title).getByRole('button', { name: 'Change password', exact: true }).click();
  await heading(`Change password for ${title}`).waitFor();
}

async function badge(source) {
  return page.locator(`#progress-rows tr[data-source="${source}"] .badge`).textContent();
}

async function waitBadge(source, text) {
  await page.waitForFunction(
    ([s, t]) => document.querySelector(`#progress-rows tr[data-source="${s}"] .badge`)?.textContent === t,
    [source, text],
    { timeout: WAIT_MS },
  );
}

async function ruleState(rule) {
  return page.locator(`#rules li[data-rule="${rule}"]`).getAttribute('class');
}

// ---- the tests -------------------------------------------------------------------------------

test('the sign-in screen is accessible and speaks the browser\'s language', async () => {
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'de-DE,de;q=0.9' });
  await open();
  await heading('Anmelden').waitFor();
  await page.getByLabel('Benutzername', { exact: true }).waitFor();
  await axe('German sign-in');
  // The language links: French, remembered across visits.
  await page.getByRole('navigation', { name: 'Sprache' }).getByRole('link', { name: 'Français' }).click();
  await heading('Connexion').waitFor();
  await page.getByLabel('Nom d’utilisateur', { exact: true }).waitFor();
  await open();
  await heading('Connexion').waitFor();
  assert.equal(await page.getByRole('link', { name: 'Français' }).getAttribute('aria-current'), 'true');
  await page.getByRole('navigation', { name: 'Langue' }).getByRole('link', { name: 'English' }).click();
  await heading('Sign in').waitFor();
  await page.setExtraHTTPHeaders({ 'Accept-Language': 'en-US,en;q=0.9' });
  await open();
  await heading('Sign in').waitFor();
  await axe('sign-in');
  await shot('sign-in');
  // The session cookie is HttpOnly: the page's script cannot see it.
  assert.equal(await page.evaluate(() => document.cookie.includes('passbroker_session')), false);
});

test('a wrong password is refused with a message', async () => {
  await open();
  await signIn('not-her-password-1');
  await page.getByRole('alert').filter({ hasText: 'The username or password is wrong.' }).waitFor();
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
});

test('Abby changes her password on every source of her sync group and signs in with it', async () => {
  await open();
  await signIn(abbyPassword);
  await heading('My accounts').waitFor();
  const group = card('Workplace sign-in');
  await group.getByRole('rowheader', { name: 'passbroker' }).waitFor();
  await group.getByRole('rowheader', { name: 'Corp-Mail' }).waitFor();
  await card('My-AD').waitFor();
  await axe('accounts');
  await shot('accounts');
  const cookies = await context.cookies(base);
  const session = cookies.find((c) => c.name === 'passbroker_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(session));

  await openChange('Workplace sign-in');
  const fresh = newPassword('Sync');
  const field = page.getByLabel('New password', { exact: true });
  // Type it as a person does: the checklist ticks as the rules are met.
  await field.pressSequentially(fresh.slice(0, 4));
  assert.equal(await ruleState('minLength'), 'unmet');
  await field.pressSequentially(fresh.slice(4));
  for (const rule of ['minLength', 'maxLength', 'minAlpha', 'minNumeric', 'maxRepeatedChars']) {
    assert.equal(await ruleState(rule), 'met', rule);
  }
  assert.equal(await ruleState('match'), 'unmet');
  await page.getByLabel('Confirm new password', { exact: true }).fill(fresh);
  assert.equal(await ruleState('match'), 'met');
  assert.notEqual(await page.locator('#strength-text').textContent(), '');
  // Show / hide.
  const toggle = page.getByRole('button', { name: 'Show passwords' });
  await toggle.click();
  assert.equal(await field.getAttribute('type'), 'text');
  await page.getByRole('button', { name: 'Hide passwords' }).click();
  assert.equal(await field.getAttribute('type'), 'password');
  await axe('change');
  await shot('change');

  // Record every badge each row shows, from the first render on.
  await page.evaluate(() => {
    window.seenBadges = {};
    const record = () => {
      for (const row of document.querySelectorAll('#progress-rows tr')) {
        const seen = (window.seenBadges[row.dataset.source] ||= []);
        const text = row.querySelector('.badge')?.textContent;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
      }
    };
    new MutationObserver(record).observe(document.getElementById('progress-rows'), { childList: true, subtree: true });
  });
  const sent = [];
  page.on('request', (r) => { if (r.url().endsWith('/v3/set-password')) sent.push(r.postData() || ''); });
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await heading('Changing your password').waitFor();
  await waitBadge('passbroker', 'Success');
  await waitBadge('Corp-Mail', 'Success');
  await page.getByRole('status').filter({ hasText: 'The password was changed on every source.' }).waitFor();
  const seen = await page.evaluate(() => window.seenBadges);
  assert.deepEqual(seen['Corp-Mail'], ['In progress', 'Success']);
  // The plaintext left the page only encrypted, and is nowhere in the DOM.
  assert.equal(sent.length, 1);
  assert.ok(!sent[0].includes(fresh));
  assert.match(JSON.parse(sent[0]).encryption, /^RSA-OAEP-256$/);
  assert.ok(!(await page.content()).includes(fresh));
  assert.equal(await page.evaluate(() => document.getElementById('new-password').value), '');
  await axe('progress');
  await shot('progress');

  await page.getByRole('button', { name: 'Back to my accounts' }).click();
  await heading('My accounts').waitFor();
  await card('Workplace sign-in').locator('.badge', { hasText: 'Success' }).first().waitFor();

  // The new password works; the old one no longer does.
  await signOut();
  await page.getByRole('status').filter({ hasText: 'You have signed out.' }).waitFor();
  await signIn(abbyPassword);
  await page.getByRole('alert').filter({ hasText: 'The username or password is wrong.' }).waitFor();
  await signIn(fresh);
  await heading('My accounts').waitFor();
  abbyPassword = fresh;
});

test('a weak password shows its unmet rules before anything is sent', async () => {
  await heading('My accounts').waitFor();
  await openChange('My-AD');
  const sent = [];
  const listener = (r) => { if (r.url().includes('/set-password')) sent.push(r.url()); };
  page.on('request', listener);
  await page.getByLabel('New password', { exact: true }).fill('abc');
  await page.getByLabel('Confirm new password', { exact: true }).fill('abc');
  assert.equal(await ruleState('minLength'), 'unmet');
  assert.equal(await ruleState('minNumeric'), 'unmet');
  assert.equal(await ruleState('minAlpha'), 'met');
  assert.equal(await ruleState('match'), 'met');
  assert.match(await page.locator('#rules li[data-rule="minLength"]').textContent(), /At least 8 characters.*not met yet/);
  assert.equal(await page.locator('#strength-text').textContent(), 'Very weak');
  await shot('weak-password');
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'does not meet every rule' }).waitFor();
  await heading('Change password for My-AD').waitFor();
  page.off('request', listener);
  assert.deepEqual(sent, []);
  await axe('change (weak password)');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await heading('My accounts').waitFor();
});

async function token(clientId, clientSecret) {
  const r = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).access_token;
}

async function call(method, pathname, bearer, body) {
  const r = await fetch(`${base}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-sailpoint-experimental': 'true' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(r.status < 300, `${method} ${pathname}: ${r.status} ${await r.text()}`);
}

test('the org\'s custom instructions appear in the person\'s language, sanitised', async () => {
  // An ORG_ADMIN (created through the API, its PAT by the CLI) writes the instructions.
  const app = await token(creds.clientId, creds.clientSecret);
  const admin = `page.admin.${Date.now()}`;
  await call('POST', '/passbroker/v1/identities', app, { name: admin, userLevel: 'ORG_ADMIN' });
  const out = execFileSync(BIN, ['pats', 'create', '--user', admin, '--name', 'browser test', '--json', '--data-dir', dataDir], { encoding: 'utf8' });
  const pat = JSON.parse(out.trim().split('\n').pop());
  const bearer = await token(pat.clientId, pat.clientSecret);
  await call('PUT', '/v3/password-org-config', bearer, { customInstructionsEnabled: true });
  const hostile = '<img src="/x" onerror="window.pwned=1"><script>window.pwned=2</script>'
    + '<a href="javascript:window.pwned=3">bad link</a> ';
  for (const [pageId, locale, content] of [
    ['flow-selection:select', 'default', `${hostile}<b>Need help?</b> <a href="https://help.example/" target="_blank">Service desk</a>`],
    ['change-password:enter-password', 'default', `${hostile}<strong>Choose well.</strong>`],
    ['change-password:enter-password', 'de', '<p>Bitte <em>gut</em> wählen.</p>'],
    ['change-password:finish', 'default', 'Done: <i>use it everywhere</i>.'],
  ]) {
    await call('POST', '/beta/custom-password-instructions', bearer, { pageId, pageContent: content, locale });
  }
  const box = (id) => page.locator(`#${id}`);
  await open();
  await heading('My accounts').waitFor();
  await openChange('My-AD');
  await box('instr-enter').locator('strong', { hasText: 'Choose well.' }).waitFor();
  assert.equal(await box('instr-enter').locator('img, script').count(), 0);
  assert.equal(await box('instr-enter').locator('a', { hasText: 'bad link' }).getAttribute('href'), null);
  await axe('change (custom instructions)');
  await page.getByRole('button', { name: 'Cancel' }).click();
  // German, by the language links.
  await page.getByRole('link', { name: 'Deutsch' }).click();
  await heading('Meine Konten').waitFor();
  await page.locator('section.card[data-card="My-AD"]').getByRole('button', { name: 'Passwort ändern', exact: true }).click();
  await box('instr-enter').locator('em', { hasText: 'gut' }).waitFor();
  await page.getByRole('link', { name: 'English' }).click();
  await heading('My accounts').waitFor();
  await signOut();
  const help = box('instr-flow').getByRole('link', { name: 'Service desk' });
  await help.waitFor();
  assert.equal(await help.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await help.getAttribute('target'), '_blank');
  await box('instr-flow').locator('b', { hasText: 'Need help?' }).waitFor();
  assert.equal(await box('instr-flow').locator('img, script').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  // The second line of defence held too: the CSP blocked the handlers as they were parsed.
  assert.ok(cspViolations.some((v) => /inline event handler/.test(v)));
  await shot('sign-in-instructions');
  await signIn(abbyPassword);
  await heading('My accounts').waitFor();
});

test('a target that fails shows Failed with its reason', async () => {
  await openChange('Payroll');
  const p = newPassword('Payroll');
  await page.getByLabel('New password', { exact: true }).fill(p);
  await page.getByLabel('Confirm new password', { exact: true }).fill(p);
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await waitBadge('Payroll', 'Failed');
  await page.locator('#progress-rows tr[data-source="Payroll"]', { hasText: 'the account is locked there' }).waitFor();
  await page.getByRole('status').filter({ hasText: 'not changed everywhere' }).waitFor();
  await page.locator('#instr-finish i', { hasText: 'use it everywhere' }).waitFor();
  await axe('progress (failed target)');
  await shot('failed-target');
  await page.getByRole('button', { name: 'Back to my accounts' }).click();
  await card('Payroll').locator('.badge', { hasText: 'Failed' }).waitFor();
});

test('a session that ended on the server sends the person back to sign in', async () => {
  await heading('My accounts').waitFor();
  // End the session behind the page's back, as expiry (or a sign-out elsewhere) does.
  const cookie = (await context.cookies(base)).find((c) => c.name === 'passbroker_session');
  const headers = { cookie: `${cookie.name}=${cookie.value}` };
  const me = await (await fetch(`${base}/passbroker/v1/me`, { headers })).json();
  const end = await fetch(`${base}/passbroker/v1/me/session`, {
    method: 'DELETE',
    headers: { ...headers, 'x-csrf-token': me.csrfToken },
  });
  assert.equal(end.status, 204);
  await openChange('My-AD');
  const p = newPassword('Late');
  await page.getByLabel('New password', { exact: true }).fill(p);
  await page.getByLabel('Confirm new password', { exact: true }).fill(p);
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await heading('Sign in').waitFor();
  await page.getByRole('status').filter({ hasText: 'Your session has ended. Sign in again.' }).waitFor();
  await axe('sign-in (session ended)');
  await shot('session-ended');
  // Reloading does not bring the session back.
  await open();
  await heading('Sign in').waitFor();
});

test('everything works from the keyboard, with a visible focus', async () => {
  await open();
  await heading('Sign in').waitFor();
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    const s = getComputedStyle(e);
    return { id: e.id, text: e.textContent.trim(), outline: s.outlineStyle, width: parseFloat(s.outlineWidth) };
  });
  const tabTo = async (check, limit = 40) => {
    for (let i = 0; i < limit; i += 1) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (check(f)) return f;
    }
    throw new Error('focus never reached the element');
  };
  await page.locator('body').focus();
  let f = await tabTo((x) => x.id === 'username');
  assert.ok(f.outline !== 'none' && f.width >= 2, `visible focus: ${JSON.stringify(f)}`);
  await page.keyboard.type(creds.userName);
  await page.keyboard.press('Tab');
  await page.keyboard.type(abbyPassword);
  await page.keyboard.press('Enter');
  await heading('My accounts').waitFor();
  f = await tabTo((x) => x.text === 'Change password');
  assert.ok(f.outline !== 'none' && f.width >= 2, `visible focus: ${JSON.stringify(f)}`);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: /^Change password for / }).waitFor();
  f = await focused();
  assert.equal(f.id, 'new-password', 'the new password field has the focus');
  await page.keyboard.press('Escape');
  f = await tabTo((x) => x.id === 'change-cancel');
  await page.keyboard.press('Enter');
  await heading('My accounts').waitFor();
  f = await tabTo((x) => x.id === 'signout');
  await page.keyboard.press('Enter');
  await heading('Sign in').waitFor();
});

test('no CSP violation, and no typed password in the server\'s log', () => {
  // The only blocks are of the event handlers the hostile instructions carried (parsing them,
  // even into an inert document, reports a block): the page itself needs no exception.
  assert.deepEqual(cspViolations.filter((v) => !/Executing inline event handler/.test(v)), []);
  for (const p of typed.concat([creds.userPassword])) {
    assert.ok(!serverLog.includes(p), 'a password reached the log');
  }
});
