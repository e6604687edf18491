// Poems (issue 16): whole-poem storyboards with and without JavaScript and "another photo"
// (back/forward safe), the 这张照片像哪句诗 panel on ?like= pages and in the lightbox, link
// preview tags and share cards, and poem-box suggestions that wait for the input method's
// composition to end. The server runs the fixture model (random weights): these tests check
// structure and behaviour, never which photo or line "fits".
import { test, expect, type Page, type APIRequestContext } from '@playwright/test';

import { RESULTS_TIMEOUT, collectErrors, expectResults, jpegSize, openHydrated } from './helpers';

const POEM = '枯藤老树昏鸦，小桥流水人家，古道西风瘦马。\n夕阳西下，断肠人在天涯。';
const LINES = ['枯藤老树昏鸦', '小桥流水人家', '古道西风瘦马', '夕阳西下', '断肠人在天涯'];
const poemUrl = (poem: string) => `/?poem=${encodeURIComponent(poem)}`;

/** The photo ids of the storyboard on the page, line by line. */
async function storyIds(page: Page): Promise<string[]> {
  const figures = page.getByTestId('story-photo');
  await expect(figures).toHaveCount(LINES.length, { timeout: RESULTS_TIMEOUT });
  return figures.evaluateAll((els) => els.map((e) => e.getAttribute('data-photo-id') ?? ''));
}

async function expectStoryboard(page: Page): Promise<string[]> {
  await expect(page.getByTestId('story-line')).toHaveCount(LINES.length, {
    timeout: RESULTS_TIMEOUT,
  });
  for (const [i, line] of LINES.entries()) {
    await expect(page.getByTestId('story-line').nth(i).locator('.story-text')).toHaveText(line);
  }
  const ids = await storyIds(page);
  expect(new Set(ids).size, 'no photo twice').toBe(ids.length);
  return ids;
}

/** A photo id from the collection. */
async function somePhotoId(request: APIRequestContext): Promise<string> {
  const res = await request.get(`/api/v1/search?q=${encodeURIComponent('山水')}&k=3`);
  expect(res.ok()).toBeTruthy();
  return (await res.json()).results[0].id;
}

test.describe('storyboard', () => {
  test('works without JavaScript, and "another photo" is a link', async ({ browser, baseURL }) => {
    const context = await browser.newContext({ javaScriptEnabled: false, baseURL });
    const page = await context.newPage();
    await page.goto(poemUrl(POEM));
    const before = await expectStoryboard(page);
    await page.getByTestId('another-photo').nth(0).click();
    await expect(page).toHaveURL(/alt=0(\.|%2E)1/);
    const after = await expectStoryboard(page);
    expect(after[0]).not.toBe(before[0]);
    expect(after.slice(1)).toEqual(before.slice(1));
    await page.screenshot({ path: test.info().outputPath('storyboard-nojs.png'), fullPage: true });
    await context.close();
  });

  test('the whole-poem form, another photo, back and forward', async ({ page }) => {
    const errors = collectErrors(page);
    await openHydrated(page);
    await page.getByTestId('whole-poem').locator('summary').click();
    await page.getByTestId('whole-poem-input').fill(POEM);
    await page.getByTestId('whole-poem-submit').click();
    await expect(page).toHaveURL(/\?poem=/);
    const first = await expectStoryboard(page);

    await page.getByTestId('another-photo').nth(1).click();
    await expect(page).toHaveURL(/alt=1(\.|%2E)1/);
    await expect.poll(async () => (await storyIds(page))[1]).not.toBe(first[1]);
    const second = await expectStoryboard(page);
    expect(second.filter((_, i) => i !== 1)).toEqual(first.filter((_, i) => i !== 1));

    await page.goBack();
    await expect.poll(() => storyIds(page)).toEqual(first);
    await page.goForward();
    await expect.poll(() => storyIds(page)).toEqual(second);
    expect(errors).toEqual([]);
  });

  test('a corpus poem picked by its title', async ({ page }) => {
    await openHydrated(page, `/?title=${encodeURIComponent('静夜思')}`);
    const link = page.getByTestId('title-result').first();
    await expect(link).toContainText('静夜思');
    await link.click();
    await expect(page).toHaveURL(/\?poem=/);
    await expect(page.getByTestId('story-line').first()).toBeVisible({ timeout: RESULTS_TIMEOUT });
  });
});

test.describe('photo to poem', () => {
  test('the ?like= page names five lines, each a search link', async ({ page, request }) => {
    const id = await somePhotoId(request);
    await openHydrated(page, `/?like=${id}`);
    const panel = page.getByTestId('poem-panel');
    await expect(panel).toBeVisible({ timeout: RESULTS_TIMEOUT });
    await expect(panel.locator('h2')).toHaveText(/这张照片像哪句诗|Which line of poetry is this photo like/);
    const lines = panel.getByTestId('poem-line');
    await expect(lines).toHaveCount(5);
    await expect(lines.first().getByTestId('poem-source')).toContainText('《');
    const text = await lines.first().locator('a').innerText();
    await lines.first().locator('a').click();
    await expect(page.getByTestId('poem-input')).toHaveValue(text);
    await expectResults(page);
  });

  test('the lightbox shows the panel for its photo', async ({ page }) => {
    await openHydrated(page, `/?q=${encodeURIComponent('夕阳西下')}`);
    await expectResults(page);
    await page.getByTestId('card-open').first().click();
    const box = page.getByTestId('lightbox');
    await expect(box).toBeVisible();
    await expect(box.getByTestId('poem-line')).toHaveCount(5, { timeout: RESULTS_TIMEOUT });
  });
});

test.describe('link previews', () => {
  test('every kind of search URL carries og and twitter tags and a 1200x630 card', async ({
    request,
  }) => {
    const id = await somePhotoId(request);
    for (const url of [
      `/?q=${encodeURIComponent('夕阳西下')}`,
      `/?like=${id}`,
      poemUrl(POEM),
    ]) {
      const html = await (await request.get(url)).text();
      for (const key of ['og:title', 'og:description', 'og:url', 'og:image']) {
        expect(html, `${url} ${key}`).toMatch(new RegExp(`property="${key}" content="[^"]+"`));
      }
      expect(html).toContain('name="twitter:card" content="summary_large_image"');
      const image = html.match(/property="og:image" content="([^"]+)"/)![1].replace(/&amp;/g, '&');
      const card = await request.get(image);
      expect(card.headers()['content-type']).toBe('image/jpeg');
      expect(jpegSize(await card.body())).toEqual({ width: 1200, height: 630 });
    }
  });

  test('the storyboard offers its tall card to save', async ({ page, request }) => {
    await openHydrated(page, poemUrl(POEM));
    await expectStoryboard(page);
    const save = page.getByTestId('save-card');
    await expect(save).toHaveAttribute('download', /\.jpg$/);
    const href = (await save.getAttribute('href'))!;
    const card = await request.get(href);
    expect(card.headers()['content-type']).toBe('image/jpeg');
    const size = jpegSize(await card.body())!;
    expect(size.width).toBe(1200);
    expect(size.height).toBeGreaterThan(630);
  });
});

test.describe('poem box', () => {
  test('suggests corpus lines, but not during an IME composition', async ({ page }) => {
    await openHydrated(page);
    let lookups = 0;
    page.on('request', (r) => {
      if (/suggest_lines/i.test(r.url())) lookups += 1;
    });
    const input = page.getByTestId('poem-input');
    await input.focus();
    // An input method composing 床前: the box sees input events, but must not search yet.
    await input.evaluate((el: HTMLTextAreaElement) => {
      el.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true, data: '' }));
      for (const v of ['c', 'chuang', '床', '床q', '床前']) {
        el.value = v;
        el.dispatchEvent(new InputEvent('input', { bubbles: true, isComposing: true, data: v }));
      }
    });
    await page.waitForTimeout(600);
    expect(lookups, 'no lookup mid-composition').toBe(0);
    await expect(page.getByTestId('suggestion')).toHaveCount(0);
    await input.evaluate((el: HTMLTextAreaElement) => {
      el.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '床前' }));
    });
    const items = page.getByTestId('suggestion');
    await expect(items.first()).toBeVisible();
    expect(lookups).toBe(1);
    const texts = await items.locator('.suggestion-text').allInnerTexts();
    expect(texts.length).toBeGreaterThan(0);
    for (const t of texts) expect(t.startsWith('床前')).toBeTruthy();
    await expect(items.first().locator('.poem-source')).toContainText('《');
    // Keyboard: ↓ then Enter searches with the highlighted line.
    await input.press('ArrowDown');
    await expect(items.first()).toHaveAttribute('aria-selected', 'true');
    await input.press('Enter');
    await expect(page.getByTestId('poem-input')).toHaveValue(texts[0]);
    await expectResults(page);
  });

  test('typing in plain letters and tapping a suggestion', async ({ page }) => {
    await openHydrated(page);
    await page.getByTestId('poem-input').pressSequentially('明月', { delay: 30 });
    const item = page.getByTestId('suggestion').first();
    await expect(item).toBeVisible();
    const text = await item.locator('.suggestion-text').innerText();
    await item.locator('a').click();
    await expect(page.getByTestId('poem-input')).toHaveValue(text);
  });

  test('example chips come from the corpus and 换一批 shows others', async ({ page }) => {
    await openHydrated(page);
    const chips = page.getByTestId('example-chip');
    await expect(chips).toHaveCount(5);
    const before = await chips.allInnerTexts();
    await page.getByTestId('more-examples').click();
    await expect.poll(() => chips.allInnerTexts()).not.toEqual(before);
    await expect(chips).toHaveCount(5);
  });
});
