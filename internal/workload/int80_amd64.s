#include "textflag.h"

// func int80(nr, a1, a2, a3, a4, a5, a6 uint32) uint64
//
// The i386 syscall ABI: number in EAX, arguments in EBX, ECX, EDX, ESI,
// EDI, EBP, result in EAX. BP is Go's frame pointer: the non-zero frame
// makes the assembler save it in the prologue and restore it at RET.
TEXT ·int80(SB), NOSPLIT, $8-40
	MOVL	nr+0(FP), AX
	MOVL	a1+4(FP), BX
	MOVL	a2+8(FP), CX
	MOVL	a3+12(FP), DX
	MOVL	a4+16(FP), SI
	MOVL	a5+20(FP), DI
	MOVL	a6+24(FP), BP
	INT	$0x80
	MOVQ	AX, ret+32(FP)
	RET
