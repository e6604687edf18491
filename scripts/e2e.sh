#!/usr/bin/env bash
# Runs the Playwright tests in end2end/ (Debian Chromium). Playwright starts the server
# through scripts/e2e-serve.sh and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/../end2end"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npx playwright test "$@"
