package dsp

import (
	"math"
	"testing"

	"github.com/zaf/g711"
)

func TestG711DecodeAllCodes(t *testing.T) {
	tests := []struct {
		name   string
		decode func(dst []int16, src []byte) int
		ref    func(uint8) int16
	}{
		{"ulaw", DecodeUlaw, g711.DecodeUlawFrame},
		{"alaw", DecodeAlaw, g711.DecodeAlawFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := make([]byte, 256)
			for i := range src {
				src[i] = byte(i)
			}
			dst := make([]int16, 256)
			if n := tt.decode(dst, src); n != 256 {
				t.Fatalf("decoded %d samples, want 256", n)
			}
			for c, got := range dst {
				if want := tt.ref(uint8(c)); got != want {
					t.Errorf("code 0x%02x: got %d, want %d", c, got, want)
				}
			}
		})
	}
}

func TestG711EncodeAllSamples(t *testing.T) {
	tests := []struct {
		name   string
		encode func(dst []byte, src []int16) int
		ref    func(int16) uint8
	}{
		{"ulaw", EncodeUlaw, g711.EncodeUlawFrame},
		{"alaw", EncodeAlaw, g711.EncodeAlawFrame},
	}
	src := make([]int16, 1<<16)
	for i := range src {
		src[i] = int16(i - 32768)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, len(src))
			if n := tt.encode(dst, src); n != len(src) {
				t.Fatalf("encoded %d samples, want %d", n, len(src))
			}
			bad := 0
			for i, s := range src {
				if want := tt.ref(s); dst[i] != want {
					if bad++; bad < 10 {
						t.Errorf("sample %d: got 0x%02x, want 0x%02x", s, dst[i], want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of 65536 samples differ from the reference encoder", bad)
			}
		})
	}
}

// Every code must survive decode then encode unchanged, except mu-law's
// negative zero (0x7F), which encodes as positive zero (0xFF).
func TestG711CodeRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		decode   func(byte) int16
		encode   func(int16) byte
		aliases  map[byte]byte
		maxValue int16
	}{
		{"ulaw", UlawToLinear, LinearToUlaw, map[byte]byte{0x7F: 0xFF}, 32124},
		{"alaw", AlawToLinear, LinearToAlaw, nil, 32256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var peak int16
			for c := range 256 {
				v := tt.decode(byte(c))
				peak = max(peak, v)
				want, ok := tt.aliases[byte(c)]
				if !ok {
					want = byte(c)
				}
				if got := tt.encode(v); got != want {
					t.Errorf("code 0x%02x -> %d -> 0x%02x, want 0x%02x", c, v, got, want)
				}
			}
			if peak != tt.maxValue {
				t.Errorf("largest decoded value %d, want %d", peak, tt.maxValue)
			}
		})
	}
}

// The quantisation error of a round trip must stay within half a step of the
// segment the sample falls in (G.711 is about 38 dB SNR over a wide range).
func TestG711QuantisationError(t *testing.T) {
	tests := []struct {
		name   string
		encode func(dst []byte, src []int16) int
		decode func(dst []int16, src []byte) int
		minSNR float64
	}{
		{"ulaw", EncodeUlaw, DecodeUlaw, 35},
		{"alaw", EncodeAlaw, DecodeAlaw, 35},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := make([]int16, 8000)
			Tone(src, 8000, 1004, -10, nil)
			enc := make([]byte, len(src))
			dec := make([]int16, len(src))
			tt.encode(enc, src)
			tt.decode(dec, enc)
			var sig, noise float64
			for i := range src {
				d := float64(dec[i]) - float64(src[i])
				sig += float64(src[i]) * float64(src[i])
				noise += d * d
			}
			if snr := 10 * math.Log10(sig/noise); snr < tt.minSNR {
				t.Errorf("SNR %.1f dB, want at least %.0f dB", snr, tt.minSNR)
			}
		})
	}
}

func TestG711ShortDestination(t *testing.T) {
	src := []int16{0, 1000, -1000, 32767}
	dst := make([]byte, 2)
	if n := EncodeUlaw(dst, src); n != 2 {
		t.Errorf("EncodeUlaw into 2 bytes wrote %d", n)
	}
	if n := EncodeAlaw(dst, src); n != 2 {
		t.Errorf("EncodeAlaw into 2 bytes wrote %d", n)
	}
	pcm := make([]int16, 3)
	if n := DecodeUlaw(pcm, []byte{1, 2}); n != 2 {
		t.Errorf("DecodeUlaw of 2 codes wrote %d", n)
	}
	if n := DecodeAlaw(pcm, []byte{1, 2, 3, 4, 5}); n != 3 {
		t.Errorf("DecodeAlaw into 3 samples wrote %d", n)
	}
}

func TestG711SilenceCodes(t *testing.T) {
	if v := UlawToLinear(UlawSilence); v != 0 {
		t.Errorf("UlawSilence decodes to %d", v)
	}
	if v := AlawToLinear(AlawSilence); v != 8 {
		t.Errorf("AlawSilence decodes to %d, want 8 (smallest A-law step)", v)
	}
	if c := LinearToUlaw(0); c != UlawSilence {
		t.Errorf("0 encodes to mu-law 0x%02x", c)
	}
	if c := LinearToAlaw(0); c != AlawSilence {
		t.Errorf("0 encodes to A-law 0x%02x", c)
	}
}

func TestG711ZeroAllocs(t *testing.T) {
	pcm := make([]int16, 160)
	Tone(pcm, 8000, 1000, -10, nil)
	codes := make([]byte, 160)
	allocs := testing.AllocsPerRun(100, func() {
		EncodeUlaw(codes, pcm)
		DecodeUlaw(pcm, codes)
		EncodeAlaw(codes, pcm)
		DecodeAlaw(pcm, codes)
	})
	if allocs != 0 {
		t.Errorf("G.711 frame coding allocates %v times per frame", allocs)
	}
}

func BenchmarkG711(b *testing.B) {
	pcm := make([]int16, 160) // 20 ms at 8 kHz
	Tone(pcm, 8000, 1000, -10, nil)
	codes := make([]byte, 160)
	EncodeUlaw(codes, pcm)
	benches := []struct {
		name string
		run  func()
	}{
		{"EncodeUlaw", func() { EncodeUlaw(codes, pcm) }},
		{"DecodeUlaw", func() { DecodeUlaw(pcm, codes) }},
		{"EncodeAlaw", func() { EncodeAlaw(codes, pcm) }},
		{"DecodeAlaw", func() { DecodeAlaw(pcm, codes) }},
	}
	for _, bb := range benches {
		b.Run(bb.name+"/20ms", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pcm) * 2))
			for b.Loop() {
				bb.run()
			}
		})
	}
}
