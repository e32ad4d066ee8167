"""Two LLVM operations Numba does not expose, for the kernels: an IEEE bit cast and a fused
multiply-add. Both compile inline, so loops that use them still vectorise and cache."""

from llvmlite import ir
from numba.core import types
from numba.core.extending import intrinsic


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE bit pattern is the int64 ``bits`` (an LLVM bitcast, which the
    loop vectoriser handles, unlike math.ldexp)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _mul_add(typingctx, a, b, c):
    """a * b + c, fused into one FMA where the CPU has it (LLVM's fmuladd: the product is not
    rounded on its own, so the result is at least as accurate as the two operations)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen
