// The portal used as a person uses it, in headless Chromium: log in, make an API key,
// submit a TSV with one bad row and see the error at its row, filter the explorer and see
// the counts change, download a file, search discovery on a hub over two commons. Every page
// is checked for JavaScript errors and by axe-core (no serious or critical findings), and
// photographed into docs/portal/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import {
  assertA11y, assertNoErrors, closePage, goto, launch, login, openPage, response, screenshot, seed,
} from './lib.mjs';

const s = seed();
let browser;
let user; // a page of commons A, logged in as the mock user

before(async () => {
  browser = await launch();
  user = await openPage(browser, `${s.a}/`);
  await login(user, s.a);
});
after(async () => {
  if (user) await closePage(user);
  await browser?.close();
});

/** Go to `path` on the logged-in page; status 200, no JS errors, axe clean. */
async function visit(path, { shot, status = 200 } = {}) {
  await goto(user, `${s.a}${path}`);
  assert.equal(response(user).status(), status, `${path}: ${response(user).status()}`);
  await assertA11y(user);
  if (shot) await screenshot(user, shot);
  assertNoErrors(user);
}

test('every page is in the navigation bar and passes axe, logged in and not', async () => {
  const anon = await openPage(browser, `${s.a}/`);
  try {
    for (const path of ['/', '/login', '/dd', '/explorer', '/discovery', '/files', '/workspace', '/identity', '/submission']) {
      await goto(anon, `${s.a}${path}`);
      assert.equal(response(anon).status(), 200, path);
      await assertA11y(anon);
    }
    const nav = await anon.locator('nav.main a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(nav, ['/', '/dd', '/submission', '/explorer', '/discovery', '/files', '/workspace']);
    await goto(anon, `${s.a}/login`);
    await screenshot(anon, 'login');
    assert.ok(await anon.locator('a[href^="/user/login/mock"]').count() === 1, 'the development login is offered');
    assertNoErrors(anon);
  } finally {
    await closePage(anon);
  }
  // (workspace.test.mjs photographs /workspace with a workspace running)
  for (const [path, shot] of [['/', 'home'], ['/workspace', null], ['/files', 'files']]) {
    await visit(path, { shot });
  }
  // the home page counts the project's records
  await goto(user, `${s.a}/`);
  const row = user.locator(`tr:has(a[href="/submission/${s.project_id}"])`);
  assert.equal(await row.count(), 1, 'the project is listed on the home page');
  assert.match(await row.innerText(), new RegExp(`\\b${s.cases.count}\\b`), 'its case count');
});

test('the keyboard reaches the content first, then the navigation', async () => {
  await goto(user, `${s.a}/`);
  await user.keyboard.press('Tab');
  assert.equal(await user.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await user.keyboard.press('Enter');
  assert.equal(await user.evaluate(() => document.activeElement.id), 'content');
  await user.keyboard.press('Tab');
  const focused = await user.evaluate(() => document.activeElement.tagName);
  assert.ok(['A', 'BUTTON'].includes(focused), focused);
});

test('the profile shows permissions; an API key is created, downloaded, listed and revoked', async () => {
  await visit('/identity');
  assert.match(await user.locator('#username').innerText(), new RegExp(s.mock_user.replace('.', '\\.')));
  assert.ok(await user.locator('#permissions tr', { hasText: '/programs' }).count() >= 1, 'permissions on /programs');
  await user.locator('#keys tbody tr').first().waitFor();
  const [download] = await Promise.all([
    user.waitForEvent('download'),
    user.click('#create-key'),
  ]);
  assert.equal(download.suggestedFilename(), 'credentials.json');
  const creds = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.ok(creds.api_key.split('.').length === 3, 'the api_key is a JWT');
  const row = user.locator(`#keys tr[data-jti="${creds.key_id}"]`);
  await row.waitFor();
  assert.match(await user.locator('#key-status').innerText(), /created and downloaded/);
  // the key works with the SDK's exchange
  const exchanged = await user.evaluate(async (key) => {
    const r = await fetch('/user/credentials/api/access_token', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ api_key: key }),
    });
    return r.status;
  }, creds.api_key);
  assert.equal(exchanged, 200);
  await assertA11y(user);
  await screenshot(user, 'identity');
  await row.getByRole('button', { name: /Revoke/ }).click();
  await row.waitFor({ state: 'detached' });
  assert.match(await user.locator('#key-status').innerText(), /revoked/);
  assertNoErrors(user);
});

test('the dictionary: the graph links each node type to its page', async () => {
  await visit('/dd', { shot: 'dictionary' });
  assert.ok(await user.locator('.graph svg a').count() >= 20, 'a box per node type');
  await user.locator('.graph svg a[href="/dd/demographic"]').click();
  await user.waitForURL(/\/dd\/demographic$/);
  const gender = user.locator('#properties tr', { hasText: 'gender' }).first();
  assert.match(await gender.innerText(), /enum: female, male/);
  await assertA11y(user);
  await screenshot(user, 'dictionary-node');
  assertNoErrors(user);
});

test('submission: a TSV with one bad row shows the error at its row, then the fixed file goes in', async () => {
  const t = s.submission_tsv;
  await visit(`/submission/${s.project_id}`);
  await user.setInputFiles('#file', t.path);
  await user.click('#dry-run');
  const errorRow = user.locator('#upload-errors tr.entity-error').first();
  await errorRow.waitFor();
  const cells = await errorRow.locator('td').allInnerTexts();
  assert.equal(cells[0], String(t.bad_line), `the bad row's line: ${cells}`);
  assert.equal(cells[1], t.node_type);
  assert.equal(cells[2], t.bad_field);
  assert.match(cells[3], new RegExp(t.bad_value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.equal(await user.locator('#upload-errors tr.entity-error').count(), 1, 'only the bad row');
  assert.ok(await user.locator('#submit').isDisabled(), 'nothing to submit after a failed dry run');
  await assertA11y(user);
  await screenshot(user, 'submission');

  await user.setInputFiles('#file', t.fixed_path);
  await user.click('#dry-run');
  await user.locator('#upload-status.ok').waitFor();
  assert.match(await user.locator('#upload-status').innerText(), new RegExp(`passed: ${t.rows} record`));
  await user.click('#submit');
  await user.locator('#upload-status', { hasText: 'Submitted' }).waitFor();
  assert.match(await user.locator('#upload-status').innerText(), new RegExp(`Submitted: ${t.rows} created`));
  assert.equal(await user.locator('#progress').getAttribute('value'), '100');
  // the project page now counts them
  await visit(`/submission/${s.project_id}`);
  assert.ok(await user.locator('#counts tr', { hasText: t.node_type }).count() === 1);
});

/** The explorer's total line, once the redraw counter passed `after`. */
async function redrawn(page, after) {
  await page.waitForFunction((n) => Number(document.body.dataset.redraws || 0) > n, after);
  return page.locator('#total').innerText();
}

test('exploration: a facet filters the counts, charts and table; TSV and manifest download', async () => {
  await visit('/explorer');
  let total = await redrawn(user, 0);
  assert.match(total, new RegExp(`^${s.cases.count} case`), total);
  const hist = s.cases.explorer_histograms.gender;
  const [value, count] = Object.entries(hist).sort((x, y) => y[1] - x[1])[0];
  const facet = user.locator('fieldset.facet[data-field="gender"]');
  await facet.waitFor();
  const n = Number(await user.evaluate(() => document.body.dataset.redraws));
  await facet.getByLabel(value, { exact: true }).check();
  total = await redrawn(user, n);
  assert.match(total, new RegExp(`^${count} case`), `${value}: ${total}`);
  assert.ok(count < s.cases.count);
  const rows = await user.locator('#rows tbody tr').count();
  assert.equal(rows, Math.min(count, 20));
  assert.ok(await user.locator('#charts figure svg').count() >= 1, 'charts');
  const redrawMs = Number(await user.evaluate(() => document.body.dataset.redrawMs));
  assert.ok(redrawMs < 2000, `redraw took ${redrawMs} ms`);
  await assertA11y(user);
  await screenshot(user, 'explorer');

  const [tsv] = await Promise.all([user.waitForEvent('download'), user.click('#download-tsv')]);
  const lines = readFileSync(await tsv.path(), 'utf8').trim().split('\n');
  assert.equal(lines.length, count + 1, 'a header and a line per filtered case');
  const [manifest] = await Promise.all([user.waitForEvent('download'), user.click('#download-manifest')]);
  const entries = JSON.parse(readFileSync(await manifest.path(), 'utf8'));
  for (const e of entries) assert.ok(s.files.some((f) => f.guid === e.object_id), JSON.stringify(e));

  // clearing the filters brings every case back
  const m = Number(await user.evaluate(() => document.body.dataset.redraws));
  await user.click('#clear');
  total = await redrawn(user, m);
  assert.match(total, new RegExp(`^${s.cases.count} case`), total);
  assertNoErrors(user);
});

test('a file page shows the record and downloads its bytes through the signed URL', async () => {
  const f = s.file;
  await visit(`/files/${f.guid}`, { shot: 'file' });
  assert.match(await user.locator('#size').innerText(), new RegExp(`^${f.size} bytes`));
  assert.match(await user.locator('#authz').innerText(), new RegExp(f.authz[0]));
  assert.ok((await user.content()).includes(f.md5), 'the md5 is shown');
  const [download] = await Promise.all([user.waitForEvent('download'), user.click('#download')]);
  const bytes = readFileSync(await download.path());
  assert.equal(bytes.length, f.size);
  assert.equal(createHash('md5').update(bytes).digest('hex'), f.md5);
  assertNoErrors(user);
});

test('discovery on the hub: search, tags, and a study linking to its files in commons A', async () => {
  const page = await openPage(browser, `${s.hub}/discovery`);
  try {
    assert.equal(response(page).status(), 200);
    assert.equal(await page.locator('article.study').count(), s.study_ids.length);
    // a hub has no dictionary: the graph's pages are not in its navigation
    const nav = await page.locator('nav.main a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    assert.deepEqual(nav, ['/', '/discovery', '/files', '/workspace']);
    await assertA11y(page);
    await screenshot(page, 'discovery');
    // a tag narrows the list to B's study
    const tag = page.locator('a.tag', { hasText: 'Imaging' });
    await tag.click();
    await page.waitForURL(/tag=/);
    assert.equal(await page.locator('article.study').count(), 1);
    assert.equal(await page.locator('a.tag.on').getAttribute('aria-pressed'), 'true');
    // words search across both commons
    const a1 = s.study_docs[s.studies.a[0]].gen3_discovery;
    await goto(page, `${s.hub}/discovery`);
    await page.fill('#q', a1.study_name.split(/\s+/)[1]);
    await page.press('#q', 'Enter');
    await page.waitForURL(/q=/);
    const names = await page.locator('article.study h2').allInnerTexts();
    assert.ok(names.length >= 1 && names.length < s.study_ids.length, names.join(' | '));
    // the study page links each file to its page on commons A
    await page.locator('article.study h2 a').first().click();
    await page.waitForURL(/\/discovery\//);
    await assertA11y(page);
    const links = await page.locator('#study-files a').evaluateAll((as) => as.map((a) => a.href));
    assert.ok(links.length >= 1 && links.every((h) => h.startsWith(`${s.a}/files/`)), links.join(' '));
    await screenshot(page, 'study');
    assertNoErrors(page);
  } finally {
    await closePage(page);
  }
});
