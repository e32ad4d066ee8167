"""Kernel of the factorised solve (``factorization.Factorization.solve``): every node's voltage
by back substitution through the nested-dissection factor, then the same outputs and KCL check
as the iterative solve. Private: arrays and scalars only."""

import numba
import numpy as np

from circuitxbar import _kernels as K
from circuitxbar import _reduce as R
from circuitxbar._config import JIT

#: doubles in each of a thread's two voltage arrays (64 MB): the inputs back-substituted
#: together are this over the node count, within [SUB_MIN, SUB_MAX]: each step's fixed cost
#: is shared by more inputs (256 x 256: 8 inputs 0.92, 16 0.74, 32 0.72 ms per input;
#: 512 x 512: 8 inputs 4.3, 16 inputs 3.3 ms)
SUB_DOUBLES = 1 << 23
SUB_MIN = 4
SUB_MAX = 32


#: inputs taken back to row-major order, then through the outputs, at a time: their
#: (UNTILE_INPUTS, 2 R C) copy is read again while still in cache
UNTILE_INPUTS = 8


@numba.njit(**JIT)
def alloc_workspace(n_nodes):
    """One thread's node voltages (n_nodes, sub-batch), node-major, and UNTILE_INPUTS of them
    per input. Kept by the caller across calls: first-touching 32 fresh megabytes costs about
    13 ms of page faults, as much as back-substituting 20 inputs."""
    sub = min(SUB_MAX, max(SUB_MIN, SUB_DOUBLES // n_nodes))
    return np.empty((n_nodes, sub)), np.empty((UNTILE_INPUTS, n_nodes))


@numba.njit(**JIT)
def _untile(u, position, n_rows, n_cols, b0, b1, per_input):
    """per_input[b - b0, node] = u[position[node], b] for b0 <= b < b1: back to one row-major
    vector per input. A tile row's TILE nodes are consecutive in u, so the copy goes run by
    run, each a small block transpose."""
    for layer in range(2):
        for i in range(n_rows):
            for j0 in range(0, n_cols, R.TILE):
                w = min(R.TILE, n_cols - j0)
                old = layer * n_rows * n_cols + i * n_cols + j0
                r0 = position[old]
                for b in range(b0, b1):
                    for q in range(w):
                        per_input[b - b0, old + q] = u[r0 + q, b]


@numba.njit(**JIT)
def solve_chunk(steps, top_ids, position, u_top, workspace, g, r_row,
                r_col, g_left, g_right, g_top, g_bottom, b_left, b_right, b_top, b_bottom,
                input_code, v_in, b_start, b_stop, vr_out, vc_out, idev_out, t_left, t_right,
                t_top, t_bottom, powers, kcl):
    """Inputs b_start..b_stop-1: u_top (n_top, B) holds the top boundary's voltages (from the
    terminals, solved by the caller); steps and position from factor_block, compress and
    back_order; the outputs as _kernels._solve_linear_chunk's."""
    n_rows, n_cols = g.shape
    n_cells = n_rows * n_cols
    keep = vr_out.shape[0] == v_in.shape[0]
    w_row = K._wire_conductance(r_row)
    w_col = K._wire_conductance(r_col)
    idev = np.empty((n_rows, n_cols))
    u_full, per_input_full = workspace
    sub = u_full.shape[1]
    for s0 in range(b_start, b_stop, sub):
        s1 = min(s0 + sub, b_stop)
        # every node is set: the top boundary here, the rest by exactly one step
        u = u_full if s1 - s0 == sub else np.empty((2 * n_cells, s1 - s0))
        for a in range(top_ids.size):
            for b in range(s1 - s0):
                u[top_ids[a], b] = u_top[a, s0 + b]
        kind, op_n, op_nb, id_off, ids, first_row, row_ptr, col, val, x_off, x_coef = steps
        R.back_substitute(kind, op_n, op_nb, id_off, ids, first_row, row_ptr, col, val, x_off,
                          x_coef, u)
        for b in range(s0, s1):
            if (b - s0) % UNTILE_INPUTS == 0:
                _untile(u, position, n_rows, n_cols, b - s0, min(b - s0 + UNTILE_INPUTS, s1 - s0),
                        per_input_full)
            x = per_input_full[(b - s0) % UNTILE_INPUTS]
            vr = x[:n_cells].reshape((n_rows, n_cols))
            vc = x[n_cells:].reshape((n_rows, n_cols))
            vl, vrt, vt, vb = K._end_voltages(b_left, b_right, b_top, b_bottom, v_in[b],
                                              input_code)
            for i in range(n_rows):
                for j in range(n_cols):
                    idev[i, j] = g[i, j] * (vr[i, j] - vc[i, j])
            kcl[b] = K._outputs(vr, vc, idev, w_row, w_col, g_left, g_right, g_top, g_bottom,
                                vl, vrt, vt, vb, t_left[b], t_right[b], t_top[b], t_bottom[b],
                                powers[b])
            if keep:
                K._copy(vr, vr_out[b])
                K._copy(vc, vc_out[b])
                K._copy(idev, idev_out[b])
