// Indexing progress on the site (issue 17, part 2), on the desktop and phone projects. The e2e
// server watches a folder (scripts/e2e-serve.sh: --watch target/e2e-data/watched): photos
// copied into it while the page is open make the progress bar appear, count up and finish,
// and the new photos are then found by a search; without JavaScript the status shows on
// reload. Each test removes what it copied and waits until the collection is back to where it
// was, so the other specs see the demo photos only.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type APIRequestContext, type Page } from '@playwright/test';

import { test, expect, demoJpegs, openHydrated } from './helpers';

const WATCHED =
  process.env.SHIHUA_E2E_WATCH ?? path.resolve(__dirname, '..', '..', 'target', 'e2e-data', 'watched');
const PHOTOS = 12;
// Copies are spread out like a slow copy from a camera card, so the run lasts a few seconds.
const GAP_MS = 400;

async function rows(request: APIRequestContext): Promise<number> {
  const res = await request.get('/api/v1/stats');
  expect(res.status()).toBe(200);
  return (await res.json()).rows;
}

/** Copies PHOTOS demo photos into `dir` one by one (each made unique by a trailing comment,
 * so no copy is byte-identical to a demo photo); returns their names. */
async function copyIn(dir: string, tag: string): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const demo = demoJpegs();
  const names: string[] = [];
  for (let i = 0; i < PHOTOS; i++) {
    const name = `${tag}-${String(i).padStart(2, '0')}.jpg`;
    const bytes = Buffer.concat([fs.readFileSync(demo[i % demo.length]), Buffer.from(`${tag}-${i}`)]);
    // Written beside, then renamed in: the watcher sees a complete photo appear.
    fs.writeFileSync(path.join(dir, `.${name}.part`), bytes);
    fs.renameSync(path.join(dir, `.${name}.part`), path.join(dir, name));
    names.push(name);
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  return names;
}

/** Removes `dir` and waits until the collection has `before` rows again. */
async function cleanUp(request: APIRequestContext, dir: string, before: number): Promise<void> {
  fs.rmSync(dir, { recursive: true, force: true });
  await expect.poll(() => rows(request), { timeout: 60_000 }).toBe(before);
}

/** Records every state of the progress bar the page shows (attribute changes included). */
async function recordBar(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __bar: string[] };
    w.__bar = [];
    const note = () => {
      const el = document.querySelector('[data-testid="index-progress"]');
      if (el) {
        const s = `${el.getAttribute('data-state')} ${el.getAttribute('data-done')}/${el.getAttribute('data-total')}`;
        if (w.__bar[w.__bar.length - 1] !== s) w.__bar.push(s);
      }
    };
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

/** Reloads the page every `everyMs` until it shows `count` indexing statuses (0 or 1). */
async function reloadUntilStatusShown(page: Page, count: number, everyMs: number): Promise<void> {
  await expect
    .poll(
      async () => {
        await page.reload();
        return page.getByTestId('index-progress').count();
      },
      { timeout: 30_000, intervals: [everyMs] },
    )
    .toBe(count);
}

test('photos copied into a watched folder show a progress bar that finishes; then they are found', async ({
  page,
  request,
}, testInfo) => {
  const before = await rows(request);
  const tag = `p-${testInfo.project.name}-${Date.now()}`;
  const dir = path.join(WATCHED, tag);
  try {
    await openHydrated(page, '/?lang=en');
    await recordBar(page);
    const copying = copyIn(dir, tag);
    const bar = page.getByTestId('index-progress');
    await expect(bar).toHaveAttribute('data-state', 'active', { timeout: 30_000 });
    await expect(page.getByTestId('index-progress-line')).toContainText(/Indexing new photos \d+\/\d+/);
    const names = await copying;
    await expect(bar).toHaveAttribute('data-state', 'done', { timeout: 60_000 });
    await expect(page.getByTestId('index-progress-line')).toContainText('Indexing done');
    expect(await bar.getAttribute('data-done')).toBe(await bar.getAttribute('data-total'));
    const states: string[] = await page.evaluate(() => (window as unknown as { __bar: string[] }).__bar);
    const done = states.map((s) => Number(s.split(' ')[1].split('/')[0]));
    expect(new Set(done).size, `the bar counted up: ${states.join(', ')}`).toBeGreaterThan(1);
    expect(done, states.join(', ')).toEqual([...done].sort((a, b) => a - b));
    // The "done" line goes away by itself.
    await expect(bar).toHaveCount(0, { timeout: 20_000 });

    expect(await rows(request)).toBe(before + PHOTOS);
    await page.goto(`/?lang=en&q=${encodeURIComponent('夕阳西下')}&k=200&all=1`);
    for (const name of names) {
      await expect(page.locator(`[data-testid="result-card"] .name[title*="${name}"]`)).toHaveCount(1);
    }
  } finally {
    await cleanUp(request, dir, before);
  }
});

test('without JavaScript the indexing status shows on reload', async ({ browser, baseURL, request }, testInfo) => {
  const before = await rows(request);
  const tag = `n-${testInfo.project.name}-${Date.now()}`;
  const dir = path.join(WATCHED, tag);
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  try {
    await page.goto('/?lang=en');
    const copying = copyIn(dir, tag);
    await reloadUntilStatusShown(page, 1, 200);
    await expect(page.getByTestId('index-progress-line')).toContainText(/Indexing new photos \d+\/\d+/);
    await copying;
    await expect.poll(() => rows(request), { timeout: 60_000 }).toBe(before + PHOTOS);
    // Once it is over, a reload shows no status.
    await reloadUntilStatusShown(page, 0, 500);
  } finally {
    await context.close();
    await cleanUp(request, dir, before);
  }
});
