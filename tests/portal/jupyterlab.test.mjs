// A real JupyterLab in the browser, through weft's workspace proxy: launch it from the
// workspace page, open it, make a notebook, run `print(1 + 1)` in its kernel (the kernel's
// websocket goes through the proxy with the session cookie; JupyterLab's own requests carry
// its `Authorization: token …`), see `2`, terminate. Runs when $WEFT_TEST_JUPYTER names the
// environment tests/workspace/setup.sh makes (run.sh then gives commons A a "JupyterLab" kind).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { closePage, launch, login, openPage, seed } from './lib.mjs';

const s = seed();
const env = process.env.WEFT_TEST_JUPYTER;
const skip = !s.portal ? 'the binary has no portal'
  : !s.workspace ? 'the binary has no workspaces'
    : !(env && existsSync(`${env}/bin/jupyter`)) ? 'WEFT_TEST_JUPYTER names no JupyterLab' : false;
let browser;

before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('JupyterLab runs a cell through the proxy', { skip, timeout: 240000 }, async () => {
  const page = await openPage(browser, `${s.a}/`);
  try {
    await login(page, s.a, { redirect: '/workspace' });
    const card = page.locator('.card.kind[data-kind-name="JupyterLab"]');
    await card.waitFor();
    await card.getByRole('button', { name: 'Launch' }).click();
    await page.waitForFunction(() => document.body.dataset.workspace === 'Running', null, { timeout: 60000 });
    await page.goto(`${s.a}/lw-workspace/proxy/lab`);
    // a notebook from the launcher, on the Python kernel
    const notebookCard = page.locator('.jp-LauncherCard[data-category="Notebook"]').first();
    await notebookCard.waitFor({ timeout: 90000 });
    await notebookCard.click();
    const editor = page.locator('.jp-Notebook .jp-Cell .cm-content').first();
    await editor.waitFor({ timeout: 60000 });
    await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first()
      .waitFor({ timeout: 90000 }).catch(() => {});
    // type into the first cell until it holds the code (JupyterLab may still be settling),
    // then run it; run again if no output comes (a first run can be lost while the kernel
    // connects)
    const output = page.locator('.jp-OutputArea-output').first();
    for (let attempt = 0; attempt < 4; attempt += 1) {
      if ((await editor.innerText()).trim() !== 'print(1 + 1)') {
        await editor.click();
        await page.keyboard.press('Control+A');
        await page.keyboard.type('print(1 + 1)');
      }
      await editor.click();
      await page.keyboard.press('Shift+Enter');
      try {
        await output.waitFor({ timeout: 20000 });
        break;
      } catch {
        await page.screenshot({ path: `${s.work_dir}/jupyterlab-attempt-${attempt}.png` }).catch(() => {});
        await page.locator('.jp-Notebook .jp-Cell').first().click().catch(() => {});
      }
    }
    await output.waitFor({ timeout: 30000 });
    assert.equal((await output.innerText()).trim(), '2');
  } finally {
    // terminate through the API, as the page's button does
    await page.goto(`${s.a}/workspace`).catch(() => {});
    await page.evaluate(async () => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.split('=')[1];
      await fetch('/lw-workspace/terminate', { method: 'POST', headers: { 'x-csrf-token': csrf ?? '' } });
    }).catch(() => {});
    await closePage(page);
  }
});
