#!/usr/bin/env bash
# The test command (`npm test`): type-check, run every test, check the docs
# and the package. Each step says what it runs; the first failure stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "type-check (tsc --noEmit, strict)"
npx tsc --noEmit -p .

step "unit, property and type tests (vitest)"
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile="$report" || status=$?

step "TSDoc: every export documented, every example compiles"
npx tsx scripts/check-doc-examples.ts

step "package: build, publint, are-the-types-wrong, bundle sizes"
npm run --silent build >/dev/null
npx publint --strict
npx attw --pack . --profile esm-only --quiet && echo "attw: types resolve for every entry point (node16 ESM, bundler)"
node scripts/size-report.mjs

# A closing line CI can read: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' "$report"
rm -f "$report"
exit "$status"
