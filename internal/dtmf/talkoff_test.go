package dtmf

import (
	"math"
	"testing"
	"time"
)

// Talk-off: speech and music must not produce key presses. The normal run
// uses about ten minutes of synthesised speech in four voices and the short
// call-progress sounds found on the machine; DTMF_TALKOFF_LONG=1 uses 24
// voices and the game music listed in corpus_test.go (install asc-music,
// libsox-fmt-mp3 and drascula-music) for the per-hour figures in BENCHMARKS.md.

// maxFalsePerHour is the talk-off bound the tests assert.
const maxFalsePerHour = 5

func TestTalkOffSpeech(t *testing.T) {
	cs := speechClips(t, t.TempDir())
	found, total := falseDigits(cs)
	checkTalkOff(t, "speech", found, total)
}

func TestTalkOffSounds(t *testing.T) {
	cs := soundClips(t, t.TempDir())
	if len(cs) == 0 {
		t.Skip("no sound files found that sox can read")
	}
	found, total := falseDigits(cs)
	checkTalkOff(t, "sound files", found, total)
}

func checkTalkOff(t *testing.T, what string, found map[string][]Event, total time.Duration) {
	t.Helper()
	n := countEvents(found)
	for name, evs := range found {
		t.Logf("%s: %v", name, evs)
	}
	t.Logf("talk-off on %s: %d false keys in %v of audio (%s per hour)", what, n, total.Round(time.Second), perHour(n, total))
	// At most maxFalsePerHour, but never fail on a single hit in a short run.
	if limit := max(1, int(math.Ceil(maxFalsePerHour*total.Hours()))); n > limit {
		t.Errorf("%d false keys in %v, more than %d (%d per hour)", n, total, limit, maxFalsePerHour)
	}
}

// TestKeyOverSpeech adds key presses on top of speech and counts how many
// are still found. A 100 ms key is added every 700 ms to the speech of every
// talk-off voice; the key level is its total power relative to the power
// of the speech under it, and the speech is scaled so that the keys come
// out near -13 dBm0 per tone. Keys that would be weaker
// than -26 dBm0 or stronger than -6 dBm0 per tone are left out.
func TestKeyOverSpeech(t *testing.T) {
	clips := speechClips(t, t.TempDir())
	tests := []struct {
		name     string
		aboveDB  float64
		minFound float64 // share of keys that must be found
		maxExtra float64 // share of extra keys allowed (a press split by speech)
	}{
		{"keys 15 dB above speech", 15, 0.95, 0},
		{"keys 10 dB above speech", 10, 0.95, 0},
		{"keys 6 dB above speech", 6, 0.9, 0.1},
		{"keys at speech level", 0, 0.3, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			placed, found, extra := 0, 0, 0
			for ci, c := range clips {
				want, got := keysOverSpeech(c.pcm, tt.aboveDB, uint64(ci))
				placed += len(want)
				f := matched(want, got)
				found += f
				extra += len(got) - f
			}
			t.Logf("found %d of %d keys (%.0f%%), %d extra", found, placed, 100*float64(found)/float64(placed), extra)
			if float64(found) < tt.minFound*float64(placed) || float64(extra) > tt.maxExtra*float64(placed) {
				t.Errorf("found %d of %d keys with %d extra, want at least %.0f%% and at most %.0f%% extra",
					found, placed, extra, 100*tt.minFound, 100*tt.maxExtra)
			}
		})
	}
}

// keysOverSpeech mixes keys into speech and returns the keys placed and the
// keys detected.
func keysOverSpeech(speech []int16, aboveDB float64, seed uint64) (want, got string) {
	want, got, _ = keysOverSpeechPCM(speech, aboveDB, seed)
	return want, got
}

// keysOverSpeechPCM is keysOverSpeech that also returns the mixed signal.
func keysOverSpeechPCM(speech []int16, aboveDB float64, seed uint64) (want, got string, pcm []int16) {
	const keys = allKeys
	const every = 7 * testRate / 10
	n := min(len(speech), testRate+len(keys)*every+testRate)
	var p0 float64
	for _, v := range speech[:n] {
		p0 += float64(v) * float64(v) / float64(n)
	}
	// Speech level such that typical keys come out near -13 dBm0 per tone.
	gain := math.Sqrt(math.Pow(dbm0Peak(-10-aboveDB), 2) / 2 / p0)
	sig := newSignal(seed)
	for _, v := range speech[:n] {
		sig.x = append(sig.x, gain*float64(v))
	}
	for i := range len(keys) {
		start := testRate + i*every
		if start+testRate/10 > n {
			break
		}
		var p float64
		for _, v := range sig.x[start : start+testRate/10] {
			p += v * v / (testRate / 10)
		}
		// Two tones of equal level whose total power is aboveDB over p.
		lv := 10 * math.Log10(p*math.Pow(10, aboveDB/10)/2/(math.Pow(dbm0Peak(0), 2)/2))
		if lv < -26 || lv > -6 {
			continue // a pause in the speech, or a key that would clip
		}
		keyed := newSignal(seed*100 + uint64(i)).press(tone{key: keys[i], dur: 100 * ms, loDB: lv, hiDB: lv})
		for k, v := range keyed.x {
			sig.x[start+k] += v
		}
		want += string(keys[i])
	}
	pcm = sig.g711()
	return want, keysOf(detectAll(pcm, 160)), pcm
}

// matched counts the keys of want found in order in got (the longest
// common subsequence).
func matched(want, got string) int {
	prev := make([]int, len(got)+1)
	cur := make([]int, len(got)+1)
	for i := range len(want) {
		for j := range len(got) {
			if want[i] == got[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(got)]
}
