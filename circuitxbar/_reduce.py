"""Direct transfer matrix by nested-dissection Kron reduction of the array onto its ends.

A block of cross-points is described by the conductance (Laplacian) matrix it presents at its
boundary nodes once every inner node is eliminated: a Kron reduction, i.e. a Schur complement.
Blocks are split in halves recursively, longer side first; two halves are merged by adding
their boundary matrices on the nodes they share (one line of nodes) and eliminating those.
The array's own boundary matrix (its 2R + 2C end nodes) then gives the transfer matrix with a
dense solve for the terminals. Work grows like N^3 (about 62 N^3 flops, mostly in matrix
products), against N^3 times the CG iteration count for N separate solves.

Accuracy: the matrices are Laplacians of resistor networks (no ground inside the array), so
every off-diagonal entry is <= 0, every row sums to zero, and eliminating a node only adds
products of same-sign entries to the off-diagonals. The diagonal is never updated by
subtraction: it is recomputed as minus the sum of the row's off-diagonal entries (the
Grassmann-Taksar-Heyman rule). Small eliminations are done node by node that way, entirely
free of cancellation; large ones use LAPACK/BLAS for the off-diagonals. The public wrapper
still checks the result against one full iterative solve.

Block boundary convention (so that two halves share exactly one line of nodes): a block
owns its cross-points (row and column node each) and, when a neighbour lies to its right or
below, the wire segment that leads into the neighbour's first node; that neighbour node is the
block's right (bottom) boundary node. Boundary order: left rows, right rows, top columns,
bottom columns.
"""

import numba
import numpy as np

from circuitxbar import _lapack
from circuitxbar._config import JIT

#: merges sharing at most this many nodes eliminate them node by node (cancellation-free, no
#: LAPACK call overhead; leaves always do); larger ones use LAPACK and BLAS
SMALL = 8
#: blocks with both sides below this are leaves, reduced from their full nodal matrix: halving
#: from a power of two ends at 4x4, measured faster than 2x2 (recursion overhead) and 8x8 leaves
LEAF_BELOW = 6


@numba.njit(**JIT)
def _gth_eliminate(y, nb):
    """Eliminate nodes nb..n-1 of Laplacian y (n, n) in place, last first, and return the
    leading (nb, nb) Schur complement. Off-diagonals only ever gain same-sign products, the
    pivot is the sum of the node's remaining off-diagonal magnitudes."""
    n = y.shape[0]
    for k in range(n - 1, nb - 1, -1):
        d = 0.0
        for j in range(k):
            d -= y[k, j]
        if d <= 0.0:  # isolated node: nothing flows through it
            continue
        inv = 1.0 / d
        for a in range(k):
            f = y[a, k] * inv
            if f != 0.0:
                # the diagonal entries get this update too, harmlessly: they are never read
                # here (pivots use off-diagonals) and are recomputed at the end; without the
                # test for it the loop vectorises
                for b in range(k):
                    y[a, b] -= f * y[k, b]
    s = np.empty((nb, nb))
    for a in range(nb):
        for b in range(nb):
            s[a, b] = y[a, b]
    _upper_laplacian(s)  # symmetric up to rounding (products taken in another order)
    return s


@numba.njit(**JIT)
def _upper_laplacian(s):
    """Mirror the upper triangle of s onto the lower (in 16 x 16 tiles, so that the column
    reads stay in cache) and set the Laplacian diagonal."""
    n = s.shape[0]
    for a0 in range(0, n, 16):
        a1 = min(a0 + 16, n)
        for b0 in range(0, a1, 16):
            for a in range(a0, a1):
                for b in range(b0, min(b0 + 16, a)):
                    s[a, b] = s[b, a]
    _set_diagonal(s)


@numba.njit(**JIT)
def _set_diagonal(s):
    """Every diagonal entry := minus the sum of its row's off-diagonal entries (the GTH rule:
    a row sum of a resistor network's Laplacian is zero, and this form has no cancellation).

    Four running sums per row (all terms have one sign, so any order is accurate) keep the
    additions independent instead of one dependent chain."""
    n = s.shape[0]
    for a in range(n):
        s[a, a] = 0.0
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        b = 0
        while b + 4 <= n:
            t0 += s[a, b]
            t1 += s[a, b + 1]
            t2 += s[a, b + 2]
            t3 += s[a, b + 3]
            b += 4
        while b < n:
            t0 += s[a, b]
            b += 1
        s[a, a] = -((t0 + t1) + (t2 + t3))


@numba.njit(**JIT)
def _link(y, a, b, c):
    """Add a conductance c between nodes a and b of Laplacian y."""
    y[a, a] += c
    y[b, b] += c
    y[a, b] -= c
    y[b, a] -= c


@numba.njit(**JIT)
def _sides(i0, i1, j0, j1, n_rows, n_cols, keep):
    """Boundary sizes (left, right, top, bottom) of a block. A side inside the array is always
    a boundary; a side on the array's edge only where keep (4,) says that edge is a port (an
    edge whose terminals are all open is eliminated with the block's inner nodes)."""
    h = i1 - i0
    w = j1 - j0
    n_l = h if (j0 > 0 or keep[0]) else 0
    n_r = h if (j1 < n_cols or keep[1]) else 0
    n_t = w if (i0 > 0 or keep[2]) else 0
    n_b = w if (i1 < n_rows or keep[3]) else 0
    return n_l, n_r, n_t, n_b


@numba.njit(**JIT)
def _leaf(g, wr, wc, i0, i1, j0, j1, keep):
    """Boundary matrix of a small block (sides 2 to LEAF_BELOW - 1) from its full nodal
    matrix."""
    n_rows, n_cols = g.shape
    h = i1 - i0
    w = j1 - j0
    dang_r = j1 < n_cols
    dang_b = i1 < n_rows
    n_l, n_r, n_t, n_b = _sides(i0, i1, j0, j1, n_rows, n_cols, keep)
    nb = n_l + n_r + n_t + n_b
    n = 2 * h * w + (h if dang_r else 0) + (w if dang_b else 0)
    # node numbers: boundary first (left, right, top, bottom), the inner nodes after
    row_id = np.full((h, w + 1), -1, dtype=np.int64)
    col_id = np.full((h + 1, w), -1, dtype=np.int64)
    right = w if dang_r else w - 1
    bottom = h if dang_b else h - 1
    for a in range(h):
        if n_l > 0:
            row_id[a, 0] = a
        if n_r > 0:
            row_id[a, right] = n_l + a
    for b in range(w):
        if n_t > 0:
            col_id[0, b] = n_l + n_r + b
        if n_b > 0:
            col_id[bottom, b] = n_l + n_r + n_t + b
    nxt = nb
    for a in range(h):
        for b in range(w):
            if row_id[a, b] < 0:
                row_id[a, b] = nxt
                nxt += 1
    for a in range(h):
        for b in range(w):
            if col_id[a, b] < 0:
                col_id[a, b] = nxt
                nxt += 1
    y = np.zeros((n, n))
    for a in range(h):
        for b in range(w):
            _link(y, row_id[a, b], col_id[a, b], g[i0 + a, j0 + b])
        for b in range(right):
            _link(y, row_id[a, b], row_id[a, b + 1], wr[i0 + a])
    for b in range(w):
        for a in range(bottom):
            _link(y, col_id[a, b], col_id[a + 1, b], wc[j0 + b])
    return _gth_eliminate(y, nb)


@numba.njit(**JIT)
def _merge_layout(i0, i1, j0, j1, n_rows, n_cols, keep):
    """Where the boundary sides of the two halves of block (i0, i1, j0, j1), as halves cuts
    it, go in the merged matrix ordered [the block's boundary; the line of nodes the halves
    share]: each side lands on a contiguous range. Returns (node counts of A's four sides,
    their first target index, the same for B, boundary size, shared count)."""
    rows, ha, hb = halves(i0, i1, j0, j1)
    a = _sides(ha[0], ha[1], ha[2], ha[3], n_rows, n_cols, keep)
    b = _sides(hb[0], hb[1], hb[2], hb[3], n_rows, n_cols, keep)
    m = j1 - j0 if rows else i1 - i0
    p = _sides(i0, i1, j0, j1, n_rows, n_cols, keep)
    nb = p[0] + p[1] + p[2] + p[3]
    ca = np.array([a[0], a[1], a[2], a[3]])
    cb = np.array([b[0], b[1], b[2], b[3]])
    # side offsets in the parent (left, right, top, bottom)
    o_l, o_r, o_t, o_b = 0, p[0], p[0] + p[1], p[0] + p[1] + p[2]
    if rows:  # A above B: A.bottom = B.top shared; left/right stack A then B
        ta = np.array([o_l, o_r, o_t, nb])
        tb = np.array([o_l + a[0], o_r + a[1], nb, o_b])
    else:  # A left of B: A.right = B.left shared; top/bottom run A then B
        ta = np.array([o_l, nb, o_t, o_b])
        tb = np.array([nb, o_r, o_t + a[2], o_b + a[3]])
    return ca, ta, cb, tb, nb, m


@numba.njit(**JIT)
def merge(ya, yb, i0, i1, j0, j1, n_rows, n_cols, keep):
    """Boundary matrix of block (i0, i1, j0, j1) from those of its two halves."""
    ca, ta, cb, tb, nb, m = _merge_layout(i0, i1, j0, j1, n_rows, n_cols, keep)
    if m > SMALL:
        s, ok = _blas_merge(ya, yb, ca, ta, cb, tb, nb, m)
        if ok:
            return s
    # few shared nodes, or a shared block that Cholesky rejects (not positive definite: an
    # isolated group of nodes), which node-by-node elimination handles
    y = np.zeros((nb + m, nb + m))
    _scatter(ya, ca, ta, 0, y, y, y)
    _scatter(yb, cb, tb, 0, y, y, y)
    return _gth_eliminate(y, nb)


@numba.njit(**JIT)
def _scatter(part, counts, targets, nb, s, ybs, yss):
    """Add a half's boundary matrix, side block by side block, into the merged matrix.

    nb > 0: the merged matrix is held as its three blocks (boundary-boundary s,
    boundary-shared ybs, shared-shared yss; the shared-boundary block is ybs's transpose and
    skipped). nb = 0: s is the whole merged matrix (ybs and yss unused)."""
    sp = 0
    for p in range(4):
        cp = counts[p]
        tp = targets[p]
        sq = 0
        for q in range(4):
            cq = counts[q]
            tq = targets[q]
            if nb == 0 or (tp < nb and tq < nb):
                dst, r0, c0 = s, tp, tq
            elif tp < nb:
                dst, r0, c0 = ybs, tp, tq - nb
            elif tq >= nb:
                dst, r0, c0 = yss, tp - nb, tq - nb
            else:
                sq += cq
                continue
            for a in range(cp):
                for b in range(cq):
                    dst[r0 + a, c0 + b] += part[sp + a, sq + b]
            sq += cq
        sp += cp


@numba.njit(**JIT)
def _blas_merge(ya, yb, ca, ta, cb, tb, nb, m):
    """merge with the shared nodes eliminated by Cholesky, triangular solve and rank-m update
    assembling the three blocks directly: Cholesky of the shared block Y_ss = L L^T,
    W = L^-1 Y_sb, S = Y_bb - W^T W (off-diagonals: sums of same-sign terms, as Y_bs <= 0 and
    Y_ss^-1 Y_sb <= 0), then the Laplacian diagonal. The arrays are C-ordered and LAPACK reads
    them as Fortran, i.e. transposed: Y_ss is symmetric and Y_bs in C order is Y_sb in Fortran
    order, so nothing is transposed. Returns (matrix, ok); not ok when the shared block is not
    positive definite."""
    s = np.zeros((nb, nb))
    ybs = np.zeros((nb, m))
    yss = np.zeros((m, m))
    _scatter(ya, ca, ta, nb, s, ybs, yss)
    _scatter(yb, cb, tb, nb, s, ybs, yss)
    if _lapack.schur_update(yss, ybs, s) != 0:
        return s, False
    _upper_laplacian(s)
    return s, True


@numba.njit(**JIT)
def halves(i0, i1, j0, j1):
    """How a block is halved, longer side first (columns on a tie; sides stay >= 2):
    (split across rows?, first half (i0, i1, j0, j1), second half). A is above or left of B."""
    h = i1 - i0
    w = j1 - j0
    if h > w:
        mid = i0 + h // 2
        return True, (i0, mid, j0, j1), (mid, i1, j0, j1)
    mid = j0 + w // 2
    return False, (i0, i1, j0, mid), (i0, i1, mid, j1)


@numba.njit(**JIT)
def reduce_block(g, wr, wc, i0, i1, j0, j1, keep, ya, yb):
    """Boundary matrix of block rows i0..i1-1, columns j0..j1-1 (sides >= 2).

    ya, yb: the boundary matrices of the block's two halves (as halves cuts it) when the
    caller has them, else empty (0, 0) arrays: the wrapper reduces the two halves of the
    array on two threads (nogil) and merges them here. One entry point for both uses keeps
    the first-call compile short (every function called from Python compiles its own tree)."""
    n_rows, n_cols = g.shape
    if ya.shape[0] == 0:
        if i1 - i0 < LEAF_BELOW and j1 - j0 < LEAF_BELOW:
            return _leaf(g, wr, wc, i0, i1, j0, j1, keep)
        none = np.empty((0, 0))
        _rows, ha, hb = halves(i0, i1, j0, j1)
        ya = reduce_block(g, wr, wc, ha[0], ha[1], ha[2], ha[3], keep, none, none)
        yb = reduce_block(g, wr, wc, hb[0], hb[1], hb[2], hb[3], keep, none, none)
    return merge(ya, yb, i0, i1, j0, j1, n_rows, n_cols, keep)
