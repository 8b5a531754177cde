//go:build !amd64

package dtmf

var haveGoertzel8 = false

func goertzel8(x *float64, n int, coef *[8]float64, out *[16]float64) {
	panic("dtmf: goertzel8 needs amd64")
}
