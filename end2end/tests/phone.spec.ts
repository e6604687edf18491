// Issue 14: on a phone, a search leaves its first result on the first screen — the header
// turns compact and the poem box sticks to the top while the results scroll under it.
import { test, expect, expectResults, openHydrated, searchText } from './helpers';

test.describe('phone layout', () => {
  test.beforeEach(({}, testInfo) => {
    test.skip(testInfo.project.name !== 'phone', 'the narrow layout: phone project only');
  });

  test('after a search the first result is on the first screen', async ({ page }) => {
    await openHydrated(page);
    await searchText(page, '小桥流水人家');
    // Measured from the top of the page, as the visitor first sees it.
    await page.evaluate(() => window.scrollTo(0, 0));
    const height = page.viewportSize()!.height;
    const first = page.getByTestId('result-card').first();
    const { top, bottom } = await first.evaluate((el) => el.getBoundingClientRect());
    // Without the compact layout the first card started below the first screen (880 px of 839
    // on this phone); now all of it is on it.
    expect(top, `first result's top (viewport ${height} px high)`).toBeLessThan(height);
    expect(top).toBeGreaterThan(0);
    expect(bottom, 'the whole first result is on the first screen').toBeLessThanOrEqual(height);

    // Scrolled down the results, the poem box is still at hand.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await expect(page.getByTestId('poem-input')).toBeInViewport();
  });

  test('a shared search link opens with its first result on the first screen', async ({ page }) => {
    await page.goto(`/?q=${encodeURIComponent('夕阳')}`);
    await expectResults(page);
    await page.evaluate(() => window.scrollTo(0, 0));
    const top = await page
      .getByTestId('result-card')
      .first()
      .evaluate((el) => el.getBoundingClientRect().top);
    expect(top).toBeLessThan(page.viewportSize()!.height);
  });
});
