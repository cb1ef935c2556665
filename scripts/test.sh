#!/usr/bin/env bash
# The test command (`npm test`): type-check, run every test, check the docs
# and the package. Each step says what it runs; the first failure stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "Chromium for the browser tests (real Workers and IndexedDB)"
CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROME_PATH" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "Chromium is not at $CHROME_PATH: installing Debian's chromium package with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is not at $CHROME_PATH and this script cannot install it (needs root and apt-get)." >&2
    echo "Install it (sudo apt-get install -y chromium) or point CHROME_PATH at a Chromium binary." >&2
    exit 1
  fi
fi
echo "using $("$CHROME_PATH" --version 2>/dev/null | tail -n 1) at $CHROME_PATH"
export CHROME_PATH

step "Firefox ESR and WebKitGTK for the browser tests in three engines"
# Firefox is driven by puppeteer-core over WebDriver BiDi; WebKit by Debian's
# WebKitWebDriver with MiniBrowser, which needs a display: xvfb-run gives one.
ENGINE_PACKAGES="firefox-esr webkit2gtk-driver libwebkit2gtk-4.1-0 xvfb xauth"
missing=""
for pkg in $ENGINE_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages with apt-get:$missing"
    # shellcheck disable=SC2086
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1) ||
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null)
  else
    echo "Missing Debian packages:$missing, and this script cannot install them (needs root and apt-get)." >&2
    echo "Install them (sudo apt-get install -y --no-install-recommends$missing)." >&2
    exit 1
  fi
else
  echo "already installed: $ENGINE_PACKAGES"
fi
echo "using $(firefox-esr --version 2>/dev/null) at /usr/bin/firefox-esr"
echo "using WebKitGTK $(dpkg-query -W -f='${Version}' libwebkit2gtk-4.1-0) (MiniBrowser, WebKitWebDriver) under xvfb-run"

step "promtool (Debian's prometheus package) for the tests that check /metrics"
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "promtool is not installed: installing Debian's prometheus package (without recommends) with apt-get"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1) ||
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null)
    PROMTOOL=$(command -v promtool)
  else
    echo "promtool is not installed and this script cannot install it (needs root and apt-get)." >&2
    echo "Install it (sudo apt-get install -y --no-install-recommends prometheus) or point PROMTOOL at a promtool binary." >&2
    exit 1
  fi
fi
echo "using $("$PROMTOOL" --version 2>&1 | head -n 1) at $PROMTOOL"
export PROMTOOL

step "nats-server for the JetStream log tests (a real server, started by the tests)"
NATS_SERVER=${NATS_SERVER:-$(command -v nats-server || true)}
if [ -z "$NATS_SERVER" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "nats-server is not installed: installing Debian's nats-server package with apt-get"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null 2>&1) ||
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null)
    NATS_SERVER=$(command -v nats-server)
  else
    echo "nats-server is not installed and this script cannot install it (needs root and apt-get)." >&2
    echo "Install it (sudo apt-get install -y nats-server) or point NATS_SERVER at a nats-server binary." >&2
    exit 1
  fi
fi
echo "using nats-server $("$NATS_SERVER" --version 2>/dev/null) at $NATS_SERVER"
export NATS_SERVER

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
  // A test file that fails to load counts as one failure (it has no tests to count).
  const broken = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
  console.log(`\ntests: ${r.numPassedTests} passed, ${r.numFailedTests + broken} failed`);
' "$report"
rm -f "$report"
exit "$status"
