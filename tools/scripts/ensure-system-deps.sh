#!/usr/bin/env bash
# Installs the system packages the integration tests need, when missing. Idempotent and quick
# when everything is present. Run by `npm test` (pretest) and by CI.
#   - librdkafka-dev (+ gcc): libs/testing builds librdkafka's mock Kafka cluster launcher.
#   - moto_server: the S3-compatible server of libs/testing.
#   - python3-venv: examples/python-training's end-to-end test makes a venv (needs ensurepip).
set -euo pipefail

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

missing_apt=()
if ! dpkg -s librdkafka-dev >/dev/null 2>&1 || [ ! -f /usr/include/librdkafka/rdkafka_mock.h ]; then
  missing_apt+=(librdkafka-dev)
fi
if ! command -v gcc >/dev/null 2>&1; then
  missing_apt+=(gcc)
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing_apt+=(python3-venv)
fi

if [ "${#missing_apt[@]}" -gt 0 ]; then
  echo "ensure-system-deps: installing ${missing_apt[*]} (apt)"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >/dev/null
  echo "ensure-system-deps: installed ${missing_apt[*]}"
else
  echo "ensure-system-deps: librdkafka-dev, gcc and python3-venv present"
fi

if ! command -v moto_server >/dev/null 2>&1; then
  echo "ensure-system-deps: installing moto[server] (pip)"
  if command -v pip >/dev/null 2>&1; then
    pip install -q 'moto[server]'
  else
    python3 -m pip install -q 'moto[server]'
  fi
  hash -r
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "ensure-system-deps: moto_server still not on PATH after pip install" >&2
    exit 1
  fi
else
  echo "ensure-system-deps: moto_server present"
fi
