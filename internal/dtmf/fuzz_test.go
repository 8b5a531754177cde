package dtmf

import (
	"encoding/binary"
	"slices"
	"testing"
)

// FuzzDetector feeds arbitrary bytes as little-endian samples. The detector
// must not panic, its events must pair up sensibly, and cutting the input
// into chunks (the first byte picks the size) must not change them.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{7, 0x00, 0x80, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		chunk := int(b[0]) + 1
		pcm := make([]int16, len(b[1:])/2)
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(b[1+2*i:]))
		}
		whole := detectAll(pcm, 0)
		if got := detectAll(pcm, chunk); !slices.Equal(got, whole) {
			t.Fatalf("chunks of %d: %v, whole: %v", chunk, got, whole)
		}
		checkPairs(t, whole)
		for i, e := range whole {
			if e.Start < 0 || e.Duration < 0 {
				t.Fatalf("negative time in %v", e)
			}
			if i > 0 && e.Start < whole[i-1].Start {
				t.Fatalf("presses out of order: %v", whole)
			}
		}
	})
}
