#!/usr/bin/env bash
# dtmf-compare.sh runs the DTMF receiver figures (ITU-T Q.24, Bellcore/AT&T),
# the talk-off corpus and keys-over-speech through internal/dtmf and through
# multimon-ng's DTMF decoder, and prints a side-by-side Markdown table.
#
# Usage: scripts/dtmf-compare.sh [--long] [OUT.md]
#   --long  use the long talk-off corpus: 24 espeak-ng voices and the game
#           music of asc-music (needs libsox-fmt-mp3) and drascula-music
#   OUT.md  also write the table there (default: only print it)
#
# Needs: go, multimon-ng, sox, espeak-ng (Debian: apt-get install multimon-ng
# sox espeak-ng; for --long also libsox-fmt-mp3 asc-music drascula-music).
set -euo pipefail

long=""
out=""
for arg in "$@"; do
	case "$arg" in
	--long) long=1 ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) out="$arg" ;;
	esac
done

for tool in go multimon-ng sox espeak-ng; do
	if ! command -v "$tool" >/dev/null; then
		echo "dtmf-compare: $tool is not installed" >&2
		exit 1
	fi
done

cd "$(dirname "$0")/.."
table="$(mktemp)"
trap 'rm -f "$table"' EXIT

DTMF_COMPARE=1 DTMF_COMPARE_OUT="$table" DTMF_TALKOFF_LONG="$long" \
	go test -count=1 -timeout 60m -run '^TestCompareMultimon$' ./internal/dtmf >&2

cat "$table"
if [ -n "$out" ]; then
	cp "$table" "$out"
fi
