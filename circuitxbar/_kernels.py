"""Compiled kernels of the crossbar solver. Private: arrays and scalars only, no globals.

The method (documented in circuitxbar/README.md):

* Every wire line is a chain of nodes with a shunt branch (the cell) at each node and a terminal
  at each end. ``_factor_lines`` eliminates a chain from its start end once: at each node it keeps
  the Thevenin conductance looking back (a sum of positive terms, so no cancellation, and exact
  for ideal terminals and zero-resistance wires through IEEE infinities). A chain is then solved
  for any shunt potentials with one forward and one backward pass of convex combinations
  (``_col_forward`` / ``_col_back_rows`` for the columns, ``_row_sweep4`` for the rows).
* The unknowns are the row-node voltages. Given them, the column chains are solved exactly; given
  the column voltages, the row chains are. That map ``F`` is one block Gauss-Seidel sweep; the
  fixed point ``x = F(x)`` is the circuit solution. ``_pcg`` runs conjugate gradients on
  ``(I - H) x = F(0)`` (``H`` the homogeneous part of ``F``), which is self-adjoint and positive
  definite in the inner product of the row-chain energy ``<x, M y>``. This is CG on the Schur
  complement of the row nodes preconditioned by exact row-line solves.

Layout: every array is (R, C). Column chains sweep row by row with the column index innermost
(vectorised across columns); row chains run four at a time, interleaved so their recurrences
overlap, inside the column back-substitution while its rows are still in cache. Rows are
factorised a block of nodes at a time, vectorised across rows (``_factor_rows``), and stored
chain-major.
"""

import math

import numba
import numpy as np
from numba.core import types as nt
from numba.extending import overload

from circuitxbar._config import INNER, JIT, SHARED
from circuitxbar._intrinsics import _mul_add, _transpose8, _take_next
from circuitxbar._native import Shared

INF = math.inf

# The types of the kernels called through their address (``_native.Shared``): (R, C) and
# per-line arrays, read-only where Python hands in a Crossbar's own, and the records of
# _alloc_factors (one per line direction, and the row factorisation's scratch) and
# _alloc_workspace
F2 = nt.float64[:, ::1]
F1 = nt.float64[::1]
F1_READ = F1.copy(readonly=True)
F2_READ = F2.copy(readonly=True)
FACTORS = nt.Tuple((F2, F2, F2, F1, F1, F1))
FACTOR_SCRATCH = nt.UniTuple(F2, 4)
WORK = nt.Tuple((F2, F2, F2, F2, F1, F2, F2))

#: the KCL check's rounding floor per volt of voltage scale and siemens of wire conductance
#: (see _chain_currents): 8 eps, where exact answers measured 1-2 eps
KCL_FLOOR = 8.0 * 2.220446049250313e-16


@numba.njit(**INNER)
def _start_terms(gs, g0):
    """One chain's start: (a_start, bg_0, binj_0, looking-back conductance e_0) for start
    terminal conductance gs and node 0's shunt g0 (see _factor_lines)."""
    e0 = gs + g0
    if gs == INF:
        return 1.0, 0.0, 0.0, e0
    if e0 > 0.0:
        return gs / e0, g0 / e0, 1.0 / e0, e0
    return 0.0, 0.0, 0.0, e0


@numba.njit(**INNER)
def _wires(r):
    """Wire conductance 1/r per chain, inf for r = 0."""
    w = np.empty(r.size)
    for l in range(r.size):
        w[l] = 1.0 / r[l] if r[l] > 0.0 else INF
    return w


@numba.njit(**INNER)
def _factor_nodes(g_next, r, w, e, bg_next, binj_next, p):
    """The elimination of nodes k = 0..nb-1 of every chain, vectorised across chains: fills
    p[k] and, for the nodes that have a next node (k < g_next.shape[0]), bg_next[k] and
    binj_next[k] (the next node's coefficients) from g_next[k] (the next node's shunts).
    e (m,): looking-back conductance at node 0 on entry, at the last node on return.

    A chain pinned at its start (e = inf, ideal terminal) gives p = 0 there and, past the
    first segment, a finite conductance 1/r + g again; through zero-resistance wires (w = inf)
    it stays pinned to its end, bg = binj = 0 (g / inf), exactly by IEEE arithmetic."""
    nb = p.shape[0]
    m = r.size  # the arrays may be wider (padded scratch, see _alloc_factors)
    n_next = g_next.shape[0]
    for k in range(nb):
        for l in range(m):
            ek = e[l]
            pinned = ek == INF
            pk = 0.0 if pinned else 1.0 / (1.0 + r[l] * ek)
            p[k, l] = pk
            if k < n_next:
                gn = g_next[k, l]
                en = (w[l] if pinned else ek * pk) + gn
                inv = 1.0 / en if en > 0.0 else 0.0
                binj_next[k, l] = inv
                bg_next[k, l] = gn * inv
                e[l] = en


@numba.njit(**INNER)
def _end_terms(e, g_end, a_end, b_end):
    """Every chain's end: V_{n-1} = a_end S_{n-1} + b_end V_end from the looking-back
    conductance e at the last node and the end terminal's g_end."""
    for l in range(e.size):
        ek = e[l]
        ge = g_end[l]
        if ek == INF:
            a_end[l] = 1.0
            b_end[l] = 0.0
        elif ge == INF:
            a_end[l] = 0.0
            b_end[l] = 1.0
        elif ek + ge > 0.0:
            a_end[l] = ek / (ek + ge)
            b_end[l] = ge / (ek + ge)
        else:  # floating chain with no path to any source: its voltage is reported as 0
            a_end[l] = 0.0
            b_end[l] = 0.0


@numba.njit(**INNER)
def _factor_lines(g, r, g_start, g_end, bg, binj, p, a_start, a_end, b_end):
    """Eliminate every chain from its start: fills the sweep coefficients. Node-major: chain l
    is column l of the (n, m) arrays (the column chains; the rows take _factor_rows).

    g (n, m): shunt conductance of node k of chain l [S]; r (m,): segment resistance [ohm];
    g_start, g_end (m,): terminal conductances [S] (inf ideal, 0 open).
    Forward:  S_0 = a_start V_start + bg_0 u_0 + binj_0 c_0;
              S_k = S_{k-1} + bg_k (u_k - S_{k-1}) + binj_k c_k   (the weights of S_{k-1} and u_k
              sum to one: each S is a convex combination, so the sweep cannot amplify rounding)
    Last:     V_{n-1} = a_end S_{n-1} + b_end V_end
    Backward: V_k = S_k + p_k (V_{k+1} - S_k)
    """
    n, m = g.shape
    e = np.empty(m)  # Thevenin conductance looking back from the current node
    for l in range(m):
        a_start[l], bg[0, l], binj[0, l], e[l] = _start_terms(g_start[l], g[0, l])
    _factor_nodes(g[1:], r, _wires(r), e, bg[1:], binj[1:], p)
    _end_terms(e, g_end, a_end, b_end)


#: nodes per block of _factor_rows: one cache line of each chain's coefficients
ROW_BLOCK = 8


@numba.njit(**INNER)
def _factor_rows(g, r, g_start, g_end, bg, binj, p, a_start, a_end, b_end, blk):
    """_factor_lines for chains stored chain-major: chain l is row l of the (m, n) arrays.

    The elimination runs vectorised across chains, ROW_BLOCK nodes at a time, in blk (4 arrays
    (ROW_BLOCK, m or wider, see _alloc_factors), in cache): each block's shunts are gathered
    there, eliminated node-major, and its coefficients written back one cache line per chain.
    A transposed copy of the whole array (and three transposes back) would cost four round
    trips to memory instead. The gather and the write-back move 8 x 8 blocks through
    registers (_transpose8): element by element they took 160-170 of the 256 x 256
    factorisation's 390-440 us (now 265-305 us, the same bits).
    """
    m, n = g.shape
    g_b, bg_b, binj_b, p_b = blk
    e = np.empty(m)
    for l in range(m):
        a_start[l], bg[l, 0], binj[l, 0], e[l] = _start_terms(g_start[l], g[l, 0])
    w = _wires(r)
    # chains in 8 x 8 blocks transposed in registers where both the block of nodes and the
    # block of chains are whole (ROW_BLOCK is 8), the rest element by element
    m8 = m - m % 8
    for k0 in range(0, n, ROW_BLOCK):
        nb = min(ROW_BLOCK, n - k0)
        n_next = min(nb, n - 1 - k0)  # nodes of this block that have a next node
        whole = n_next == 8
        l_rest = m8 if whole else 0
        if whole:
            for l in range(0, m8, 8):
                _transpose8(g, l, k0 + 1, g_b, 0, l)
        for l in range(l_rest, m):
            for t in range(n_next):
                g_b[t, l] = g[l, k0 + 1 + t]
        _factor_nodes(g_b[:n_next], r, w, e, bg_b[:n_next], binj_b[:n_next], p_b[:nb])
        if whole:
            for l in range(0, m8, 8):
                _transpose8(p_b, 0, l, p, l, k0)
                _transpose8(bg_b, 0, l, bg, l, k0 + 1)
                _transpose8(binj_b, 0, l, binj, l, k0 + 1)
        for l in range(l_rest, m):
            for t in range(nb):
                p[l, k0 + t] = p_b[t, l]
            for t in range(n_next):
                bg[l, k0 + 1 + t] = bg_b[t, l]
                binj[l, k0 + 1 + t] = binj_b[t, l]
    _end_terms(e, g_end, a_end, b_end)


@numba.njit(**INNER)
def _copy(src, dst):
    """dst[...] = src for 2-D arrays of one shape. Explicit loops: Numba's slice assignment
    compiles a shape-mismatch message formatter that alone costs seconds of first-call time."""
    n, m = src.shape
    for i in range(n):
        for j in range(m):
            dst[i, j] = src[i, j]


@numba.njit(**INNER)
def _fill(dst, value):
    """dst[...] = value for a 2-D array (see _copy for why not slice assignment)."""
    n, m = dst.shape
    for i in range(n):
        for j in range(m):
            dst[i, j] = value


@numba.njit(**INNER)
def zeros1(n):
    """np.zeros(n) (float64). Kernels allocate zeros through these two: each distinct
    np.zeros signature compiles NumPy's overload and its zero fill (0.4 s of the whole first
    call for four signatures), these compile as two small link-only kernels."""
    a = np.empty(n)
    for k in range(n):
        a[k] = 0.0
    return a


#: doubles of padding after every (R, C) array that empty2 allocates: one 4 KB page (why: empty2)
PAD = 512


def empty2(n, m):
    """np.empty((n, m)) (float64) followed by PAD unused doubles, in Python and in kernels.

    Why: the heap places arrays allocated one after another at a power-of-two distance plus a
    few bytes (a 256 x 256 array: 2**19 + 16 bytes), so the same element of every array falls
    in the same cache sets. The chain factorisation, which reads one such array and writes
    three, ran 1.4x slower so (410 against 270-310 us per 256 x 256 factorisation with 2-32 KB
    of padding; 1 KB was not enough), and a sinh input 4-7 % slower. The CG solve is not
    sensitive to it."""
    return np.empty(n * m + PAD)[:n * m].reshape((n, m))


@overload(empty2, jit_options=dict(INNER))
def _empty2_kernel(n, m):
    return empty2  # in kernels, the same function compiled


@numba.njit(**INNER)
def zeros2(n, m):
    """np.zeros((n, m)) (float64); see zeros1. Not padded (empty2): the transfer matrix's many
    small dense blocks would spread over more cache."""
    a = np.empty((n, m))
    _fill(a, 0.0)
    return a


@numba.njit(**SHARED)
def _alloc_factors(n_rows, n_cols):
    """Row chains: bg, binj, p (R, C), a_start, a_end, b_end (R,); columns: the same with (C,);
    and four (ROW_BLOCK, R + 8) scratch arrays for factorising the rows a block at a time (the
    padding of one cache line per row keeps a block's rows out of each other's cache sets:
    at a power-of-two R they would all map to the same two). Kernels call it by address;
    Python runs its plain function (``py_func``: NumPy, the same arrays, no entry wrapper to
    compile)."""
    row_c = (empty2(n_rows, n_cols), empty2(n_rows, n_cols), empty2(n_rows, n_cols),
             np.empty(n_rows), np.empty(n_rows), np.empty(n_rows))
    col_c = (empty2(n_rows, n_cols), empty2(n_rows, n_cols), empty2(n_rows, n_cols),
             np.empty(n_cols), np.empty(n_cols), np.empty(n_cols))
    pad = n_rows + 8
    scratch = (np.empty((ROW_BLOCK, pad)), np.empty((ROW_BLOCK, pad)), np.empty((ROW_BLOCK, pad)),
               np.empty((ROW_BLOCK, pad)))
    return row_c, col_c, scratch


ALLOC_FACTORS = Shared(_alloc_factors, (nt.int64, nt.int64),
                       nt.Tuple((FACTORS, FACTORS, FACTOR_SCRATCH)))
call_alloc_factors = ALLOC_FACTORS.call


@numba.njit(**JIT)
def _factor_all(g, r_row, r_col, g_left, g_right, g_top, g_bottom, row_c, col_c, scratch):
    """Factorise every row and column chain of cell conductances g (R, C): the columns
    node-major as stored, the rows chain-major a block at a time in the reused scratch."""
    rbg, rbinj, rp, ras, rae, rbe = row_c
    cbg, cbinj, cp, cas, cae, cbe = col_c
    _factor_lines(g, r_col, g_top, g_bottom, cbg, cbinj, cp, cas, cae, cbe)
    _factor_rows(g, r_row, g_left, g_right, rbg, rbinj, rp, ras, rae, rbe, scratch)


FACTOR_ALL = Shared(_factor_all, (F2, F1_READ, F1_READ, F1, F1, F1, F1, FACTORS, FACTORS,
                                  FACTOR_SCRATCH), nt.none)
call_factor_all = FACTOR_ALL.call


@numba.njit(**INNER)
def _col_forward(col_c, u, inj, v_top, sc, z, beta):
    """Forward elimination of every column chain (top -> bottom), vectorised across columns.

    sc receives the Thevenin voltages looking up. If z is not empty, u is first replaced row by
    row by z + beta u (the CG direction update, fused to save a pass over memory; beta = 0 sets
    u = z without reading u). inj, when not empty, is the current each cell injects into its
    column node [A].

    Rows go two at a time, the first row's result carried to the second in a register: a loop
    that reads back the row it stored just before runs slower (256 x 256, this pass: 40-63 us
    one row at a time, 26-36 us in pairs, the same bits).

    Flags are derived from array shapes rather than passed as constants: Numba compiles a
    separate specialisation for every literal argument, which would multiply compile time.
    """
    cbg, cbinj, cp, cas, cae, cbe = col_c
    n_rows, n_cols = u.shape
    update_u = z.shape[0] > 0
    has_inj = inj.shape[0] > 0
    for i in range(0, n_rows, 2):
        i1 = min(i + 1, n_rows - 1)  # the pair's second row (i itself: no second row)
        if update_u:
            for k in range(i, i1 + 1):
                if beta == 0.0:
                    # the first direction is z itself: u's old contents are never read (no
                    # copy pass before, and whatever u held, even inf or NaN, cannot leak in)
                    for j in range(n_cols):
                        u[k, j] = z[k, j]
                else:
                    for j in range(n_cols):
                        u[k, j] = z[k, j] + beta * u[k, j]
        if i == 0:
            for j in range(n_cols):
                sc[0, j] = cas[j] * v_top[j] + cbg[0, j] * u[0, j]
            if has_inj:
                for j in range(n_cols):
                    sc[0, j] += cbinj[0, j] * inj[0, j]
            if i1 > 0:
                # i1, not the literal 1: Numba would compile _col_step a second time for it
                _col_step(cbg, cbinj, u, inj, sc, i1)
        elif i1 == i:
            _col_step(cbg, cbinj, u, inj, sc, i)
        elif has_inj:
            for j in range(n_cols):
                s = sc[i - 1, j]
                s = s + cbg[i, j] * (u[i, j] - s) + cbinj[i, j] * inj[i, j]
                sc[i, j] = s
                sc[i1, j] = s + cbg[i1, j] * (u[i1, j] - s) + cbinj[i1, j] * inj[i1, j]
        else:
            for j in range(n_cols):
                s = sc[i - 1, j]
                s = s + cbg[i, j] * (u[i, j] - s)
                sc[i, j] = s
                sc[i1, j] = s + cbg[i1, j] * (u[i1, j] - s)


@numba.njit(**INNER)
def _col_step(cbg, cbinj, u, inj, sc, i):
    """Row i of the column chains' forward elimination, from row i - 1 alone."""
    if inj.shape[0] > 0:
        for j in range(u.shape[1]):
            s = sc[i - 1, j]
            sc[i, j] = s + cbg[i, j] * (u[i, j] - s) + cbinj[i, j] * inj[i, j]
    else:
        for j in range(u.shape[1]):
            s = sc[i - 1, j]
            sc[i, j] = s + cbg[i, j] * (u[i, j] - s)


@numba.njit(**INNER)
def _row_sweep(row_c, i, vcol, inj, v_left, v_right, out, srow):
    """Solve row chain i for shunt potentials vcol (C,); result in out[i]."""
    rbg, rbinj, rp, ras, rae, rbe = row_c
    n_cols = vcol.size
    has_inj = inj.shape[0] > 0
    s = ras[i] * v_left[i] + rbg[i, 0] * vcol[0]
    if has_inj:
        s -= rbinj[i, 0] * inj[i, 0]
    srow[0] = s
    if has_inj:
        for j in range(1, n_cols):
            s = s + rbg[i, j] * (vcol[j] - s) - rbinj[i, j] * inj[i, j]
            srow[j] = s
    else:
        for j in range(1, n_cols):
            s = s + rbg[i, j] * (vcol[j] - s)
            srow[j] = s
    v = rae[i] * s + rbe[i] * v_right[i]
    out[i, n_cols - 1] = v
    for j in range(n_cols - 2, -1, -1):
        s = srow[j]
        v = s + rp[i, j] * (v - s)
        out[i, j] = v


@numba.njit(**INNER)
def _row_sweep4(row_c, i, vbuf, inj, v_left, v_right, out, sbuf):
    """Rows i, i-1, i-2, i-3 at once: four independent recurrences interleaved so the
    processor overlaps their latencies. vbuf[r] holds row i-r's shunt potentials; inj, if not
    empty, the cells' injected currents (Newton), which enter as an extra drive per node.

    Each step is written as (1 - b) s + (b u): the products off the recurrence are computed
    ahead, leaving one fused multiply-add on the dependency chain (the form s + b (u - s) puts a
    subtraction and a multiply-add on it, nearly twice the latency). The multiply-add is
    explicit (_mul_add): without fastmath LLVM never fuses, and a multiply then an add on the
    chain took the 256 x 256 array's row sweeps 89-92 us on their own, fused 75-80 us
    (alternating, one process; 8 rows at a time, or the products precomputed in a vector pass,
    were slower). Inside the whole solve the difference does not show (factorised 256 x 256,
    one thread: 917-954 against 925-949 us per input): the sweeps overlap the memory-bound
    column passes around them."""
    rbg, rbinj, rp, ras, rae, rbe = row_c
    n_cols = vbuf.shape[1]
    i0, i1, i2, i3 = i, i - 1, i - 2, i - 3
    s0 = ras[i0] * v_left[i0] + rbg[i0, 0] * vbuf[0, 0]
    s1 = ras[i1] * v_left[i1] + rbg[i1, 0] * vbuf[1, 0]
    s2 = ras[i2] * v_left[i2] + rbg[i2, 0] * vbuf[2, 0]
    s3 = ras[i3] * v_left[i3] + rbg[i3, 0] * vbuf[3, 0]
    if inj.shape[0] > 0:
        s0 -= rbinj[i0, 0] * inj[i0, 0]
        s1 -= rbinj[i1, 0] * inj[i1, 0]
        s2 -= rbinj[i2, 0] * inj[i2, 0]
        s3 -= rbinj[i3, 0] * inj[i3, 0]
    sbuf[0, 0] = s0
    sbuf[1, 0] = s1
    sbuf[2, 0] = s2
    sbuf[3, 0] = s3
    if inj.shape[0] > 0:
        for j in range(1, n_cols):
            b0 = rbg[i0, j]
            b1 = rbg[i1, j]
            b2 = rbg[i2, j]
            b3 = rbg[i3, j]
            s0 = _mul_add(1.0 - b0, s0, b0 * vbuf[0, j] - rbinj[i0, j] * inj[i0, j])
            s1 = _mul_add(1.0 - b1, s1, b1 * vbuf[1, j] - rbinj[i1, j] * inj[i1, j])
            s2 = _mul_add(1.0 - b2, s2, b2 * vbuf[2, j] - rbinj[i2, j] * inj[i2, j])
            s3 = _mul_add(1.0 - b3, s3, b3 * vbuf[3, j] - rbinj[i3, j] * inj[i3, j])
            sbuf[0, j] = s0
            sbuf[1, j] = s1
            sbuf[2, j] = s2
            sbuf[3, j] = s3
    else:
        for j in range(1, n_cols):
            b0 = rbg[i0, j]
            b1 = rbg[i1, j]
            b2 = rbg[i2, j]
            b3 = rbg[i3, j]
            s0 = _mul_add(1.0 - b0, s0, b0 * vbuf[0, j])
            s1 = _mul_add(1.0 - b1, s1, b1 * vbuf[1, j])
            s2 = _mul_add(1.0 - b2, s2, b2 * vbuf[2, j])
            s3 = _mul_add(1.0 - b3, s3, b3 * vbuf[3, j])
            sbuf[0, j] = s0
            sbuf[1, j] = s1
            sbuf[2, j] = s2
            sbuf[3, j] = s3
    v0 = rae[i0] * s0 + rbe[i0] * v_right[i0]
    v1 = rae[i1] * s1 + rbe[i1] * v_right[i1]
    v2 = rae[i2] * s2 + rbe[i2] * v_right[i2]
    v3 = rae[i3] * s3 + rbe[i3] * v_right[i3]
    last = n_cols - 1
    out[i0, last] = v0
    out[i1, last] = v1
    out[i2, last] = v2
    out[i3, last] = v3
    for j in range(n_cols - 2, -1, -1):
        c0 = rp[i0, j]
        c1 = rp[i1, j]
        c2 = rp[i2, j]
        c3 = rp[i3, j]
        v0 = _mul_add(c0, v0, (1.0 - c0) * sbuf[0, j])
        v1 = _mul_add(c1, v1, (1.0 - c1) * sbuf[1, j])
        v2 = _mul_add(c2, v2, (1.0 - c2) * sbuf[2, j])
        v3 = _mul_add(c3, v3, (1.0 - c3) * sbuf[3, j])
        out[i0, j] = v0
        out[i1, j] = v1
        out[i2, j] = v2
        out[i3, j] = v3


@numba.njit(**INNER)
def _col_back_rows(col_c, row_c, sc, inj, v_bottom, v_left, v_right, out, vc_out,
                   p, g, w_row, g_left, g_right, lane, vbuf, sbuf):
    """Back-substitute the column chains (bottom -> top) and solve each row chain as soon as
    its column voltages are known, while they are still in cache (four rows at a time).

    p empty: out = row voltages.  p given: out = p - (row voltages) (the CG product q), and the
    energy <p, q>_M is returned (lane (C,) is scratch).  vc_out, if not empty, gets the column
    voltages. inj, if not empty: Newton current sources. vbuf, sbuf: (4, C) scratch.
    """
    cbg, cbinj, cp, cas, cae, cbe = col_c
    n_rows, n_cols = sc.shape
    mode = 1 if p.shape[0] > 0 else 0
    keep_vc = vc_out.shape[0] > 0
    acc = 0.0
    if mode == 1:
        for j in range(n_cols):
            lane[j] = 0.0
    i_hi = n_rows - 1
    while i_hi >= 0:
        nb = min(4, i_hi + 1)
        for r in range(nb):
            i = i_hi - r
            if i == n_rows - 1:
                for j in range(n_cols):
                    vbuf[0, j] = cae[j] * sc[i, j] + cbe[j] * v_bottom[j]
            else:
                prev = (r - 1) if r > 0 else 3  # the row below: previous slot, or last group's
                for j in range(n_cols):
                    s = sc[i, j]
                    vbuf[r, j] = s + cp[i, j] * (vbuf[prev, j] - s)
            if keep_vc:
                for j in range(n_cols):
                    vc_out[i, j] = vbuf[r, j]
        if nb == 4:
            _row_sweep4(row_c, i_hi, vbuf, inj, v_left, v_right, out, sbuf)
        else:
            for r in range(nb):
                _row_sweep(row_c, i_hi - r, vbuf[r], inj, v_left, v_right, out, sbuf[0])
        if mode == 1:
            for r in range(nb):
                i = i_hi - r
                w = w_row[i]
                # two loops: one that reads back what it just wrote (q[j - 1]) cannot vectorise
                for j in range(n_cols):
                    out[i, j] = p[i, j] - out[i, j]
                lane[0] += g[i, 0] * p[i, 0] * out[i, 0]
                for j in range(1, n_cols):
                    lane[j] += g[i, j] * p[i, j] * out[i, j] + w * (p[i, j] - p[i, j - 1]) * (
                        out[i, j] - out[i, j - 1])
                if g_left[i] < INF:
                    acc += g_left[i] * p[i, 0] * out[i, 0]
                if g_right[i] < INF:
                    acc += g_right[i] * p[i, n_cols - 1] * out[i, n_cols - 1]
        # vbuf[3] now holds the column voltages of the row just above the next group
        i_hi -= 4
    if mode == 1:
        for j in range(n_cols):
            acc += lane[j]
    return acc


@numba.njit(**INNER)
def _row_energy(x, g, w, g_l, g_r, i, lane, acc):
    """Row i's terms of the row-chain energy <x, M x>: its cells' and wire segments' added into
    lane (C,) per column (partial sums that vectorise without reassociation), its terminals'
    (g_l, g_r; skipped when ideal) into acc, which is returned. w: the row's 1/r.
    (_col_back_rows forms the cross product <p, M q> the same way, inline.)"""
    last = x.shape[1] - 1
    lane[0] += g[i, 0] * x[i, 0] * x[i, 0]
    for j in range(1, last + 1):
        d = x[i, j] - x[i, j - 1]
        lane[j] += g[i, j] * x[i, j] * x[i, j] + w * d * d
    if g_l < INF:
        acc += g_l * x[i, 0] * x[i, 0]
    if g_r < INF:
        acc += g_r * x[i, last] * x[i, last]
    return acc


@numba.njit(**INNER)
def _residual_energies(z, x, g, w_row, g_left, g_right, lanes):
    """z -= x (z held F(x): it becomes the residual), and returns the row-chain energies
    (<z, z>_M, <x, x>_M) of the result and of x, in one pass over the arrays.

    w_row (R,): wire conductance 1/r per row, 0 for zero-resistance rows. Terms of ideal
    terminals and zero-resistance segments are skipped: on the vectors CG uses the pinned nodes
    are zero and merged nodes equal, so those terms are exactly zero. ``lanes`` (2+, C) is
    scratch: partial sums per column keep the loop vectorisable without reassociation (no
    fastmath).
    """
    n_rows, n_cols = x.shape
    lz, lx = lanes[0], lanes[1]
    zz = 0.0
    xx = 0.0
    for j in range(n_cols):
        lz[j] = 0.0
        lx[j] = 0.0
    for i in range(n_rows):
        w = w_row[i]
        # the update, then the energy terms in a second loop over the row just written (a loop
        # that reads back z[i, j - 1] written in the same pass does not vectorise)
        for j in range(n_cols):
            z[i, j] -= x[i, j]
        zz = _row_energy(z, g, w, g_left[i], g_right[i], i, lz, zz)
        xx = _row_energy(x, g, w, g_left[i], g_right[i], i, lx, xx)
    for j in range(n_cols):
        zz += lz[j]
        xx += lx[j]
    return zz, xx


@numba.njit(**INNER)
def _alloc_workspace(n_rows, n_cols):
    """Scratch of one CG solve: z, p, q, x (R, C); lane (C,); vbuf, sbuf (4, C)."""
    return (empty2(n_rows, n_cols), empty2(n_rows, n_cols),
            empty2(n_rows, n_cols), empty2(n_rows, n_cols), np.empty(n_cols),
            np.empty((4, n_cols)), np.empty((4, n_cols)))


@numba.njit(**INNER)
def _apply_f(row_c, col_c, u, inj, v_left, v_right, v_top, v_bottom, out, vc_out, g, w_row,
             g_left, g_right, work):
    """out = F(u): column chains solved for row voltages u (R, C), then the row chains."""
    z, pdir, q, x, lane, vbuf, sbuf = work
    none = np.empty((0, 0))
    # out doubles as the forward-elimination scratch: _col_back_rows reads each row of it
    # before writing that row, and one array less keeps more of the solve in cache
    _col_forward(col_c, u, inj, v_top, out, none, 0.0)
    _col_back_rows(col_c, row_c, out, inj, v_bottom, v_left, v_right, out, vc_out, none, g,
                   w_row, g_left, g_right, lane, vbuf, sbuf)


@numba.njit(**INNER)
def _col_voltages(col_c, vr, inj, v_top, v_bottom, vc):
    """Column-node voltages vc (R, C) for row voltages vr: the column half of F only (no row
    solves), forward elimination into vc and back-substitution in place."""
    cbg, cbinj, cp, cas, cae, cbe = col_c
    n_rows, n_cols = vr.shape
    none = np.empty((0, 0))
    _col_forward(col_c, vr, inj, v_top, vc, none, 0.0)
    last = n_rows - 1
    for j in range(n_cols):
        vc[last, j] = cae[j] * vc[last, j] + cbe[j] * v_bottom[j]
    # two rows at a time, as in _col_forward
    i = n_rows - 2
    while i >= 1:
        for j in range(n_cols):
            s = vc[i, j]
            v = s + cp[i, j] * (vc[i + 1, j] - s)
            vc[i, j] = v
            s = vc[i - 1, j]
            vc[i - 1, j] = s + cp[i - 1, j] * (v - s)
        i -= 2
    if i == 0:
        for j in range(n_cols):
            s = vc[0, j]
            vc[0, j] = s + cp[0, j] * (vc[1, j] - s)


@numba.njit(**INNER)
def _all_zero(a):
    for k in range(a.size):
        if a[k] != 0.0:
            return False
    return True


@numba.njit(**INNER)
def _rows_at_zero(row_c, v_left, v_right, out, vbuf, sbuf):
    """out = F(0) when the columns hold no source: every row chain solved for zero shunt
    potentials (vbuf, sbuf: (4, C) scratch, as in _col_back_rows)."""
    n_rows = out.shape[0]
    _fill(vbuf, 0.0)
    none = np.empty((0, 0))
    i_hi = n_rows - 1
    while i_hi >= 3:
        _row_sweep4(row_c, i_hi, vbuf, none, v_left, v_right, out, sbuf)
        i_hi -= 4
    for i in range(i_hi, -1, -1):
        _row_sweep(row_c, i, vbuf[0], none, v_left, v_right, out, sbuf[0])


@numba.njit(**SHARED)
def _pcg(g, row_c, col_c, w_row, g_left, g_right, v_left, v_right, v_top, v_bottom,
         inj, x0, x, rtol, eta, max_iter, work, vc):
    """CG on the row voltages (R, C) into x, and the column voltages consistent with them
    into vc (R, C: the column chains solved for x, as every caller needs them; here they cost
    no copy of the column solve's code in a second library). Returns (iterations, relative
    residual).

    g: the cells' (differential) conductances; inj (R, C): extra device current flowing
    row -> column in every cell (Newton linearisation), or empty. x0 (R, C): the starting
    point, only read (the first update writes x = x0 + a p: no copy of it is made), or empty
    for the start F(0). The residual is ||F(x) - x||_M / ||x||_M; CG stops when it is below
    rtol or below eta times its starting value (inexact Newton).

    max_iter = 0 with the start F(0) (x0 empty): no residual and no CG, the map applied once
    more instead, x = F(F(0)): Newton's cheap start (``_newton.solve_nonlinear``,
    ``newton_start="sweep"``). The relative residual returned is then 1.0, not measured.
    """
    n_rows, n_cols = g.shape
    z, pdir, q, _x, lane, vbuf, sbuf = work
    zr = zeros1(n_rows)
    zc = zeros1(n_cols)
    dummy = np.empty((0, 0))
    warm = x0.shape[0] > 0
    xs = x0  # where the current iterate is read from: x0 until the first update
    if not warm:
        xs = x
        if inj.shape[0] == 0 and _all_zero(v_top) and _all_zero(v_bottom):
            # no source on the columns: at x = 0 every column voltage is exactly 0, so F(0) is
            # the row solves alone (the same numbers as the full F, at a quarter of its cost)
            _rows_at_zero(row_c, v_left, v_right, x, vbuf, sbuf)
        else:
            _fill(x, 0.0)
            _apply_f(row_c, col_c, x, inj, v_left, v_right, v_top, v_bottom, z, dummy, g,
                     w_row, g_left, g_right, work)
            _copy(z, x)
    _apply_f(row_c, col_c, xs, inj, v_left, v_right, v_top, v_bottom, z, dummy, g, w_row,
             g_left, g_right, work)
    if not warm and max_iter == 0:
        # the sweep: z holds F(F(0)); the loop below does not run, the column voltages follow
        _copy(z, x)
        rho, norm0, rel, stop = 0.0, 1.0, 1.0, 1.0
    else:
        # the residual F(x) - x and the norms of it and of x (vbuf: scratch lanes here)
        rho, norm0 = _residual_energies(z, xs, g, w_row, g_left, g_right, vbuf)
        if norm0 <= 0.0:
            norm0 = 1.0
        rel = math.sqrt(max(rho, 0.0) / norm0)
        stop = max(rtol, eta * rel)
    beta = 0.0  # the first _col_forward sets p = z
    it = 0
    moved = False  # x written yet (x = xs + a p)
    while rel > stop and it < max_iter:
        it += 1
        # q = (I - H) p with H the homogeneous column-then-row solve; pq = <p, q>_M
        _col_forward(col_c, pdir, dummy, zc, q, z, beta)  # first pass: beta = 0, p = z
        pq = _col_back_rows(col_c, row_c, q, dummy, zc, zr, zr, q, dummy, pdir, g, w_row,
                            g_left, g_right, lane, vbuf, sbuf)
        if pq <= 0.0:
            break
        a = rho / pq
        moved = True
        # x += a p; z -= a q; rho_new = <z, z>_M on the way
        for j in range(n_cols):
            lane[j] = 0.0
        acc = 0.0
        for i in range(n_rows):
            w = w_row[i]
            # update, then the energy terms in a second loop (see _col_back_rows: a loop that
            # reads back z[i, j - 1] just written cannot vectorise)
            for j in range(n_cols):
                x[i, j] = xs[i, j] + a * pdir[i, j]
                z[i, j] -= a * q[i, j]
            acc = _row_energy(z, g, w, g_left[i], g_right[i], i, lane, acc)
        for j in range(n_cols):
            acc += lane[j]
        xs = x
        rel = math.sqrt(max(acc, 0.0) / norm0)
        beta = acc / rho
        rho = acc
    # converged at the start, or pq <= 0 at once: x still has to receive the warm start
    if warm and not moved:
        _copy(x0, x)
    _col_voltages(col_c, x, inj, v_top, v_bottom, vc)
    return it, rel


# The linear solve's by-address kernels (PCG, OUTPUTS, FACTOR_ALL, ALLOC_FACTORS) declare their
# result types, so a caller compiles without compiling them: a background worker compiles the
# Newton path's own kernels while another process compiles these (_newton.compile_own_kernels)
PCG = Shared(_pcg, (F2, FACTORS, FACTORS) + (F1,) * 7 + (F2, F2, F2, nt.float64, nt.float64,
                                                         nt.int64, WORK, F2),
             nt.Tuple((nt.int64, nt.float64)))
call_pcg = PCG.call


@numba.njit(**INNER)
def _chain_currents(v, shunt, sign, w, gs, ge, vs, ve, i_start, i_end, lane, v_src):
    """Terminal currents, wire power and KCL mismatch of a set of chains (n, m), chain inner.

    v: node voltages [V]; sign * shunt: current leaving each node through its cell [A]; w: wire
    conductance per chain [S] (0 = merged chain). Fills i_start (current in at the start
    terminal) and i_end (current out at the end terminal) [A]. Returns (wire power [W],
    largest mismatch between the KCL and Ohm's-law segment currents beyond the chain's
    rounding floor [A], largest current [A]).

    The floor: every node voltage is computed from the source voltages, to within a few eps
    of the largest of them (v_src) or of its own size, whichever is larger, so even an exact
    solution's Ohm's-law current on a segment of conductance w is uncertain by about that times
    w. With highly conductive wires and weak cells this exceeds 1e-9 of the currents (1 mohm,
    1e-9..1e-6 S: 1e-8, on column wires whose voltages are microvolts). Only the mismatch
    beyond KCL_FLOOR max(v_src, max|v| of the chain) w counts against the solution.
    """
    n, m = v.shape
    total, seg, vmax = lane[0], lane[1], lane[2]
    for l in range(m):
        total[l] = sign * shunt[0, l]
        vmax[l] = max(v_src, abs(v[0, l]))
    for k in range(1, n):
        for l in range(m):
            total[l] += sign * shunt[k, l]
            vmax[l] = max(vmax[l], abs(v[k, l]))
    scale = 0.0
    second, penult = min(1, n - 1), max(n - 2, 0)
    for l in range(m):
        a, e = _terminal_currents(gs[l], ge[l], vs[l], ve[l], v[0, l], v[second, l],
                                  v[penult, l], v[n - 1, l], sign * shunt[0, l],
                                  sign * shunt[n - 1, l], total[l], w[l])
        i_start[l] = a
        i_end[l] = e
        seg[l] = a
        scale = max(scale, abs(a), abs(e))
    power = 0.0
    mismatch = 0.0
    pw, mm = lane[3], lane[4]
    for l in range(m):
        pw[l] = 0.0
        mm[l] = 0.0
    for k in range(n - 1):
        for l in range(m):
            seg[l] -= sign * shunt[k, l]
            dv = v[k, l] - v[k + 1, l]
            pw[l] += w[l] * dv * dv
            diff = abs(seg[l] - dv * w[l]) if w[l] > 0.0 else 0.0
            mm[l] = max(mm[l], diff)
    for l in range(m):
        seg[l] -= sign * shunt[n - 1, l]
        mm[l] = max(mm[l], abs(seg[l] - i_end[l]))
        power += pw[l]
        mismatch = max(mismatch, mm[l] - KCL_FLOOR * vmax[l] * w[l])
    return power, mismatch, scale


@numba.njit(**INNER)
def _terminal_currents(gs, ge, vs, ve, v_first, v_second, v_penult, v_last, out_first,
                       out_last, total, w):
    """One chain's terminal currents (in at its start, out at its end) [A], the rule every
    KCL check shares. gs, ge: the end terminals' conductances (inf = ideal), vs, ve: their
    source voltages; v_first, v_second, v_penult, v_last: the chain's first, second, second-last
    and last node voltages; out_first, out_last: the current leaving the first and last node
    through its cell, total: that current summed over the chain; w: the wire conductance.
    A resistive end's current is Ohm's law across its terminal; an ideal end's follows from
    the chain's KCL, or, with both ends ideal, from its end segment (validated: w > 0 and at
    least two nodes)."""
    start_ideal = gs == INF
    end_ideal = ge == INF
    a = 0.0 if start_ideal else gs * (vs - v_first)
    e = 0.0 if end_ideal else ge * (v_last - ve)
    if start_ideal and not end_ideal:
        a = total + e
    elif end_ideal and not start_ideal:
        e = a - total
    elif start_ideal and end_ideal:
        a = out_first + (v_first - v_second) * w
        e = (v_penult - v_last) * w - out_last
    return a, e


@numba.njit(**INNER)
def _row_ends(vr, idev, i, total, w, g_left, g_right, v_left, v_right):
    """Row chain i's terminal currents (_terminal_currents) from its cells' total current."""
    last = vr.shape[1] - 1
    return _terminal_currents(g_left[i], g_right[i], v_left[i], v_right[i], vr[i, 0],
                              vr[i, min(1, last)], vr[i, max(last - 1, 0)], vr[i, last],
                              idev[i, 0], idev[i, last], total, w)


@numba.njit(**INNER)
def _row_chain_currents(vr, idev, w_row, g_left, g_right, v_left, v_right, i_start, i_end,
                        v_src):
    """_chain_currents for the row chains, read chain-major from (R, C) arrays (no transpose).

    Each row's sums and maxima run along the row, one dependent operation per cell, so rows go
    four at a time, interleaved: the processor overlaps the four chains (one row at a time
    waited on each operation's latency: 139 -> 94 us at 256 x 256). A group's rows past the
    last repeat the last row (computed twice, stored once). Every row's operations and their
    order are those of one row alone."""
    n_rows, n_cols = vr.shape
    last = n_rows - 1
    power = 0.0
    mismatch = 0.0
    scale = 0.0
    for i0 in range(0, n_rows, 4):
        i1, i2, i3 = min(i0 + 1, last), min(i0 + 2, last), min(i0 + 3, last)
        t0, t1, t2, t3 = 0.0, 0.0, 0.0, 0.0
        m0, m1, m2, m3 = v_src, v_src, v_src, v_src
        for j in range(n_cols):
            t0 += idev[i0, j]
            t1 += idev[i1, j]
            t2 += idev[i2, j]
            t3 += idev[i3, j]
            m0 = max(m0, abs(vr[i0, j]))
            m1 = max(m1, abs(vr[i1, j]))
            m2 = max(m2, abs(vr[i2, j]))
            m3 = max(m3, abs(vr[i3, j]))
        w0, w1, w2, w3 = w_row[i0], w_row[i1], w_row[i2], w_row[i3]
        a0, e0 = _row_ends(vr, idev, i0, t0, w0, g_left, g_right, v_left, v_right)
        a1, e1 = _row_ends(vr, idev, i1, t1, w1, g_left, g_right, v_left, v_right)
        a2, e2 = _row_ends(vr, idev, i2, t2, w2, g_left, g_right, v_left, v_right)
        a3, e3 = _row_ends(vr, idev, i3, t3, w3, g_left, g_right, v_left, v_right)
        s0, s1, s2, s3 = a0, a1, a2, a3
        p0, p1, p2, p3 = 0.0, 0.0, 0.0, 0.0
        x0, x1, x2, x3 = 0.0, 0.0, 0.0, 0.0
        for j in range(n_cols - 1):
            s0 -= idev[i0, j]
            s1 -= idev[i1, j]
            s2 -= idev[i2, j]
            s3 -= idev[i3, j]
            d0 = vr[i0, j] - vr[i0, j + 1]
            d1 = vr[i1, j] - vr[i1, j + 1]
            d2 = vr[i2, j] - vr[i2, j + 1]
            d3 = vr[i3, j] - vr[i3, j + 1]
            p0 += w0 * d0 * d0
            p1 += w1 * d1 * d1
            p2 += w2 * d2 * d2
            p3 += w3 * d3 * d3
            # merged rows (w = 0) have no Ohm's-law current to compare
            x0 = max(x0, abs(s0 - d0 * w0)) if w0 > 0.0 else x0
            x1 = max(x1, abs(s1 - d1 * w1)) if w1 > 0.0 else x1
            x2 = max(x2, abs(s2 - d2 * w2)) if w2 > 0.0 else x2
            x3 = max(x3, abs(s3 - d3 * w3)) if w3 > 0.0 else x3
        for r in range(min(4, n_rows - i0)):
            if r == 0:
                i, a, e, s, p, x, m = i0, a0, e0, s0, p0, x0, m0
            elif r == 1:
                i, a, e, s, p, x, m = i1, a1, e1, s1, p1, x1, m1
            elif r == 2:
                i, a, e, s, p, x, m = i2, a2, e2, s2, p2, x2, m2
            else:
                i, a, e, s, p, x, m = i3, a3, e3, s3, p3, x3, m3
            s -= idev[i, n_cols - 1]
            i_start[i] = a
            i_end[i] = e
            scale = max(scale, abs(a), abs(e))
            power += p
            mismatch = max(mismatch, max(x, abs(s - e)) - KCL_FLOOR * m * w_row[i])
    return power, mismatch, scale


@numba.njit(**INNER)
def _connected_max(g_end, v_end):
    s = 0.0
    for k in range(v_end.size):
        if g_end[k] > 0.0:
            s = max(s, abs(v_end[k]))
    return s


@numba.njit(**INNER)
def source_scale(g_left, g_right, g_top, g_bottom, v_left, v_right, v_top, v_bottom):
    """Largest |source voltage| behind a connected terminal [V]: the scale every node voltage
    is computed from (the KCL check's rounding floor, _chain_currents)."""
    return max(_connected_max(g_left, v_left), _connected_max(g_right, v_right),
               _connected_max(g_top, v_top), _connected_max(g_bottom, v_bottom))


@numba.njit(**INNER)
def _terminal_power(i_in, i_end, g_start, g_end, v_start, v_end, t_start):
    """One set of chains: fills t_start (current array -> start terminal, = -i_in) and returns
    (power in the terminals' series resistances, power delivered by their sources) [W]."""
    p_term = 0.0
    p_src = 0.0
    for l in range(i_in.size):
        t_start[l] = -i_in[l]
        p_src += v_start[l] * i_in[l] - v_end[l] * i_end[l]
        if 0.0 < g_start[l] < INF:
            p_term += i_in[l] * i_in[l] / g_start[l]
        if 0.0 < g_end[l] < INF:
            p_term += i_end[l] * i_end[l] / g_end[l]
    return p_term, p_src


@numba.njit(**SHARED)
def _outputs(vr, vc, idev, w_row, w_col, g_left, g_right, g_top, g_bottom,
             v_left, v_right, v_top, v_bottom, t_left, t_right, t_top, t_bottom, powers):
    """Terminal currents (array -> terminal) [A], powers [W]; returns the relative KCL residual.

    powers: [device, row wires, column wires, terminals, delivered by sources].
    """
    n_rows, n_cols = vr.shape
    lane_c = np.empty((5, n_cols))
    # per-column partial sums and maxima: independent lanes vectorise, where one running sum
    # and one running maximum over all cells would wait on each other's latency every cell
    p_lane, s_lane = lane_c[0], lane_c[1]
    for j in range(n_cols):
        p_lane[j] = 0.0
        s_lane[j] = 0.0
    for i in range(n_rows):
        for j in range(n_cols):
            p_lane[j] += idev[i, j] * (vr[i, j] - vc[i, j])
            s_lane[j] = max(s_lane[j], abs(idev[i, j]))
    p_dev = 0.0
    scale = 0.0
    for j in range(n_cols):
        p_dev += p_lane[j]
        scale = max(scale, s_lane[j])
    i_in_r = np.empty(n_rows)
    i_in_c = np.empty(n_cols)
    v_src = source_scale(g_left, g_right, g_top, g_bottom, v_left, v_right, v_top, v_bottom)
    p_row, mm_r, sc_r = _row_chain_currents(vr, idev, w_row, g_left, g_right, v_left, v_right,
                                            i_in_r, t_right, v_src)
    p_col, mm_c, sc_c = _chain_currents(vc, idev, -1.0, w_col, g_top, g_bottom, v_top, v_bottom,
                                        i_in_c, t_bottom, lane_c, v_src)
    pt_r, ps_r = _terminal_power(i_in_r, t_right, g_left, g_right, v_left, v_right, t_left)
    pt_c, ps_c = _terminal_power(i_in_c, t_bottom, g_top, g_bottom, v_top, v_bottom, t_top)
    p_term = pt_r + pt_c
    p_src = ps_r + ps_c
    powers[0] = p_dev
    powers[1] = p_row
    powers[2] = p_col
    powers[3] = p_term
    powers[4] = p_src
    # the maxima above skip NaN (max(a, nan) is a); the power sums carry it from every node
    if not math.isfinite(p_dev + p_row + p_col + p_term + p_src):
        return INF
    scale = max(scale, sc_r, sc_c)
    if scale == 0.0:
        return 0.0
    return max(mm_r, mm_c) / scale


OUTPUTS = Shared(_outputs, (F2, F2, F2) + (F1,) * 15, nt.float64)
call_outputs = OUTPUTS.call


@numba.njit(**INNER)
def _wire_conductance(r):
    """1/r per line, 0 where r = 0 (merged lines carry no wire energy)."""
    w = zeros1(r.size)
    for l in range(r.size):
        if r[l] > 0.0:
            w[l] = 1.0 / r[l]
    return w


@numba.njit(**INNER)
def _end_voltages(b_left, b_right, b_top, b_bottom, v_in, input_code):
    """Source voltages of the four end sets for one input: v_in replaces the input set's."""
    vl = v_in.copy() if input_code == 0 else b_left.copy()
    vr = v_in.copy() if input_code == 1 else b_right.copy()
    vt = v_in.copy() if input_code == 2 else b_top.copy()
    vb = v_in.copy() if input_code == 3 else b_bottom.copy()
    return vl, vr, vt, vb


@numba.njit(**JIT)
def _solve_linear_chunk(
    g, row_c, col_c, r_row, r_col, g_left, g_right, g_top, g_bottom,
    b_left, b_right, b_top, b_bottom, input_code, v_in, rtol, max_iter, next_input, b_stop,
    vr_out, vc_out, idev_out, t_left, t_right, t_top, t_bottom, powers, iters, resid, kcl,
    shared,
):
    """Solve inputs of the batch v_in (B, n_in) on a linear array until next_input (int64
    (1,), shared by the batch's threads) passes b_stop.

    Runs without the GIL, one call per thread (solver.run_shared): each takes the next input
    as it finishes one, and allocates its scratch once (fresh large allocations per input cost
    page faults comparable to a solve). Threads from Python rather than ``prange`` keep
    compile time low. shared: the addresses of LINEAR_SHARED, (PCG, OUTPUTS).
    """
    pcg_at, outputs_at = shared
    n_rows, n_cols = g.shape
    keep = vr_out.shape[0] == v_in.shape[0]
    w_row = _wire_conductance(r_row)
    w_col = _wire_conductance(r_col)
    dummy = np.empty((0, 0))
    work = _alloc_workspace(n_rows, n_cols)
    _z, _p, _q, x, _lane, _vbuf, _sbuf = work
    vc = empty2(n_rows, n_cols)
    idev = empty2(n_rows, n_cols)
    for _ in range(b_stop):  # a thread takes at most every input
        b = _take_next(next_input)
        if b >= b_stop:
            break
        vl, vrt, vt, vb = _end_voltages(b_left, b_right, b_top, b_bottom, v_in[b], input_code)
        it, rel = call_pcg(pcg_at, (g, row_c, col_c, w_row, g_left, g_right, vl, vrt, vt, vb,
                                  dummy, dummy, x, rtol, 0.0, max_iter, work, vc))
        for i in range(n_rows):
            for j in range(n_cols):
                idev[i, j] = g[i, j] * (x[i, j] - vc[i, j])
        kcl[b] = call_outputs(outputs_at, (x, vc, idev, w_row, w_col, g_left, g_right, g_top,
                                           g_bottom, vl, vrt, vt, vb, t_left[b], t_right[b],
                                           t_top[b], t_bottom[b], powers[b]))
        iters[b] = it
        resid[b] = rel
        if keep:
            _copy(x, vr_out[b])
            _copy(vc, vc_out[b])
            _copy(idev, idev_out[b])


#: the kernels _solve_linear_chunk calls through their address, in its ``shared`` order
LINEAR_SHARED = (PCG, OUTPUTS)
