"""The Schur-complement update of a merge, through LAPACK and BLAS, callable from Numba.

Numba offers no Cholesky-based elimination; SciPy's LAPACK and BLAS (``cython_lapack`` /
``cython_blas``) are reached through their C entry points, registered with LLVM under fixed
names so that the kernel using them stays cacheable (a ctypes function pointer would be a
per-process constant and disable caching). One kernel holds all three calls: every compiled
function costs a fraction of a second at first use. Pointers are passed as intp
(pointer-sized integers: the same calling convention on every 64-bit platform Numba targets).
"""

import llvmlite.binding as ll
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from circuitxbar._config import INNER

for _name, _module in (("dpotrf", "scipy.linalg.cython_lapack"),
                       ("dtrtri", "scipy.linalg.cython_lapack"),
                       ("dtrmm", "scipy.linalg.cython_blas"),
                       ("dsyrk", "scipy.linalg.cython_blas"),
                       ("dgemm", "scipy.linalg.cython_blas")):
    ll.add_symbol(f"circuitxbar_{_name}", get_cython_function_address(_module, _name))

_P = types.intp
_dpotrf = types.ExternalFunction("circuitxbar_dpotrf", types.void(*([_P] * 5)))
_dtrtri = types.ExternalFunction("circuitxbar_dtrtri", types.void(*([_P] * 6)))
_dtrmm = types.ExternalFunction("circuitxbar_dtrmm", types.void(*([_P] * 11)))
_dsyrk = types.ExternalFunction("circuitxbar_dsyrk", types.void(*([_P] * 10)))
_dgemm = types.ExternalFunction("circuitxbar_dgemm", types.void(*([_P] * 13)))


@numba.njit(**INNER)
def rows_product(work, nb, m, x, x_off):
    """work[nb:nb + m] = X work[:nb], in place on rows of the C-ordered work (rows, B), with
    X (m, nb) stored as X^T (nb, m) C-ordered at x[x_off:] (from schur_update's want_x).

    In LAPACK's column-major view the rows of work are columns: C^T (B, m) = W^T (B, nb)
    X^T (nb, m), and x seen column-major is X (m, nb), hence dgemm('N', 'T'). No allocation:
    the back substitution calls this once per large merge."""
    n_batch = work.shape[1]
    ch = np.empty(2, np.uint8)  # 'N', 'T'
    ch[0] = 78
    ch[1] = 84
    iv = np.empty(3, np.int32)  # B, m, nb
    iv[0] = n_batch
    iv[1] = m
    iv[2] = nb
    dv = np.empty(2)  # 1, 0
    dv[0] = 1.0
    dv[1] = 0.0
    p = iv.ctypes.data
    base = work.ctypes.data
    _dgemm(ch.ctypes.data, ch.ctypes.data + 1, p, p + 4, p + 8, dv.ctypes.data, base, p,
           x.ctypes.data + 8 * x_off, p + 4, dv.ctypes.data + 8, base + 8 * nb * n_batch, p)


@numba.njit(**INNER)
def schur_update(yss, ybs, s, want_x):
    """s -= Y_bs Y_ss^-1 Y_sb on the upper triangle of s (C order), in place, for C-ordered
    yss (m, m) symmetric positive definite and ybs (nb, m); yss and ybs are overwritten.
    With want_x, ybs ends as X^T with X = -Y_ss^-1 Y_sb (m, nb): the shared nodes' voltages
    for given boundary voltages u_b are X u_b (X = -L^-T W, a second dtrmm).

    LAPACK reads C-ordered arrays as Fortran-ordered, i.e. transposed: yss is symmetric, ybs
    read so is Y_sb (m, nb), and the lower triangle LAPACK writes is the upper one in C order.
    Cholesky Y_ss = L L^T (dpotrf), L^-1 (dtrtri), W = L^-1 Y_sb (dtrmm), s -= W^T W (dsyrk).
    The explicit inverse and a product, not a triangular solve: OpenBLAS's dtrsm with a short
    triangle runs at 3-12 GFlop/s here, dtrtri + dtrmm 2-3 times faster (nb = 320, m = 64:
    107 against 58 us; 128x128 transfer matrix 6.9 -> 6.3 ms). Equally free of cancellation:
    L is an M-matrix's Cholesky factor (off-diagonals <= 0), so L^-1 >= 0 and every sum in
    L^-1 and in L^-1 Y_sb (Y_sb <= 0) has terms of one sign. Returns dpotrf's info: 0, or > 0
    when yss is not positive definite (s is then untouched)."""
    m = yss.shape[0]
    nb = ybs.shape[0]
    ch = np.empty(3, np.uint8)  # 'L', 'N', 'T'
    ch[0] = 76
    ch[1] = 78
    ch[2] = 84
    iv = np.zeros(3, np.int32)  # m, nb, info
    iv[0] = m
    iv[1] = nb
    dv = np.empty(2)  # 1, -1
    dv[0] = 1.0
    dv[1] = -1.0
    p_l = ch.ctypes.data
    p_m = iv.ctypes.data
    p_nb = p_m + 4
    p_one = dv.ctypes.data
    _dpotrf(p_l, p_m, yss.ctypes.data, p_m, p_m + 8)
    if iv[2] != 0:
        return iv[2]
    _dtrtri(p_l, p_l + 1, p_m, yss.ctypes.data, p_m, p_m + 8)
    if iv[2] != 0:  # a zero on L's diagonal: potrf's positive pivots rule it out
        return iv[2]
    _dtrmm(p_l, p_l, p_l + 1, p_l + 1, p_m, p_nb, p_one, yss.ctypes.data, p_m,
           ybs.ctypes.data, p_m)
    _dsyrk(p_l, p_l + 2, p_nb, p_m, p_one + 8, ybs.ctypes.data, p_m, p_one, s.ctypes.data,
           p_nb)
    if want_x:
        _dtrmm(p_l, p_l, p_l + 2, p_l + 1, p_m, p_nb, p_one + 8, yss.ctypes.data, p_m,
               ybs.ctypes.data, p_m)
    return 0
