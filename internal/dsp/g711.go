package dsp

import "math/bits"

// G.711 companding, ITU-T Recommendation G.711 (11/88), tables 1a and 2a.
//
// Encoding follows the ITU-T reference implementation (G.191 software tool
// library): a negative input is folded with the one's complement (^x), not
// the negation, before quantisation, so -1 encodes like 0. Decoded values are
// the segment midpoints scaled to 16 bits (mu-law peaks at ±32124, A-law at
// ±32256).

// UlawSilence and AlawSilence are the codes of the smallest non-negative
// value (0 for mu-law, 8 for A-law): what a gap in the audio is filled with.
const (
	UlawSilence byte = 0xFF
	AlawSilence byte = 0xD5
)

// The tables are built once from the companding rules. Encoding tables are
// indexed by the input's significant bits only: mu-law quantises 14 bits
// (x>>2), A-law 13 bits of which the top 12 decide the code (x>>4).
var (
	ulawToLinear [256]int16
	alawToLinear [256]int16
	linearToUlaw [1 << 14]uint8
	linearToAlaw [1 << 12]uint8
)

func init() {
	for c := range 256 {
		ulawToLinear[c] = ulawDecode(uint8(c))
		alawToLinear[c] = alawDecode(uint8(c))
	}
	for i := range linearToUlaw {
		linearToUlaw[i] = ulawEncode(int16(uint16(i)<<2) >> 2)
	}
	for i := range linearToAlaw {
		linearToAlaw[i] = alawEncode(int16(uint16(i)<<4) >> 4)
	}
}

// ulawEncode encodes a 14-bit sample v (the 16-bit sample shifted right by 2).
func ulawEncode(v int16) uint8 {
	sign := uint8(0x80) // codes 0x80..0xFF are non-negative
	mag := int32(v)
	if v < 0 {
		sign = 0
		mag = int32(^v)
	}
	mag += 33 // bias: puts segment boundaries on powers of two
	mag = min(mag, 0x1FFF)
	exp := bits.Len32(uint32(mag>>5)) - 1 // 0..7
	mant := uint8(mag>>(exp+1)) & 0x0F
	return sign | (^(uint8(exp)<<4 | mant) & 0x7F) // G.711 sends the magnitude inverted
}

func ulawDecode(c uint8) int16 {
	b := ^c
	exp := (b >> 4) & 0x07
	mant := int32(b & 0x0F)
	mag := ((mant<<3 + 0x84) << exp) - 0x84
	if b&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// alawEncode encodes a 12-bit sample v (the 16-bit sample shifted right by 4).
func alawEncode(v int16) uint8 {
	sign := uint8(0x80)
	mag := int32(v)
	if v < 0 {
		sign = 0
		mag = int32(^v)
	}
	code := uint8(mag) // segment 0: linear, 16 steps
	if mag > 15 {
		exp := bits.Len32(uint32(mag)) - 4 // 1..7
		code = uint8(exp)<<4 | uint8(mag>>(exp-1))&0x0F
	}
	return (sign | code) ^ 0x55 // even bits inverted
}

func alawDecode(c uint8) int16 {
	a := c ^ 0x55
	exp := (a >> 4) & 0x07
	mant := int32(a & 0x0F)
	var mag int32
	if exp == 0 {
		mag = mant<<4 + 8
	} else {
		mag = (mant<<4 + 0x108) << (exp - 1)
	}
	if a&0x80 == 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// UlawToLinear decodes one mu-law code.
func UlawToLinear(c byte) int16 { return ulawToLinear[c] }

// LinearToUlaw encodes one sample as mu-law.
func LinearToUlaw(s int16) byte { return linearToUlaw[uint16(s)>>2] }

// AlawToLinear decodes one A-law code.
func AlawToLinear(c byte) int16 { return alawToLinear[c] }

// LinearToAlaw encodes one sample as A-law.
func LinearToAlaw(s int16) byte { return linearToAlaw[uint16(s)>>4] }

// DecodeUlaw decodes mu-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)). It does not allocate.
func DecodeUlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = ulawToLinear[c]
	}
	return n
}

// EncodeUlaw encodes samples from src as mu-law into dst and returns the
// number of codes written, min(len(dst), len(src)). It does not allocate.
func EncodeUlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = linearToUlaw[uint16(s)>>2]
	}
	return n
}

// DecodeAlaw decodes A-law codes from src into dst and returns the number of
// samples written, min(len(dst), len(src)). It does not allocate.
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, c := range src {
		dst[i] = alawToLinear[c]
	}
	return n
}

// EncodeAlaw encodes samples from src as A-law into dst and returns the
// number of codes written, min(len(dst), len(src)). It does not allocate.
func EncodeAlaw(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = linearToAlaw[uint16(s)>>4]
	}
	return n
}
