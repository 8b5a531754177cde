package dtmf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTransformPaths: the vector Goertzel kernel and the portable loops
// give the same sub-block DFT to rounding.
func TestTransformPaths(t *testing.T) {
	if !haveGoertzel12 {
		t.Skip("no AVX2/FMA kernel on this machine")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	d := NewDetector(Config{})
	x := make([]int16, d.h)
	for range 200 {
		for i := range x {
			x[i] = int16(rng.IntN(65536) - 32768)
		}
		var fast, slow subBlock
		d.transform(x, &fast)
		haveGoertzel12 = false
		d.transform(x, &slow)
		haveGoertzel12 = true
		if fast.energy != slow.energy {
			t.Fatalf("energy: kernel %d, loops %d", fast.energy, slow.energy)
		}
		for k := range nBins {
			for _, p := range [][2]float64{{fast.re[k], slow.re[k]}, {fast.im[k], slow.im[k]}} {
				if math.Abs(p[0]-p[1]) > 1e-9*(1+math.Abs(p[1])) {
					t.Fatalf("bin %d: kernel %v, loops %v", k, p[0], p[1])
				}
			}
		}
	}
}
