package dsp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// WAV (RIFF WAVE) files, as written by sox, ffmpeg, Audacity and the like.
// References: Microsoft "Multimedia Programming Interface and Data
// Specifications 1.0" (1991) for RIFF and the fmt chunk, "Multiple Channel
// Audio Data and WAVE Files" for WAVE_FORMAT_EXTENSIBLE, and EBU Tech 3306
// for RF64.

// WAV format tags this package reads and writes.
const (
	WAVFormatPCM        = 0x0001
	WAVFormatALaw       = 0x0006
	WAVFormatMuLaw      = 0x0007
	WAVFormatExtensible = 0xFFFE
)

// maxWAVRate bounds the sample rates read and written: far above any audio
// rate, low enough that byte rates fit the header's 32 bits.
const maxWAVRate = 1 << 24

// DefaultMaxWAVBytes is the most audio data ReadWAV accepts: 64 MiB, over an
// hour of 8 kHz 16-bit audio.
const DefaultMaxWAVBytes = 64 << 20

// Errors returned by ReadWAV, wrapped with details. Every error ReadWAV
// returns wraps one of them, or is an error from the reader itself.
var (
	// ErrInvalidWAV: the input is not a WAV file or is malformed.
	ErrInvalidWAV = errors.New("dsp: invalid WAV")
	// ErrUnsupportedWAV: a well-formed WAV file in an encoding this package
	// does not decode; the message says which and what to convert to.
	ErrUnsupportedWAV = errors.New("dsp: unsupported WAV format")
	// ErrWAVTooLarge: the audio data exceeds the size limit.
	ErrWAVTooLarge = errors.New("dsp: WAV audio too large")
)

// WAV is a decoded WAV file.
type WAV struct {
	// SampleRate is the file's sample rate in Hz.
	SampleRate int
	// Channels is the number of channels in the file; Samples holds their
	// average.
	Channels int
	// FormatTag is the file's encoding: WAVFormatPCM, WAVFormatALaw or
	// WAVFormatMuLaw (for a WAVE_FORMAT_EXTENSIBLE file, its subformat).
	FormatTag int
	// BitsPerSample is the size of one encoded sample: 8 or 16 for PCM, 8
	// for A-law and mu-law.
	BitsPerSample int
	// Samples is the audio, decoded to 16-bit linear and mixed down to mono.
	Samples []int16
}

// Duration returns the length of the audio.
func (w *WAV) Duration() time.Duration {
	if w.SampleRate <= 0 {
		return 0
	}
	return time.Duration(len(w.Samples)) * time.Second / time.Duration(w.SampleRate)
}

// ReadWAV reads a WAV file from r with a limit of DefaultMaxWAVBytes of
// audio data. See ReadWAVLimit.
func ReadWAV(r io.Reader) (*WAV, error) {
	return ReadWAVLimit(r, DefaultMaxWAVBytes)
}

// ReadWAVLimit reads a WAV file from r and returns its audio as mono 16-bit
// samples, refusing more than maxBytes bytes of encoded audio data with
// ErrWAVTooLarge (maxBytes <= 0 means DefaultMaxWAVBytes; at most 1 TiB).
//
// It reads 8-bit (unsigned) and 16-bit PCM, A-law and mu-law, with any
// number of channels (averaged to mono), in plain or WAVE_FORMAT_EXTENSIBLE
// fmt chunks, in RIFF or RF64 files. Other chunks (LIST, fact, cue, ...) are
// skipped, with or without their pad byte. A data size of 0 or one beyond
// maxBytes, as written by tools streaming to a pipe (sox writes 0x7FFFF000,
// others 0xFFFFFFFF), means "read to the end"; a file shorter than its data
// size yields the audio present. Memory grows only with the data actually
// read, never with sizes claimed in the header.
func ReadWAVLimit(r io.Reader, maxBytes int64) (*WAV, error) {
	if maxBytes <= 0 || maxBytes > 1<<40 {
		maxBytes = min(max(maxBytes, DefaultMaxWAVBytes), 1<<40)
	}
	br := bufio.NewReader(r)
	var hdr [12]byte
	if n, err := io.ReadFull(br, hdr[:]); n == 0 && err == io.EOF {
		return nil, fmt.Errorf("%w: empty input", ErrInvalidWAV)
	} else if err != nil {
		return nil, readError(err, "RIFF header")
	}
	switch id := string(hdr[0:4]); {
	case id == "RIFX":
		return nil, fmt.Errorf("%w: big-endian RIFX; convert to a little-endian RIFF WAV", ErrUnsupportedWAV)
	case id != "RIFF" && id != "RF64" || string(hdr[8:12]) != "WAVE":
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file (starts with %q)", ErrInvalidWAV, hdr[:])
	}

	var (
		f         *wavFormat
		rf64Data  int64 = -1 // data size from an RF64 ds64 chunk
		chunkHead [8]byte
	)
	for {
		if err := readFull(br, chunkHead[:], "chunk header"); err != nil {
			switch {
			case !errors.Is(err, ErrInvalidWAV):
				return nil, err
			case f == nil:
				return nil, fmt.Errorf("%w: no fmt chunk", ErrInvalidWAV)
			default:
				return nil, fmt.Errorf("%w: no data chunk", ErrInvalidWAV)
			}
		}
		id := string(chunkHead[0:4])
		size := int64(binary.LittleEndian.Uint32(chunkHead[4:8]))
		switch id {
		case "fmt ":
			var err error
			if f, err = readFormat(br, size); err != nil {
				return nil, err
			}
		case "ds64":
			var ds [16]byte
			if size < int64(len(ds)) {
				return nil, fmt.Errorf("%w: ds64 chunk of %d bytes, want at least 16", ErrInvalidWAV, size)
			}
			if err := readFull(br, ds[:], "ds64 chunk"); err != nil {
				return nil, err
			}
			rf64Data = int64(min(binary.LittleEndian.Uint64(ds[8:16]), 1<<62))
			if err := skip(br, size-int64(len(ds))); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrInvalidWAV)
			}
			if size == 0xFFFFFFFF && rf64Data >= 0 {
				size = rf64Data
			}
			return f.readData(br, size, maxBytes)
		default:
			if err := skip(br, size); err != nil {
				return nil, err
			}
		}
	}
}

// wavFormat is what the fmt chunk says about the data.
type wavFormat struct {
	tag      int // after unwrapping WAVE_FORMAT_EXTENSIBLE
	channels int
	rate     int
	bits     int
}

// extensibleGUIDSuffix is the KSDATAFORMAT_SUBTYPE GUID after its first two
// bytes, which carry the plain format tag:
// {xxxxxxxx-0000-0010-8000-00aa00389b71}.
var extensibleGUIDSuffix = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// readFormat parses a fmt chunk of the given size and checks that this
// package can decode it.
//
//	offset size  field
//	0      2     format tag
//	2      2     channels
//	4      4     sample rate
//	8      4     byte rate
//	12     2     block align
//	14     2     bits per sample
//	16     2     extension size (cbSize)          -- extensible only:
//	18     2     valid bits per sample
//	20     4     channel mask
//	24     16    subformat GUID
func readFormat(r *bufio.Reader, size int64) (*wavFormat, error) {
	if size < 16 {
		return nil, fmt.Errorf("%w: fmt chunk of %d bytes, want at least 16", ErrInvalidWAV, size)
	}
	var b [40]byte
	n := min(size, int64(len(b)))
	if err := readFull(r, b[:n], "fmt chunk"); err != nil {
		return nil, err
	}
	if err := skip(r, size-n); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:      int(le.Uint16(b[0:2])),
		channels: int(le.Uint16(b[2:4])),
		rate:     int(le.Uint32(b[4:8])),
		bits:     int(le.Uint16(b[14:16])),
	}
	if f.tag == WAVFormatExtensible {
		if n < 40 || le.Uint16(b[16:18]) < 22 {
			return nil, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", ErrInvalidWAV, size)
		}
		if [14]byte(b[26:40]) != extensibleGUIDSuffix {
			return nil, fmt.Errorf("%w: WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID; convert to 16-bit PCM, mu-law or A-law", ErrUnsupportedWAV)
		}
		f.tag = int(le.Uint16(b[24:26]))
	}
	if f.channels == 0 {
		return nil, fmt.Errorf("%w: fmt chunk says 0 channels", ErrInvalidWAV)
	}
	if f.rate == 0 {
		return nil, fmt.Errorf("%w: fmt chunk says 0 samples per second", ErrInvalidWAV)
	}
	if f.rate > maxWAVRate {
		return nil, fmt.Errorf("%w: %d samples per second", ErrUnsupportedWAV, f.rate)
	}
	switch {
	case f.tag == WAVFormatPCM && (f.bits == 8 || f.bits == 16):
	case (f.tag == WAVFormatALaw || f.tag == WAVFormatMuLaw) && f.bits == 8:
	case f.tag == WAVFormatPCM:
		return nil, fmt.Errorf("%w: %d-bit PCM; convert to 16-bit PCM, mu-law or A-law", ErrUnsupportedWAV, f.bits)
	case f.tag == WAVFormatALaw || f.tag == WAVFormatMuLaw:
		return nil, fmt.Errorf("%w: %s with %d bits per sample, want 8", ErrInvalidWAV, formatTagName(f.tag), f.bits)
	default:
		return nil, fmt.Errorf("%w: %s (%d); convert to 16-bit PCM, mu-law or A-law", ErrUnsupportedWAV, formatTagName(f.tag), f.tag)
	}
	return f, nil
}

func formatTagName(tag int) string {
	switch tag {
	case WAVFormatPCM:
		return "PCM"
	case 0x0002:
		return "Microsoft ADPCM"
	case 0x0003:
		return "IEEE float"
	case WAVFormatALaw:
		return "A-law"
	case WAVFormatMuLaw:
		return "mu-law"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0050:
		return "MPEG"
	case 0x0055:
		return "MPEG layer 3"
	case WAVFormatExtensible:
		return "WAVE_FORMAT_EXTENSIBLE"
	}
	return fmt.Sprintf("format tag 0x%04X", tag)
}

// readData decodes a data chunk of the declared size (see ReadWAVLimit for
// sizes that mean "to the end").
func (f *wavFormat) readData(r io.Reader, size, maxBytes int64) (*WAV, error) {
	toEOF := size == 0 || size > maxBytes
	if toEOF {
		size = maxBytes + 1 // one byte more tells "too large" from "just fits"
	}
	bytesPer := f.bits / 8
	frameLen := bytesPer * f.channels
	buf := make([]byte, frameLen*max(1, 8192/frameLen))
	w := &WAV{SampleRate: f.rate, Channels: f.channels, FormatTag: f.tag, BitsPerSample: f.bits}
	w.Samples = make([]int16, 0, min(size/int64(frameLen), 1<<16))

	var total int64
	for total < size {
		chunk := buf[:min(int64(len(buf)), size-total)]
		n, err := io.ReadFull(r, chunk)
		total += int64(n)
		if toEOF && total > maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes of audio data", ErrWAVTooLarge, maxBytes)
		}
		w.Samples = f.decode(w.Samples, chunk[:n-n%frameLen])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break // a streamed or truncated file ends where its data ends
		}
		if err != nil {
			return nil, fmt.Errorf("dsp: reading WAV data: %w", err)
		}
	}
	return w, nil
}

// decode appends the mono mix of the whole frames in b to dst.
func (f *wavFormat) decode(dst []int16, b []byte) []int16 {
	bytesPer := f.bits / 8
	frameLen := bytesPer * f.channels
	for ; len(b) >= frameLen; b = b[frameLen:] {
		var sum int64
		for c := range f.channels {
			sum += int64(f.sample(b[c*bytesPer:]))
		}
		dst = append(dst, int16(sum/int64(f.channels)))
	}
	return dst
}

func (f *wavFormat) sample(b []byte) int16 {
	switch {
	case f.tag == WAVFormatMuLaw:
		return ulawToLinear[b[0]]
	case f.tag == WAVFormatALaw:
		return alawToLinear[b[0]]
	case f.bits == 8:
		return int16(int8(b[0]^0x80)) << 8 // 8-bit PCM is unsigned, 0x80 is zero
	default:
		return int16(binary.LittleEndian.Uint16(b))
	}
}

// readFull fills b, turning a short read into ErrInvalidWAV naming what was
// being read.
func readFull(r io.Reader, b []byte, what string) error {
	if _, err := io.ReadFull(r, b); err != nil {
		return readError(err, what)
	}
	return nil
}

func readError(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated %s", ErrInvalidWAV, what)
	}
	return fmt.Errorf("dsp: reading WAV: %w", err)
}

// skip discards a chunk body of size bytes and its pad byte. Chunks are
// padded to an even size with a zero byte; some writers omit it, and since
// no chunk ID starts with a zero byte the next byte tells which it is.
func skip(r *bufio.Reader, size int64) error {
	if _, err := io.CopyN(io.Discard, r, size); err != nil {
		if err == io.EOF {
			return fmt.Errorf("%w: truncated chunk", ErrInvalidWAV)
		}
		return fmt.Errorf("dsp: reading WAV: %w", err)
	}
	if size%2 == 1 {
		if b, err := r.Peek(1); err == nil && b[0] == 0 {
			_, _ = r.Discard(1)
		}
	}
	return nil
}

// WriteWAV writes samples as a mono 16-bit PCM WAV file at rate Hz.
func WriteWAV(w io.Writer, rate int, samples []int16) error {
	return WriteWAVFormat(w, rate, FormatPCM16, samples)
}

// WriteWAVFormat writes samples as a mono WAV file at rate Hz in format f:
// 16-bit PCM, mu-law or A-law (with the fact chunk non-PCM files carry).
func WriteWAVFormat(w io.Writer, rate int, f Format, samples []int16) error {
	if !f.Valid() {
		return fmt.Errorf("dsp: cannot write WAV in %v", f)
	}
	if rate <= 0 || rate > maxWAVRate {
		return fmt.Errorf("dsp: cannot write WAV at %d samples per second", rate)
	}
	bps := f.BytesPerSample()
	dataLen := int64(len(samples)) * int64(bps)
	pad := dataLen % 2

	le := binary.LittleEndian
	var h []byte
	h = append(h, "RIFF\x00\x00\x00\x00WAVEfmt "...)
	if f == FormatPCM16 {
		h = le.AppendUint32(h, 16)
		h = le.AppendUint16(h, WAVFormatPCM)
	} else {
		tag := uint16(WAVFormatMuLaw)
		if f == FormatAlaw {
			tag = WAVFormatALaw
		}
		h = le.AppendUint32(h, 18)
		h = le.AppendUint16(h, tag)
	}
	h = le.AppendUint16(h, 1) // channels
	h = le.AppendUint32(h, uint32(rate))
	h = le.AppendUint32(h, uint32(rate*bps)) // byte rate
	h = le.AppendUint16(h, uint16(bps))      // block align
	h = le.AppendUint16(h, uint16(8*bps))    // bits per sample
	if f != FormatPCM16 {
		h = le.AppendUint16(h, 0) // cbSize
		h = append(h, "fact"...)
		h = le.AppendUint32(h, 4)
		h = le.AppendUint32(h, uint32(len(samples)))
	}
	h = append(h, "data"...)
	riffLen := int64(len(h)) - 8 + 4 + dataLen + pad
	if riffLen > 0xFFFFFFFF {
		return fmt.Errorf("dsp: cannot write WAV: %d samples exceed the 4 GiB RIFF limit", len(samples))
	}
	h = le.AppendUint32(h, uint32(dataLen))
	le.PutUint32(h[4:8], uint32(riffLen))
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("dsp: writing WAV: %w", err)
	}

	buf := make([]byte, 4096)
	for len(samples) > 0 {
		k := min(len(samples), len(buf)/bps)
		n := EncodeFrame(buf, f, samples[:k])
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("dsp: writing WAV: %w", err)
		}
		samples = samples[k:]
	}
	if pad == 1 {
		if _, err := w.Write([]byte{0}); err != nil {
			return fmt.Errorf("dsp: writing WAV: %w", err)
		}
	}
	return nil
}
