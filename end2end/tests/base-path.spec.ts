// Issue 19 part 5: behind a reverse proxy under a sub-path. Runs in its own pass with the
// server started with --base-path (scripts/test.sh: SHIHUA_E2E_BASE=/shihua scripts/e2e.sh
// base-path.spec.ts); in the ordinary pass it is skipped, saying so.
import { expect, test } from '@playwright/test';
import { expectResults, firstDemoPhoto, waitHydrated } from './helpers';
import { watchCsp } from './csp';

const BASE = process.env.SHIHUA_E2E_BASE ?? '';
// scripts/e2e-serve.sh passes --public-url http://shihua.example$SHIHUA_E2E_BASE.
const PUBLIC = `http://shihua.example${BASE}`;

test.describe('under a sub-path', () => {
  test.skip(!BASE, 'needs a server started with --base-path (SHIHUA_E2E_BASE=/shihua)');

  test('every link, asset, API call, server function and share URL follows the base path', async ({
    page,
    context,
    baseURL,
  }, testInfo) => {
    test.skip(testInfo.project.name !== 'desktop', 'one pass is enough: the desktop one');
    const origin = new URL(baseURL!).origin;
    const outside: string[] = [];
    page.on('request', (r) => {
      // The preview of a picture being uploaded is a blob: URL, not a request to the server.
      if (/^(blob|data):/.test(r.url())) return;
      const u = new URL(r.url());
      if (u.origin === origin && !u.pathname.startsWith(`${BASE}/`)) outside.push(r.url());
    });
    const csp = await watchCsp(page);

    await page.goto(`${BASE}/?q=${encodeURIComponent('夕阳')}`);
    await waitHydrated(page);
    await expectResults(page);
    const urls: string[] = await page.evaluate(() =>
      [
        ...[...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')!),
        ...[...document.querySelectorAll('img[src]')].map((i) => i.getAttribute('src')!),
        ...[...document.querySelectorAll('link[href]')].map((l) => l.getAttribute('href')!),
        ...[...document.querySelectorAll('form[action]')].map((f) => f.getAttribute('action')!),
      ].filter((u) => u.startsWith('/')),
    );
    expect(urls.length).toBeGreaterThan(5);
    // Link previews name the public address too (rendered on the server, kept by the client).
    await expect(page.locator('meta[property="og:url"]')).toHaveAttribute('content', new RegExp(`^${PUBLIC}/\\?q=`));
    await expect(page.locator('meta[property="og:image"]')).toHaveAttribute(
      'content',
      new RegExp(`^${PUBLIC}/card\\.jpg\\?q=`),
    );
    for (const u of urls) expect(u, 'same-site URL under the base path').toMatch(new RegExp(`^${BASE}/`));

    // A search typed in the page (server function), then "more like this" (a link).
    await page.getByTestId('poem-input').fill('小桥流水人家');
    await page.getByTestId('poem-input').press('Enter');
    await expect(page).toHaveURL(new RegExp(`${BASE}/\\?q=`));
    await expectResults(page);
    await page.getByTestId('more-like-this').first().click();
    await expect(page).toHaveURL(new RegExp(`${BASE}/\\?like=`));
    await expectResults(page);

    // A picture search (upload server function), then the lightbox's full photo.
    await page.getByTestId('upload-input').setInputFiles(firstDemoPhoto());
    await expect(page).toHaveURL(new RegExp(`${BASE}/\\?img=`), { timeout: 30_000 });
    await expectResults(page);
    await page.getByTestId('card-open').first().click();
    await expect(page.getByTestId('lightbox-image')).toBeVisible();
    await expect(page.getByTestId('lightbox-image')).toHaveAttribute('src', new RegExp(`^${BASE}/image/`));
    await page.keyboard.press('Escape');

    // The share button copies the public address of this search.
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    await page.evaluate(() => {
      // Desktop Chromium may offer the Web Share API; use the clipboard path.
      (navigator as any).share = undefined;
    });
    await page.getByTestId('share').click();
    const shared = await page.evaluate(() => navigator.clipboard.readText());
    expect(shared).toMatch(new RegExp(`^${PUBLIC}/\\?img=[0-9a-f]+`));

    // The JSON API names pictures under the base path too.
    const api = await page.request.get(`${BASE}/api/v1/search?q=${encodeURIComponent('夕阳')}&k=2`);
    expect(api.ok()).toBeTruthy();
    const body = await api.json();
    expect(body.results[0].thumb).toMatch(new RegExp(`^${BASE}/thumb/`));

    expect(outside, 'requests outside the base path').toEqual([]);
    await csp.expectNone();
  });
});
