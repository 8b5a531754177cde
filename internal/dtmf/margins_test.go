package dtmf

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMargins measures where the detector's behaviour actually changes for
// each receiver figure, so the margins to the Q.24 limits can be recorded
// in BENCHMARKS.md. It runs only with DTMF_MARGINS=1 and takes about 15 s. Each
// point is eight signals with different random phases (and noise) of all
// sixteen keys; "rate" is the share of signals that gave exactly the
// expected keys.
func TestMargins(t *testing.T) {
	if os.Getenv("DTMF_MARGINS") == "" {
		t.Skip("set DTMF_MARGINS=1 to measure the margins")
	}
	var b strings.Builder
	row := func(figure, point string, rate float64) {
		fmt.Fprintf(&b, "| %s | %s | %.0f%% |\n", figure, point, 100*rate)
	}
	b.WriteString("| figure | point | rate |\n|---|---|---|\n")
	keysAt := func(tn tone, gap time.Duration, want string, extra func(*signal) *signal) float64 {
		return rate(func(seed uint64) *signal {
			s := seq(seed, allKeys, tn, gap)()
			if extra != nil {
				s = extra(s)
			}
			return s
		}, want)
	}
	for _, off := range []float64{0.015, 0.02, 0.022, 0.025, 0.03} {
		for _, sign := range []float64{1, -1} {
			lo := keysAt(tone{dur: 100 * ms, loDB: -10, hiDB: -10, loOff: sign * off}, 60*ms, allKeys, nil)
			hi := keysAt(tone{dur: 100 * ms, loDB: -10, hiDB: -10, hiOff: sign * off}, 60*ms, allKeys, nil)
			row("frequency", fmt.Sprintf("low tone %+.1f%% detected", 100*sign*off), lo)
			row("frequency", fmt.Sprintf("high tone %+.1f%% detected", 100*sign*off), hi)
		}
	}
	for _, tw := range []float64{8, 9, 10, 11} {
		row("twist", fmt.Sprintf("normal %g dB detected", tw),
			keysAt(tone{dur: 100 * ms, loDB: -10, hiDB: -10 - tw}, 60*ms, allKeys, nil))
	}
	for _, tw := range []float64{4, 5, 6, 7} {
		row("twist", fmt.Sprintf("reverse %g dB detected", tw),
			keysAt(tone{dur: 100 * ms, loDB: -10 - tw, hiDB: -10}, 60*ms, allKeys, nil))
	}
	for _, lv := range []float64{-26, -30, -40, -42, -43, -44, -45} {
		row("level", fmt.Sprintf("%g dBm0 per tone detected", lv),
			keysAt(tone{dur: 100 * ms, loDB: lv, hiDB: lv}, 60*ms, allKeys, nil))
	}
	for _, d := range []time.Duration{23, 26, 27, 28, 29, 30, 32, 40} {
		row("duration", fmt.Sprintf("%d ms tone detected", d),
			keysAt(tone{dur: d * ms, loDB: -10, hiDB: -10}, 60*ms, allKeys, nil))
	}
	for _, g := range []float64{10, 20, 24, 26, 28} {
		row("dropout", fmt.Sprintf("%g ms dropout bridged", g),
			keysAt(tone{dur: 100*ms + time.Duration(g)*ms, loDB: -10, hiDB: -10, dropAt: 50, dropMs: g}, 60*ms, allKeys, nil))
	}
	for _, g := range []time.Duration{26, 28, 30, 34, 40} {
		row("pause", fmt.Sprintf("%d ms pause splits a repeated key", g),
			rate(func(seed uint64) *signal { return seq(seed, "5555", tone{dur: 60 * ms, loDB: -10, hiDB: -10}, g*ms)() }, "5555"))
	}
	for _, snr := range []float64{15, 10, 6, 5, 4, 3, 2} {
		row("noise", fmt.Sprintf("SNR %g dB at -16 dBm0 detected", snr),
			keysAt(tone{dur: 60 * ms, loDB: -16, hiDB: -16}, 60*ms, allKeys, func(s *signal) *signal { return s.noiseSNR(-16, -16, snr) }))
	}
	for _, db := range []float64{10, 0, -4, -6, -8, -10} {
		row("dial tone", fmt.Sprintf("dial tone %g dB below detected", db),
			keysAt(tone{dur: 60 * ms, loDB: -10, hiDB: -10}, 60*ms, allKeys, func(s *signal) *signal { return s.sines(-10-db, 350, 440) }))
	}
	t.Log("\n" + b.String())
}

// rate returns the share of eight seeds for which build gives exactly want.
func rate(build func(seed uint64) *signal, want string) float64 {
	const n = 8
	ok := 0
	for seed := range uint64(n) {
		if keysOf(detectAll(build(seed).g711(), 160)) == want {
			ok++
		}
	}
	return float64(ok) / n
}
