#include "textflag.h"

// func goertzel8(x *float64, n int, coef *[8]float64, out *[16]float64)
//
// Y0, Y1: 2cos(ω) of tones 0-3 and 4-7; Y2, Y3: the newer filter states
// s1; Y4, Y5: the older states s2. Two samples per turn, so the states swap
// roles: s2 = x0 - s2 + c·s1, then s1 = x1 - s1 + c·s2.
TEXT ·goertzel8(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ coef+16(FP), DX
	MOVQ out+24(FP), DI
	VMOVUPD 0(DX), Y0
	VMOVUPD 32(DX), Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5

loop:
	CMPQ CX, $2
	JLT done
	VBROADCASTSD 0(SI), Y6
	VBROADCASTSD 8(SI), Y7
	VSUBPD Y4, Y6, Y4
	VFMADD231PD Y2, Y0, Y4
	VSUBPD Y5, Y6, Y5
	VFMADD231PD Y3, Y1, Y5
	VSUBPD Y2, Y7, Y2
	VFMADD231PD Y4, Y0, Y2
	VSUBPD Y3, Y7, Y3
	VFMADD231PD Y5, Y1, Y3
	ADDQ $16, SI
	SUBQ $2, CX
	JMP loop

done:
	VMOVUPD Y2, 0(DI)
	VMOVUPD Y3, 32(DI)
	VMOVUPD Y4, 64(DI)
	VMOVUPD Y5, 96(DI)
	VZEROUPPER
	RET
