package dsp

import (
	"fmt"
	"strings"
)

// Format is a sample encoding offered to streaming clients. The zero Format
// is invalid.
type Format uint8

// The formats, by the names ParseFormat accepts first.
const (
	// FormatPCM16 is signed 16-bit linear PCM, little-endian ("pcm16").
	FormatPCM16 Format = iota + 1
	// FormatUlaw is G.711 mu-law, one byte per sample ("ulaw").
	FormatUlaw
	// FormatAlaw is G.711 A-law, one byte per sample ("alaw").
	FormatAlaw
)

var formatNames = [...]string{FormatPCM16: "pcm16", FormatUlaw: "ulaw", FormatAlaw: "alaw"}

// ParseFormat returns the Format named s, ignoring case: "pcm16" (or
// "s16le"), "ulaw" (or "mulaw", "pcmu", "g711u"), "alaw" (or "pcma",
// "g711a"). Big-endian "L16" as in RTP is deliberately not an alias.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "pcm16", "s16le":
		return FormatPCM16, nil
	case "ulaw", "mulaw", "pcmu", "g711u":
		return FormatUlaw, nil
	case "alaw", "pcma", "g711a":
		return FormatAlaw, nil
	}
	return 0, fmt.Errorf("dsp: unknown audio format %q (want pcm16, ulaw or alaw)", s)
}

// String returns the Format's canonical name, or "Format(n)" if invalid.
func (f Format) String() string {
	if f.Valid() {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Valid reports whether f is one of the defined formats.
func (f Format) Valid() bool { return f >= FormatPCM16 && f <= FormatAlaw }

// BytesPerSample returns the encoded size of one sample: 2 for FormatPCM16,
// 1 for the G.711 formats, 0 for an invalid Format.
func (f Format) BytesPerSample() int {
	switch f {
	case FormatPCM16:
		return 2
	case FormatUlaw, FormatAlaw:
		return 1
	}
	return 0
}

// MarshalText implements encoding.TextMarshaler with the canonical name.
func (f Format) MarshalText() ([]byte, error) {
	if !f.Valid() {
		return nil, fmt.Errorf("dsp: cannot marshal invalid %v", f)
	}
	return []byte(formatNames[f]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseFormat.
func (f *Format) UnmarshalText(text []byte) error {
	v, err := ParseFormat(string(text))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// EncodeFrame encodes samples from src into dst in format f and returns the
// number of bytes written: as many whole samples as both hold. It returns 0
// for an invalid Format and does not allocate.
func EncodeFrame(dst []byte, f Format, src []int16) int {
	switch f {
	case FormatUlaw:
		return EncodeUlaw(dst, src)
	case FormatAlaw:
		return EncodeAlaw(dst, src)
	case FormatPCM16:
		n := min(len(dst)/2, len(src))
		dst, src = dst[:2*n], src[:n]
		for i, s := range src {
			dst[2*i] = byte(s)
			dst[2*i+1] = byte(uint16(s) >> 8)
		}
		return 2 * n
	}
	return 0
}

// DecodeFrame decodes samples in format f from src into dst and returns the
// number of samples written: as many whole samples as both hold (a trailing
// odd byte of PCM16 is ignored). It returns 0 for an invalid Format and does
// not allocate.
func DecodeFrame(dst []int16, f Format, src []byte) int {
	switch f {
	case FormatUlaw:
		return DecodeUlaw(dst, src)
	case FormatAlaw:
		return DecodeAlaw(dst, src)
	case FormatPCM16:
		n := min(len(dst), len(src)/2)
		dst, src = dst[:n], src[:2*n]
		for i := range dst {
			dst[i] = int16(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
		}
		return n
	}
	return 0
}
