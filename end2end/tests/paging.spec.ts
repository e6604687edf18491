// Paging (issue 17, part 4), on the desktop and phone projects: with JavaScript, "load more"
// adds the next page to the same gallery and then scrolling to the bottom loads the rest,
// one ranking without gaps or repeats (checked against one large API search), the address
// keeping the page; without JavaScript, a plain "next page" link renders page 2 on the
// server; a page past the 16,384-result window is a clear message, not an error.
import { type Page } from '@playwright/test';

import {
  test,
  expect,
  RESULTS_TIMEOUT,
  cardIds,
  collectErrors,
  openHydrated,
  searchIds,
} from './helpers';

const POEM = '枯藤老树昏鸦';
const K = 8;
const search = `/?q=${encodeURIComponent(POEM)}&k=${K}&all=1`;

/** The ids the JSON API answers for `params`, unfolded (`all=1`, as the page's search). */
const apiIds = (page: Page, params: string) => searchIds(page, POEM, `all=1&${params}`);

test('load more, then scrolling, fills the gallery with every page in order', async ({ page }) => {
  const errors = collectErrors(page);
  await openHydrated(page, search);
  const cards = page.getByTestId('result-card');
  await expect(cards).toHaveCount(K, { timeout: RESULTS_TIMEOUT });
  const all = await apiIds(page, 'k=200');
  expect(all.length, 'the demo collection has several pages').toBeGreaterThan(3 * K);

  // The script swaps the plain link for a button that loads page 2 into the same gallery.
  await expect(page.getByTestId('next-page')).toHaveCount(0);
  await page.getByTestId('load-more').click();
  await expect.poll(() => cards.count(), { timeout: RESULTS_TIMEOUT }).toBeGreaterThanOrEqual(2 * K);
  expect(await cardIds(page)).toEqual(all.slice(0, await cards.count()));
  await expect(page).toHaveURL(/[?&]page=\d+/);

  // From now on, reaching the bottom loads the next page by itself, to the end.
  for (let i = 0; i < 20; i++) {
    if (await page.getByTestId('end-of-results').isVisible()) break;
    const before = await cards.count();
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await expect.poll(() => cards.count(), { timeout: RESULTS_TIMEOUT }).toBeGreaterThan(before);
  }
  await expect(page.getByTestId('end-of-results')).toBeVisible();
  const ids = await cardIds(page);
  expect(new Set(ids).size, 'no photo twice').toBe(ids.length);
  expect(ids, 'the pages are the large search, no gaps').toEqual(all);
  // The address names the last page loaded: a reload (or a shared link) opens it.
  const last = Math.ceil(all.length / K);
  await expect(page).toHaveURL(new RegExp(`[?&]page=${last}(&|$)`));
  await page.reload();
  await expect(cards).toHaveCount(all.length - (last - 1) * K, { timeout: RESULTS_TIMEOUT });
  expect(await cardIds(page)).toEqual(all.slice((last - 1) * K));
  await expect(page.getByTestId('prev-page')).toBeVisible();
  expect(errors).toEqual([]);
});

test('without JavaScript a plain link opens the next page', async ({ browser, baseURL }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  await page.goto(search);
  const cards = page.getByTestId('result-card');
  await expect(cards).toHaveCount(K);
  await expect(page.getByTestId('load-more')).toHaveCount(0);
  await page.getByTestId('next-page').click();
  await expect(page).toHaveURL(/[?&]page=2(&|$)/);
  await expect(cards).toHaveCount(K);
  expect(await cardIds(page)).toEqual(await apiIds(page, `k=${K}&page=2`));
  await expect(page.getByTestId('results-line')).toContainText(/第 2 页|page 2/);
  await page.getByTestId('prev-page').click();
  await expect(page).not.toHaveURL(/page=/);
  expect(await cardIds(page)).toEqual(await apiIds(page, `k=${K}`));
  await context.close();
});

test('a page past the 16,384-result window says so, with the way back', async ({ browser, baseURL }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL, locale: 'en-US' });
  const page = await context.newPage();
  const res = await page.goto(`/?q=${encodeURIComponent(POEM)}&k=24&page=9999&lang=en`);
  expect(res?.status()).toBe(200);
  await expect(page.getByTestId('past-end')).toContainText('the last page is 683');
  await expect(page.getByTestId('search-error')).toHaveCount(0);
  await page.getByTestId('first-page').click();
  await expect(page.getByTestId('result-card').first()).toBeVisible();
  await context.close();
});
