package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zaf/g711"
)

// WAVE format codes (RFC 2361).
const (
	wavPCM  = 1
	wavALaw = 6
	wavULaw = 7
	wavExt  = 0xfffe // WAVE_FORMAT_EXTENSIBLE: the sub-format follows
)

// maxWAV bounds the audio read from a file: ten minutes at 8 kHz.
const maxWAV = 10 * 60 * sampleRate

// readWAV reads an 8 kHz WAV file of 16-bit PCM, A-law or µ-law samples;
// of several channels the first is used. Other rates are refused: the
// adapter's audio is 8 kHz and this package does not resample.
func readWAV(r io.Reader) ([]int16, error) {
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return nil, fmt.Errorf("wav: %w", err)
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return nil, errors.New("wav: not a RIFF WAVE file")
	}
	var format, channels, bits uint16
	var rate uint32
	haveFmt := false
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, fmt.Errorf("wav: no data chunk: %w", err)
		}
		id, size := string(hdr[0:4]), binary.LittleEndian.Uint32(hdr[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, fmt.Errorf("wav: bad fmt chunk size %d", size)
			}
			buf := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, fmt.Errorf("wav: %w", err)
			}
			format = binary.LittleEndian.Uint16(buf[0:2])
			channels = binary.LittleEndian.Uint16(buf[2:4])
			rate = binary.LittleEndian.Uint32(buf[4:8])
			bits = binary.LittleEndian.Uint16(buf[14:16])
			if format == wavExt && size >= 26 {
				format = binary.LittleEndian.Uint16(buf[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("wav: data before fmt")
			}
			return decodeWAVData(r, size, format, channels, bits, rate)
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, fmt.Errorf("wav: %w", err)
			}
		}
	}
}

func decodeWAVData(r io.Reader, size uint32, format, channels, bits uint16, rate uint32) ([]int16, error) {
	if rate != sampleRate {
		return nil, fmt.Errorf("wav: %d Hz audio, want %d Hz", rate, sampleRate)
	}
	if channels == 0 {
		return nil, errors.New("wav: no channels")
	}
	var width int
	switch {
	case format == wavPCM && bits == 16:
		width = 2
	case (format == wavALaw || format == wavULaw) && bits == 8:
		width = 1
	default:
		return nil, fmt.Errorf("wav: format %d with %d bits unsupported (want 16-bit PCM, A-law or µ-law)", format, bits)
	}
	frame := width * int(channels)
	n := min(int(size)/frame, maxWAV)
	data := make([]byte, n*frame)
	got, err := io.ReadFull(r, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("wav: %w", err)
	}
	n = got / frame // a truncated file plays what it has
	pcm := make([]int16, n)
	for i := range pcm {
		b := data[i*frame:]
		switch format {
		case wavPCM:
			pcm[i] = int16(binary.LittleEndian.Uint16(b))
		case wavALaw:
			pcm[i] = g711.DecodeAlawFrame(b[0])
		default:
			pcm[i] = g711.DecodeUlawFrame(b[0])
		}
	}
	return pcm, nil
}
