// Helpers of weft's portal browser tests (node:test + playwright-core + axe-core).
// run.sh starts the servers, seeds them and runs the tests with WEFT_PORTAL_SEED set.
//
//   import { seed, launch, openPage, assertNoErrors, checkA11y, assertA11y, screenshot,
//            login, closePage, fetchJson } from './lib.mjs';

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/** Debian's Chromium; playwright-core downloads no browser. */
export const CHROMIUM = process.env.WEFT_PORTAL_CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
/** The development login's session cookie (crates/weft-http/src/oauth.rs SESSION_COOKIE). */
export const SESSION_COOKIE = 'weft_session';

let seeded;
/** The seed JSON run.sh wrote (fields: README.md), read once. */
export function seed() {
  if (!seeded) {
    const file = process.env.WEFT_PORTAL_SEED;
    if (!file) throw new Error('WEFT_PORTAL_SEED is not set: run the tests with tests/portal/run.sh');
    seeded = JSON.parse(readFileSync(file, 'utf8'));
  }
  return seeded;
}

/** A headless Chromium. Close it in an `after` hook. */
export async function launch(options = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ...options,
  });
}

// What each page saw: console errors and uncaught exceptions, and the last main response.
const recorded = new WeakMap();
// Pages whose context openPage made (closePage closes it with them).
const ownContext = new WeakSet();

/** Start recording a page's JS errors (openPage does it; for pages made otherwise). */
export function record(page) {
  if (recorded.has(page)) return recorded.get(page);
  const r = { errors: [], response: null };
  recorded.set(page, r);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const loc = msg.location();
    const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
    r.errors.push(`console.error: ${msg.text()}${where}`);
  });
  page.on('pageerror', (err) => {
    r.errors.push(`pageerror: ${err.stack || err.message || String(err)}`);
  });
  page.on('crash', () => r.errors.push('the page crashed'));
  return r;
}

/**
 * A new page in a new browser context (its own cookies), with its JS errors recorded, gone
 * to `url` unless `url` is null. Options: `context` (reuse a context, e.g. one logged in),
 * `waitUntil` (default 'load'), `contextOptions` (for the new context). The context's
 * `baseURL` is `url`'s origin, so `page.goto('/path')` works.
 */
export async function openPage(browser, url, { context, waitUntil = 'load', contextOptions = {} } = {}) {
  const ctx = context || await browser.newContext({
    baseURL: url ? new URL(url).origin : undefined,
    viewport: { width: 1280, height: 900 },
    ...contextOptions,
  });
  const page = await ctx.newPage();
  if (!context) ownContext.add(page);
  const r = record(page);
  if (url) r.response = await page.goto(url, { waitUntil });
  return page;
}

/** The response of the page's last openPage/goto (a Playwright Response), or null. */
export function response(page) {
  return recorded.get(page)?.response ?? null;
}

/**
 * Go to `url` (absolute, or a path on the context's baseURL) and remember the response. The
 * recorded JS errors start afresh (assert the previous page's first), unless `keepErrors`;
 * other options are page.goto's.
 */
export async function goto(page, url, { keepErrors = false, ...options } = {}) {
  const r = record(page);
  if (!keepErrors) r.errors.length = 0;
  r.response = await page.goto(url, { waitUntil: 'load', ...options });
  return r.response;
}

/** Forget the JS errors recorded so far on the page. */
export function clearErrors(page) {
  record(page).errors.length = 0;
}

/** The JS errors (console.error and uncaught exceptions) since openPage, the last goto or clearErrors. */
export function errors(page) {
  return [...(recorded.get(page)?.errors ?? [])];
}

/**
 * Errors assertNoErrors lets pass unless told otherwise: Chromium asks every site for
 * /favicon.ico on its own and logs a 404 for it as a console error; that is not the page's.
 */
export const DEFAULT_IGNORE = [
  /^console\.error: Failed to load resource: the server responded with a status of 404 .*\/favicon\.ico:/,
];

/**
 * Fail if the page had any JS error (console.error, which includes resources that failed to
 * load, or an uncaught exception). `ignore`: regular expressions of errors to let pass (say
 * why at the call site), added to DEFAULT_IGNORE (`defaults: false` drops those).
 */
export function assertNoErrors(page, { ignore = [], defaults = true } = {}) {
  const patterns = defaults ? [...DEFAULT_IGNORE, ...ignore] : ignore;
  const left = errors(page).filter((e) => !patterns.some((re) => re.test(e)));
  assert.deepEqual(left, [], `JS errors on ${page.url()}:\n  ${left.join('\n  ')}`);
}

/** Close a page opened by openPage, with its context unless the context was passed in. */
export async function closePage(page) {
  if (ownContext.has(page)) await page.context().close();
  else await page.close();
}

const AXE = require.resolve('axe-core/axe.min.js');
let axeSource;

/**
 * Run axe-core on the page; the violations of impact `serious` or `critical`, each
 * `{id, impact, help, helpUrl, targets: [selector...], nodes: [{target, html, summary}]}`.
 * Options: `context` (axe's context: a selector or {include, exclude}), `options` (axe's
 * run options, e.g. {rules: {'color-contrast': {enabled: false}}}), `impacts` (default
 * ['serious', 'critical']).
 */
export async function checkA11y(page, { context, options, impacts = ['serious', 'critical'] } = {}) {
  const present = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!present) {
    const r = record(page);
    const before = r.errors.length;
    try {
      await page.addScriptTag({ path: AXE });
    } catch (e) {
      // A Content-Security-Policy may refuse the injected <script>: evaluate it instead, and
      // forget the console error the refusal of the harness's own script made.
      const since = r.errors.splice(before);
      r.errors.push(...since.filter((x) => !/Content Security Policy/.test(x)));
      axeSource ??= readFileSync(AXE, 'utf8');
      await page.evaluate(axeSource);
    }
  }
  const violations = await page.evaluate(
    async ([ctx, opts]) => {
      const result = await window.axe.run(ctx ?? document, opts ?? {});
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target, html: n.html, summary: n.failureSummary })),
      }));
    },
    [context ?? null, options ?? null],
  );
  return violations
    .filter((v) => impacts.includes(v.impact))
    .map((v) => ({ ...v, targets: v.nodes.map((n) => n.target.join(' ')) }));
}

/** The violations as text: id, impact, help text and target selectors. */
export function formatViolations(violations) {
  return violations
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.helpUrl}\n    targets: ${v.targets.join(' | ')}`)
    .join('\n  ');
}

/** Fail listing every serious or critical axe violation on the page (options: checkA11y's). */
export async function assertA11y(page, opts = {}) {
  const violations = await checkA11y(page, opts);
  assert.equal(violations.length, 0,
    `accessibility violations on ${page.url()}:\n  ${formatViolations(violations)}`);
  return violations;
}

/** Where screenshots go: WEFT_PORTAL_SCREENSHOTS, else the seed's, else docs/portal. */
export function screenshotDir() {
  return process.env.WEFT_PORTAL_SCREENSHOTS
    || (process.env.WEFT_PORTAL_SEED && seed().screenshots)
    || path.resolve(HERE, '../../docs/portal');
}

/** A full-page screenshot at `<dir>/<name>.png`; returns its path. */
export async function screenshot(page, name) {
  const dir = screenshotDir();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Log the page's context in with the development login (login.mock_user):
 * GET <baseUrl>/user/login/mock?redirect=<redirect> starts a session (cookie weft_session,
 * HttpOnly, path /) and redirects to `redirect` (a path on that commons; default '/').
 * Fails unless the login ends on `redirect` with a session cookie. Returns the cookie.
 */
export async function login(page, baseUrl, { redirect = '/' } = {}) {
  const origin = new URL(baseUrl).origin;
  const start = new URL('/user/login/mock', origin);
  start.searchParams.set('redirect', redirect);
  const r = await goto(page, start.href);
  assert.ok(r, `no response from ${start.href}`);
  assert.equal(r.status(), 200, `the development login ended on ${page.url()} with ${r.status()}`);
  assert.equal(page.url(), new URL(redirect, origin).href, 'the login did not redirect as asked');
  const cookies = await page.context().cookies(origin);
  const session = cookies.find((c) => c.name === SESSION_COOKIE);
  assert.ok(session, `no ${SESSION_COOKIE} cookie after the login (cookies: ${cookies.map((c) => c.name)})`);
  return session;
}

/**
 * fetch() in the page (same origin, the page's cookies): {status, body} with body parsed as
 * JSON when it is JSON. `init` is fetch's (a plain object).
 */
export async function fetchJson(page, url, init = {}) {
  return page.evaluate(async ([u, i]) => {
    const r = await fetch(u, i);
    const text = await r.text();
    let body = text;
    try { body = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body };
  }, [url, init]);
}
