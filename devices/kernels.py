"""Compiled I-V evaluation: ``cell_current(code, params, table, g, gate, v) -> (I, dI/dV)``.

One function dispatches on the model code so the solver kernels stay generic.
"""

import numba
import numpy as np

from circuitxbar._config import JIT

OHMIC = 0


@numba.njit(**JIT)
def cell_current(code, params, table, g, gate, v):
    """Current [A] and differential conductance [S] of one cell."""
    if code == OHMIC:
        return g * v, g
    return np.nan, np.nan


@numba.njit(**JIT)
def _eval_flat(code, params, table, g, gate, v, i_out, d_out):
    for n in range(v.size):
        i_out[n], d_out[n] = cell_current(code, params, table, g[n], gate[n], v[n])


def eval_many(model, v, g, gate=True):
    """Vectorised NumPy front of ``cell_current``: returns (I [A], dI/dV [S]) broadcast."""
    v, g, gate = np.broadcast_arrays(
        np.asarray(v, np.float64), np.asarray(g, np.float64), np.asarray(gate, np.float64)
    )
    shape = v.shape
    code, params, table = model.packed()
    i_out = np.empty(v.size)
    d_out = np.empty(v.size)
    _eval_flat(code, params, table, np.ascontiguousarray(g).ravel(),
               np.ascontiguousarray(gate).ravel(), np.ascontiguousarray(v).ravel(), i_out, d_out)
    return i_out.reshape(shape), d_out.reshape(shape)
