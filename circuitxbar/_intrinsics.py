"""LLVM operations Numba does not expose, for the kernels: an IEEE bit cast, a fused
multiply-add and an atomic counter. All compile inline, so loops that use them still vectorise
and cache."""

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


@intrinsic
def _take_next(typingctx, counter):
    """Atomically counter[0] += 1, returning the value before: the threads of one batch hand
    out its inputs one at a time this way (solver.run_shared). counter: int64 array."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        one = ir.Constant(ir.IntType(64), 1)
        return builder.atomic_rmw("add", ary.data, one, "seq_cst")

    return types.int64(counter), codegen
