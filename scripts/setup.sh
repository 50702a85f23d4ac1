# Sourced by scripts/test and scripts/demo: a virtualenv with the project, and the real Prometheus,
# Alertmanager, PostgreSQL and Chromium binaries (Debian's packages) when they are missing. No service is started:
# the tests and the demo start their own servers on free loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEBIAN_PACKAGES="prometheus prometheus-alertmanager postgresql chromium"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
  || ! { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } \
  || ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $DEBIAN_PACKAGES
  elif command -v sudo >/dev/null; then
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $DEBIAN_PACKAGES
  else
    echo "missing binaries: run 'apt-get install -y $DEBIAN_PACKAGES' as root" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,server,openai,postgres]'
export PATH="$PWD/.venv/bin:$PATH"

# The test-only npm packages (tests/npm/package.json): the Prometheus Operator's CRD schemas (npm models) that
# tests/test_kubernetes_manifests.py validates the generated custom resources with, and axe-core, which the
# console's browser tests run on every page. Optional: without npm or the registry the setup goes on and those
# tests skip (they fail under AII_REQUIRE_E2E=1).
NPM_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/otel-ai-incident/npm"
if [ ! -d "$NPM_CACHE/node_modules/@kubernetes-models/prometheus-operator" ] || [ ! -d "$NPM_CACHE/node_modules/axe-core" ]; then
  if command -v npm >/dev/null \
    && mkdir -p "$NPM_CACHE" && cp tests/npm/package.json "$NPM_CACHE/package.json" \
    && npm install --silent --no-audit --no-fund --prefix "$NPM_CACHE" >/dev/null 2>&1; then
    :
  else
    echo "warning: could not install the test-only npm packages; the tests using them will skip" >&2
  fi
fi
