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


# the three shuffle stages of an 8 x 8 transpose: pairs of elements, of pairs, of quads
_TRANSPOSE_STAGES = (((0, 8, 2, 10, 4, 12, 6, 14), (1, 9, 3, 11, 5, 13, 7, 15)),
                     ((0, 1, 8, 9, 4, 5, 12, 13), (2, 3, 10, 11, 6, 7, 14, 15)),
                     ((0, 1, 2, 3, 8, 9, 10, 11), (4, 5, 6, 7, 12, 13, 14, 15)))


@intrinsic
def _transpose8(typingctx, src, src_row, src_col, dst, dst_row, dst_col):
    """dst[dst_row + l, dst_col + t] = src[src_row + t, src_col + l] for t, l in 0..7: an 8 x 8
    block of one C-contiguous float64 array into another, transposed in registers (eight
    vector loads, 24 shuffles, eight vector stores). Loops that copy a block transposed
    element by element run at about 2 cycles per element: LLVM does not build this itself.
    No bounds check: the caller keeps both blocks inside their arrays."""
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array)
            and src.dtype == dst.dtype == types.float64 and src.ndim == dst.ndim == 2
            and src.layout == dst.layout == "C" and dst.mutable):
        return None

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        vec = ir.VectorType(d, 8)
        i64 = ir.IntType(64)
        mask = ir.VectorType(ir.IntType(32), 8)

        def block(ary_type, ary_value, row, col):
            ary = context.make_array(ary_type)(context, builder, ary_value)
            n_cols = builder.extract_value(ary.shape, 1)
            base = builder.add(builder.mul(row, n_cols), col)
            return ary.data, n_cols, base

        s_data, s_cols, s_base = block(signature.args[0], args[0], args[1], args[2])
        d_data, d_cols, d_base = block(signature.args[3], args[3], args[4], args[5])
        rows = []
        for t in range(8):
            at = builder.add(s_base, builder.mul(s_cols, ir.Constant(i64, t)))
            ptr = builder.bitcast(builder.gep(s_data, [at]), vec.as_pointer())
            rows.append(builder.load(ptr, align=8))
        for stage, (lo, hi) in enumerate(_TRANSPOSE_STAGES):
            span = 1 << stage  # partners are 1, 2, then 4 vectors apart
            out = list(rows)
            for k in range(8):
                if k & span:
                    continue
                a, b = rows[k], rows[k + span]
                out[k] = builder.shuffle_vector(a, b, ir.Constant(mask, lo))
                out[k + span] = builder.shuffle_vector(a, b, ir.Constant(mask, hi))
            rows = out
        for l in range(8):
            at = builder.add(d_base, builder.mul(d_cols, ir.Constant(i64, l)))
            ptr = builder.bitcast(builder.gep(d_data, [at]), vec.as_pointer())
            builder.store(rows[l], ptr, align=8)
        return context.get_dummy_value()

    return types.void(src, types.int64, types.int64, dst, types.int64, types.int64), codegen
