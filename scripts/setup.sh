# Sourced by scripts/test and scripts/demo: a virtualenv with the project, and the real Prometheus and
# Alertmanager binaries (Debian's packages) when they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update && apt-get install -y prometheus prometheus-alertmanager
  elif command -v sudo >/dev/null; then
    sudo apt-get update && sudo apt-get install -y prometheus prometheus-alertmanager
  else
    echo "prometheus / prometheus-alertmanager missing: run 'apt-get install -y prometheus prometheus-alertmanager' as root" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,server,openai]'
export PATH="$PWD/.venv/bin:$PATH"
