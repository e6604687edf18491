import {
  test,
  expect,
  EXPECT_FIXTURE,
  collectErrors,
  openHydrated,
  expectResults,
  searchText,
  searchUpload,
} from './helpers';

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
  const errors = collectErrors(page);
  await openHydrated(page);
  await searchText(page, '枯藤老树昏鸦');
  await searchUpload(page);
  expect(errors, 'console errors and uncaught page errors').toEqual([]);
});
