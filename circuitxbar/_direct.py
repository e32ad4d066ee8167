"""Kernel of the factorised solve (``factorization.Factorization.solve``): every node's voltage
by back substitution through the nested-dissection factor, then the same outputs and KCL check
as the iterative solve. Private: arrays and scalars only."""

import math

import numba
import numpy as np

from circuitxbar import _kernels as K
from circuitxbar import _reduce as R
from circuitxbar._config import INNER, JIT

INF = np.inf

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


@numba.njit(**INNER)
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
    terminals, solved by the caller); steps from factor_block and compress with node numbers
    in tile order, position from tile_position; workspace from alloc_workspace; the outputs
    as _kernels._solve_linear_chunk's."""
    n_rows, n_cols = g.shape
    n_cells = n_rows * n_cols
    keep = vr_out.shape[0] == v_in.shape[0]
    w_row = K._wire_conductance(r_row)
    w_col = K._wire_conductance(r_col)
    u_full, per_input_full = workspace
    sub = u_full.shape[1]
    for s0 in range(b_start, b_stop, sub):
        s1 = min(s0 + sub, b_stop)
        # every node is set: the top boundary here, the rest by exactly one step
        u = u_full if s1 - s0 == sub else np.empty((2 * n_cells, s1 - s0))
        for a in range(top_ids.size):
            for b in range(s1 - s0):
                u[top_ids[a], b] = u_top[a, s0 + b]
        kind, op_n, op_nb, id_off, ids, first_col, col_ptr, target, val, x_off, x_coef = steps
        R.back_substitute(kind, op_n, op_nb, id_off, ids, first_col, col_ptr, target, val, x_off,
                          x_coef, u)
        # outputs straight from u, across the sub-batch (no per-input copy needed for them)
        ends = _end_voltage_rows(b_left, b_right, b_top, b_bottom, v_in[s0:s1], input_code)
        _outputs_batch(u, position, g, w_row, w_col, g_left, g_right, g_top, g_bottom,
                       ends[0], ends[1], ends[2], ends[3], t_left[s0:s1], t_right[s0:s1],
                       t_top[s0:s1], t_bottom[s0:s1], powers[s0:s1], kcl[s0:s1])
        if not keep:
            continue
        # the node voltages and device currents, back in row-major order per input
        for b in range(s0, s1):
            if (b - s0) % UNTILE_INPUTS == 0:
                _untile(u, position, n_rows, n_cols, b - s0, min(b - s0 + UNTILE_INPUTS, s1 - s0),
                        per_input_full)
            x = per_input_full[(b - s0) % UNTILE_INPUTS]
            vr, vc, idev = vr_out[b], vc_out[b], idev_out[b]
            # one pass, straight from the flat per-input copy (no reshape: it compiles a helper)
            for i in range(n_rows):
                for j in range(n_cols):
                    a = x[i * n_cols + j]
                    c = x[n_cells + i * n_cols + j]
                    vr[i, j] = a
                    vc[i, j] = c
                    idev[i, j] = g[i, j] * (a - c)


@numba.njit(**INNER)
def _outputs_batch(u, position, g, w_row, w_col, g_left, g_right, g_top, g_bottom, vl, vrt,
                   vt, vb, t_left, t_right, t_top, t_bottom, powers, kcl):
    """_kernels._outputs for a sub-batch at once, straight from the tile-ordered voltages u
    (nodes, B): the same currents, powers and KCL mismatch, each loop running across the B
    inputs (no copy back to one row-major vector per input, which with the per-input outputs
    cost as much as the back substitution). vl, vrt (B, R), vt, vb (B, C): end voltages;
    results go to rows 0..B-1 of the output arrays.

    Two passes over the rows: the first solves each row chain and sums each column's cell
    currents (a column's end currents need its total), the second walks the column segments."""
    n_rows, n_cols = g.shape
    nbat = u.shape[1]
    vr = np.empty((n_cols, nbat))
    vc = np.empty((n_cols, nbat))
    idev = np.empty((n_cols, nbat))
    prev_vc = np.empty((n_cols, nbat))
    prev_idev = np.empty((n_cols, nbat))
    # per column and input: cell-current total, |v| max, the end nodes' voltages and currents
    tot_c = K.zeros2(n_cols, nbat)
    vmax_c = K.zeros2(n_cols, nbat)
    vc0 = np.empty((n_cols, nbat))
    vc1 = np.empty((n_cols, nbat))
    vcp = np.empty((n_cols, nbat))
    vcl = np.empty((n_cols, nbat))
    sh0 = np.empty((n_cols, nbat))
    shl = np.empty((n_cols, nbat))
    # per input: the sums and maxima below (np.empty and _fill, not zeros2(8, ...): the
    # literal 8 would compile zeros2 a second time, for Literal[int](8))
    acc = np.empty((8, nbat))
    K._fill(acc, 0.0)
    row_lanes = np.empty((3, nbat))  # per input: a row chain's segment current, mismatch, power
    seg_r, mm_b, pw_b = row_lanes[0], row_lanes[1], row_lanes[2]
    p_dev, scale, p_row, mm_r = acc[0], acc[1], acc[2], acc[3]
    p_col, mm_c, tot, vmax = acc[4], acc[5], acc[6], acc[7]
    # the current into each line's start terminal, per input (for the terminal powers)
    in_r = np.empty((nbat, n_rows))
    in_c = np.empty((nbat, n_cols))
    v_src = np.empty(nbat)
    for b in range(nbat):
        v_src[b] = K.source_scale(g_left, g_right, g_top, g_bottom, vl[b], vrt[b], vt[b], vb[b])
        for j in range(n_cols):
            vmax_c[j, b] = v_src[b]
    # a row chain's last, second and second-last nodes (for its terminal currents)
    last, second, penult = n_cols - 1, min(1, n_cols - 1), max(n_cols - 2, 0)
    for i in range(n_rows):
        _gather_row(u, position, i, n_rows, n_cols, vr, vc)
        for j in range(n_cols):
            gij = g[i, j]
            for b in range(nbat):
                d = gij * (vr[j, b] - vc[j, b])
                idev[j, b] = d
                p_dev[b] += d * (vr[j, b] - vc[j, b])
                scale[b] = max(scale[b], abs(d))
                tot_c[j, b] -= d
                vmax_c[j, b] = max(vmax_c[j, b], abs(vc[j, b]))
        if i == 0:
            K._copy(vc, vc0)
            K._copy(idev, sh0)
        if i == min(1, n_rows - 1):
            K._copy(vc, vc1)
        if i == max(n_rows - 2, 0):
            K._copy(vc, vcp)
        if i == n_rows - 1:
            K._copy(vc, vcl)
            K._copy(idev, shl)
        # row chain i (as _kernels._row_chain_currents)
        w = w_row[i]
        for b in range(nbat):
            tot[b] = 0.0
            vmax[b] = v_src[b]
        for j in range(n_cols):
            for b in range(nbat):
                tot[b] += idev[j, b]
                vmax[b] = max(vmax[b], abs(vr[j, b]))
        for b in range(nbat):
            a, e = K._terminal_currents(g_left[i], g_right[i], vl[b, i], vrt[b, i], vr[0, b],
                                        vr[second, b], vr[penult, b], vr[last, b], idev[0, b],
                                        idev[last, b], tot[b], w)
            in_r[b, i] = a
            t_right[b, i] = e
            scale[b] = max(scale[b], abs(a), abs(e))
            seg_r[b] = a
            mm_b[b] = 0.0
            pw_b[b] = 0.0
        # the segments, each input's chain in its own lane: inputs inner (contiguous), so the
        # loop vectorises, where one input's chain at a time waited on every operation's
        # latency; every input's operations and their order are unchanged
        for j in range(last):
            for b in range(nbat):
                seg_r[b] -= idev[j, b]
                dv = vr[j, b] - vr[j + 1, b]
                pw_b[b] += w * dv * dv
                # merged rows (w = 0) have no Ohm's-law current to compare
                mm_b[b] = max(mm_b[b], abs(seg_r[b] - dv * w)) if w > 0.0 else mm_b[b]
        for b in range(nbat):
            seg = seg_r[b] - idev[last, b]
            mm = max(mm_b[b], abs(seg - t_right[b, i]))
            p_row[b] += pw_b[b]
            # mismatch beyond the chain's rounding floor (see _kernels._chain_currents)
            mm_r[b] = max(mm_r[b], mm - K.KCL_FLOOR * vmax[b] * w)
    # column end currents (as _kernels._chain_currents with sign -1)
    seg_c = np.empty((n_cols, nbat))
    for j in range(n_cols):
        w = w_col[j]
        for b in range(nbat):
            # the current leaving a column node through its cell is -idev
            a, e = K._terminal_currents(g_top[j], g_bottom[j], vt[b, j], vb[b, j], vc0[j, b],
                                        vc1[j, b], vcp[j, b], vcl[j, b], -sh0[j, b],
                                        -shl[j, b], tot_c[j, b], w)
            in_c[b, j] = a
            t_bottom[b, j] = e
            seg_c[j, b] = a
            scale[b] = max(scale[b], abs(a), abs(e))
    # second pass: the column segments
    for i in range(n_rows):
        _gather_row(u, position, i, n_rows, n_cols, vr, vc)
        if i > 0:
            for j in range(n_cols):
                w = w_col[j]
                for b in range(nbat):
                    seg_c[j, b] += prev_idev[j, b]
                    dv = prev_vc[j, b] - vc[j, b]
                    p_col[b] += w * dv * dv
                    if w > 0.0:
                        mm_c[b] = max(mm_c[b],
                                      abs(seg_c[j, b] - dv * w) - K.KCL_FLOOR * vmax_c[j, b] * w)
        for j in range(n_cols):
            gij = g[i, j]
            for b in range(nbat):
                prev_idev[j, b] = gij * (vr[j, b] - vc[j, b])
                prev_vc[j, b] = vc[j, b]
    for j in range(n_cols):
        for b in range(nbat):
            seg_c[j, b] += prev_idev[j, b]
            floor = K.KCL_FLOOR * vmax_c[j, b] * w_col[j]
            mm_c[b] = max(mm_c[b], abs(seg_c[j, b] - t_bottom[b, j]) - floor)
    for b in range(nbat):
        pt_r, ps_r = K._terminal_power(in_r[b], t_right[b], g_left, g_right, vl[b], vrt[b],
                                       t_left[b])
        pt_c, ps_c = K._terminal_power(in_c[b], t_bottom[b], g_top, g_bottom, vt[b], vb[b],
                                       t_top[b])
        powers[b, 0] = p_dev[b]
        powers[b, 1] = p_row[b]
        powers[b, 2] = p_col[b]
        powers[b, 3] = pt_r + pt_c
        powers[b, 4] = ps_r + ps_c
        if not math.isfinite(p_dev[b] + p_row[b] + p_col[b] + pt_r + pt_c + ps_r + ps_c):
            kcl[b] = INF  # a NaN or infinite voltage or current (the maxima skip NaN)
        elif scale[b] == 0.0:
            kcl[b] = 0.0
        else:
            kcl[b] = max(mm_r[b], mm_c[b]) / scale[b]


@numba.njit(**INNER)
def _end_voltage_rows(b_left, b_right, b_top, b_bottom, v_in, input_code):
    """The four end sets' source voltages, one row per input of v_in (B, n_in)."""
    nbat = v_in.shape[0]
    out = (np.empty((nbat, b_left.size)), np.empty((nbat, b_right.size)),
           np.empty((nbat, b_top.size)), np.empty((nbat, b_bottom.size)))
    for b in range(nbat):
        ends = K._end_voltages(b_left, b_right, b_top, b_bottom, v_in[b], input_code)
        for k in range(4):
            for q in range(ends[k].size):
                out[k][b, q] = ends[k][q]
    return out


@numba.njit(**INNER)
def _gather_row(u, position, i, n_rows, n_cols, vr, vc):
    """Row i's row-wire and column-wire node voltages (C, B) from the tile-ordered u."""
    n_cells = n_rows * n_cols
    nbat = u.shape[1]
    for j0 in range(0, n_cols, R.TILE):
        w = min(R.TILE, n_cols - j0)
        r0 = position[i * n_cols + j0]
        c0 = position[n_cells + i * n_cols + j0]
        for q in range(w):
            for b in range(nbat):
                vr[j0 + q, b] = u[r0 + q, b]
                vc[j0 + q, b] = u[c0 + q, b]
