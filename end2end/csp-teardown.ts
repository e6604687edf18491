// After the whole run: the server under test (scripts/e2e-serve.sh) appended every CSP
// violation report a browser sent to target/e2e-data/csp-reports.jsonl. Any line fails the run.
import * as fs from 'node:fs';
import * as path from 'node:path';

export default async function cspTeardown(): Promise<void> {
  const file =
    process.env.SHIHUA_E2E_CSP_LOG ??
    path.resolve(__dirname, '..', 'target', 'e2e-data', 'csp-reports.jsonl');
  if (!fs.existsSync(file)) {
    console.log(`csp: no violation reported during the run (${file} absent)`);
    return;
  }
  const reports = fs.readFileSync(file, 'utf8').trim();
  if (reports) {
    throw new Error(`CSP violations were reported during the e2e run (${file}):\n${reports}`);
  }
}
