// Checks of the suite itself and of picture search over the indexed collection:
// an uploaded photo that is in the collection finds itself first, and `make test`
// forbids a stray `test.only`.
import * as path from 'node:path';

import { test, expect, demoJpegs, openHydrated, searchUpload } from './helpers';

test('an uploaded photo of the collection ranks itself first', async ({ page }) => {
  // Three photos of the indexed demo folder (scripts/e2e-serve.sh), by file picker.
  const photos = demoJpegs();
  for (const photo of [photos[0], photos[5], photos[photos.length - 1]]) {
    await openHydrated(page);
    await searchUpload(page, photo);
    const first = page.getByTestId('result-card').first();
    await expect(first.locator('.name'), `${path.basename(photo)} ranks first`).toHaveText(
      path.basename(photo),
    );
    const score = Number(await first.getByTestId('score').innerText());
    expect(score, 'its own photo scores about 1').toBeGreaterThan(0.99);
    const second = Number(
      await page.getByTestId('result-card').nth(1).getByTestId('score').innerText(),
    );
    expect(second, 'the next photo scores lower').toBeLessThan(score);
  }
});

test('make test forbids test.only', async () => {
  const config = test.info().config;
  if (process.env.SHIHUA_E2E_FORBID_ONLY === '1') {
    expect(config.forbidOnly, 'SHIHUA_E2E_FORBID_ONLY=1 (scripts/test.sh) sets forbidOnly').toBe(true);
  } else {
    expect(config.forbidOnly).toBe(!!process.env.CI);
  }
});
