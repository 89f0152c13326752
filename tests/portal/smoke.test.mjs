// The harness itself: every server answers its home page in the browser, and the development
// login on commons A makes the browser the mock user.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertA11y, assertNoErrors, closePage, fetchJson, launch, login, openPage, response, seed,
} from './lib.mjs';

const s = seed();
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

for (const key of ['a', 'b', 'hub']) {
  test(`${key} (${s.servers[key].name}): / answers 200 with an <h1>, no JS error, axe clean`, async () => {
    const page = await openPage(browser, `${s[key]}/`);
    try {
      assert.equal(response(page).status(), 200);
      const h1 = page.locator('h1');
      assert.ok(await h1.count() >= 1, `no <h1> on ${page.url()}`);
      assert.notEqual((await h1.first().innerText()).trim(), '', 'the <h1> is empty');
      await assertA11y(page);
      assertNoErrors(page);
    } finally {
      await closePage(page);
    }
  });
}

test('a: the development login logs the mock user in', async () => {
  const page = await openPage(browser, `${s.a}/`);
  try {
    const before = await fetchJson(page, '/user/user');
    assert.equal(before.status, 401, `/user/user before the login: ${JSON.stringify(before)}`);
    await login(page, s.a);
    const user = await page.evaluate(() => fetch('/user/user').then((r) => r.json()));
    assert.equal(user.username, s.mock_user, JSON.stringify(user));
    // No assertNoErrors here: this test is about the login; the pages' own errors are the
    // page tests' to find (and the 401 above is logged by Chromium as a failed resource).
  } finally {
    await closePage(page);
  }
});
