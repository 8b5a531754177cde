#!/usr/bin/env bash
# Runs every native fuzz target of the module for the given time each
# (default 60s). New crashers are written under the package's
# testdata/fuzz/ by go test; commit them with the fix.
set -euo pipefail
t="${1:-60s}"
cd "$(dirname "$0")/.."
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== $pkg $f ($t)"
    if ! go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"; then
      status=1
    fi
  done
done
exit $status
