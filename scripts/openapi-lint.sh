#!/usr/bin/env bash
# Lints the OpenAPI document the server serves (/openapi.json) with Redocly's
# CLI (npm @redocly/cli, its "recommended" rules) and fails on any error or
# warning.
#
#   scripts/openapi-lint.sh                    builds and starts a server on free
#                                              loopback ports, lints its document
#   scripts/openapi-lint.sh http://HOST:8000   lints a running server's document
#   REDOCLY_VERSION=2.77.0 scripts/openapi-lint.sh
#   OPENAPI_LINT_WARNINGS=ok scripts/openapi-lint.sh   fail on errors only
#
# The CLI is installed with npm into a cache directory (~/.cache/sipphone/
# redocly-VERSION) on first use; it needs node 20.19 or later and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
REDOCLY_VERSION=${REDOCLY_VERSION:-2.77.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sipphone/redocly-$REDOCLY_VERSION
work=$(mktemp -d /tmp/sipphone-openapi-lint.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for p in node npm curl; do
  command -v $p >/dev/null || { echo "openapi-lint: $p not found; install it with: sudo apt-get install nodejs npm curl" >&2; exit 1; }
done
# @redocly/cli 2.x runs on node 20.19 or later (Debian 12's own node is 18).
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "openapi-lint: @redocly/cli $REDOCLY_VERSION needs node 20.19 or later; this is node $(node --version)" >&2
  exit 1
fi
if [ ! -x "$cache/node_modules/.bin/redocly" ]; then
  echo "== installing @redocly/cli@$REDOCLY_VERSION into $cache"
  mkdir -p "$cache"
  timeout 600 npm install --loglevel=error --no-audit --no-fund --prefix "$cache" "@redocly/cli@$REDOCLY_VERSION" >/dev/null
fi
redocly="$cache/node_modules/.bin/redocly"

base=${1:-}
if [ -z "$base" ]; then
  CGO_ENABLED=0 go build -o "$work/sipphone" ./cmd/sipphone
  for try in 1 2 3 4 5; do
    p=$((20000 + RANDOM % 30000))
    cat >"$work/config.yml" <<YAML
server: {host: "127.0.0.1", sip_port: $((p + 2)), rest_port: $p, websocket_port: $((p + 1)), state_file: "$work/state.json"}
audio: {rtp_ports: {min: $((p + 10)), max: $((p + 40))}}
lines: [{id: phone1, user: phone1, password: secret-pw}]
YAML
    if "$work/sipphone" check --config "$work/config.yml" >"$work/check.log" 2>&1; then break; fi
  done
  "$work/sipphone" serve --config "$work/config.yml" >"$work/server.log" 2>&1 &
  server_pid=$!
  base="http://127.0.0.1:$p"
  for _ in $(seq 1 100); do
    curl -fsS --max-time 2 "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
    sleep 0.2
  done
fi
curl -fsS --max-time 10 "$base/openapi.json" -o "$work/openapi.json"
echo "== redocly lint $base/openapi.json (@redocly/cli $REDOCLY_VERSION, recommended rules)"
set +e
"$redocly" lint --extends=recommended --format=json "$work/openapi.json" >"$work/lint.json" 2>"$work/lint.err"
rc=$?
set -e
# One line per problem: severity, rule, where in the document, message.
if ! summary=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const p of r.problems || []) {
    const at = (p.location || []).map(l => decodeURIComponent(l.pointer || "").replace(/~1/g, "/").replace(/~0/g, "~")).join(" ");
    console.log(`${p.severity.padEnd(7)} ${p.ruleId.padEnd(24)} ${at}  ${p.message}`);
  }
  console.log(`openapi-lint: ${r.totals.errors} errors, ${r.totals.warnings} warnings`);
' "$work/lint.json" 2>&1); then
  cat "$work/lint.err"
  echo "openapi-lint: redocly gave no report (exit status $rc)"
  exit 1
fi
echo "$summary"
errors=$(sed -n 's/^openapi-lint: \([0-9]*\) errors, \([0-9]*\) warnings$/\1/p' <<<"$summary")
warnings=$(sed -n 's/^openapi-lint: \([0-9]*\) errors, \([0-9]*\) warnings$/\2/p' <<<"$summary")
if [ "$rc" != 0 ] || [ "$errors" != 0 ]; then exit 1; fi
if [ "$warnings" != 0 ] && [ "${OPENAPI_LINT_WARNINGS:-}" != ok ]; then exit 1; fi
