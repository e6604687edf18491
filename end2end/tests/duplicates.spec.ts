// Duplicates (issue 17, part 5), on the desktop and phone projects. scripts/e2e-serve.sh
// indexes, besides the demo photos, a second folder with two more copies of one demo photo
// (three identical files) and another demo photo saved again with a JPEG comment (another
// file, the same picture: a near-identical photo, cosine 1). The copies are one result that
// says "also in" (card and lightbox); the near-identical photo is folded under a "+1" badge
// that shows it inline on click and folds it again; without JavaScript the badge opens the
// search unfolded; `all=1` shows every file on its own.
import { type APIRequestContext, type Page } from '@playwright/test';

import { test, expect, RESULTS_TIMEOUT, collectErrors, openHydrated } from './helpers';

const COPIED = 'budgie-backgrounds__lake-sherburne.jpg';
const EDITED = 'budgie-backgrounds__canyon-wren.jpg';

/** Every photo of the collection, unfolded: visible path → id. */
async function photoIds(request: APIRequestContext): Promise<Map<string, string>> {
  const res = await request.get(`/api/v1/search?q=${encodeURIComponent('山水')}&k=200&all=1`);
  expect(res.status()).toBe(200);
  const body = await res.json();
  const ids = new Map<string, string>();
  for (const r of body.results as Array<{ id: string; filepath: string }>) ids.set(r.filepath, r.id);
  for (const path of [COPIED, `2023-trip/${COPIED}`, `phone-backup/${COPIED}`, EDITED, `edited/${EDITED}`]) {
    expect(ids.has(path), `${path} is indexed`).toBe(true);
  }
  return ids;
}

/** The photo ids of the cards with test id `testid`, in order (from their `/image/{id}` links). */
async function idsOf(page: Page, testid: string): Promise<string[]> {
  const hrefs = await page
    .getByTestId(testid)
    .getByTestId('card-open')
    .evaluateAll((els) => els.map((el) => el.getAttribute('href') ?? ''));
  return hrefs.map((h) => h.replace(/^.*\/image\//, ''));
}

test('identical files are one result that says where the other copies are', async ({ page, request }) => {
  const errors = collectErrors(page);
  const ids = await photoIds(request);
  const copies = [COPIED, `2023-trip/${COPIED}`, `phone-backup/${COPIED}`].map((p) => ids.get(p)!);

  const api = await (await request.get(`/api/v1/search?like=${copies[1]}&k=12`)).json();
  const first = api.results[0];
  expect(copies).toContain(first.id);
  expect(first.duplicates.map((d: { id: string }) => d.id).sort()).toEqual(
    copies.filter((c) => c !== first.id).sort(),
  );
  for (const d of first.duplicates) expect(d.filepath, 'visible paths only').not.toMatch(/^\//);

  await openHydrated(page, `/?like=${copies[1]}&k=12&lang=en`);
  const cards = page.getByTestId('result-card');
  await expect(cards.first()).toBeVisible({ timeout: RESULTS_TIMEOUT });
  await expect(cards.locator('.name', { hasText: COPIED })).toHaveCount(1);
  const alsoIn = cards.first().getByTestId('also-in');
  await expect(alsoIn).toContainText('also in');
  await expect(alsoIn).toContainText(/2023-trip\/|phone-backup\//);
  await expect(page.getByTestId('also-in')).toHaveCount(1);

  await cards.first().getByTestId('card-open').click();
  const box = page.getByTestId('lightbox');
  await expect(box.getByTestId('lightbox-also-in')).toContainText(COPIED);
  await expect(box.getByTestId('lightbox-also-in')).toContainText(/2023-trip\/|phone-backup\//);
  await page.keyboard.press('Escape');
  await expect(box).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a near-identical photo folds under a badge that opens and closes on click', async ({ page, request }) => {
  const errors = collectErrors(page);
  const ids = await photoIds(request);
  const pair = [ids.get(EDITED)!, ids.get(`edited/${EDITED}`)!];

  await openHydrated(page, `/?like=${pair[0]}&k=12&lang=en`);
  const cards = page.getByTestId('result-card');
  await expect(cards.first()).toBeVisible({ timeout: RESULTS_TIMEOUT });
  const shown = await idsOf(page, 'result-card');
  expect(pair).toContain(shown[0]);
  expect(shown, 'the other of the pair is folded, not a result').not.toContain(
    pair.find((p) => p !== shown[0]),
  );
  const badge = cards.first().getByTestId('similar-badge');
  await expect(badge).toHaveText('+1');
  await expect(badge).toHaveAttribute('aria-expanded', 'false');
  await expect(page.getByTestId('folded-card')).toHaveCount(0);

  await badge.click();
  const folded = page.getByTestId('folded-card');
  await expect(folded).toHaveCount(1);
  await expect(badge).toHaveAttribute('aria-expanded', 'true');
  expect(await idsOf(page, 'folded-card')).toEqual(pair.filter((p) => p !== shown[0]));
  // Inline, right after its result.
  const order = await page
    .getByTestId('gallery')
    .locator(':scope > li')
    .evaluateAll((els) => els.slice(0, 2).map((el) => el.getAttribute('data-testid')));
  expect(order).toEqual(['result-card', 'folded-card']);
  await expect(page).not.toHaveURL(/all=1/);
  // It opens in the lightbox like any card.
  await folded.getByTestId('card-open').click();
  await expect(page.getByTestId('lightbox-name')).toHaveText(EDITED);
  await page.keyboard.press('Escape');

  await badge.click();
  await expect(page.getByTestId('folded-card')).toHaveCount(0);
  await expect(badge).toHaveText('+1');
  expect(errors).toEqual([]);
});

test('without JavaScript the badge opens the search unfolded', async ({ browser, baseURL, request }) => {
  const ids = await photoIds(request);
  const pair = [ids.get(EDITED)!, ids.get(`edited/${EDITED}`)!];
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  await page.goto(`/?like=${pair[0]}&k=12`);
  await page.getByTestId('result-card').first().getByTestId('similar-badge').click();
  await expect(page).toHaveURL(/[?&]all=1(&|$)/);
  const shown = await idsOf(page, 'result-card');
  expect(shown.slice(0, 2).sort()).toEqual([...pair].sort());
  await expect(page.getByTestId('similar-badge')).toHaveCount(0);
  await context.close();
});

test('all=1 shows every copy and the near-identical photo as results of their own', async ({ page, request }) => {
  const ids = await photoIds(request);
  const copy = ids.get(`phone-backup/${COPIED}`)!;
  await openHydrated(page, `/?like=${copy}&k=12&all=1`);
  const cards = page.getByTestId('result-card');
  await expect(cards.first()).toBeVisible({ timeout: RESULTS_TIMEOUT });
  await expect(cards.locator('.name', { hasText: COPIED })).toHaveCount(3);
  await expect(page.getByTestId('also-in')).toHaveCount(0);
  await expect(page.getByTestId('similar-badge')).toHaveCount(0);
  // The JSON API: the same with all=1, folded without.
  const unfolded = await (await request.get(`/api/v1/search?like=${copy}&k=12&all=1`)).json();
  expect(unfolded.results.slice(0, 3).every((r: { duplicates: unknown[] }) => r.duplicates.length === 0)).toBe(true);
  const folded = await (await request.get(`/api/v1/search?like=${copy}&k=12`)).json();
  expect(folded.results[0].duplicates).toHaveLength(2);
});
