package dsp

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"pcm16", FormatPCM16, false},
		{"PCM16", FormatPCM16, false},
		{"s16le", FormatPCM16, false},
		{"ulaw", FormatUlaw, false},
		{"mulaw", FormatUlaw, false},
		{"PCMU", FormatUlaw, false},
		{"g711u", FormatUlaw, false},
		{"alaw", FormatAlaw, false},
		{"PCMA", FormatAlaw, false},
		{"g711a", FormatAlaw, false},
		{"", 0, true},
		{"l16", 0, true},
		{"opus", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFormat(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "want pcm16, ulaw or alaw") {
				t.Errorf("error %q does not list the accepted formats", err)
			}
			if got != tt.want {
				t.Errorf("ParseFormat(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatProperties(t *testing.T) {
	tests := []struct {
		f     Format
		name  string
		bytes int
		valid bool
	}{
		{FormatPCM16, "pcm16", 2, true},
		{FormatUlaw, "ulaw", 1, true},
		{FormatAlaw, "alaw", 1, true},
		{0, "Format(0)", 0, false},
		{9, "Format(9)", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.f.BytesPerSample(); got != tt.bytes {
				t.Errorf("BytesPerSample() = %d, want %d", got, tt.bytes)
			}
			if got := tt.f.Valid(); got != tt.valid {
				t.Errorf("Valid() = %v, want %v", got, tt.valid)
			}
			if tt.valid {
				back, err := ParseFormat(tt.f.String())
				if err != nil || back != tt.f {
					t.Errorf("ParseFormat(String()) = %v, %v", back, err)
				}
			}
		})
	}
}

func TestFormatJSON(t *testing.T) {
	type msg struct {
		Format Format `json:"format"`
	}
	b, err := json.Marshal(msg{FormatAlaw})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"format":"alaw"}` {
		t.Errorf("marshal = %s", b)
	}
	var m msg
	if err := json.Unmarshal([]byte(`{"format":"PCMU"}`), &m); err != nil || m.Format != FormatUlaw {
		t.Errorf("unmarshal PCMU = %v, %v", m.Format, err)
	}
	if err := json.Unmarshal([]byte(`{"format":"mp3"}`), &m); err == nil {
		t.Error("unmarshal of mp3 succeeded")
	}
	if _, err := json.Marshal(msg{}); err == nil {
		t.Error("marshal of the zero Format succeeded")
	}
}

func TestPCM16IsLittleEndian(t *testing.T) {
	dst := make([]byte, 4)
	if n := EncodeFrame(dst, FormatPCM16, []int16{0x1234, -2}); n != 4 {
		t.Fatalf("wrote %d bytes, want 4", n)
	}
	if want := []byte{0x34, 0x12, 0xFE, 0xFF}; string(dst) != string(want) {
		t.Errorf("bytes % x, want % x", dst, want)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	src := make([]int16, 160)
	WhiteNoise(src, 0, rand.New(rand.NewPCG(5, 6)))
	src[0], src[1] = -32768, 32767
	tests := []struct {
		f       Format
		maxDiff int // quantisation of the format
	}{
		{FormatPCM16, 0},
		{FormatUlaw, 1024}, // largest mu-law step is 1024, half-step error plus bias
		{FormatAlaw, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.f.String(), func(t *testing.T) {
			enc := make([]byte, len(src)*tt.f.BytesPerSample())
			if n := EncodeFrame(enc, tt.f, src); n != len(enc) {
				t.Fatalf("EncodeFrame wrote %d bytes, want %d", n, len(enc))
			}
			dec := make([]int16, len(src))
			if n := DecodeFrame(dec, tt.f, enc); n != len(src) {
				t.Fatalf("DecodeFrame wrote %d samples, want %d", n, len(src))
			}
			for i := range src {
				if d := int(dec[i]) - int(src[i]); d > tt.maxDiff || d < -tt.maxDiff {
					t.Errorf("sample %d: %d -> %d", i, src[i], dec[i])
				}
			}
		})
	}
}

func TestFramePartialBuffers(t *testing.T) {
	tests := []struct {
		name string
		run  func() int
		want int
	}{
		{"pcm16 encode into odd dst", func() int { return EncodeFrame(make([]byte, 5), FormatPCM16, make([]int16, 4)) }, 4},
		{"pcm16 decode odd src", func() int { return DecodeFrame(make([]int16, 4), FormatPCM16, make([]byte, 5)) }, 2},
		{"pcm16 decode into short dst", func() int { return DecodeFrame(make([]int16, 1), FormatPCM16, make([]byte, 8)) }, 1},
		{"ulaw encode into short dst", func() int { return EncodeFrame(make([]byte, 3), FormatUlaw, make([]int16, 4)) }, 3},
		{"alaw decode short src", func() int { return DecodeFrame(make([]int16, 4), FormatAlaw, make([]byte, 2)) }, 2},
		{"invalid format encode", func() int { return EncodeFrame(make([]byte, 4), 0, make([]int16, 4)) }, 0},
		{"invalid format decode", func() int { return DecodeFrame(make([]int16, 4), 7, make([]byte, 4)) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFrameZeroAllocs(t *testing.T) {
	pcm := make([]int16, 160)
	buf := make([]byte, 320)
	for _, f := range []Format{FormatPCM16, FormatUlaw, FormatAlaw} {
		if allocs := testing.AllocsPerRun(100, func() {
			EncodeFrame(buf, f, pcm)
			DecodeFrame(pcm, f, buf)
		}); allocs != 0 {
			t.Errorf("%v: %v allocations per frame", f, allocs)
		}
	}
}

func BenchmarkFrame(b *testing.B) {
	pcm := make([]int16, 160)
	Tone(pcm, 8000, 1000, -10, nil)
	buf := make([]byte, 320)
	for _, f := range []Format{FormatPCM16, FormatUlaw, FormatAlaw} {
		b.Run("Encode/"+f.String()+"/20ms", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pcm) * 2))
			for b.Loop() {
				EncodeFrame(buf, f, pcm)
			}
		})
		b.Run("Decode/"+f.String()+"/20ms", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pcm) * 2))
			for b.Loop() {
				DecodeFrame(pcm, f, buf)
			}
		})
	}
}
