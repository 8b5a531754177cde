package audiotest

import (
	"strings"
	"testing"
)

// goodReport is a report whose measurements all meet the targets.
func goodReport() *Report {
	tone := func(hz float64) ToneResult {
		return ToneResult{SentHz: hz, SentDBm0: -10, Received: true, FrequencyHz: hz, LevelDBm0: -10.02, LevelDBFS: -13.19, PeakDBFS: -13.2, SNRdB: 38.8, AnalysedMS: 300}
	}
	lat := func(ms ...float64) LatencyResult {
		l := LatencyResult{Sent: len(ms), MS: ms}
		l.summarise()
		return l
	}
	return &Report{Server: "in-process", API: "http://127.0.0.1:1", SIP: "127.0.0.1:2", Line: "audiotest", User: "audiotest", Call: "ring",
		Codec: "PCMU", PhoneCodec: "PCMU",
		Paths: []PathResult{
			{Path: PathPhoneToClient, SampleRate: 8000, Format: "pcm16", Tone: tone(1004), Latency: lat(1, 2, 3)},
			{Path: PathClientToPhone, SampleRate: 8000, Format: "pcm16", Tone: tone(804), Latency: lat(10, 20, 15)},
			{Path: PathLoopback, SampleRate: 8000, Format: "g711", Tone: tone(1004), Latency: lat(25, 24, 26)},
		}}
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name      string
		change    func(r *Report)
		wantCodec string
		failed    []string // names of the failing checks, in order
	}{
		{"all good", func(*Report) {}, "PCMU", nil},
		{"codec differs from the wanted one", func(*Report) {}, "PCMA", []string{"codec"}},
		{"ends disagree on the codec", func(r *Report) { r.PhoneCodec = "PCMA" }, "", []string{"codec"}},
		{"level 1.5 dB low", func(r *Report) { r.Paths[0].Tone.LevelDBm0 = -11.5 }, "", []string{"phone -> client (pcm16 8000 Hz): level"}},
		{"level 0.9 dB high", func(r *Report) { r.Paths[0].Tone.LevelDBm0 = -9.1 }, "", nil},
		{"wrong tone", func(r *Report) { r.Paths[1].Tone.FrequencyHz = 1004 }, "", []string{"client -> phone (pcm16 8000 Hz): frequency"}},
		{"SNR 29.9 dB", func(r *Report) { r.Paths[1].Tone.SNRdB = 29.9 }, "", []string{"client -> phone (pcm16 8000 Hz): SNR"}},
		{"no tone", func(r *Report) { r.Paths[0].Tone = ToneResult{SentHz: 1004, SentDBm0: -10, Error: "no tone arrived"} }, "",
			[]string{"phone -> client (pcm16 8000 Hz): tone"}},
		{"latency 100 ms", func(r *Report) { r.Paths[1].Latency.MedianMS = 100 }, "", []string{"client -> phone (pcm16 8000 Hz): latency"}},
		{"round trip 150 ms is fine", func(r *Report) { r.Paths[2].Latency.MedianMS = 150 }, "", nil},
		{"round trip 200 ms", func(r *Report) { r.Paths[2].Latency.MedianMS = 200 }, "", []string{"loopback (phone -> server -> phone): round trip"}},
		{"a marker lost", func(r *Report) { r.Paths[0].Latency.MS = r.Paths[0].Latency.MS[:2]; r.Paths[0].Latency.summarise() }, "",
			[]string{"phone -> client (pcm16 8000 Hz): latency"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := goodReport()
			tc.change(r)
			r.evaluate(tc.wantCodec)
			var failed []string
			for _, c := range r.Failed() {
				failed = append(failed, c.Name)
			}
			if strings.Join(failed, "|") != strings.Join(tc.failed, "|") {
				t.Errorf("failed checks %q, want %q", failed, tc.failed)
			}
			if r.Pass != (len(tc.failed) == 0) {
				t.Errorf("Pass = %v with %d failures", r.Pass, len(failed))
			}
			if n := 1 + 4*len(r.Paths); len(r.Checks) != n && tc.name != "no tone" {
				t.Errorf("%d checks, want %d", len(r.Checks), n)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	r := goodReport()
	r.Paths[2].Latency.MS = r.Paths[2].Latency.MS[:1]
	r.Paths[2].Latency.summarise()
	r.evaluate("PCMU")
	var b strings.Builder
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"sipphone audiotest: in-process server, SIP 127.0.0.1:2, API http://127.0.0.1:1\n",
		"\nphone -> client (pcm16 8000 Hz)\n  tone      1004.0 Hz at -10.02 dBm0 (-13.19 dBFS, peak -13.20 dBFS), SNR 38.8 dB  [sent 1004 Hz at -10 dBm0]\n  latency    2.0 ms median (min 1.0, max 3.0; 3 of 3 markers)\n",
		"  PASS  client -> phone (pcm16 8000 Hz): SNR 38.8 dB (want >= 30 dB)\n",
		"  FAIL  loopback (phone -> server -> phone): round trip (want median < 200 ms): 1 of 3 markers arrived\n",
		"\nFAIL: 1 of 13 checks failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
