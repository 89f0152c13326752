// The explorer in a real browser at scale: time from a facet click to the redrawn facets,
// charts and table (the explorer's script marks each redraw on <body>), in headless
// Chromium through playwright-core (installed by tests/portal/run.sh's `npm ci`).
//
//   node bench/portal_redraw.mjs BASE [CLICKS]
//
// Logs in with the development login, opens /explorer, then toggles facet checkboxes one
// at a time and prints p50, p99 and the largest of the click-to-redraw times.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../tests/portal/package.json"));
const { chromium } = require("playwright-core");
const base = process.argv[2];
const clicks = Number(process.argv[3] || 40);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage();
await page.goto(base + "/user/login/mock?redirect=/explorer");
await page.waitForURL(/\/explorer$/);
await page.waitForFunction(() => Number(document.body.dataset.redraws || 0) > 0, null, { timeout: 120000 });
const boxes = await page.locator("#facets input[type=checkbox]").count();
const times = [];
for (let i = 0; i < clicks; i++) {
  const ms = await page.evaluate((k) => new Promise((resolve) => {
    const n = Number(document.body.dataset.redraws);
    const all = document.querySelectorAll("#facets input[type=checkbox]");
    const box = all[k % all.length];
    const t0 = performance.now();
    const obs = new MutationObserver(() => {
      if (Number(document.body.dataset.redraws) > n) {
        obs.disconnect();
        requestAnimationFrame(() => resolve(performance.now() - t0));
      }
    });
    obs.observe(document.body, { attributes: true });
    box.click();
  }), (i * 7) % Math.max(1, Math.min(boxes, 12)));
  times.push(ms);
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(1);
console.log(`facet click to redraw, ${clicks} clicks over ${boxes} checkboxes: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${times[times.length - 1].toFixed(1)} ms`);
await browser.close();
