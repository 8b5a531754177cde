package rfc4733

import (
	"encoding/binary"
	"errors"
)

// PayloadSize is the size of one telephone-event block (RFC 4733 section 2.3).
const PayloadSize = 4

// Event codes of the DTMF named events (RFC 4733 section 3.2, table 3).
const (
	CodeStar  = 10 // '*'
	CodePound = 11 // '#'
	CodeA     = 12 // 'A'; B, C and D follow
	CodeFlash = 16 // hook flash
	MaxCode   = CodeFlash
)

// ErrShortPayload is returned by [ParsePayload] for fewer than four bytes.
var ErrShortPayload = errors.New("rfc4733: telephone-event payload shorter than 4 bytes")

// Payload is one telephone-event block, RFC 4733 section 2.3:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// https://www.rfc-editor.org/rfc/rfc4733#section-2.3
type Payload struct {
	// Event is the event code: 0-9 for the digits, 10 '*', 11 '#', 12-15
	// 'A'-'D', 16 hook flash (section 3.2); other codes are other events.
	Event uint8
	// End is the E bit: this packet reports the end of the event (of its
	// last segment, for a long event).
	End bool
	// Volume is the power level of the tone in dBm0 with the sign dropped:
	// 0 to 63, larger is quieter (section 2.3.4).
	Volume uint8
	// Duration is the duration so far in RTP timestamp units, counted from
	// the packet's RTP timestamp (section 2.3.5).
	Duration uint16
}

// ParsePayload decodes the first telephone-event block of b; the R bit is
// ignored as section 2.3 asks. It does not allocate.
func ParsePayload(b []byte) (Payload, error) {
	if len(b) < PayloadSize {
		return Payload{}, ErrShortPayload
	}
	return Payload{
		Event:    b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}, nil
}

// AppendTo appends the four-byte wire form of p to b (R bit zero, volume
// cut to six bits) and returns the extended slice.
func (p Payload) AppendTo(b []byte) []byte {
	flags := p.Volume & 0x3f
	if p.End {
		flags |= 0x80
	}
	return append(b, p.Event, flags, byte(p.Duration>>8), byte(p.Duration))
}

// Digit returns the character of a DTMF event code: '0'-'9', '*', '#',
// 'A'-'D'; it returns 0 for the hook flash and any other code.
func Digit(code uint8) byte {
	const digits = "0123456789*#ABCD"
	if int(code) < len(digits) {
		return digits[code]
	}
	return 0
}

// Code returns the event code of a DTMF character ('0'-'9', '*', '#',
// 'A'-'D', lower case accepted) and false for any other byte.
func Code(digit byte) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return digit - '0', true
	case digit == '*':
		return CodeStar, true
	case digit == '#':
		return CodePound, true
	case digit >= 'A' && digit <= 'D':
		return CodeA + digit - 'A', true
	case digit >= 'a' && digit <= 'd':
		return CodeA + digit - 'a', true
	}
	return 0, false
}
