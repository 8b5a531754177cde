package dtmf

import (
	"testing"
	"time"
)

// benchSignal is 10 s of audio: keys in noise, then speech-like noise and
// silence, so the benchmark crosses every path of the detector.
func benchSignal() []int16 {
	s := newSignal(99).silence(lead).keys(allKeys, tone{dur: 100 * ms, loDB: -10, hiDB: -10}, 100*ms)
	for s.now() < 10*time.Second {
		s.silence(100 * ms)
	}
	return s.noise(1e4).g711()
}

// BenchmarkProcess feeds 20 ms frames, as the media path does, and reports
// the speed as a multiple of real time on one core.
func BenchmarkProcess(b *testing.B) {
	pcm := benchSignal()
	d := NewDetector(Config{})
	emit := func(Event) {}
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(pcm)))
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < len(pcm); i += 160 {
			d.Process(pcm[i:min(i+160, len(pcm))], emit)
		}
	}
	audio := time.Duration(len(pcm)) * time.Second / testRate
	b.ReportMetric(audio.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

// BenchmarkProcessSilence measures the quick path taken on quiet audio.
func BenchmarkProcessSilence(b *testing.B) {
	pcm := make([]int16, 160)
	d := NewDetector(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Process(pcm, nil)
	}
	b.ReportMetric(0.02*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}
