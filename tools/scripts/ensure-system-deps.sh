#!/usr/bin/env bash
# Installs the system packages the integration tests need, when missing. Idempotent and quick
# when everything is present. Run by `npm test` (pretest) and by CI.
#   - librdkafka-dev (+ gcc): libs/testing builds librdkafka's mock Kafka cluster launcher.
#   - moto_server: the S3-compatible server of libs/testing.
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

if [ "${#missing_apt[@]}" -gt 0 ]; then
  echo "ensure-system-deps: installing ${missing_apt[*]} (apt)"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librdkafka-dev gcc >/dev/null
  echo "ensure-system-deps: installed librdkafka-dev $(dpkg-query -W -f='${Version}' librdkafka-dev)"
else
  echo "ensure-system-deps: librdkafka-dev and gcc present"
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
