"""The Schur-complement update of a merge, through LAPACK and BLAS, callable from Numba.

Numba offers no Cholesky-based elimination; SciPy's LAPACK and BLAS (``cython_lapack`` /
``cython_blas``) are reached through their C entry points, registered with LLVM under fixed
names so that the kernel using them stays cacheable (a ctypes function pointer would be a
per-process constant and disable caching). One kernel holds all of a merge's calls
(schur_update), one the back substitution's product (rows_product): every compiled function
costs a fraction of a second at first use. Pointers are passed as intp
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
    X (m, nb) C-ordered at x[x_off:] (from schur_update's want_x).

    In LAPACK's column-major view the rows of work are columns and x is X^T (nb, m):
    C^T (B, m) = W^T (B, nb) X^T (nb, m), hence dgemm('N', 'N'). No allocation: the back
    substitution calls this once per large merge."""
    n_batch = work.shape[1]
    ch = np.empty(1, np.uint8)  # 'N'
    ch[0] = 78
    iv = np.empty(3, np.int32)  # B, m, nb
    iv[0] = n_batch
    iv[1] = m
    iv[2] = nb
    dv = np.empty(2)  # 1, 0
    dv[0] = 1.0
    dv[1] = 0.0
    p = iv.ctypes.data
    base = work.ctypes.data
    _dgemm(ch.ctypes.data, ch.ctypes.data, p, p + 4, p + 8, dv.ctypes.data, base, p,
           x.ctypes.data + 8 * x_off, p + 8, dv.ctypes.data + 8, base + 8 * nb * n_batch, p)


@numba.njit(**INNER)
def schur_update(yss, ysb, s, want_x):
    """s -= Y_bs Y_ss^-1 Y_sb on the lower triangle of s (C order; its diagonal too, unused), in
    place, for C-ordered yss (m, m) symmetric positive definite held in its lower triangle and
    diagonal, and ysb (m, nb); yss and ysb are overwritten. With want_x, ysb ends as
    X = -Y_ss^-1 Y_sb (m, nb): the shared nodes' voltages for given boundary voltages u_b
    are X u_b.

    LAPACK reads C-ordered arrays as Fortran-ordered, i.e. transposed: the C lower triangles
    are upper ones there, and ysb is A = Y_bs (nb, m). Cholesky Y_ss = U^T U (dpotrf), U^-1
    (dtrtri), A <- A U^-1 = W^T with W = U^-T Y_sb (dtrmm), s -= A A^T = W^T W (dsyrk); for X,
    A <- -A U^-T = X^T (dtrmm). The explicit inverse and a product, not a triangular solve:
    OpenBLAS's dtrsm with a short triangle runs at 3-12 GFlop/s here, dtrtri + dtrmm 2-3
    times faster (nb = 320, m = 64: 107 against 58 us). Equally free of cancellation: U is an
    M-matrix's Cholesky factor (off-diagonals <= 0), so U^-1 >= 0 and every sum in U^-1 and
    in Y_bs U^-1 (Y_bs <= 0) has terms of one sign. Returns dpotrf's info: 0, or > 0 when
    yss is not positive definite (s is then untouched)."""
    m = yss.shape[0]
    nb = ysb.shape[1]
    ch = np.empty(4, np.uint8)  # 'U', 'N', 'T', 'R'
    ch[0] = 85
    ch[1] = 78
    ch[2] = 84
    ch[3] = 82
    iv = np.empty(3, np.int32)  # m, nb, info (not np.zeros: see _kernels.zeros1)
    iv[0] = m
    iv[1] = nb
    iv[2] = 0
    dv = np.empty(2)  # 1, -1
    dv[0] = 1.0
    dv[1] = -1.0
    p_u = ch.ctypes.data
    p_m = iv.ctypes.data
    p_nb = p_m + 4
    p_one = dv.ctypes.data
    _dpotrf(p_u, p_m, yss.ctypes.data, p_m, p_m + 8)
    if iv[2] != 0:
        return iv[2]
    _dtrtri(p_u, p_u + 1, p_m, yss.ctypes.data, p_m, p_m + 8)
    if iv[2] != 0:  # a zero on U's diagonal: potrf's positive pivots rule it out
        return iv[2]
    _dtrmm(p_u + 3, p_u, p_u + 1, p_u + 1, p_nb, p_m, p_one, yss.ctypes.data, p_m,
           ysb.ctypes.data, p_nb)
    _dsyrk(p_u, p_u + 1, p_nb, p_m, p_one + 8, ysb.ctypes.data, p_nb, p_one, s.ctypes.data,
           p_nb)
    if want_x:
        _dtrmm(p_u + 3, p_u, p_u + 2, p_u + 1, p_nb, p_m, p_one + 8, yss.ctypes.data, p_m,
               ysb.ctypes.data, p_nb)
    return 0
