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

LOWER convention: every boundary matrix passed between kernels holds only its strictly lower
triangle (C order); the diagonal and the upper triangle are never read. The elimination
updates half the entries that way, and no matrix is mirrored or summed per merge: the only
diagonal entries needed inside are the Cholesky pivots of a large merge's shared block
(_shared_diagonal); full_laplacian rebuilds the whole matrix at the top where a caller needs
it (measured, 128x128 transfer matrix: one thread 10.1 -> 7.4 ms, two 6.3 -> 5.2 ms).

Block boundary convention (so that two halves share exactly one line of nodes): a block
owns its cross-points (row and column node each) and, when a neighbour lies to its right or
below, the wire segment that leads into the neighbour's first node; that neighbour node is the
block's right (bottom) boundary node. Boundary order: left rows, right rows, top columns,
bottom columns.
"""

import numba
import numpy as np

from circuitxbar import _kernels as K
from circuitxbar import _lapack
from circuitxbar._config import INNER, JIT, SHARED
from circuitxbar._native import Shared, addresses
from circuitxbar._intrinsics import _mul_add

#: merges sharing at most this many nodes eliminate them node by node (cancellation-free, no
#: LAPACK call overhead; leaves always do); larger ones use LAPACK and BLAS
SMALL = 8
#: blocks with both sides below this are leaves, reduced from their full nodal matrix: halving
#: from a power of two ends at 4x4, measured faster than 2x2 (recursion overhead) and 8x8 leaves
LEAF_BELOW = 6


@numba.njit(**INNER)
def _gth_eliminate(y, nb, weights):
    """Eliminate nodes nb..n-1 of Laplacian y (n, n) in place, last first, and return the
    leading (nb, nb) Schur complement. Reads and writes y's strictly lower triangle only (the
    LOWER convention); so is the result. Off-diagonals only ever gain same-sign products, the
    pivot is the sum of the node's remaining off-diagonal magnitudes (row k left of k: the
    nodes after k are gone).

    weights ((n - nb) n,), unless empty, receives each eliminated node's voltage as a convex
    combination of the nodes left when it went: u_k = sum_{j < k} weights[(k - nb) n + j] u_j
    (what the back substitution of a factorisation needs; rows of isolated nodes stay 0).
    Flat, as the factorisation's coefficient array holds it: a 2-D view would take a reshape,
    which compiles Numba's reshape helper."""
    n = y.shape[0]
    record = weights.shape[0] > 0
    nz = np.empty(n, np.int64)
    for k in range(n - 1, nb - 1, -1):
        # node k's neighbours left of it, in order (without a branch per entry: which entries
        # are zero is irregular, and the mispredictions cost more than the arithmetic)
        cnt = 0
        for j in range(k):
            nz[cnt] = j
            cnt += y[k, j] != 0.0
        # the pivot over the neighbours only: the same sum, without the zeros' serial adds
        d = 0.0
        for p in range(cnt):
            d -= y[k, nz[p]]
        if d <= 0.0:  # isolated node: nothing flows through it
            continue
        inv = 1.0 / d
        if record:
            row = (k - nb) * n
            for j in range(k):
                weights[row + j] = -y[k, j] * inv
        # the update: a zero factor or entry adds nothing, so only neighbour pairs change.
        # A sparse row (a leaf's inner nodes) updates those pairs alone; a dense one (a
        # merge's shared nodes) whole rows, a loop that vectorises
        dense = 4 * cnt > k
        for p in range(1, cnt):
            a = nz[p]
            f = y[k, a] * inv
            if dense:
                for b in range(a):
                    y[a, b] -= f * y[k, b]
            else:
                for q in range(p):
                    b = nz[q]
                    y[a, b] -= f * y[k, b]
    s = np.empty((nb, nb))
    for a in range(nb):
        for b in range(a):
            s[a, b] = y[a, b]
    return s


def full_laplacian(lower):
    """The whole Laplacian from a LOWER-convention matrix (strictly lower triangle valid): the
    mirror, and the diagonal as minus the row's off-diagonal sum (the GTH rule: a resistor
    network's Laplacian rows sum to zero; terms of one sign, no cancellation)."""
    y = np.tril(lower, -1)
    y += y.T
    np.fill_diagonal(y, -y.sum(axis=1))
    return y


def lower_block(y, rows, cols):
    """y[rows, cols] for contiguous, disjoint index ranges of a LOWER-convention matrix."""
    if rows[0] > cols[0]:
        return y[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return y[cols[0]:cols[-1] + 1, rows[0]:rows[-1] + 1].T


@numba.njit(**INNER)
def _link(y, a, b, c):
    """Add a conductance c between nodes a and b of Laplacian y."""
    y[a, a] += c
    y[b, b] += c
    y[a, b] -= c
    y[b, a] -= c


@numba.njit(**INNER)
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


@numba.njit(**SHARED)
def _leaf(g, wr, wc, i0, i1, j0, j1, keep, ids, weights):
    """Boundary matrix of a small block (sides 2 to LEAF_BELOW - 1) from its full nodal
    matrix. ids (n,), unless empty, receives the global node number of each local node
    (node_id), weights the elimination's back-substitution weights (_gth_eliminate)."""
    n_rows, n_cols = g.shape
    h = i1 - i0
    w = j1 - j0
    dang_r = j1 < n_cols
    dang_b = i1 < n_rows
    n_l, n_r, n_t, n_b = _sides(i0, i1, j0, j1, n_rows, n_cols, keep)
    n, nb = _leaf_size(i0, i1, j0, j1, n_rows, n_cols, keep)
    # node numbers: boundary first (left, right, top, bottom), the inner nodes after
    # (np.empty and K._fill, not np.full: see K.zeros1)
    row_id = np.empty((h, w + 1), np.int64)
    col_id = np.empty((h + 1, w), np.int64)
    K._fill(row_id, -1)
    K._fill(col_id, -1)
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
    # inner nodes numbered so that elimination (last first) takes the column nodes of odd
    # local rows, then the row nodes of odd local columns (each set mutually unconnected, of
    # degree 3), then the rest: the order minimum degree picks on a 4 x 4 leaf, with 27 % fewer
    # fill entries and 44 % less elimination work than all row nodes before all column nodes
    # (a dangling position beyond the block is a boundary node or none: never inner)
    nxt = n - 1
    for group in range(4):
        for a in range(h):
            for b in range(w):
                if group % 2 == 0:
                    if col_id[a, b] < 0 and (a % 2 == 1) == (group == 0):
                        col_id[a, b] = nxt
                        nxt -= 1
                elif row_id[a, b] < 0 and (b % 2 == 1) == (group == 1):
                    row_id[a, b] = nxt
                    nxt -= 1
    y = K.zeros2(n, n)
    for a in range(h):
        for b in range(w):
            _link(y, row_id[a, b], col_id[a, b], g[i0 + a, j0 + b])
        for b in range(right):
            _link(y, row_id[a, b], row_id[a, b + 1], wr[i0 + a])
    for b in range(w):
        for a in range(bottom):
            _link(y, col_id[a, b], col_id[a + 1, b], wc[j0 + b])
    if ids.size > 0:
        for a in range(h):
            for b in range(w + 1):
                if row_id[a, b] >= 0:
                    ids[row_id[a, b]] = node_id(False, i0 + a, j0 + b, n_cols, n_rows)
        for a in range(h + 1):
            for b in range(w):
                if col_id[a, b] >= 0:
                    ids[col_id[a, b]] = node_id(True, i0 + a, j0 + b, n_cols, n_rows)
    return _gth_eliminate(y, nb, weights)


@numba.njit(**INNER)
def node_id(column, i, j, n_cols, n_rows):
    """Global node number: row-wire node (i, j) is i C + j, column-wire node R C + i C + j."""
    return (n_rows * n_cols if column else 0) + i * n_cols + j


@numba.njit(**INNER)
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


@numba.njit(**SHARED)
def merge(ya, yb, i0, i1, j0, j1, n_rows, n_cols, keep, record):
    """Boundary matrix of block (i0, i1, j0, j1) from those of its two halves, and how the
    shared nodes were eliminated (MERGED_BY_BLAS or MERGED_BY_GTH).

    record (m (nb + m),), unless empty, receives what the back substitution needs: the GTH
    weights (_gth_eliminate), or for the BLAS path X (m, nb) row-major in its leading m nb
    entries,
    X = -Y_ss^-1 Y_sb (the shared nodes' voltages are X u_b). The halves and the result are
    in the LOWER convention (strictly lower triangle only)."""
    ca, ta, cb, tb, nb, m = _merge_layout(i0, i1, j0, j1, n_rows, n_cols, keep)
    if m > SMALL:
        s, ok = _blas_merge(ya, yb, ca, ta, cb, tb, nb, m, record)
        if ok:
            return s, MERGED_BY_BLAS
    # few shared nodes, or a shared block that Cholesky rejects (not positive definite: an
    # isolated group of nodes), which node-by-node elimination handles
    y = K.zeros2(nb + m, nb + m)
    whole = np.int64(0)  # not the literal 0, which would compile a second _scatter
    _scatter(ya, ca, ta, whole, y, y, y)
    _scatter(yb, cb, tb, whole, y, y, y)
    for q in range(record.size):
        record[q] = 0.0
    return _gth_eliminate(y, nb, record), MERGED_BY_GTH


_B1 = numba.types.boolean[::1]
_I1 = numba.types.int64[::1]
_INT = numba.types.int64
# _leaf and merge are compiled with machine code of their own (``_native.Shared``): reduce_block
# links them (see there), factor_block calls them by address, where it linked a copy of its
# own (3,300 of its 4,900 LLVM instructions)
LEAF = Shared(_leaf, (K.F2, K.F1, K.F1) + (_INT,) * 4 + (_B1, _I1, K.F1))
call_leaf = LEAF.call
MERGE = Shared(merge, (K.F2, K.F2) + (_INT,) * 6 + (_B1, K.F1))
call_merge = MERGE.call


MERGED_BY_GTH = 0
MERGED_BY_BLAS = 1


@numba.njit(**INNER)
def _scatter(part, counts, targets, nb, s, ysb, yss):
    """Add a half's boundary matrix (LOWER convention), side block by side block, into the
    lower triangle of the merged matrix ordered [boundary; shared].

    nb > 0: the merged matrix is held as its three lower blocks (boundary-boundary s,
    shared-boundary ysb (m, nb), shared-shared yss); nb = 0: s is the whole merged matrix
    (ysb and yss unused). Each side is a contiguous range in both orders; a side block that
    lands above the merged diagonal is added transposed, and diagonal entries are skipped
    (nobody reads them: see _shared_diagonal)."""
    sp = 0
    for p in range(4):
        cp = counts[p]
        tp = targets[p]
        sq = 0
        for q in range(p + 1):  # the half's blocks on and below its diagonal
            cq = counts[q]
            tq = targets[q]
            if cp == 0 or cq == 0:
                sq += cq
                continue
            # the merged rows and columns this block lands on, in the lower triangle
            r, c = (tp, tq) if tp >= tq else (tq, tp)
            if nb == 0 or r < nb:
                dst, r0, c0 = s, r, c
            elif c < nb:
                dst, r0, c0 = ysb, r - nb, c
            else:
                dst, r0, c0 = yss, r - nb, c - nb
            if q == p:
                for a in range(1, cp):
                    for b in range(a):
                        dst[r0 + a, c0 + b] += part[sp + a, sq + b]
            elif tp > tq:
                for a in range(cp):
                    for b in range(cq):
                        dst[r0 + a, c0 + b] += part[sp + a, sq + b]
            else:
                for b in range(cq):
                    for a in range(cp):
                        dst[r0 + b, c0 + a] += part[sp + a, sq + b]
            sq += cq
        sp += cp


@numba.njit(**INNER)
def _shared_diagonal(ysb, yss):
    """yss's diagonal, the Laplacian rule: minus the sum of the row's off-diagonal entries in
    the merged matrix (to the boundary, ysb's row; to the other shared nodes, yss's row left
    of the diagonal and column below it). The only diagonal entries a merge reads: Cholesky's
    pivots."""
    m, nb = ysb.shape
    for r in range(m):
        t = 0.0
        for b in range(nb):
            t += ysb[r, b]
        for c in range(r):
            t += yss[r, c]
        for c in range(r + 1, m):
            t += yss[c, r]
        yss[r, r] = -t


@numba.njit(**INNER)
def _blas_merge(ya, yb, ca, ta, cb, tb, nb, m, record):
    """merge with the shared nodes eliminated by Cholesky, triangular inverse and product and
    rank-m update (_lapack.schur_update), assembling the three lower blocks directly:
    Y_ss = U^T U, W = U^-T Y_sb, S = Y_bb - W^T W (off-diagonals: sums of same-sign terms, as
    Y_bs <= 0 and Y_ss^-1 Y_sb <= 0). Returns (matrix, ok); not ok when the shared block is
    not positive definite. record: as in merge."""
    s = K.zeros2(nb, nb)
    ysb = K.zeros2(m, nb)
    yss = K.zeros2(m, m)
    _scatter(ya, ca, ta, nb, s, ysb, yss)
    _scatter(yb, cb, tb, nb, s, ysb, yss)
    _shared_diagonal(ysb, yss)
    want_x = record.shape[0] > 0
    if _lapack.schur_update(yss, ysb, s, want_x) != 0:
        return s, False
    if want_x:
        k = 0
        for a in range(m):
            for b in range(nb):
                record[k] = ysb[a, b]
                k += 1
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
    """Boundary matrix of block rows i0..i1-1, columns j0..j1-1 (sides >= 2), in the LOWER
    convention (full_laplacian gives the whole matrix).

    ya, yb: the boundary matrices of the block's two halves (as halves cuts it) when the
    caller has them, else empty (0, 0) arrays: the wrapper reduces the two halves of the
    array on two threads (nogil) and merges them here. One entry point for both uses keeps
    the first-call compile short (every function called from Python compiles its own tree).

    _leaf and merge are linked in here, not called by address as factor_block calls them:
    linked, LLVM specialises them for the empty records this path passes, and the 128 x 128
    reduction runs 3 % faster on one thread (minima 7.83-7.97 against 8.09-8.26 ms, 3
    alternating processes), the transfer matrix being what a study computes per array."""
    n_rows, n_cols = g.shape
    none = np.empty((0, 0))
    no_record = np.empty(0)
    if ya.shape[0] == 0:
        if i1 - i0 < LEAF_BELOW and j1 - j0 < LEAF_BELOW:
            return _leaf(g, wr, wc, i0, i1, j0, j1, keep, np.empty(0, np.int64), no_record)
        _rows, ha, hb = halves(i0, i1, j0, j1)
        ya = reduce_block(g, wr, wc, ha[0], ha[1], ha[2], ha[3], keep, none, none)
        yb = reduce_block(g, wr, wc, hb[0], hb[1], hb[2], hb[3], keep, none, none)
    y, _nb = merge(ya, yb, i0, i1, j0, j1, n_rows, n_cols, keep, no_record)
    return y


# -- factorisation: the same reduction, recording what solving for every node needs ---------


@numba.njit(**JIT)
def block_ids(i0, i1, j0, j1, n_rows, n_cols, keep):
    """Global node numbers (node_id) of a block's boundary, in its boundary matrix's order."""
    n_l, n_r, n_t, n_b = _sides(i0, i1, j0, j1, n_rows, n_cols, keep)
    ids = np.empty(n_l + n_r + n_t + n_b, np.int64)
    right = j1 if j1 < n_cols else n_cols - 1
    bottom = i1 if i1 < n_rows else n_rows - 1
    k = 0
    for a in range(n_l):
        ids[k] = node_id(False, i0 + a, j0, n_cols, n_rows)
        k += 1
    for a in range(n_r):
        ids[k] = node_id(False, i0 + a, right, n_cols, n_rows)
        k += 1
    for b in range(n_t):
        ids[k] = node_id(True, i0, j0 + b, n_cols, n_rows)
        k += 1
    for b in range(n_b):
        ids[k] = node_id(True, bottom, j0 + b, n_cols, n_rows)
        k += 1
    return ids


BLOCK_IDS = Shared(block_ids, (_INT,) * 6 + (_B1,))
call_block_ids = BLOCK_IDS.call
#: what factor_block calls by address, in its ``shared`` order
REDUCE_SHARED = (LEAF, MERGE, BLOCK_IDS)


@numba.njit(**INNER)
def _leaf_size(i0, i1, j0, j1, n_rows, n_cols, keep):
    """(nodes, boundary nodes) of a leaf block's nodal matrix (as _leaf numbers them)."""
    h = i1 - i0
    w = j1 - j0
    n_l, n_r, n_t, n_b = _sides(i0, i1, j0, j1, n_rows, n_cols, keep)
    n = 2 * h * w + (h if j1 < n_cols else 0) + (w if i1 < n_rows else 0)
    return n, n_l + n_r + n_t + n_b


@numba.njit(**JIT)
def plan_sizes(i0, i1, j0, j1, n_rows, n_cols, keep):
    """(steps, node numbers, coefficients) that factor_block records for this block."""
    if i1 - i0 < LEAF_BELOW and j1 - j0 < LEAF_BELOW:
        n, nb = _leaf_size(i0, i1, j0, j1, n_rows, n_cols, keep)
        return 1, n, (n - nb) * n
    _rows, ha, hb = halves(i0, i1, j0, j1)
    sa = plan_sizes(ha[0], ha[1], ha[2], ha[3], n_rows, n_cols, keep)
    sb = plan_sizes(hb[0], hb[1], hb[2], hb[3], n_rows, n_cols, keep)
    _ca, _ta, _cb, _tb, nb, m = _merge_layout(i0, i1, j0, j1, n_rows, n_cols, keep)
    return sa[0] + sb[0] + 1, sa[1] + sb[1] + nb + m, sa[2] + sb[2] + m * (nb + m)


@numba.njit(**JIT)
def factor_block(g, wr, wc, i0, i1, j0, j1, keep, kind, op_n, op_nb, id_off, coef_off, ids,
                 coef, pos, shared):
    """reduce_block (one thread), recording each step for the back substitution: step k
    (children before parents) has kind[k] (MERGED_BY_GTH for leaves too), op_n[k] local nodes
    of which the first op_nb[k] are the given ones, their global numbers
    ids[id_off[k]:][:op_n[k]], and its coefficients from coef[coef_off[k]:] (GTH weights
    (n - nb, n), or X (n - nb, nb)). Arrays sized by plan_sizes, coef zeroed; pos (3,) the
    next step, node number and coefficient; shared: the addresses of REDUCE_SHARED. Returns
    the block's boundary matrix (LOWER convention)."""
    leaf_at, merge_at, block_ids_at = shared
    n_rows, n_cols = g.shape
    if i1 - i0 < LEAF_BELOW and j1 - j0 < LEAF_BELOW:
        n, nb = _leaf_size(i0, i1, j0, j1, n_rows, n_cols, keep)
        k, p_id, p_coef = pos[0], pos[1], pos[2]
        y = call_leaf(leaf_at, (g, wr, wc, i0, i1, j0, j1, keep, ids[p_id:p_id + n],
                                coef[p_coef:p_coef + (n - nb) * n]))
        kind[k] = MERGED_BY_GTH
    else:
        rows, ha, hb = halves(i0, i1, j0, j1)
        ya = factor_block(g, wr, wc, ha[0], ha[1], ha[2], ha[3], keep, kind, op_n, op_nb,
                          id_off, coef_off, ids, coef, pos, shared)
        yb = factor_block(g, wr, wc, hb[0], hb[1], hb[2], hb[3], keep, kind, op_n, op_nb,
                          id_off, coef_off, ids, coef, pos, shared)
        k, p_id, p_coef = pos[0], pos[1], pos[2]
        bids = call_block_ids(block_ids_at, (i0, i1, j0, j1, n_rows, n_cols, keep))
        nb = bids.size
        m = j1 - j0 if rows else i1 - i0
        n = nb + m
        for a in range(nb):
            ids[p_id + a] = bids[a]
        mid = ha[1] if rows else ha[3]
        for s in range(m):  # the shared line, in the order _merge_layout puts it
            ids[p_id + nb + s] = node_id(True, mid, j0 + s, n_cols, n_rows) if rows else (
                node_id(False, i0 + s, mid, n_cols, n_rows))
        y, kind[k] = call_merge(merge_at, (ya, yb, i0, i1, j0, j1, n_rows, n_cols, keep,
                                           coef[p_coef:p_coef + m * n]))
    op_n[k] = n
    op_nb[k] = nb
    id_off[k] = p_id
    coef_off[k] = p_coef
    pos[0] = k + 1
    pos[1] = p_id + n
    pos[2] = p_coef + (n - nb) * n
    return y


@numba.njit(**JIT)
def compress(kind, op_n, op_nb, coef_off, coef):
    """The recorded coefficients in the form the back substitution reads: the GTH steps'
    weights by source node (CSC, nonzeros only: a 4 x 4 leaf's are 75 % zero), the BLAS
    steps' X packed. Returns (first_col (per step, -1 for BLAS), col_ptr, target, val,
    x_off, x): step k's local node j feeds nodes target[p] with weights val[p],
    p in col_ptr[first_col[k] + j] .. col_ptr[first_col[k] + j + 1].

    By source, because the sweep then adds each source into several different targets in a
    row: independent updates that overlap in the pipeline, where gathering the sources of one
    target waits on the previous addition into that same target every time (3 times slower)."""
    n_ops = kind.size
    first_col = np.empty(n_ops, np.int64)  # (not np.full / np.zeros: see K.zeros1)
    x_off = np.empty(n_ops, np.int64)
    for k in range(n_ops):
        first_col[k] = -1
        x_off[k] = -1
    n_cols = 0
    n_x = 0
    for k in range(n_ops):
        n = op_n[k]
        nb = op_nb[k]
        if kind[k] == MERGED_BY_BLAS:
            x_off[k] = n_x
            n_x += nb * (n - nb)
        else:
            first_col[k] = n_cols
            n_cols += n
    col_ptr = np.empty(n_cols + 1, np.int64)
    for k in range(n_cols + 1):
        col_ptr[k] = 0
    for k in range(n_ops):  # counts per source node
        n = op_n[k]
        nb = op_nb[k]
        if kind[k] == MERGED_BY_GTH:
            for t in range(n - nb):
                base = coef_off[k] + t * n
                for j in range(nb + t):
                    if coef[base + j] != 0.0:
                        col_ptr[first_col[k] + j + 1] += 1
    for c in range(n_cols):
        col_ptr[c + 1] += col_ptr[c]
    nnz = col_ptr[n_cols]
    target = np.empty(nnz, np.int32)
    val = np.empty(nnz)
    x = np.empty(n_x)
    fill = col_ptr[:-1].copy()
    for k in range(n_ops):
        n = op_n[k]
        nb = op_nb[k]
        if kind[k] == MERGED_BY_BLAS:
            for q in range(nb * (n - nb)):
                x[x_off[k] + q] = coef[coef_off[k] + q]
            continue
        for t in range(n - nb):
            base = coef_off[k] + t * n
            for j in range(nb + t):
                if coef[base + j] != 0.0:
                    c = first_col[k] + j
                    target[fill[c]] = nb + t
                    val[fill[c]] = coef[base + j]
                    fill[c] += 1
    return first_col, col_ptr, target, val, x_off, x


@numba.njit(**INNER)
def back_substitute(kind, op_n, op_nb, id_off, ids, first_col, col_ptr, target, val, x_off,
                    x, u):
    """Every node's voltages from the given ones, for a batch: u (nodes, B), node-major, with
    the rows of the top block's boundary set; the steps of factor_block (coefficients from
    compress) run parents first. A GTH step is a sweep of convex combinations (no
    cancellation), taken source by source in the order of elimination reversed (a source's
    voltage is complete before it is used); a BLAS step is one matrix product u_s = X u_b.
    Indices, not slices, inside the loop over steps: thousands of small steps, where each
    array view costs reference counting."""
    n_batch = u.shape[1]
    n_max = 0
    for k in range(kind.size):
        n_max = max(n_max, op_n[k])
    loc = np.empty((n_max, n_batch))
    for k in range(kind.size - 1, -1, -1):
        n = op_n[k]
        nb = op_nb[k]
        i0 = id_off[k]
        for a in range(nb):
            src = ids[i0 + a]
            for b in range(n_batch):
                loc[a, b] = u[src, b]
        if kind[k] == MERGED_BY_BLAS:
            _lapack.rows_product(loc, nb, n - nb, x, x_off[k])
        else:
            for r in range(nb, n):
                for b in range(n_batch):
                    loc[r, b] = 0.0
            c0 = first_col[k]
            for j in range(n):
                for p in range(col_ptr[c0 + j], col_ptr[c0 + j + 1]):
                    r = target[p]
                    wj = val[p]
                    for b in range(n_batch):
                        loc[r, b] = _mul_add(wj, loc[j, b], loc[r, b])
        for r in range(nb, n):
            dst = ids[i0 + r]
            for b in range(n_batch):
                u[dst, b] = loc[r, b]


#: side of the square tiles of the factorised solve's node numbering (tile_position)
TILE = 16


@numba.njit(**JIT)
def tile_position(n_rows, n_cols):
    """Where each node (node_id numbering) sits in the factorised solve's voltage array: tile
    by tile (TILE x TILE cross-points, row-major over tiles), in each tile its row-wire nodes
    then its column-wire nodes, row-major. A leaf and the small merges above it then read and
    write within one tile's few kilobytes per input, where the row-major numbering spreads
    every 4 x 4 leaf over four rows of the whole array (measured: back substitution 0.73 ->
    0.59 ms per input at 256 x 256), and mapping back to row-major order stays a copy of
    TILE-long runs."""
    n_cells = n_rows * n_cols
    position = np.empty(2 * n_cells, np.int64)
    base = 0
    for i0 in range(0, n_rows, TILE):
        h = min(TILE, n_rows - i0)
        for j0 in range(0, n_cols, TILE):
            w = min(TILE, n_cols - j0)
            for layer in range(2):
                for a in range(h):
                    for b in range(w):
                        position[layer * n_cells + (i0 + a) * n_cols + j0 + b] = base
                        base += 1
    return position


def shared():
    """The addresses factor_block takes (REDUCE_SHARED)."""
    return addresses(REDUCE_SHARED)
