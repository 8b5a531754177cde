package loadtest

import (
	"bytes"
	"testing"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// throughServer passes mu-law codes through what the server does to them
// for an 8 kHz mu-law listener: decode to linear, encode again.
func throughServer(b []byte) []byte {
	pcm := make([]int16, len(b))
	dsp.DecodeUlaw(pcm, b)
	out := make([]byte, len(b))
	dsp.EncodeUlaw(out, pcm)
	return out
}

func TestG711RoundTripKeepsEveryCodeButNegativeZero(t *testing.T) {
	for c := range 256 {
		got := throughServer([]byte{byte(c)})[0]
		want := byte(c)
		if c == 0x7F {
			want = 0xFF // -0 and +0 decode alike: the one code the mark must not use
		}
		if got != want {
			t.Errorf("code %#02x came back as %#02x, want %#02x", c, got, want)
		}
	}
}

func TestMarkSurvivesTheServer(t *testing.T) {
	tests := []struct {
		name string
		n    uint32
		want uint32
	}{
		{"zero", 0, 0},
		{"one", 1, 1},
		{"one group", 63, 63},
		{"two groups", 64, 64},
		{"large", 123456789, 123456789},
		{"largest", MaxMark, MaxMark},
		{"wraps past 30 bits", MaxMark + 5, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := append([]byte(nil), filler...)
			PutMark(frame, tt.n)
			for i, c := range frame[:MarkLen] {
				if c == 0x7F {
					t.Fatalf("mark byte %d is 0x7F, which the server turns into 0xFF", i)
				}
			}
			got, ok := ReadMark(throughServer(frame))
			if !ok || got != tt.want {
				t.Fatalf("ReadMark after the server = %d, %v; want %d, true", got, ok, tt.want)
			}
		})
	}
}

func TestReadMarkRejects(t *testing.T) {
	good := make([]byte, MarkLen)
	PutMark(good, 4242)
	tests := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"short", func(b []byte) []byte { return b[:MarkLen-1] }},
		{"start byte", func(b []byte) []byte { b[0] = 0xE4; return b }},
		{"end byte", func(b []byte) []byte { b[7] = 0xDB; return b }},
		{"counter byte outside 0xC0-0xFF", func(b []byte) []byte { b[3] &^= 0x40; return b }},
		{"check", func(b []byte) []byte { b[6] ^= 0x01; return b }},
		{"two counter bits changed", func(b []byte) []byte { b[2] ^= 0x01; b[4] ^= 0x02; return b }},
		{"filler audio", func([]byte) []byte { return append([]byte(nil), filler...) }},
		{"silence", func([]byte) []byte { return bytes.Repeat([]byte{0xFF}, frameBytes) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), good...))
			if n, ok := ReadMark(b); ok {
				t.Fatalf("ReadMark(%x) = %d, true; want rejected", b, n)
			}
		})
	}
}

// TestEverySingleBitErrorIsCaught: a frame whose mark was damaged is
// counted as unmarked, never matched to the wrong packet.
func TestEverySingleBitErrorIsCaught(t *testing.T) {
	mark := make([]byte, MarkLen)
	PutMark(mark, 0x2AAAAAAA)
	for i := range MarkLen * 8 {
		b := append([]byte(nil), mark...)
		b[i/8] ^= 1 << (i % 8)
		if n, ok := ReadMark(b); ok {
			t.Errorf("bit %d flipped: ReadMark = %d, true", i, n)
		}
	}
}

func TestFindMark(t *testing.T) {
	frameAt := func(off int, n uint32) []byte {
		b := append([]byte(nil), filler...)
		PutMark(b[off:], n)
		return b
	}
	tests := []struct {
		name    string
		frame   []byte
		wantOff int
		wantN   uint32
		wantOK  bool
	}{
		{"aligned", frameAt(0, 7), 0, 7, true},
		{"misaligned after concealment", frameAt(37, 8), 37, 8, true},
		{"at the very end", frameAt(frameBytes-MarkLen, 9), frameBytes - MarkLen, 9, true},
		{"cut by the frame's end", frameAt(frameBytes-MarkLen, 9)[:frameBytes-1], -1, 0, false},
		{"filler only", append([]byte(nil), filler...), -1, 0, false},
		{"after a false start byte", append([]byte{markStart}, frameAt(0, 11)...), 1, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, n, ok := FindMark(tt.frame)
			if off != tt.wantOff || n != tt.wantN || ok != tt.wantOK {
				t.Fatalf("FindMark = %d, %d, %v; want %d, %d, %v", off, n, ok, tt.wantOff, tt.wantN, tt.wantOK)
			}
		})
	}
}

func TestFillerCarriesThroughTheServer(t *testing.T) {
	for i, c := range filler {
		if c == 0x7F {
			t.Fatalf("filler byte %d is 0x7F", i)
		}
	}
	if got := throughServer(filler); !bytes.Equal(got, filler) {
		t.Fatal("the filler audio changed through decode and encode")
	}
	pcm := make([]int16, frameBytes)
	dsp.DecodeUlaw(pcm, filler)
	if rms, _ := dsp.Level(pcm); rms > -20 || rms < -45 {
		t.Fatalf("filler at %.1f dBFS; want a quiet tone", rms)
	}
}

func TestMarkDoesNotAllocate(t *testing.T) {
	b := append([]byte(nil), filler...)
	if a := testing.AllocsPerRun(100, func() {
		PutMark(b, 99)
		ReadMark(b)
		FindMark(b[1:])
	}); a != 0 {
		t.Fatalf("%v allocations per mark", a)
	}
}

func BenchmarkReadMark(b *testing.B) {
	frame := append([]byte(nil), filler...)
	PutMark(frame, 12345)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ReadMark(frame); !ok {
			b.Fatal("no mark")
		}
	}
}

func BenchmarkFindMarkMisaligned(b *testing.B) {
	frame := append([]byte(nil), filler...)
	PutMark(frame[100:], 12345)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := FindMark(frame); !ok {
			b.Fatal("no mark")
		}
	}
}
