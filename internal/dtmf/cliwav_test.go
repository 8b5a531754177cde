package dtmf

import (
	"context"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
)

// TestDetectWAVStreamLong: a ten-minute WAV file read from a pipe is
// detected block by block: the key at its end is found with the right
// time, and the memory allocated stays far below the file's size.
func TestDetectWAVStreamLong(t *testing.T) {
	const rate = 8000
	const minutes = 10
	silence := rate * 60 * minutes
	key := newSignal(7).press(tone{key: '5', dur: 80 * ms, loDB: -10, hiDB: -10}).silence(100 * ms).g711()
	total := silence + len(key)

	pr, pw := io.Pipe()
	go func() {
		le := binary.LittleEndian
		var h []byte
		h = append(h, "RIFF"...)
		h = le.AppendUint32(h, uint32(36+2*total))
		h = append(h, "WAVEfmt "...)
		h = le.AppendUint32(h, 16)
		h = le.AppendUint16(h, 1)
		h = le.AppendUint16(h, 1)
		h = le.AppendUint32(h, rate)
		h = le.AppendUint32(h, 2*rate)
		h = le.AppendUint16(h, 2)
		h = le.AppendUint16(h, 16)
		h = append(h, "data"...)
		h = le.AppendUint32(h, uint32(2*total))
		if _, err := pw.Write(h); err != nil {
			return
		}
		zero := make([]byte, 2*rate)
		for range silence / rate {
			if _, err := pw.Write(zero); err != nil {
				return
			}
		}
		b := make([]byte, 2*len(key))
		for i, v := range key {
			le.PutUint16(b[2*i:], uint16(v))
		}
		_, _ = pw.Write(b)
		pw.Close()
	}()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var got []Digit
	w, n, err := DetectWAVStream(context.Background(), pr, func(d Digit) { got = append(got, d) })
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if w.SampleRate != rate || n != int64(total) {
		t.Errorf("format %d Hz, %d samples; want %d Hz, %d", w.SampleRate, n, rate, total)
	}
	wantStart := int64(minutes * 60 * 1000)
	if len(got) != 1 || got[0].Digit != "5" || got[0].StartMS < wantStart-10 || got[0].StartMS > wantStart+10 {
		t.Fatalf("digits %+v, want one 5 at %d ms", got, wantStart)
	}
	// The file is 9.6 MB; the reader's buffers are a few hundred KB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("allocated %d bytes for a %d-byte file; want well under 1 MB", alloc, 2*total)
	}
}
