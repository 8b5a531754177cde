#include "textflag.h"

// func goertzel12(x *float64, n int, coef *[12]float64, out *[24]float64)
//
// Y0-Y2: 2cos(ω) of bins 0-3, 4-7 and 8-11; Y3-Y5: the newer filter
// states s1; Y6-Y8: the older states s2. Two samples per turn, so the
// states swap roles: s2 = x0 - s2 + c·s1, then s1 = x1 - s1 + c·s2.
TEXT ·goertzel12(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ coef+16(FP), DX
	MOVQ out+24(FP), DI
	VMOVUPD 0(DX), Y0
	VMOVUPD 32(DX), Y1
	VMOVUPD 64(DX), Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8

loop:
	CMPQ CX, $2
	JLT done
	VBROADCASTSD 0(SI), Y9
	VBROADCASTSD 8(SI), Y10
	VSUBPD Y6, Y9, Y6
	VFMADD231PD Y3, Y0, Y6
	VSUBPD Y7, Y9, Y7
	VFMADD231PD Y4, Y1, Y7
	VSUBPD Y8, Y9, Y8
	VFMADD231PD Y5, Y2, Y8
	VSUBPD Y3, Y10, Y3
	VFMADD231PD Y6, Y0, Y3
	VSUBPD Y4, Y10, Y4
	VFMADD231PD Y7, Y1, Y4
	VSUBPD Y5, Y10, Y5
	VFMADD231PD Y8, Y2, Y5
	ADDQ $16, SI
	SUBQ $2, CX
	JMP loop

done:
	VMOVUPD Y3, 0(DI)
	VMOVUPD Y4, 32(DI)
	VMOVUPD Y5, 64(DI)
	VMOVUPD Y6, 96(DI)
	VMOVUPD Y7, 128(DI)
	VMOVUPD Y8, 160(DI)
	VZEROUPPER
	RET
