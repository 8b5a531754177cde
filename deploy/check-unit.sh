#!/usr/bin/env bash
# Checks deploy/sipphone.service offline, without systemd running as PID 1:
#
#   1. `systemd-analyze verify` in a throwaway root holding the unit, the
#      distribution's own units (for the targets it names) and a sipphone
#      binary at its ExecStart path; a copy with a deliberate mistake must
#      fail the same check, so a verify that checks nothing cannot pass;
#   2. `systemd-analyze security --offline` must rate the unit's exposure at
#      MAX_EXPOSURE (default 2.0) or lower, and list no capability.
#
#   deploy/check-unit.sh [BINARY]      (default: builds one into the root)
#
# Needs systemd-analyze (package systemd). Prints PASS/FAIL lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
unit=deploy/sipphone.service

if ! command -v systemd-analyze >/dev/null; then
  echo "check-unit: systemd-analyze not found; install it with: sudo apt-get install systemd" >&2
  exit 1
fi
root=$(mktemp -d /tmp/sipphone-unit.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
if [ -n "${1:-}" ]; then
  cp "$1" "$root/usr/local/bin/sipphone"
else
  CGO_ENABLED=0 go build -o "$root/usr/local/bin/sipphone" ./cmd/sipphone
fi
failed=0

cp "$unit" "$root/etc/systemd/system/sipphone.service"
if out=$(systemd-analyze verify --root="$root" sipphone.service 2>&1) && [ -z "$out" ]; then
  echo "PASS verify  $unit: no warnings ($(systemd-analyze --version | head -n 1))"
else
  echo "FAIL verify  $unit:"; echo "$out"; failed=1
fi
# The same check must catch a mistake.
sed 's/^Restart=on-failure$/Restart=sometimes/' "$unit" >"$root/etc/systemd/system/sipphone.service"
if out=$(systemd-analyze verify --root="$root" sipphone.service 2>&1) && [ -z "$out" ]; then
  echo "FAIL verify  a unit with Restart=sometimes passed: the check checks nothing"; failed=1
else
  echo "PASS verify  catches a broken unit: $(head -n 1 <<<"$out")"
fi
cp "$unit" "$root/etc/systemd/system/sipphone.service"

report=$(systemd-analyze security --offline=true --root="$root" sipphone.service 2>&1) || true
score=$(sed -n 's/.*Overall exposure level for sipphone.service: \([0-9.]*\) \(.*\)$/\1 \2/p' <<<"$report")
if [ -z "$score" ]; then
  echo "FAIL security  no score:"; echo "$report"; failed=1
elif awk -v s="${score%% *}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then
  echo "PASS security  exposure $score (at most $MAX_EXPOSURE)"
else
  echo "FAIL security  exposure $score, above $MAX_EXPOSURE:"; grep '✗' <<<"$report"; failed=1
fi
if grep -q '✗ CapabilityBoundingSet' <<<"$report"; then
  echo "FAIL security  capabilities left:"; grep '✗ CapabilityBoundingSet' <<<"$report"; failed=1
fi
echo "not met (by design):"
grep '✗' <<<"$report" | sed 's/  */ /g; s/^/  /' || true
exit $failed
