package dsp_test

import (
	"fmt"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// A 20 ms frame of phone audio (160 samples at 8 kHz) becomes 960 samples
// at 48 kHz; the Resampler keeps its history for the next frame.
func ExampleResampler() {
	up, err := dsp.NewResampler(8000, 48000)
	if err != nil {
		panic(err)
	}
	frame := make([]int16, 160)
	dsp.Tone(frame, 8000, 1000, -10, nil)
	out := make([]int16, up.MaxOutput(len(frame)))
	n := up.Process(out, frame)
	fmt.Println(n, "samples, latency", up.Latency().Round(10_000))
	// Output: 960 samples, latency 4.19ms
}

func ExampleLevel() {
	frame := make([]int16, 160)
	dsp.Tone(frame, 8000, 1004, -10, nil)
	rms, peak := dsp.Level(frame)
	fmt.Printf("%.1f dBFS RMS, %.1f dBm0\n", rms, dsp.DBFSToDBm0(rms))
	_ = peak
	// Output: -13.2 dBFS RMS, -10.0 dBm0
}

// Clients name a format; frames are converted without allocating.
func ExampleEncodeFrame() {
	f, err := dsp.ParseFormat("PCMU")
	if err != nil {
		panic(err)
	}
	frame := make([]int16, 160)
	payload := make([]byte, len(frame)*f.BytesPerSample())
	n := dsp.EncodeFrame(payload, f, frame)
	fmt.Println(f, n, "bytes, first", payload[0] == dsp.UlawSilence)
	// Output: ulaw 160 bytes, first true
}
