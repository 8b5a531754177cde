package dtmf

import "golang.org/x/sys/cpu"

// haveGoertzel12 reports whether goertzel12 can run: it needs AVX2 and FMA.
var haveGoertzel12 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// goertzel12 runs twelve Goertzel filters (coefficients 2cos(ω)) over the
// n samples at x (n even), four per 256-bit register, and stores the last
// state of each filter in out[0:12], the one before it in out[12:24] and
// the samples' sum of squares in out[24] (exact: at most 2^35 for the
// sub-block lengths used).
//
//go:noescape
func goertzel12(x *int16, n int, coef *[12]float64, out *[25]float64)
