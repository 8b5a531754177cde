#!/usr/bin/env bash
# dtmf-speech-wav.sh writes a 552 s (9 min 12 s) 8 kHz 16-bit mono WAV of
# synthetic speech with no DTMF in it, the input of the whole-process timing
# in BENCHMARKS.md ("DTMF detector"). The same command gives the same file:
# espeak-ng reads the Apache-2.0 licence text in two voices, sox resamples it
# to 8 kHz, repeats it and cuts it to 552 s.
#
# Usage: scripts/dtmf-speech-wav.sh OUT.wav [SECONDS]
# Needs: espeak-ng, sox (Debian: apt-get install espeak-ng sox)
set -euo pipefail

out="${1:?usage: $0 OUT.wav [SECONDS]}"
secs="${2:-552}"
for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || {
		echo "dtmf-speech-wav: $tool is not installed" >&2
		exit 1
	}
done
text=/usr/share/common-licenses/Apache-2.0
[ -r "$text" ] || {
	echo "dtmf-speech-wav: $text is missing (Debian package base-files)" >&2
	exit 1
}
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# About 11 minutes of speech per voice; the first 552 s are used.
head -c 9000 "$text" >"$tmp/text.txt"
espeak-ng -v en-us -s 165 -f "$tmp/text.txt" -w "$tmp/a.wav"
espeak-ng -v en+f3 -s 150 -p 60 -f "$tmp/text.txt" -w "$tmp/b.wav"
sox "$tmp/a.wav" "$tmp/b.wav" -r 8000 -b 16 -c 1 "$tmp/both.wav" norm -3 rate -v
# Repeat as often as needed to reach the length, then cut.
len="$(soxi -D "$tmp/both.wav")"
reps="$(awk -v l="$len" -v s="$secs" 'BEGIN { n = int(s / l); print (n * l >= s) ? n - 1 : n }')"
sox "$tmp/both.wav" -r 8000 -b 16 -c 1 "$out" repeat "$reps" trim 0 "$secs"
soxi "$out" >&2
