import { defineConfig, devices } from '@playwright/test';

// Browser tests for shihua. Playwright's own browser download does not work
// here: install with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 and use Debian's
// chromium (apt install chromium) at /usr/bin/chromium.
const CHROMIUM = process.env.SHIHUA_E2E_CHROMIUM ?? '/usr/bin/chromium';
// SHIHUA_E2E_PORT lets two checkouts run their e2e suites at once (default 3100).
const PORT = process.env.SHIHUA_E2E_PORT ?? '3100';

export default defineConfig({
  testDir: './tests',
  outputDir: 'test-results',
  workers: 1,
  retries: 0,
  fullyParallel: false,
  // `make test` (scripts/test.sh) sets SHIHUA_E2E_FORBID_ONLY=1: a stray test.only fails there
  // too, not only on CI (checked by tests/suite.spec.ts).
  forbidOnly: !!process.env.CI || process.env.SHIHUA_E2E_FORBID_ONLY === '1',
  timeout: 60_000,
  // The custom reporter prints one closing line `e2e: N passed, N failed`
  // that CI counts tests from.
  reporter: [['list'], ['./summary-reporter.ts']],
  // Fails the run when a browser reported a CSP violation at any point (issue 19).
  globalTeardown: './csp-teardown.ts',
  use: {
    baseURL: process.env.SHIHUA_E2E_URL ?? `http://127.0.0.1:${PORT}`,
    browserName: 'chromium',
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: CHROMIUM,
      // Do not pass --user-data-dir: Playwright makes its own profile.
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    {
      name: 'desktop',
      use: {
        ...devices['Desktop Chrome'],
        browserName: 'chromium',
        viewport: { width: 1280, height: 800 },
      },
    },
    {
      name: 'phone',
      use: {
        ...devices['Pixel 7'],
        browserName: 'chromium',
      },
    },
  ],
  // scripts/e2e-serve.sh indexes the demo photos with the fixture model and
  // serves the app on port $SHIHUA_E2E_PORT (3100). Set SHIHUA_E2E_REUSE=1 to use a server that
  // is already running there.
  webServer: {
    command: 'bash ../scripts/e2e-serve.sh',
    url: `http://127.0.0.1:${PORT}/healthz`,
    timeout: 300_000,
    reuseExistingServer: !!process.env.SHIHUA_E2E_REUSE,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
