// Shared helpers for the shihua browser tests.
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

// How long a search (text or image) may take to show results.
export const RESULTS_TIMEOUT = 30_000;

// The demo photos that scripts/e2e-serve.sh indexes; SHIHUA_E2E_PHOTOS overrides.
export const PHOTOS_DIR =
  process.env.SHIHUA_E2E_PHOTOS ?? path.resolve(__dirname, '..', '..', 'demo', 'photos');

// The server under test runs the fixture (random-weight) model unless told otherwise.
export const EXPECT_FIXTURE = process.env.SHIHUA_E2E_EXPECT_FIXTURE !== '0';

// e.g. /thumb/42?w=320 or http://host/thumb/abc?x=1&w=320
export const THUMB_SRC = /\/thumb\/[^/?#]+\?(?:[^#]*&)?w=\d+/;

// An uploaded query picture's shareable URL.
export const IMG_URL = /\/\?img=[0-9a-f]{20}$/;

/** The photo ids of the gallery's cards, in order (from their `/image/{id}` links). */
export async function cardIds(page: Page): Promise<string[]> {
  const hrefs = await page.getByTestId('card-open').evaluateAll((els) =>
    els.map((el) => el.getAttribute('href') ?? ''),
  );
  return hrefs.map((h) => h.replace(/^.*\/image\//, ''));
}

/** The photo ids the JSON API answers for the text `q` and the other `params`. */
export async function searchIds(page: Page, q: string, params: string): Promise<string[]> {
  const res = await page.request.get(`/api/v1/search?q=${encodeURIComponent(q)}&${params}`);
  expect(res.status()).toBe(200);
  const body = await res.json();
  return body.results.map((r: { id: string }) => r.id);
}

/** The demo .jpg files, sorted by name. */
export function demoJpegs(): string[] {
  if (!fs.existsSync(PHOTOS_DIR)) {
    throw new Error(`demo photo folder not found: ${PHOTOS_DIR}`);
  }
  const jpgs = fs
    .readdirSync(PHOTOS_DIR)
    .filter((name) => /\.jpe?g$/i.test(name))
    .filter((name) => fs.statSync(path.join(PHOTOS_DIR, name)).isFile())
    .sort()
    .map((name) => path.join(PHOTOS_DIR, name));
  if (jpgs.length === 0) {
    throw new Error(`no .jpg files in ${PHOTOS_DIR}`);
  }
  return jpgs;
}

/** The first .jpg in the demo photo folder, sorted by name. */
export function firstDemoPhoto(): string {
  return demoJpegs()[0];
}

/**
 * Records the picture the page hands to fetch for `upload_query` (Playwright cannot see
 * multipart file bodies): after an upload, `window.__sent` is a promise of that `File`.
 * Also installs `window.__pixels(blob, points)`: the picture's size as stored (no EXIF
 * rotation applied) and the RGB at each `[fx, fy]` fraction of its width and height.
 */
export async function recordUploads(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {
      __sent?: Promise<File>;
      __pixels?: (blob: Blob, points: Array<[number, number]>) => Promise<object>;
      fetch: typeof fetch;
    };
    const original = w.fetch.bind(window);
    w.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
      const form =
        init?.body instanceof FormData
          ? Promise.resolve(init.body)
          : input instanceof Request && input.method === 'POST'
            ? input.clone().formData()
            : null;
      const url = input instanceof Request ? input.url : String(input);
      if (form && /upload_query/.test(url)) {
        w.__sent = form.then((fd) => fd.get('image') as File);
      }
      return original(input, init);
    };
    w.__pixels = async (blob, points) => {
      const b = await createImageBitmap(blob, { imageOrientation: 'none' });
      const c = document.createElement('canvas');
      c.width = b.width;
      c.height = b.height;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(b, 0, 0);
      const at = ([fx, fy]: [number, number]) =>
        Array.from(ctx.getImageData(Math.floor(fx * b.width), Math.floor(fy * b.height), 1, 1).data.slice(0, 3));
      return { width: b.width, height: b.height, samples: points.map(at) };
    };
  });
}

/** Waits until the page has sent a picture (see `recordUploads`). */
export async function expectUploadSent(page: Page): Promise<void> {
  await expect.poll(() => page.evaluate(() => '__sent' in window)).toBe(true);
}

/** Wait until the WASM client has hydrated the page. */
export async function waitHydrated(page: Page): Promise<void> {
  await expect
    .poll(() => page.evaluate(() => document.documentElement.dataset.hydrated ?? null), {
      message: 'page hydrates (documentElement.dataset.hydrated === "1")',
      timeout: 30_000,
    })
    .toBe('1');
}

/** Open a page (default the home page) and wait until it has hydrated. */
export async function openHydrated(page: Page, url = '/'): Promise<void> {
  await page.goto(url);
  await expect(page.getByTestId('poem-form')).toBeVisible();
  await waitHydrated(page);
}

/**
 * Wait for the gallery to show at least one result card (failing early, with
 * its text, if the page shows a search error instead), check every card's
 * thumbnail and score, and wait until every thumbnail has actually loaded.
 * Returns the number of cards.
 */
export async function expectResults(page: Page): Promise<number> {
  const cards = page.getByTestId('result-card');
  const error = page.getByTestId('search-error');

  await expect(cards.first().or(error.first())).toBeVisible({ timeout: RESULTS_TIMEOUT });
  if (await error.first().isVisible()) {
    const text = (await error.first().innerText()).trim();
    throw new Error(`search showed an error instead of results: ${text}`);
  }

  await expect(page.getByTestId('gallery')).toBeVisible();
  const count = await cards.count();
  expect(count, 'result cards').toBeGreaterThanOrEqual(1);

  for (let i = 0; i < count; i++) {
    const card = cards.nth(i);
    const img = card.locator('img').first();
    await expect(img, `card ${i} thumbnail src`).toHaveAttribute('src', THUMB_SRC);
    await expect(card.getByTestId('score'), `card ${i} score`).toHaveText(/\d/);
    // Bring it on screen so a loading="lazy" image is fetched too.
    await img.scrollIntoViewIfNeeded();
    await expect
      .poll(
        () =>
          img.evaluate((el) => {
            const im = el as HTMLImageElement;
            return im.complete && im.naturalWidth > 0;
          }),
        { message: `card ${i} thumbnail loads (complete, naturalWidth > 0)`, timeout: RESULTS_TIMEOUT },
      )
      .toBe(true);
  }

  // Every image in the gallery, checked again all together.
  await expect
    .poll(
      () =>
        page
          .getByTestId('result-card')
          .locator('img')
          .evaluateAll((els) =>
            els.every((el) => {
              const im = el as HTMLImageElement;
              return im.complete && im.naturalWidth > 0;
            }),
          ),
      { message: 'all result thumbnails loaded', timeout: RESULTS_TIMEOUT },
    )
    .toBe(true);
  return count;
}

/** The query picture above the results has loaded. */
export async function expectQueryPicture(page: Page): Promise<void> {
  const img = page.getByTestId('query-preview').locator('img');
  await expect(img).toBeVisible({ timeout: RESULTS_TIMEOUT });
  await expect
    .poll(() => img.evaluate((el) => (el as HTMLImageElement).naturalWidth > 0), {
      message: 'query picture loads',
      timeout: RESULTS_TIMEOUT,
    })
    .toBe(true);
}

export async function searchText(page: Page, poem: string): Promise<void> {
  await page.getByTestId('poem-input').fill(poem);
  await page.getByTestId('poem-submit').click();
  await expectResults(page);
}

export async function searchUpload(page: Page, file = firstDemoPhoto()): Promise<void> {
  await page.getByTestId('upload-input').setInputFiles(file);
  await expect(page).toHaveURL(IMG_URL, { timeout: RESULTS_TIMEOUT });
  await expectQueryPicture(page);
  await expectResults(page);
}

/** Collects console errors and uncaught page errors (favicon misses excepted). */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    const url = msg.location().url ?? '';
    if (msg.type() === 'error' && !(/favicon/i.test(url) && /404|Not Found/i.test(msg.text()))) {
      errors.push(`console.error: ${msg.text()}${url ? ` (${url})` : ''}`);
    }
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

/** Width and height from a JPEG's SOF header, searched for in `buf` (e.g. a multipart body). */
export function jpegSize(buf: Buffer): { width: number; height: number } | null {
  const start = buf.indexOf(Buffer.from([0xff, 0xd8, 0xff]));
  if (start < 0) return null;
  let i = start + 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    }
    i += 2 + len;
  }
  return null;
}

/** Console errors of one test; `allow(re)` marks errors the test expects (e.g. a 400 it provokes). */
export interface ConsoleErrors {
  list: string[];
  allow(re: RegExp): void;
}

/**
 * `test` for every spec: console errors and uncaught page errors are collected in every test,
 * on the `page` fixture's context and on any context the test opens with `browser.newContext`,
 * and the test fails if there were any it did not `consoleErrors.allow(...)`.
 */
export const test = base.extend<{ consoleErrors: ConsoleErrors }>({
  consoleErrors: [
    async ({ browser, context }, use) => {
      const list: string[] = [];
      const allowed: RegExp[] = [];
      const watch = (ctx: BrowserContext) => {
        ctx.on('console', (msg) => {
          const url = msg.location().url ?? '';
          if (msg.type() === 'error' && !(/favicon/i.test(url) && /404|Not Found/i.test(msg.text()))) {
            list.push(`console.error: ${msg.text()}${url ? ` (${url})` : ''}`);
          }
        });
        ctx.on('weberror', (err) => list.push(`pageerror: ${err.error().message}`));
      };
      watch(context);
      const newContext = browser.newContext;
      browser.newContext = async (...args: Parameters<typeof newContext>) => {
        const ctx = await newContext.apply(browser, args);
        watch(ctx);
        return ctx;
      };
      try {
        await use({ list, allow: (re) => allowed.push(re) });
      } finally {
        browser.newContext = newContext;
      }
      const unexpected = list.filter((e) => !allowed.some((re) => re.test(e)));
      expect(unexpected, 'console errors and uncaught page errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
