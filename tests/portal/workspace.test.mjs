// Workspaces in the browser: export a manifest from the explorer to the workspace, launch
// commons A's stand-in notebook (tests/portal/fake_notebook.py, run by weft's local backend
// as JupyterLab would be), open it through /lw-workspace/proxy/, terminate it; a kind that
// fails ends Errored with its reason and is cleared. Commons B runs no workspaces, and its
// page says so. Every page is checked for JavaScript errors and
// by axe-core; the running workspace is photographed into docs/portal/workspace.png.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  assertA11y, assertNoErrors, closePage, goto, launch, login, openPage, response, screenshot, seed,
} from './lib.mjs';

const s = seed();
const skip = !s.portal ? 'the binary has no portal' : !s.workspace ? 'the binary has no workspaces' : false;
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Wait until the workspace script has drawn status `want` (body[data-workspace]). */
async function statusIs(page, want, timeout = 60000) {
  await page.waitForFunction((w) => document.body.dataset.workspace === w, want, { timeout });
}

test('a stranger is asked to log in, and nothing is loaded', { skip: !s.portal && 'the binary has no portal' }, async () => {
  const page = await openPage(browser, `${s.a}/workspace`);
  try {
    assert.equal(response(page).status(), 200);
    assert.equal(await page.locator('#ws-login a').getAttribute('href'), '/login?next=/workspace');
    assert.match(await page.locator('main').innerText(), /JupyterLab/);
    assert.equal(await page.locator('script[src*="workspace.js"]').count(), 0);
    await assertA11y(page);
    assertNoErrors(page);
  } finally {
    await closePage(page);
  }
});

test('on a commons without workspaces the page says so', { skip }, async () => {
  const page = await openPage(browser, `${s.b}/`);
  try {
    await login(page, s.b, { redirect: '/workspace' });
    const notice = page.locator('#ws-unavailable');
    await notice.waitFor();
    assert.equal(await notice.innerText(), 'Workspaces are not enabled on this commons.');
    assert.ok(await page.locator('#ws').isHidden(), 'the launch controls are hidden');
    await assertA11y(page);
    // the browser logs hatchery's 404 ("workspaces are not enabled") as a failed resource
    assertNoErrors(page, { ignore: [/status of 404 .*\/lw-workspace\/status/] });
  } finally {
    await closePage(page);
  }
});

test('export from the explorer, launch the stand-in notebook, open it, terminate it; a failing one is cleared', { skip, timeout: 180000 }, async () => {
  const w = s.workspace;
  const page = await openPage(browser, `${s.a}/`);
  try {
    // the explorer's case tab exports the manifest of its cases' files
    await login(page, s.a, { redirect: '/explorer' });
    await page.waitForFunction(() => Number(document.body.dataset.redraws || 0) > 0);
    const exportButton = page.locator('#export-workspace');
    assert.ok(await exportButton.isVisible(), 'Export to workspace is offered next to the manifest download');
    await Promise.all([page.waitForURL(/\/workspace\?exported=/), exportButton.click()]);
    assertNoErrors(page);
    const filename = new URL(page.url()).searchParams.get('exported');
    assert.match(filename, /^manifest-.+\.json$/);
    const stored = await page.context().request.get(`${s.a}/manifests/file/${encodeURIComponent(filename)}`);
    assert.equal(stored.status(), 200);
    const entries = await stored.json();
    assert.deepEqual(entries.map((e) => e.object_id).sort(), s.files.map((f) => f.guid).sort(),
      'the manifest lists the files of every case');
    for (const e of entries) {
      const f = s.files.find((x) => x.guid === e.object_id);
      assert.equal(e.file_name, f.file_name);
      assert.equal(e.md5sum, f.md5);
    }

    // the workspace page: the manifest listed, no workspace yet, the kind and pay model
    await page.locator(`#ws-manifests tr[data-filename="${filename}"]`).waitFor();
    assert.match(await page.locator('#ws-exported').innerText(), new RegExp(`manifests/${filename.replace(/\./g, '\\.')}`));
    await statusIs(page, 'Not Found');
    assert.match(await page.locator('#ws-state').innerText(), /No workspace is running/);
    const card = page.locator(`.card.kind[data-kind-name="${w.kind}"]`);
    await card.waitFor();
    const facts = await card.locator('dd').allInnerTexts();
    assert.deepEqual(facts, [w.cpu, w.memory, '1 h']);
    const launchButton = card.getByRole('button', { name: 'Launch' });
    assert.ok(await launchButton.isEnabled());
    const pay = page.locator('#ws-paymodel-current tbody td');
    await pay.first().waitFor();
    assert.deepEqual(await pay.allInnerTexts(),
      [w.pay_model, '0.00', w.soft_limit.toFixed(2), w.hard_limit.toFixed(2), 'active']);
    await assertA11y(page);

    // launch from the keyboard: Running, then the notebook link has the focus
    await launchButton.focus();
    await page.keyboard.press('Enter');
    await statusIs(page, 'Running');
    assert.match(await page.locator('#ws-state').innerText(), new RegExp(`^${w.kind} is running\\.`));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'ws-open');
    const open = page.locator('#ws-open');
    assert.equal(await open.getAttribute('href'), '/lw-workspace/proxy/lab');
    assert.ok(await page.locator('#ws-terminate').isVisible());
    assert.ok(await launchButton.isDisabled(), 'one workspace at a time');
    assert.match(await page.locator('#ws-details').innerText(), /stops after 1 h without activity/);
    await assertA11y(page);
    await screenshot(page, 'workspace');
    assertNoErrors(page);

    // the notebook, through the proxy; the exported manifest is in its manifests/
    await Promise.all([page.waitForURL(`${s.a}/lw-workspace/proxy/lab`), open.click()]);
    assert.equal(await page.locator('h1').innerText(), w.notebook_text);
    assert.equal(await page.locator('#manifests li', { hasText: filename }).count(), 1,
      `${filename} is in the workspace's manifests/`);
    await page.goBack();
    await statusIs(page, 'Running');

    // terminate: launchable again, the focus back on the Launch button
    await page.locator('#ws-terminate').click();
    await statusIs(page, 'Not Found', 30000);
    assert.match(await page.locator('#ws-state').innerText(), /No workspace is running/);
    assert.ok(await launchButton.isEnabled(), 'launchable again');
    assert.ok(await page.locator('#ws-open').isHidden());
    assert.equal(await page.evaluate(() => document.activeElement.dataset.kind), await launchButton.getAttribute('data-kind'));
    const status = await (await page.context().request.get(`${s.a}/lw-workspace/status`)).json();
    assert.equal(status.status, 'Not Found');
    const gone = await page.context().request.get(`${s.a}/lw-workspace/proxy/lab`);
    assert.equal(gone.status(), 404, 'the notebook is gone');
    await assertA11y(page);
    assertNoErrors(page);

    // a kind whose notebook exits at once: Errored, with why, and Clear makes room again
    const failing = page.locator(`.card.kind[data-kind-name="${w.failing_kind}"]`);
    await failing.getByRole('button', { name: 'Launch' }).click();
    await statusIs(page, 'Errored', 30000);
    assert.match(await page.locator('#ws-state').innerText(), new RegExp(`^${w.failing_kind} failed to start`));
    assert.match(await page.locator('#ws-message').innerText(), new RegExp(w.failing_text));
    const clear = page.locator('#ws-clear');
    assert.ok(await clear.isVisible() && await page.locator('#ws-open').isHidden());
    await assertA11y(page);
    await clear.click();
    await statusIs(page, 'Not Found', 30000);
    assert.ok(await clear.isHidden());
    assert.ok(await launchButton.isEnabled(), 'launchable again');
    assertNoErrors(page);
  } finally {
    // leave no workspace behind for the next run of this test
    await page.context().request.post(`${s.a}/lw-workspace/terminate`, { headers: { origin: s.a } }).catch(() => {});
    await closePage(page);
  }
});
