package dtmf

import "golang.org/x/sys/cpu"

// haveGoertzel8 reports whether goertzel8 can run: it needs AVX2 and FMA.
var haveGoertzel8 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// goertzel8 runs the Goertzel filters of the eight key tones over the n
// samples at x (n even), four tones per 256-bit register, and stores the
// last state of each filter in out[0:8] and the one before it in out[8:16].
//
//go:noescape
func goertzel8(x *float64, n int, coef *[8]float64, out *[16]float64)
