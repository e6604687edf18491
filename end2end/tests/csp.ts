// Content-Security-Policy violations seen by the browser: `securitypolicyviolation` events
// (recorded by an init script in every document) and Chromium's console reports.
import { expect, type Page } from '@playwright/test';

export async function watchCsp(page: Page): Promise<{ expectNone: () => Promise<void> }> {
  const console_: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) console_.push(m.text());
  });
  await page.addInitScript(() => {
    (window as any).__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as any).__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  return {
    expectNone: async () => {
      const events: string[] = await page.evaluate(() => (window as any).__csp ?? []);
      expect([...events, ...console_], 'CSP violations').toEqual([]);
    },
  };
}
