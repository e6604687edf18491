import type {
  FullConfig,
  FullResult,
  Reporter,
  Suite,
  TestCase,
} from '@playwright/test/reporter';

/**
 * Prints exactly one closing line, alone:
 *
 *   e2e: N passed, N failed[, N skipped]
 *
 * CI counts tests from that line (Playwright's own `1 passed (1.5s)` summary
 * is not a format it reads).
 *
 * - passed: the test's final result matched its expectation (flaky counts as
 *   passed; with retries 0 there are none).
 * - skipped: the test was skipped on purpose (test.skip / test.fixme).
 * - failed: everything else, including tests that never ran because the run
 *   broke off (web server did not start, interrupted, global timeout).
 *   A test that never ran in a run that otherwise passed counts as skipped.
 * Nothing is printed for `playwright test --list`.
 * If the run as a whole failed (e.g. a global error outside any test) and no
 * test was counted as failed, failed is reported as 1 so the line never reads
 * as a clean run.
 */
class SummaryReporter implements Reporter {
  private suite: Suite | undefined;

  printsToStdio(): boolean {
    return true;
  }

  onBegin(_config: FullConfig, suite: Suite): void {
    this.suite = suite;
  }

  onEnd(result: FullResult): void {
    // `playwright test --list` runs reporters too, but nothing was run.
    if (process.argv.includes('--list')) return;
    const tests: TestCase[] = this.suite ? this.suite.allTests() : [];
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const test of tests) {
      const outcome = test.outcome();
      const explicitlySkipped =
        test.expectedStatus === 'skipped' &&
        test.results.length > 0 &&
        test.results.every((r) => r.status === 'skipped');
      if (outcome === 'expected' || outcome === 'flaky') passed++;
      else if (explicitlySkipped) skipped++;
      else if (test.results.length === 0 && result.status === 'passed') skipped++;
      else failed++;
    }
    if (result.status !== 'passed' && failed === 0) failed = 1;

    let line = `e2e: ${passed} passed, ${failed} failed`;
    if (skipped > 0) line += `, ${skipped} skipped`;
    process.stdout.write(`\n${line}\n`);
  }
}

export default SummaryReporter;
