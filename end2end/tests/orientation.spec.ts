// EXIF orientation through the browser's downscale: a JPEG stored sideways with Orientation 6
// (models/testdata/orientation/large-orientation-6.jpg: stored 1200 × 1600, upright
// 1600 × 1200, over the 1024 px limit) is sent upright, as pixels (no tag left to undo), and
// the server's preview of the query picture is upright too.
import * as path from 'node:path';

import {
  test,
  expect,
  IMG_URL,
  RESULTS_TIMEOUT,
  expectResults,
  expectUploadSent,
  openHydrated,
  recordUploads,
} from './helpers';

const LARGE = path.resolve(__dirname, '..', '..', 'models', 'testdata', 'orientation', 'large-orientation-6.jpg');

// The upright picture: white bar across the top tenth; quadrants red (top left), green (top
// right), blue (bottom left), yellow (bottom right).
type Rgb = [number, number, number];
const EXPECTED: Array<[string, number, number, Rgb]> = [
  ['top bar', 0.5, 0.04, [250, 250, 250]],
  ['top left', 0.25, 0.3, [220, 40, 40]],
  ['top right', 0.75, 0.3, [40, 200, 60]],
  ['bottom left', 0.25, 0.75, [40, 60, 220]],
  ['bottom right', 0.75, 0.75, [230, 210, 40]],
];

function expectUpright(size: { width: number; height: number; samples: Rgb[] }, what: string) {
  expect(size.width, `${what}: landscape`).toBeGreaterThan(size.height);
  expect(size.width / size.height).toBeCloseTo(4 / 3, 1);
  EXPECTED.forEach(([where, , , want], i) => {
    const got = size.samples[i];
    // The gradient adds up to 40 levels; a wrong rotation swaps whole colours.
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(got[c] - want[c]), `${what}: ${where} is ${want} (got ${got})`).toBeLessThan(50);
    }
  });
}

// Where each EXPECTED colour is sampled, as fractions of width and height.
const POINTS: Array<[number, number]> = EXPECTED.map(([, fx, fy]) => [fx, fy]);

type Pixels = { width: number; height: number; samples: Rgb[] };

test('an EXIF-rotated photo stays upright through the downscale and on the server', async ({ page }) => {
  await openHydrated(page);
  // Record the file the page hands to fetch. It must carry no EXIF block (nothing left for
  // the server to rotate again), so its pixels themselves must be upright. (Chromium applies
  // an EXIF orientation in createImageBitmap whatever `imageOrientation` says.)
  await recordUploads(page);
  await page.getByTestId('upload-input').setInputFiles(LARGE);
  await expectUploadSent(page);
  const sent = await page.evaluate(async (points) => {
    const w = window as unknown as {
      __sent: Promise<File>;
      __pixels: (blob: Blob, points: Array<[number, number]>) => Promise<Pixels>;
    };
    const file = await w.__sent;
    const bytes = new Uint8Array(await file.arrayBuffer());
    const exif = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0", the APP1 EXIF header
    const hasExif = bytes.some((_, i) => exif.every((v, j) => bytes[i + j] === v));
    return { ...(await w.__pixels(file, points)), type: file.type, hasExif };
  }, POINTS);
  expect(sent.type).toBe('image/jpeg');
  expect(sent.hasExif, 'the sent JPEG has no EXIF block (no orientation tag to apply twice)').toBe(false);
  expect([sent.width, sent.height], 'downscaled to 1024 px, upright').toEqual([1024, 768]);
  expectUpright(sent, 'the uploaded picture');

  // The server's preview of the query picture (what it embedded) is upright as well.
  await expect(page).toHaveURL(IMG_URL, { timeout: RESULTS_TIMEOUT });
  await expectResults(page);
  const preview = page.getByTestId('query-preview').locator('img');
  const shown = await preview.evaluate(async (el, points) => {
    const res = await fetch((el as HTMLImageElement).src);
    const w = window as unknown as {
      __pixels: (blob: Blob, points: Array<[number, number]>) => Promise<Pixels>;
    };
    return w.__pixels(await res.blob(), points);
  }, POINTS);
  expectUpright(shown, 'the server preview');
});
