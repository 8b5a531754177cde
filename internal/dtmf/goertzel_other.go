//go:build !amd64

package dtmf

var haveGoertzel12 = false

func goertzel12(x *int16, n int, coef *[12]float64, out *[25]float64) {
	panic("dtmf: goertzel12 needs amd64")
}
