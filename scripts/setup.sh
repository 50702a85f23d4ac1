# Sourced by scripts/test and scripts/demo: a virtualenv with the project, and the real Prometheus,
# Alertmanager and PostgreSQL binaries (Debian's packages) when they are missing. No service is started:
# the tests and the demo start their own servers on free loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DEBIAN_PACKAGES="prometheus prometheus-alertmanager postgresql"
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
  || ! { command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then
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
