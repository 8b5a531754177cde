#!/usr/bin/env bash
# dtmf-time.sh times whole processes finding DTMF keys in the same speech
# recording: `sipphone dtmf detect`, spandsp's receiver (a separate test
# program, see dtmf-spandsp-rx.sh) and multimon-ng (which reads raw audio
# at 22050 Hz, so it gets the same speech resampled beforehand). Each runs
# RUNS times under /usr/bin/time -v; the table gives the minimum and median
# elapsed time, the median CPU time (user + system) and the largest peak
# resident memory.
#
# Usage: scripts/dtmf-time.sh [RUNS] [SPEECH.wav]
#   RUNS        default 11
#   SPEECH.wav  8 kHz 16-bit mono; default: made by dtmf-speech-wav.sh (552 s)
# Needs: go, sox, espeak-ng, multimon-ng; gcc and libspandsp-dev for spandsp.
set -euo pipefail
runs="${1:-11}"
speech="${2:-}"
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -z "$speech" ]; then
	speech="$work/speech.wav"
	scripts/dtmf-speech-wav.sh "$speech" 552 2>/dev/null
fi
go build -o "$work/sipphone" ./cmd/sipphone
spandsp="$(scripts/dtmf-spandsp-rx.sh "$work" 2>/dev/null)" || spandsp=""
sox "$speech" -t raw -r 22050 -e signed-integer -b 16 -c 1 "$work/speech22k.raw" rate -v

# measure NAME CMD...: RUNS runs; prints one Markdown row.
measure() {
	local name="$1"
	shift
	local f="$work/times"
	: >"$f"
	"$@" >/dev/null 2>&1 # warm the page cache
	for _ in $(seq "$runs"); do
		/usr/bin/time -v "$@" 2>"$work/tv" >/dev/null
		awk -F': ' '
			/Elapsed \(wall clock\)/ { n = split($2, p, ":"); e = 0; for (i = 1; i <= n; i++) e = e * 60 + p[i] }
			/User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { m = $2 }
			END { printf "%.3f %.3f %d\n", e, u + s, m }' "$work/tv" >>"$f"
	done
	local cpu
	cpu="$(awk '{ print $2 }' "$f" | sort -n | awk '{ c[NR] = $1 } END { print c[int((NR + 1) / 2)] }')"
	sort -n "$f" | awk -v name="$name" -v secs="$secs" -v cpu="$cpu" '
		{ e[NR] = $1; if ($3 > m) m = $3 }
		END {
			printf "| %s | %.3f s (%.0fx) | %.3f s | %.3f s | %.1f MB |\n", name, e[1], secs / e[1], e[int((NR + 1) / 2)], cpu, m / 1024
		}'
}

secs="$(soxi -D "$speech")"
echo "| receiver (whole process, ${secs%%.*} s of speech, $runs runs) | elapsed min (x real time) | elapsed median | CPU median (user+sys) | peak RSS |"
echo "|---|---|---|---|---|"
measure "sipphone dtmf detect (8 kHz WAV)" "$work/sipphone" dtmf detect "$speech"
measure "sipphone dtmf help (start-up alone)" "$work/sipphone" dtmf help
if [ -n "$spandsp" ]; then
	measure "spandsp dtmf_rx (8 kHz WAV, test program)" "$spandsp" "$speech"
else
	echo "| spandsp | not built (needs gcc and libspandsp-dev) | | | |"
fi
measure "multimon-ng -a DTMF (raw 22.05 kHz)" multimon-ng -q -c -a DTMF -t raw "$work/speech22k.raw"
echo
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
