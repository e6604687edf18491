// The web experience (issue 5): shareable searches with and without JavaScript, picture
// search by picker, drop and paste with in-browser downscaling, more-like-this, the
// lightbox, the relative cut-off, combined queries, languages, share, and the designed
// error state. Runs on the desktop and phone projects; saves a screenshot of each.
import { type Page } from '@playwright/test';
import * as fs from 'node:fs';

import {
  test,
  expect,
  IMG_URL,
  RESULTS_TIMEOUT,
  collectErrors,
  demoJpegs,
  expectQueryPicture,
  expectResults,
  expectUploadSent,
  firstDemoPhoto,
  jpegSize,
  openHydrated,
  recordUploads,
  searchText,
  searchUpload,
  waitHydrated,
} from './helpers';

const POEM = '枯藤老树昏鸦';
const q = (text: string) => `/?q=${encodeURIComponent(text)}`;

test.describe('shared links', () => {
  test('a ?q= link shows results with JavaScript disabled', async ({ browser, baseURL }) => {
    const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
    const page = await context.newPage();
    await page.goto(q(POEM));
    await expect(page.getByTestId('poem-input')).toHaveValue(POEM);
    await expectResults(page);
    await context.close();
  });

  test('a ?q= link hydrates; back and forward move between searches', async ({ page }) => {
    const errors = collectErrors(page);
    await openHydrated(page, q(POEM));
    await expectResults(page);
    const first = await page.getByTestId('result-card').first().locator('.name').innerText();

    await page.getByRole('link', { name: '夕阳西下' }).click();
    await expect(page).toHaveURL(/q=%E5%A4%95%E9%98%B3%E8%A5%BF%E4%B8%8B/);
    await expect(page.getByTestId('poem-input')).toHaveValue('夕阳西下');
    await expectResults(page);

    await page.goBack();
    await expect(page.getByTestId('poem-input')).toHaveValue(POEM);
    await expectResults(page);
    await expect(page.getByTestId('result-card').first().locator('.name')).toHaveText(first);
    await page.goForward();
    await expect(page.getByTestId('poem-input')).toHaveValue('夕阳西下');
    expect(errors).toEqual([]);
  });

  test('Shift+Enter adds a line instead of searching', async ({ page }) => {
    await openHydrated(page);
    const input = page.getByTestId('poem-input');
    await input.fill('夕阳西下');
    await input.press('Shift+Enter');
    await input.pressSequentially('断肠人在天涯');
    await expect(input).toHaveValue('夕阳西下\n断肠人在天涯');
    await expect(page).toHaveURL(/\/$/);
  });
});

test.describe('search by picture', () => {
  test('an upload gets a shareable ?img= link that works after reload and without JS', async ({
    page,
    browser,
    baseURL,
  }) => {
    await openHydrated(page);
    await searchUpload(page);
    const url = page.url();
    await page.reload();
    await expectQueryPicture(page);
    await expectResults(page);

    const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
    const plain = await context.newPage();
    await plain.goto(url);
    await expectQueryPicture(plain);
    await expectResults(plain);
    await context.close();
  });

  test('without JavaScript the upload form posts and redirects to the search', async ({
    browser,
    baseURL,
  }) => {
    const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
    const page = await context.newPage();
    await page.goto('/');
    await page.getByTestId('upload-input').setInputFiles(firstDemoPhoto());
    await page.getByTestId('dropzone').locator('button[type=submit]').click();
    await expect(page).toHaveURL(IMG_URL);
    await expectResults(page);
    await context.close();
  });

  test('a large photo is downscaled to ≤ 1024 px JPEG before upload', async ({ page }) => {
    await openHydrated(page);
    // A 3000 × 2000 noisy JPEG made by the browser itself.
    const b64 = await page.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 3000;
      c.height = 2000;
      const ctx = c.getContext('2d')!;
      const img = ctx.createImageData(3000, 2000);
      for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 2654435761) >>> 24;
      ctx.putImageData(img, 0, 0);
      const blob: Blob = await new Promise((r) => c.toBlob((b) => r(b!), 'image/jpeg', 0.95));
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let s = '';
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s);
    });
    const big = Buffer.from(b64, 'base64');
    expect(jpegSize(big)).toEqual({ width: 3000, height: 2000 });

    await recordUploads(page);
    await page.getByTestId('upload-input').setInputFiles({
      name: 'big.jpg',
      mimeType: 'image/jpeg',
      buffer: big,
    });
    await expectUploadSent(page);
    const sent = await page.evaluate(async () => {
      const file = await (window as unknown as { __sent: Promise<File> }).__sent;
      const b = await createImageBitmap(file);
      return { width: b.width, height: b.height, size: file.size, type: file.type };
    });
    expect(sent.type).toBe('image/jpeg');
    expect(Math.max(sent.width, sent.height)).toBe(1024);
    expect(sent.width / sent.height).toBeCloseTo(1.5, 2);
    expect(sent.size, 'upload smaller than the original').toBeLessThan(big.length / 2);
    await expect(page).toHaveURL(IMG_URL, { timeout: RESULTS_TIMEOUT });
    await expectResults(page);
  });

  test('a picture dropped on the search area searches by picture', async ({ page }) => {
    await openHydrated(page);
    const b64 = fs.readFileSync(demoJpegs()[1]).toString('base64');
    const dataTransfer = await page.evaluateHandle((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
      return dt;
    }, b64);
    await page.getByTestId('dropzone').dispatchEvent('dragover', { dataTransfer });
    await page.getByTestId('dropzone').dispatchEvent('drop', { dataTransfer });
    await expect(page).toHaveURL(IMG_URL, { timeout: RESULTS_TIMEOUT });
    await expectQueryPicture(page);
    await expectResults(page);
  });

  test('a pasted picture searches by picture', async ({ page }) => {
    await openHydrated(page);
    const b64 = fs.readFileSync(demoJpegs()[2]).toString('base64');
    await page.evaluate((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'pasted.jpg', { type: 'image/jpeg' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
    }, b64);
    await expect(page).toHaveURL(IMG_URL, { timeout: RESULTS_TIMEOUT });
    await expectResults(page);
  });

  test('an upload that is not a picture shows a readable error', async ({ page, consoleErrors }) => {
    // The browser logs the 400 it gets back; nothing else may go wrong.
    consoleErrors.allow(/status of 400 \(Bad Request\) \(http:\/\/[^/]+\/api\/upload_query\d*\)$/);
    await openHydrated(page);
    await page.getByTestId('upload-input').setInputFiles({
      name: 'notes.jpg',
      mimeType: 'image/jpeg',
      buffer: Buffer.from('<html>not a picture</html>'),
    });
    await expect(page.getByTestId('search-error')).toContainText(/picture|图片/, {
      timeout: RESULTS_TIMEOUT,
    });
    // The page still works.
    await searchText(page, POEM);
  });
});

test.describe('gallery', () => {
  test('more like this searches with a photo from the results', async ({ page }) => {
    await openHydrated(page, q(POEM));
    await expectResults(page);
    const card = page.getByTestId('result-card').nth(2);
    const name = await card.locator('.name').innerText();
    await card.getByTestId('more-like-this').click();
    await expect(page).toHaveURL(/\/\?like=\d+$/);
    await expectQueryPicture(page);
    await expectResults(page);
    // The photo itself is the closest match.
    await expect(page.getByTestId('result-card').first().locator('.name')).toHaveText(name);
    await expect(page.getByTestId('result-card').first().getByTestId('score')).toHaveText(/^1\.000$|^0\.99/);
  });

  test('the lightbox opens, steps with the arrow keys and closes with Esc', async ({ page }, info) => {
    const errors = collectErrors(page);
    await openHydrated(page, q(POEM));
    await expectResults(page);
    const names = await page.getByTestId('result-card').locator('.name').allInnerTexts();
    expect(names.length).toBeGreaterThanOrEqual(3);

    await page.getByTestId('card-open').first().click();
    const box = page.getByTestId('lightbox');
    await expect(box).toBeVisible();
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[0]);
    await expect
      .poll(() => box.getByTestId('lightbox-image').evaluate((el) => (el as HTMLImageElement).naturalWidth))
      .toBeGreaterThan(0);
    await expect(box).toContainText(/\d+ × \d+ px/);
    await expect(box.getByTestId('lightbox-like')).toHaveAttribute('href', /\/\?like=\d+/);

    await page.keyboard.press('ArrowRight');
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[1]);
    await page.keyboard.press('ArrowRight');
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[2]);
    await page.keyboard.press('ArrowLeft');
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[1]);
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[names.length - 1]);

    if (info.project.name === 'phone') {
      await swipe(page, -200);
      await expect(box.getByTestId('lightbox-name')).toHaveText(names[0]);
      await swipe(page, 200);
      await expect(box.getByTestId('lightbox-name')).toHaveText(names[names.length - 1]);
    }

    await page.keyboard.press('Escape');
    await expect(box).toHaveCount(0);
    await page.getByTestId('card-open').nth(1).click();
    await expect(box.getByTestId('lightbox-name')).toHaveText(names[1]);
    await box.getByTestId('lightbox-close').click();
    await expect(box).toHaveCount(0);
    expect(errors).toEqual([]);
  });

  test('the relative cut-off hides far-off results until "show all"', async ({ page }) => {
    await openHydrated(page, `${q(POEM)}&k=40`);
    const shown = await expectResults(page);
    const scores = (await page.getByTestId('score').allInnerTexts()).map(Number);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    await expect(page.getByTestId('cutoff-note')).toBeVisible();
    await page.getByTestId('show-all').click();
    await expect(page).toHaveURL(/all=1/);
    await expect(page.getByTestId('result-card')).toHaveCount(40);
    expect(shown).toBeLessThan(40);
    await page.getByTestId('show-best').click();
    await expect(page.getByTestId('result-card')).toHaveCount(shown);
  });

  test('a combined query: text minus text, and text plus a picture', async ({ page }) => {
    await openHydrated(page);
    await searchText(page, '夕阳 - 城市');
    await expect(page.getByTestId('combined-query')).toContainText('夕阳 − 城市');

    await searchUpload(page);
    const img = new URL(page.url()).searchParams.get('img')!;
    await page.getByTestId('poem-input').fill('2*夕阳');
    await page.getByTestId('combine').check();
    await page.getByTestId('poem-submit').click();
    await expect(page).toHaveURL(new RegExp(`img=${img}`));
    await expect(page).toHaveURL(/q=2/);
    await expect(page.getByTestId('combined-query')).toContainText('2×夕阳');
    await expectQueryPicture(page);
    await expectResults(page);
  });

  test('an expired picture link and an unknown photo show the designed error state', async ({
    page,
    consoleErrors,
  }) => {
    // The pages answer 404, which the browser logs.
    consoleErrors.allow(/status of 404 \(Not Found\) \(http:\/\/[^/]+\/\?(img=0{20}|like=1)\)$/);
    await openHydrated(page, '/?img=00000000000000000000');
    await expect(page.getByTestId('search-error')).toContainText(/expired|过期/);
    await expect(page.getByTestId('retry')).toBeVisible();
    await page.goto('/?like=1');
    await expect(page.getByTestId('search-error')).toContainText(/no photo/);
  });
});

test.describe('language and sharing', () => {
  test('the language follows Accept-Language and the switch, and is remembered', async ({
    browser,
    baseURL,
  }) => {
    const en = await browser.newContext({ locale: 'en-US', baseURL });
    const page = await en.newPage();
    await openHydrated(page, q(POEM));
    await expect(page.locator('html')).toHaveAttribute('lang', 'en');
    await expect(page.getByTestId('poem-submit')).toHaveText('Search');
    await page.getByTestId('lang-switch').click();
    await expect(page.getByTestId('poem-submit')).toHaveText('搜索');
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.getByTestId('results-line')).toContainText('张照片');
    await page.reload();
    await expect(page.getByTestId('poem-submit')).toHaveText('搜索');
    await en.close();

    const zh = await browser.newContext({ locale: 'zh-CN', baseURL, javaScriptEnabled: false });
    const plain = await zh.newPage();
    await plain.goto('/');
    await expect(plain.getByTestId('poem-submit')).toHaveText('搜索');
    await plain.getByTestId('lang-switch').click();
    await expect(plain.getByTestId('poem-submit')).toHaveText('Search');
    await plain.goto('/');
    await expect(plain.getByTestId('poem-submit')).toHaveText('Search');
    await zh.close();
  });

  test('share copies the link of the search', async ({ page, context }) => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    await openHydrated(page, q(POEM));
    await expectResults(page);
    await page.getByTestId('share').click();
    await expect(page.getByTestId('share-status')).not.toBeEmpty();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(page.url());
  });
});

test('screenshot of the results page', async ({ page }, info) => {
  await openHydrated(page, `${q(POEM)}&lang=zh`);
  await expectResults(page);
  await page.evaluate(() => window.scrollTo(0, 0));
  const file = info.outputPath(`results-${info.project.name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await info.attach(`results-${info.project.name}`, { path: file, contentType: 'image/png' });
  // A stable copy for people to look at after the run.
  fs.mkdirSync('test-results/screenshots', { recursive: true });
  fs.copyFileSync(file, `test-results/screenshots/results-${info.project.name}.png`);

  await page.getByTestId('card-open').first().click();
  await expect(page.getByTestId('lightbox')).toBeVisible();
  await expect
    .poll(() => page.getByTestId('lightbox-image').evaluate((el) => (el as HTMLImageElement).naturalWidth))
    .toBeGreaterThan(0);
  await page.screenshot({ path: `test-results/screenshots/lightbox-${info.project.name}.png` });
});

/** A horizontal swipe across the lightbox (negative dx: to the left). */
async function swipe(page: Page, dx: number): Promise<void> {
  await page.getByTestId('lightbox').evaluate((el, dx) => {
    const x0 = window.innerWidth / 2;
    const y = window.innerHeight / 2;
    const touch = (x: number) => new Touch({ identifier: 1, target: el, clientX: x, clientY: y });
    el.dispatchEvent(
      new TouchEvent('touchstart', { changedTouches: [touch(x0)], touches: [touch(x0)], bubbles: true }),
    );
    el.dispatchEvent(new TouchEvent('touchend', { changedTouches: [touch(x0 + dx)], bubbles: true }));
  }, dx);
}
