#!/usr/bin/env bash
# dtmf-compare.sh runs the DTMF receiver figures (ITU-T Q.24, Bellcore/AT&T),
# the receiver sweeps (dynamic range, digit/dial-tone ratio, S/N), the
# talk-off corpus and keys-over-speech through internal/dtmf, multimon-ng's
# DTMF decoder and, when libspandsp-dev is installed, spandsp's DTMF
# receiver, and prints a side-by-side Markdown table.
#
# Usage: scripts/dtmf-compare.sh [--long] [OUT.md]
#   --long  use the long talk-off corpus: 24 espeak-ng voices and the game
#           music of asc-music (needs libsox-fmt-mp3) and drascula-music
#   OUT.md  also write the table there (default: only print it)
#
# Needs: go, multimon-ng, sox, espeak-ng (Debian: apt-get install multimon-ng
# sox espeak-ng; for --long also libsox-fmt-mp3 asc-music drascula-music).
# Optional: gcc and libspandsp-dev for the spandsp column. spandsp is LGPL:
# the script builds a separate test program against the system library in a
# temporary directory; nothing of it is part of sipphone or the repository.
set -euo pipefail

long=""
out=""
for arg in "$@"; do
	case "$arg" in
	--long) long=1 ;;
	-h | --help)
		sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
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
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
table="$work/table.md"

spandsp=""
if spandsp="$("$(dirname "$0")/dtmf-spandsp-rx.sh" "$work")"; then
	echo "dtmf-compare: spandsp receiver built: $spandsp" >&2
else
	echo "dtmf-compare: no spandsp column (needs gcc and libspandsp-dev)" >&2
	spandsp=""
fi

DTMF_COMPARE=1 DTMF_COMPARE_OUT="$table" DTMF_TALKOFF_LONG="$long" DTMF_SPANDSP="$spandsp" \
	go test -count=1 -timeout 60m -run '^TestCompareMultimon$' ./internal/dtmf >&2

cat "$table"
if [ -n "$out" ]; then
	cp "$table" "$out"
fi
