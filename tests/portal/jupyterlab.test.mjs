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
    await editor.click();
    await page.keyboard.type('print(1 + 1)');
    await page.keyboard.press('Shift+Enter');
    const output = page.locator('.jp-OutputArea-output').first();
    await output.waitFor({ timeout: 90000 });
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
