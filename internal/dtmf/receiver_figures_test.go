package dtmf

import (
	"strings"
	"testing"
)

// The three receiver figures of the comparison in BENCHMARKS.md, measured
// after the receiver tests of spandsp and the Q.24 / AT&T figures. Each is a
// sweep in 1 dB steps from the easy end; the figure is the last step of the
// unbroken run of steps where the detector gave exactly the keys sent. The
// same signals go to multimon-ng and spandsp in TestCompareMultimon.

// keyDetector returns the keys found in 8 kHz PCM, in order.
type keyDetector func(pcm []int16) string

// oursKeys is this package's detector with the default configuration.
func oursKeys(pcm []int16) string { return keysOf(detectAll(pcm, 160)) }

// Goals of the receiver figures (issue "DTMF receiver ahead of spandsp").
const (
	goalDynamicRange = 46 // dB, at least
	goalDialTone     = -1 // dB digit over dial tone, at most
	goalSNR          = 6  // dB, at most
)

// dynamicRangeSignal is digit 1, both tones at level dBm0, ten presses of
// 50 ms with 50 ms pauses.
func dynamicRangeSignal(level float64) (*signal, string) {
	s := seq(uint64(1000+int(level+100)), "1111111111", tone{dur: 50 * ms, loDB: level, hiDB: level}, 50*ms)()
	return s, "1111111111"
}

// dynamicRange sweeps the level from +3 dBm0 down and returns the lowest
// level of the unbroken run of exact results and the range, counted in
// 1 dB steps (+3 down to -42 dBm0 is 46 dB).
func dynamicRange(det keyDetector) (lowest float64, rangeDB int) {
	lowest = 4
	for lv := 3.0; lv >= -60; lv-- {
		s, want := dynamicRangeSignal(lv)
		if det(s.g711()) != want {
			break
		}
		lowest = lv
	}
	return lowest, int(3 - lowest + 1)
}

// dialToneSignal is the sixteen keys at -15 dBm0 per tone, 50 ms on and
// 50 ms off, with 350 + 440 Hz dial tone ratio dB below each key tone
// (negative: above) through the whole signal.
func dialToneSignal(ratio float64) (*signal, string) {
	const level = -15
	s := seq(uint64(2000+int(ratio+100)), allKeys, tone{dur: 50 * ms, loDB: level, hiDB: level}, 50*ms)()
	return s.sines(level-ratio, 350, 440), allKeys
}

// dialToneRatio sweeps the dial tone from 20 dB below the keys upwards and
// returns the lowest key-to-dial-tone ratio still giving exactly the keys.
func dialToneRatio(det keyDetector) float64 {
	lowest := 21.0
	for r := 20.0; r >= -20; r-- {
		s, want := dialToneSignal(r)
		if det(s.g711()) != want {
			break
		}
		lowest = r
	}
	return lowest
}

// noiseSignal is 100 presses of digit 1 at -4 dBm0 per tone, 50 ms on and
// 50 ms off, in white noise snr dB below the total key power.
func noiseSignal(snr float64) (*signal, string) {
	want := strings.Repeat("1", 100)
	s := seq(uint64(3000+int(snr+100)), want, tone{dur: 50 * ms, loDB: -4, hiDB: -4}, 50*ms)()
	return s.noiseSNR(-4, -4, snr), want
}

// lowestSNR sweeps the S/N down from 20 dB and returns the lowest S/N at
// which all 100 presses, and nothing else, were found.
func lowestSNR(det keyDetector) float64 {
	lowest := 21.0
	for snr := 20.0; snr >= -10; snr-- {
		s, want := noiseSignal(snr)
		if det(s.g711()) != want {
			break
		}
		lowest = snr
	}
	return lowest
}

func TestReceiverFigures(t *testing.T) {
	lowest, dr := dynamicRange(oursKeys)
	dial := dialToneRatio(oursKeys)
	snr := lowestSNR(oursKeys)
	t.Logf("dynamic range %d dB (+3 to %.0f dBm0), lowest key/dial-tone ratio %.0f dB, S/N for 100/100 %.0f dB",
		dr, lowest, dial, snr)
	if dr < goalDynamicRange {
		t.Errorf("dynamic range %d dB (down to %.0f dBm0), want at least %d dB", dr, lowest, goalDynamicRange)
	}
	if dial > goalDialTone {
		t.Errorf("lowest key/dial-tone ratio %.0f dB, want %d dB or less", dial, goalDialTone)
	}
	if snr > goalSNR {
		t.Errorf("S/N for 100/100 keys %.0f dB, want %d dB or less", snr, goalSNR)
	}
}
