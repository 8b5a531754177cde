package dtmf

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"unsafe"

	"github.com/sip-phone-api/sipphone/internal/dsp"
)

// littleEndian: 16-bit PCM in a WAV file (little-endian) can be used in
// place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// Streaming WAV input for "sipphone dtmf detect": the header is checked by
// dsp.ReadWAV (so the command reports exactly what the rest of sipphone
// reports for a bad file), the audio is then decoded block by block straight
// into the detector. Memory stays the same whatever the file's length.

// maxHeaderChunk is the largest chunk before the audio data that is kept to
// check the header with; larger ones (big LIST or cue chunks) are skipped.
const maxHeaderChunk = 1 << 16

// streamBlock is how many bytes of audio data are read at a time.
const streamBlock = 32 << 10

// wavStream is an open WAV file positioned at the start of its audio data.
type wavStream struct {
	r      *bufio.Reader
	format *dsp.WAV // the header's fields; Samples is empty
	remain int64    // audio bytes still to read, -1 for "to the end"
	frame  int      // bytes per sample frame (all channels)
}

// openWAVStream reads the RIFF header of r up to the data chunk.
func openWAVStream(r io.Reader) (*wavStream, error) {
	br := bufio.NewReaderSize(r, streamBlock)
	var kept []byte // what dsp.ReadWAV is shown: the header, big chunks left out
	fail := func() error {
		// Let the WAV reader explain what is wrong with the bytes read.
		if _, err := dsp.ReadWAV(bytes.NewReader(kept)); err != nil {
			return err
		}
		return fmt.Errorf("%w: truncated header", dsp.ErrInvalidWAV)
	}
	read := func(n int64) error {
		start := len(kept)
		kept = append(kept, make([]byte, n)...)
		m, err := io.ReadFull(br, kept[start:])
		kept = kept[:start+m]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fail()
		}
		if err != nil {
			return fmt.Errorf("dsp: reading WAV: %w", err)
		}
		return nil
	}
	if err := read(12); err != nil {
		return nil, err
	}
	if id := string(kept[0:4]); id != "RIFF" && id != "RF64" || string(kept[8:12]) != "WAVE" {
		return nil, fail()
	}
	for {
		if err := read(8); err != nil {
			return nil, err
		}
		head := kept[len(kept)-8:]
		id := string(head[0:4])
		size := int64(binary.LittleEndian.Uint32(head[4:8]))
		if id == "data" {
			// The header with an empty data chunk tells the format.
			binary.LittleEndian.PutUint32(kept[len(kept)-4:], 0)
			w, err := dsp.ReadWAV(bytes.NewReader(kept))
			if err != nil {
				return nil, err
			}
			s := &wavStream{r: br, format: w, remain: size, frame: w.BitsPerSample / 8 * w.Channels}
			// Sizes that writers streaming to a pipe put there mean "to the
			// end", as does an RF64 file's 0xFFFFFFFF.
			if size == 0 || size >= 0x7FFFF000 {
				s.remain = -1
			}
			return s, nil
		}
		if size > maxHeaderChunk {
			kept = kept[:len(kept)-8]
			if _, err := br.Discard(int(min(size, 1<<40))); err != nil {
				return nil, fmt.Errorf("%w: truncated chunk", dsp.ErrInvalidWAV)
			}
		} else if err := read(size); err != nil {
			return nil, err
		}
		// A pad byte after an odd-sized chunk, if the writer put one.
		if size%2 == 1 {
			if b, err := br.Peek(1); err == nil && b[0] == 0 {
				_, _ = br.Discard(1)
				if size <= maxHeaderChunk {
					kept = append(kept, 0)
				}
			}
		}
	}
}

// read decodes the next block of audio as mono 16-bit samples and returns
// them: none with io.EOF at the end of the data. raw (streamBlock bytes,
// 8-byte aligned) receives the file's bytes; dst (streamBlock samples)
// receives the samples, unless the file is mono 16-bit PCM and this machine
// little-endian: then the samples are raw itself, seen as int16.
func (s *wavStream) read(dst []int16, raw []byte) ([]int16, error) {
	want := int64(len(raw) / s.frame * s.frame)
	if s.remain >= 0 {
		want = min(want, s.remain/int64(s.frame)*int64(s.frame))
	}
	if want == 0 {
		return nil, io.EOF
	}
	n, err := io.ReadFull(s.r, raw[:want])
	n -= n % s.frame
	if s.remain >= 0 {
		s.remain -= int64(n)
	}
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		s.remain = 0 // a streamed or truncated file ends where its data ends
		if n == 0 {
			return nil, io.EOF
		}
	case err != nil:
		return nil, fmt.Errorf("dsp: reading WAV data: %w", err)
	}
	f := s.format
	if littleEndian && f.Channels == 1 && f.FormatTag == dsp.WAVFormatPCM && f.BitsPerSample == 16 {
		return unsafe.Slice((*int16)(unsafe.Pointer(unsafe.SliceData(raw))), n/2), nil
	}
	return dst[:s.decode(dst, raw[:n])], nil
}

// decode converts whole frames of raw to mono 16-bit samples in dst.
func (s *wavStream) decode(dst []int16, raw []byte) int {
	f := s.format
	if f.Channels == 1 && f.FormatTag == dsp.WAVFormatPCM && f.BitsPerSample == 16 {
		n := len(raw) / 2
		for i := range dst[:n] {
			dst[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return n
	}
	bytesPer := f.BitsPerSample / 8
	n := 0
	for ; len(raw) >= s.frame; raw = raw[s.frame:] {
		var sum int64
		for c := range f.Channels {
			b := raw[c*bytesPer:]
			var v int16
			switch {
			case f.FormatTag == dsp.WAVFormatMuLaw:
				v = dsp.UlawToLinear(b[0])
			case f.FormatTag == dsp.WAVFormatALaw:
				v = dsp.AlawToLinear(b[0])
			case bytesPer == 1:
				v = int16(int8(b[0]^0x80)) << 8 // 8-bit PCM is unsigned
			default:
				v = int16(binary.LittleEndian.Uint16(b))
			}
			sum += int64(v)
		}
		dst[n] = int16(sum / int64(f.Channels))
		n++
	}
	return n
}

// DetectWAVStream reads a WAV file from r block by block and calls found for
// each key press as soon as it ends, with times rounded to the millisecond
// from the file's first sample. Audio at another rate than 8000 Hz is
// resampled on the way. It returns the file's format (Samples is empty)
// and its length in samples at the file's own rate. Memory does not grow
// with the length of the file. It stops early with ctx's error when ctx is
// cancelled, and returns an error wrapping dsp.ErrInvalidWAV or
// dsp.ErrUnsupportedWAV for files it cannot read.
func DetectWAVStream(ctx context.Context, r io.Reader, found func(Digit)) (format *dsp.WAV, samples int64, err error) {
	s, err := openWAVStream(r)
	if err != nil {
		return nil, 0, err
	}
	var rs *dsp.Resampler
	if s.format.SampleRate != cliRate {
		if rs, err = dsp.NewResampler(s.format.SampleRate, cliRate); err != nil {
			return nil, 0, err
		}
	}
	emit := func(e Event) {
		if e.Kind == End && found != nil {
			found(Digit{Digit: string(e.Digit), StartMS: cliMillis(e.Start), DurationMS: cliMillis(e.Duration)})
		}
	}
	d := NewDetector(Config{SampleRate: cliRate})
	raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(make([]int16, streamBlock/2)))), streamBlock) // int16-aligned
	pcm := make([]int16, streamBlock)
	var out []int16
	if rs != nil {
		out = make([]int16, rs.MaxOutput(len(pcm)))
	}
	// The resampler delays its output; trailing silence pushes the last of
	// the audio through, and its first output samples are the delay.
	skip := 0
	if rs != nil {
		skip = int(rs.Latency().Seconds()*cliRate + 0.5)
	}
	var fed, limit int64 = 0, -1 // resampled samples given to the detector, and their due total
	feed := func(x []int16) {
		if rs == nil {
			d.Process(x, emit)
			return
		}
		n := rs.Process(out, x)
		y := out[:n]
		k := min(skip, len(y))
		skip -= k
		y = y[k:]
		if limit >= 0 {
			y = y[:min(int64(len(y)), max(0, limit-fed))]
		}
		fed += int64(len(y))
		d.Process(y, emit)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		x, err := s.read(pcm, raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		samples += int64(len(x))
		feed(x)
	}
	if rs != nil {
		// Push the last of the audio out of the resampler with silence,
		// up to ceil(samples·8000/rate) samples in all, as dsp.Resample.
		clear(pcm)
		limit = (samples*cliRate + int64(s.format.SampleRate) - 1) / int64(s.format.SampleRate)
		for fed < limit {
			feed(pcm[:min(len(pcm), 1024)])
		}
	}
	d.Flush(emit)
	return s.format, samples, nil
}
