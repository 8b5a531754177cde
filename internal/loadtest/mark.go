package loadtest

// The mark is MarkLen mu-law codes at the start of a packet's payload:
//
//	byte 0     markStart (0xE5)
//	bytes 1-5  0xC0 | six bits of the 30-bit counter, most significant first
//	byte 6     0xC0 | six-bit check (the XOR of the five groups and 0x15)
//	byte 7     markEnd (0xDA)
//
// Every mu-law code except 0x7F survives decoding to linear and encoding
// again unchanged (0x7F, "negative zero", comes back as 0xFF), and every
// code used here lies in 0xC0-0xFF: small positive values (at most about
// -25 dBFS), so the mark is a faint click rather than a loud one.

// MarkLen is the number of payload bytes a mark takes.
const MarkLen = 8

// MaxMark is the largest counter a mark carries.
const MaxMark = 1<<30 - 1

const (
	markStart = 0xE5
	markEnd   = 0xDA
	markCheck = 0x15
)

// PutMark writes the mark of counter n (modulo 2^30) into dst[:MarkLen].
// dst must hold at least MarkLen bytes. It does not allocate.
func PutMark(dst []byte, n uint32) {
	_ = dst[MarkLen-1]
	dst[0] = markStart
	check := byte(markCheck)
	for i := range 5 {
		g := byte(n>>(6*(4-i))) & 0x3F
		check ^= g
		dst[1+i] = 0xC0 | g
	}
	dst[6] = 0xC0 | check&0x3F
	dst[7] = markEnd
}

// ReadMark reads a mark at the start of b.
func ReadMark(b []byte) (uint32, bool) {
	if len(b) < MarkLen || b[0] != markStart || b[7] != markEnd {
		return 0, false
	}
	var n uint32
	check := byte(markCheck)
	for i := range 5 {
		c := b[1+i]
		if c&0xC0 != 0xC0 {
			return 0, false
		}
		g := c & 0x3F
		check ^= g
		n = n<<6 | uint32(g)
	}
	if b[6] != 0xC0|check&0x3F {
		return 0, false
	}
	return n, true
}

// FindMark returns the first mark in b and its offset, for a frame whose
// boundaries do not line up with the packets' (after concealment of a lost
// packet, for example).
func FindMark(b []byte) (off int, n uint32, ok bool) {
	for i := 0; i+MarkLen <= len(b); i++ {
		if b[i] != markStart {
			continue
		}
		if n, ok := ReadMark(b[i:]); ok {
			return i, n, true
		}
	}
	return -1, 0, false
}
