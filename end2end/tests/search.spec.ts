import { test, expect, type Page, type ConsoleMessage } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

// How long a search (text or image) may take to show results.
const RESULTS_TIMEOUT = 30_000;

// The demo photos that scripts/e2e-serve.sh indexes; SHIHUA_E2E_PHOTOS overrides.
const PHOTOS_DIR =
  process.env.SHIHUA_E2E_PHOTOS ?? path.resolve(__dirname, '..', '..', 'demo', 'photos');

// The server under test runs the fixture (random-weight) model unless told otherwise.
const EXPECT_FIXTURE = process.env.SHIHUA_E2E_EXPECT_FIXTURE !== '0';

// e.g. /thumb/42?w=320 or http://host/thumb/abc?x=1&w=320
const THUMB_SRC = /\/thumb\/[^/?#]+\?(?:[^#]*&)?w=\d+/;

/** The first .jpg in the demo photo folder, sorted by name. */
function firstDemoPhoto(): string {
  if (!fs.existsSync(PHOTOS_DIR)) {
    throw new Error(`demo photo folder not found: ${PHOTOS_DIR}`);
  }
  const jpgs = fs
    .readdirSync(PHOTOS_DIR)
    .filter((name) => /\.jpe?g$/i.test(name))
    .filter((name) => fs.statSync(path.join(PHOTOS_DIR, name)).isFile())
    .sort();
  if (jpgs.length === 0) {
    throw new Error(`no .jpg files in ${PHOTOS_DIR}`);
  }
  return path.join(PHOTOS_DIR, jpgs[0]);
}

/** Open the home page and wait until the WASM client has hydrated it. */
async function openHydrated(page: Page): Promise<void> {
  await page.goto('/');
  await expect(page.getByTestId('poem-form')).toBeVisible();
  await expect
    .poll(() => page.evaluate(() => document.documentElement.dataset.hydrated ?? null), {
      message: 'page hydrates (documentElement.dataset.hydrated === "1")',
      timeout: 30_000,
    })
    .toBe('1');
}

/**
 * Wait for the gallery to show at least one result card (failing early, with
 * its text, if the page shows a search error instead), check every card's
 * thumbnail and score, and wait until every thumbnail has actually loaded.
 */
async function expectResults(page: Page): Promise<void> {
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
}

async function searchText(page: Page, poem: string): Promise<void> {
  await page.getByTestId('poem-input').fill(poem);
  await page.getByTestId('poem-submit').click();
  await expectResults(page);
}

async function searchUpload(page: Page): Promise<void> {
  await page.getByTestId('upload-input').setInputFiles(firstDemoPhoto());
  await expect(page.getByTestId('query-preview')).toBeVisible({ timeout: RESULTS_TIMEOUT });
  await expectResults(page);
}

test('home page is rendered on the server', async ({ request }) => {
  const res = await request.get('/');
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('data-testid="poem-form"');
  expect(html).toContain('data-testid="poem-input"');
  expect(html).toContain('data-testid="poem-submit"');
});

test('text search shows a gallery of loaded thumbnails', async ({ page }) => {
  await openHydrated(page);
  const input = page.getByTestId('poem-input');
  await expect(input).toHaveAttribute('name', 'q');
  await expect(page.getByTestId('poem-form').locator('textarea[data-testid="poem-input"]')).toHaveCount(1);
  await searchText(page, '枯藤老树昏鸦');
  if (EXPECT_FIXTURE) {
    await expect(page.getByTestId('fixture-banner')).toBeVisible();
  }
});

test('Enter in the poem box submits the search', async ({ page }) => {
  await openHydrated(page);
  const input = page.getByTestId('poem-input');
  await input.fill('夕阳西下');
  await input.press('Enter');
  await expectResults(page);
});

test('uploading a photo searches by image', async ({ page }) => {
  await openHydrated(page);
  const upload = page.locator('input[type="file"][data-testid="upload-input"]');
  await expect(upload).toHaveCount(1);
  await expect(upload).toHaveAttribute('accept', /image\/\*/);
  await searchUpload(page);
});

test('no console errors during a text search and an upload', async ({ page }) => {
  const errors: string[] = [];
  const isFaviconMiss = (msg: ConsoleMessage) =>
    /favicon/i.test(msg.location().url ?? '') && /404|Not Found/i.test(msg.text());
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !isFaviconMiss(msg)) {
      const where = msg.location().url ? ` (${msg.location().url})` : '';
      errors.push(`console.error: ${msg.text()}${where}`);
    }
  });
  page.on('pageerror', (err) => {
    errors.push(`pageerror: ${err.message}`);
  });

  await openHydrated(page);
  await searchText(page, '枯藤老树昏鸦');
  await searchUpload(page);

  expect(errors, 'console errors and uncaught page errors').toEqual([]);
});
