"""Cholesky, triangular solve and symmetric rank-k update callable from Numba kernels.

Numba offers ``np.linalg.solve`` and ``np.dot`` but no Cholesky-based elimination; SciPy's
LAPACK and BLAS (``scipy.linalg.cython_lapack`` / ``cython_blas``) are reached through their
C entry points, registered with LLVM under fixed names so that kernels using them stay
cacheable (a ctypes function pointer would be a per-process constant and disable caching).
Arrays are C-ordered and read by LAPACK as Fortran-ordered, i.e. transposed; every caller
here works with symmetric matrices or wants that transpose. Pointers are passed as intp
(pointer-sized integers: the same calling convention on every 64-bit platform Numba targets).
"""

import llvmlite.binding as ll
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from circuitxbar._config import JIT

for _name, _module in (("dpotrf", "scipy.linalg.cython_lapack"),
                       ("dtrsm", "scipy.linalg.cython_blas"),
                       ("dsyrk", "scipy.linalg.cython_blas")):
    ll.add_symbol(f"circuitxbar_{_name}", get_cython_function_address(_module, _name))

_P = types.intp
_dpotrf = types.ExternalFunction("circuitxbar_dpotrf", types.void(*([_P] * 5)))
_dtrsm = types.ExternalFunction("circuitxbar_dtrsm", types.void(*([_P] * 11)))
_dsyrk = types.ExternalFunction("circuitxbar_dsyrk", types.void(*([_P] * 10)))


@numba.njit(**JIT)
def _args(m, n):
    """Scalar arguments by reference: chars 'L', 'N', 'T'; ints m, n, info; doubles 1, -1."""
    ch = np.empty(3, np.uint8)
    ch[0] = ord("L")
    ch[1] = ord("N")
    ch[2] = ord("T")
    iv = np.zeros(3, np.int32)
    iv[0] = m
    iv[1] = n
    dv = np.empty(2)
    dv[0] = 1.0
    dv[1] = -1.0
    return ch, iv, dv


@numba.njit(**JIT)
def cholesky_lower(a):
    """In place: a (m, m) symmetric positive definite, C order -> its Cholesky factor L stored
    as the upper triangle in C order (LAPACK's lower triangle). Returns LAPACK's info (0 ok)."""
    ch, iv, dv = _args(a.shape[0], 0)
    p_ch = ch.ctypes.data
    p_iv = iv.ctypes.data
    _dpotrf(p_ch, p_iv, a.ctypes.data, p_iv, p_iv + 8)
    return iv[2]


@numba.njit(**JIT)
def solve_lower(factor, b):
    """In place: b (n, m) C order, read as B (m, n) Fortran, becomes L^-1 B."""
    m = factor.shape[0]
    n = b.shape[0]
    ch, iv, dv = _args(m, n)
    p_l = ch.ctypes.data
    p_n = p_l + 1
    p_m = iv.ctypes.data
    _dtrsm(p_l, p_l, p_n, p_n, p_m, p_m + 4, dv.ctypes.data, factor.ctypes.data, p_m,
           b.ctypes.data, p_m)


@numba.njit(**JIT)
def syrk_update(w, c):
    """c -= W^T W for w (n, m) C order read as W (m, n) Fortran; c (n, n) C order. Only the
    upper triangle of c in C order (LAPACK's lower) is written."""
    n, m = w.shape
    ch, iv, dv = _args(m, n)
    p_l = ch.ctypes.data
    p_t = p_l + 2
    p_m = iv.ctypes.data
    p_n = p_m + 4
    p_d = dv.ctypes.data
    _dsyrk(p_l, p_t, p_n, p_m, p_d + 8, w.ctypes.data, p_m, p_d, c.ctypes.data, p_n)
