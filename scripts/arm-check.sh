#!/usr/bin/env bash
# Runs the linux/arm64 and linux/arm/v7 release binaries under Debian's
# qemu-user against a real phone (baresip), on loopback ports chosen free:
# baresip registers with digest authentication, the server rings it through
# REST, baresip answers by itself, one key pressed on it (ctrl_tcp sndcode)
# arrives as a dtmf event on the WebSocket, /status answers with the
# binary's version, SIGTERM stops the server cleanly
# (internal/releasecheck/qemu_test.go).
#
#   scripts/arm-check.sh            builds the two binaries into dist/ first
#   SIPPHONE_DIST=dist scripts/arm-check.sh   uses binaries already built
#
# Static binaries need no ARM sysroot: qemu-aarch64 and qemu-arm run them
# directly. Missing qemu-user or baresip fail the check (not skip).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=""
command -v qemu-aarch64 >/dev/null && command -v qemu-arm >/dev/null || missing="qemu-user"
command -v baresip >/dev/null || missing="$missing baresip-core"
if [ -n "$missing" ]; then
  echo "arm-check: install first: sudo apt-get install$(printf ' %s' $missing)" >&2
  exit 1
fi
if [ -z "${SIPPHONE_DIST:-}" ]; then
  TARGETS="linux/arm64 linux/arm/v7" ./scripts/release.sh
  SIPPHONE_DIST=dist
fi
SIPPHONE_DIST=$(cd "$SIPPHONE_DIST" && pwd)
export SIPPHONE_DIST
export SIPPHONE_REQUIRE_PEERS=1
for f in "$SIPPHONE_DIST/bin/linux-arm64/sipphone" "$SIPPHONE_DIST/bin/linux-armv7/sipphone"; do
  [ -x "$f" ] || { echo "arm-check: $f missing (scripts/release.sh builds it)" >&2; exit 1; }
done
go test -count=1 -timeout 5m -v -run 'TestQemu' ./internal/releasecheck
