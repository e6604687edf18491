// Filters (issue 17, part 3), on the desktop and phone projects: the filter row in the poem
// box sets `orient=`, `from=`/`to=` and `in=` in the address (a shareable URL), the gallery is
// the filtered search (the JSON API with the same filters), "load more" continues it, the
// script-free form keeps the filters, "clear filters" is one click, and a bad value is a
// message, not an error page. (Exactness against the unfiltered ranking, hostile values and
// folders are checked against a real Milvus in server/tests/filters.rs; the demo photos lie in
// one folder, all dated by their mtime.)
import { type Page } from '@playwright/test';

import { test, expect, RESULTS_TIMEOUT, collectErrors, openHydrated } from './helpers';
import { cardIds, searchIds } from './helpers';

const POEM = '枯藤老树昏鸦';
const K = 2;

/** The ids the JSON API answers for the poem and `params`. */
const apiIds = (page: Page, params: string) => searchIds(page, POEM, params);

/** True when `sub` is `all` with some ids left out, in the same order. */
function isSubsequence(sub: string[], all: string[]): boolean {
  let i = 0;
  for (const id of all) if (id === sub[i]) i++;
  return i === sub.length;
}

test('the filter row narrows the search, in the address, and load more keeps it', async ({ page }) => {
  const errors = collectErrors(page);
  await openHydrated(page, `/?q=${encodeURIComponent(POEM)}&k=${K}&all=1`);
  const cards = page.getByTestId('result-card');
  await expect(cards).toHaveCount(K, { timeout: RESULTS_TIMEOUT });
  const everything = await apiIds(page, 'k=200');
  const portrait = await apiIds(page, 'k=200&orient=portrait');
  expect(portrait.length, 'the demo has a few portrait photos').toBeGreaterThan(K);
  expect(portrait.length).toBeLessThan(everything.length);
  expect(isSubsequence(portrait, everything), 'the filtered ranking keeps the order').toBe(true);

  // Open the filters (folded while none is set), set the orientation and a date range; the
  // address carries them.
  await page.getByTestId('filters-toggle').click();
  await page.getByTestId('filter-orient').selectOption('portrait');
  await page.getByTestId('filter-from').fill('2000');
  await page.getByTestId('filter-to').fill('2999-12');
  await page.getByTestId('poem-submit').click();
  await expect(page).toHaveURL(/[?&]orient=portrait(&|$)/);
  await expect(page).toHaveURL(/[?&]from=2000(&|$)/);
  await expect(page).toHaveURL(/[?&]to=2999-12(&|$)/);
  await expect(page).not.toHaveURL(/[?&]in=/); // empty fields stay out of the address
  await expect.poll(() => cardIds(page), { timeout: RESULTS_TIMEOUT }).toEqual(portrait.slice(0, K));

  // Load more continues the filtered search.
  await page.getByTestId('load-more').click();
  await expect.poll(() => cards.count(), { timeout: RESULTS_TIMEOUT }).toBeGreaterThanOrEqual(2 * K);
  const shown = await cardIds(page);
  expect(shown).toEqual(portrait.slice(0, shown.length));
  await expect(page).toHaveURL(/[?&]orient=portrait(&|$)/);
  await expect(page).toHaveURL(/[?&]page=\d+/);

  // A reload (a shared link) shows the same, the fields filled in.
  await page.reload();
  await expect(page.getByTestId('filter-orient')).toHaveValue('portrait');
  await expect(page.getByTestId('filter-from')).toHaveValue('2000');

  // A range before the photos were made: nothing; a folder that is not there: nothing.
  await page.getByTestId('filter-to').fill('2000-01-31');
  await page.getByTestId('poem-submit').click();
  await expect(page).toHaveURL(/[?&]to=2000-01-31(&|$)/);
  await expect(page.getByTestId('no-results')).toBeVisible({ timeout: RESULTS_TIMEOUT });

  // Clearing the filters is one click, and keeps the search.
  await page.getByTestId('clear-filters').click();
  await expect(page).not.toHaveURL(/orient=|from=|to=/);
  await expect(page).toHaveURL(/[?&]q=/);
  await expect.poll(() => cardIds(page), { timeout: RESULTS_TIMEOUT }).toEqual(everything.slice(0, K));
  await expect(page.getByTestId('clear-filters')).toHaveCount(0);
  await page.getByTestId('filters-toggle').click();
  await expect(page.getByTestId('filter-orient')).toHaveValue('');
  expect(errors).toEqual([]);
});

test('without JavaScript the form and the next-page link keep the filters', async ({
  browser,
  baseURL,
  consoleErrors,
}) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
  const page = await context.newPage();
  await page.goto(`/?q=${encodeURIComponent(POEM)}&k=${K}&all=1`);
  await page.getByTestId('filters-toggle').click();
  await page.getByTestId('filter-orient').selectOption('portrait');
  await page.getByTestId('filter-from').fill('2000');
  await page.getByTestId('poem-submit').click();
  await expect(page).toHaveURL(/[?&]orient=portrait(&|$)/);
  await expect(page).toHaveURL(/[?&]from=2000(&|$)/);
  const portrait = await apiIds(page, `k=${K}&orient=portrait&from=2000`);
  expect(await cardIds(page)).toEqual(portrait);
  await page.getByTestId('next-page').click();
  await expect(page).toHaveURL(/[?&]page=2(&|$)/);
  await expect(page).toHaveURL(/[?&]orient=portrait(&|$)/);
  expect(await cardIds(page)).toEqual(await apiIds(page, `k=${K}&orient=portrait&from=2000&page=2`));
  await expect(page.getByTestId('filter-orient')).toHaveValue('portrait');
  // A bad value is a message saying what a good one is (the page answers 400).
  consoleErrors.allow(/status of 400 \(Bad Request\) \(http:\/\/[^/]+\/\?q=[^)]*from=yesterday/);
  await page.goto(`/?q=${encodeURIComponent(POEM)}&from=yesterday&lang=en`);
  await expect(page.getByTestId('search-error')).toContainText('YYYY-MM-DD');
  await expect(page.getByTestId('result-card')).toHaveCount(0);
  await context.close();
});
