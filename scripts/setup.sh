#!/usr/bin/env bash
# Set up focalcall on a fresh Debian machine (as root): apt packages, a virtualenv in .venv,
# torch (exact CPU pin first, so nothing pulls CUDA wheels), then the project and its extras.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[ "${1:-}" = "--test" ] && with_test=1

# Debian packages. The service needs libcodec2 1.0 (Codec2 450) only; the tests also make speech
# (espeak-ng, sox), drive a browser (chromium), scrape with a real Prometheus, validate the compose
# file, run a real Redis for the multi-node test, and inject real loss in network namespaces
# (iproute2, iptables, NFQUEUE).
APT_PACKAGES=(libcodec2-1.0)
APT_TEST_PACKAGES=(espeak-ng sox chromium nodejs prometheus docker-compose redis-server iproute2 iptables
                   libnetfilter-queue-dev)
# The Firefox page test: Firefox ESR driven over Marionette, PulseAudio null sinks for its audio.
APT_TEST_PACKAGES+=(firefox-esr pulseaudio pulseaudio-utils)
[ $with_test = 1 ] && APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}")
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/pip install -q torch==2.13.0
extras=""
[ $with_test = 1 ] && extras="[test]"
.venv/bin/pip install -q -e ".${extras}"
# Evaluation metrics and corpus builder (their tests need them). distillmos declares torchaudio,
# whose wheels pin another torch: it and its model package go in without dependencies (what
# they import at run time is in the eval extra). FOCALCALL_EVAL=1 asks for them without --test.
if [ $with_test = 1 ] || [ "${FOCALCALL_EVAL:-0}" = 1 ]; then
  .venv/bin/pip install -q -e ".[eval,data]"
  .venv/bin/pip install -q --no-deps distillmos==0.9.1 xls-r-sqa==0.1.0
fi
echo "setup: ready ($(.venv/bin/python --version), focalcall in .venv)"
