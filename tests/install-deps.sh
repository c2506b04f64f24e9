#!/usr/bin/env bash
# What the tests need beyond the project's venv, installed only when missing (as root, or
# through sudo): Debian's real receivers and tools, and ClickHouse 24.8's engine apart.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
updated=0

need() {  # need COMMAND PACKAGE WHY [optional]
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "installing $2 (Debian) for $3"
  if [ "$updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq && updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$2" \
    >/dev/null || { [ "${4:-}" = optional ] && echo "$2 could not be installed: its tests skip"; }
}

need prometheus-alertmanager prometheus-alertmanager "the Alertmanager receiver tests"
need promtool prometheus "promtool, and Prometheus itself: the rule checks, the gateway's remote_write tests"
need prometheus-node-exporter prometheus-node-exporter "the gateway's remote_write test (netdev counters)"
need chromium chromium "the fleet report's screenshot test" optional
need tc iproute2 "the netdev source's real packet-loss test"

# ClickHouse 24.8 (the oldest supported server) is the engine inside chDB 2.1.1, which
# cannot share a venv with chDB 4.4: tests/compat runs megawatch's SQL on it.
PY=${PYTHON:-python3}
if [ ! -x .venv-ch248/bin/python ] || ! .venv-ch248/bin/python -c "import chdb" 2>/dev/null; then
  echo "installing chdb==2.1.1 (ClickHouse 24.8) into .venv-ch248 for tests/compat"
  rm -rf .venv-ch248
  "$PY" -m venv .venv-ch248
  .venv-ch248/bin/pip install --quiet "chdb==2.1.1"
fi
