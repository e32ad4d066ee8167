"""Compiled kernels of the crossbar solver. Private: arrays and scalars only, no globals.

The method (documented in circuitxbar/README.md):

* Every wire line is a chain of nodes with a shunt branch (the cell) at each node and a terminal
  at each end. ``_factor_lines`` eliminates a chain from its start end once: at each node it keeps
  the Thevenin conductance looking back (a sum of positive terms, so no cancellation, and exact
  for ideal terminals and zero-resistance wires through IEEE infinities). ``_sweep`` then solves
  the chain for any shunt potentials with one forward and one backward pass of convex
  combinations.
* The unknowns are the row-node voltages. Given them, the column chains are solved exactly; given
  the column voltages, the row chains are. That map ``F`` is one block Gauss-Seidel sweep; the
  fixed point ``x = F(x)`` is the circuit solution. ``_pcg`` runs conjugate gradients on
  ``(I - H) x = F(0)`` (``H`` the homogeneous part of ``F``), which is self-adjoint and positive
  definite in the inner product of the row-chain energy ``<x, M y>``. This is CG on the Schur
  complement of the row nodes preconditioned by exact row-line solves.

Layouts: column chains use (R, C) arrays (node index i first, chain j second); row chains use
(C, R) arrays. Both sweep with the chain index innermost so the compiler vectorises across
chains.
"""

import math

import numba
import numpy as np
from numba import prange

from circuitxbar._config import JIT, JIT_PARALLEL
from circuitxbar.devices.kernels import cell_current

INF = math.inf


@numba.njit(**JIT)
def _factor_lines(g, r, g_start, g_end, alpha, bg, binj, p, a_start, a_end, b_end):
    """Eliminate every chain from its start: fills the sweep coefficients.

    g (n, m): shunt conductance of node k of chain l [S]; r (m,): segment resistance [ohm];
    g_start, g_end (m,): terminal conductances [S] (inf ideal, 0 open).
    Forward:  S_0 = a_start V_start + bg_0 u_0 + binj_0 c_0;  S_k = alpha_k S_{k-1} + bg_k u_k + binj_k c_k
    Last:     V_{n-1} = a_end S_{n-1} + b_end V_end
    Backward: V_k = S_k + p_k (V_{k+1} - S_k)
    """
    n, m = g.shape
    e = np.empty(m)  # Thevenin conductance looking back from the current node
    for l in range(m):
        gs = g_start[l]
        e0 = gs + g[0, l]
        if gs == INF:
            a_start[l] = 1.0
            bg[0, l] = 0.0
            binj[0, l] = 0.0
        elif e0 > 0.0:
            a_start[l] = gs / e0
            bg[0, l] = g[0, l] / e0
            binj[0, l] = 1.0 / e0
        else:
            a_start[l] = 0.0
            bg[0, l] = 0.0
            binj[0, l] = 0.0
        alpha[0, l] = 0.0
        e[l] = e0
    for k in range(n):
        for l in range(m):
            ek = e[l]
            rl = r[l]
            if ek == INF:
                pk = 0.0
                c = 1.0 / rl if rl > 0.0 else INF
            else:
                pk = 1.0 / (1.0 + rl * ek)
                c = ek * pk
            p[k, l] = pk
            if k + 1 < n:
                gn = g[k + 1, l]
                en = c + gn
                if c == INF:
                    alpha[k + 1, l] = 1.0
                    bg[k + 1, l] = 0.0
                    binj[k + 1, l] = 0.0
                elif en > 0.0:
                    alpha[k + 1, l] = c / en
                    bg[k + 1, l] = gn / en
                    binj[k + 1, l] = 1.0 / en
                else:
                    alpha[k + 1, l] = 0.0
                    bg[k + 1, l] = 0.0
                    binj[k + 1, l] = 0.0
                e[l] = en
    for l in range(m):
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


@numba.njit(**JIT)
def _sweep(alpha, bg, p, a_start, a_end, b_end, u, v_start, v_end, out):
    """Solve every chain for shunt potentials u (n, m) and end voltages; result in out."""
    n, m = u.shape
    for l in range(m):
        out[0, l] = a_start[l] * v_start[l] + bg[0, l] * u[0, l]
    for k in range(1, n):
        for l in range(m):
            out[k, l] = alpha[k, l] * out[k - 1, l] + bg[k, l] * u[k, l]
    _finish_sweep(p, a_end, b_end, v_end, out)


@numba.njit(**JIT)
def _sweep_inj(alpha, bg, binj, p, a_start, a_end, b_end, u, inj, sign, v_start, v_end, out):
    """As _sweep, with an extra current ``sign * inj`` injected into every node [A]."""
    n, m = u.shape
    for l in range(m):
        out[0, l] = a_start[l] * v_start[l] + bg[0, l] * u[0, l] + binj[0, l] * sign * inj[0, l]
    for k in range(1, n):
        for l in range(m):
            out[k, l] = alpha[k, l] * out[k - 1, l] + bg[k, l] * u[k, l] + binj[k, l] * sign * inj[k, l]
    _finish_sweep(p, a_end, b_end, v_end, out)


@numba.njit(**JIT)
def _finish_sweep(p, a_end, b_end, v_end, out):
    n, m = out.shape
    for l in range(m):
        out[n - 1, l] = a_end[l] * out[n - 1, l] + b_end[l] * v_end[l]
    for k in range(n - 2, -1, -1):
        for l in range(m):
            s = out[k, l]
            out[k, l] = s + p[k, l] * (out[k + 1, l] - s)


@numba.njit(**JIT)
def _transpose(src, dst):
    """dst = src.T in 8x8 tiles: small tiles avoid cache-set conflicts at power-of-two strides."""
    n, m = src.shape
    for i0 in range(0, n, 8):
        i1 = min(i0 + 8, n)
        for j0 in range(0, m, 8):
            j1 = min(j0 + 8, m)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    dst[j, i] = src[i, j]


@numba.njit(**JIT)
def _energy(x, y, g, w, g_start, g_end, lane):
    """Row-chain energy inner product <x, M y> for (C, R) row-layout arrays.

    w (R,): wire conductance 1/r per row, 0 for zero-resistance rows. Terms of ideal terminals
    and zero-resistance segments are skipped: on the vectors CG uses the pinned nodes are zero
    and merged nodes equal, so those terms are exactly zero. ``lane`` (R,) is scratch: one
    partial sum per chain keeps the loop vectorisable without reassociating (no fastmath).
    """
    n, m = x.shape
    for l in range(m):
        lane[l] = g[0, l] * x[0, l] * y[0, l]
    for k in range(1, n):
        for l in range(m):
            lane[l] += g[k, l] * x[k, l] * y[k, l] + w[l] * (x[k, l] - x[k - 1, l]) * (y[k, l] - y[k - 1, l])
    return _finish_energy(x, y, g_start, g_end, lane)


@numba.njit(**JIT)
def _finish_energy(x, y, g_start, g_end, lane):
    n, m = x.shape
    acc = 0.0
    for l in range(m):
        acc += lane[l]
        if g_start[l] < INF:
            acc += g_start[l] * x[0, l] * y[0, l]
        if g_end[l] < INF:
            acc += g_end[l] * x[n - 1, l] * y[n - 1, l]
    return acc


@numba.njit(**JIT)
def _alloc_workspace(n_rows, n_cols):
    """Scratch of one CG solve: xt, vc (R, C); vct, z, pdir, q (C, R); lane (R,); x (C, R)."""
    return (np.empty((n_rows, n_cols)), np.empty((n_rows, n_cols)), np.empty((n_cols, n_rows)),
            np.empty((n_cols, n_rows)), np.empty((n_cols, n_rows)), np.empty((n_cols, n_rows)),
            np.empty(n_rows), np.empty((n_cols, n_rows)))


@numba.njit(**JIT)
def _apply_f(row_c, col_c, x, v_left, v_right, v_top, v_bottom, inj, injT, has_inj, xt, vc, vct, out):
    """out = F(x): column chains solved for row voltages x (C, R), then row chains."""
    ra, rbg, rbinj, rp, ras, rae, rbe = row_c
    ca, cbg, cbinj, cp, cas, cae, cbe = col_c
    _transpose(x, xt)
    if has_inj:
        _sweep_inj(ca, cbg, cbinj, cp, cas, cae, cbe, xt, inj, 1.0, v_top, v_bottom, vc)
    else:
        _sweep(ca, cbg, cp, cas, cae, cbe, xt, v_top, v_bottom, vc)
    _transpose(vc, vct)
    if has_inj:
        _sweep_inj(ra, rbg, rbinj, rp, ras, rae, rbe, vct, injT, -1.0, v_left, v_right, out)
    else:
        _sweep(ra, rbg, rp, ras, rae, rbe, vct, v_left, v_right, out)


@numba.njit(**JIT)
def _pcg(
    gT, row_c, col_c, w_row, g_left, g_right,
    v_left, v_right, v_top, v_bottom, inj, injT, has_inj, x, warm, rtol, eta, max_iter, work,
):
    """CG on the row voltages x (C, R), in place. Returns (iterations, relative residual).

    row_c / col_c: tuples (alpha, bg, binj, p, a_start, a_end, b_end) of the row (C, R) and
    column (R, C) chain factorisations. inj (R, C) / injT (C, R): extra device current flowing
    row -> column in every cell (Newton linearisation), used when has_inj. With warm, x holds a
    starting point; otherwise the start is F(0). The residual is ||F(x) - x||_M / ||x||_M; CG
    stops when it is below rtol or below eta times its starting value (inexact Newton).
    work: from _alloc_workspace.
    """
    n_cols, n_rows = gT.shape
    ra, rbg, rbinj, rp, ras, rae, rbe = row_c
    ca, cbg, cbinj, cp, cas, cae, cbe = col_c
    xt, vc, vct, z, pdir, q, lane, _x = work
    zr = np.zeros(n_rows)
    zc = np.zeros(n_cols)
    if not warm:
        x[:, :] = 0.0
        _apply_f(row_c, col_c, x, v_left, v_right, v_top, v_bottom, inj, injT, has_inj, xt, vc, vct, z)
        x[:, :] = z
    _apply_f(row_c, col_c, x, v_left, v_right, v_top, v_bottom, inj, injT, has_inj, xt, vc, vct, z)
    for k in range(n_cols):
        for l in range(n_rows):
            z[k, l] -= x[k, l]
    rho = _energy(z, z, gT, w_row, g_left, g_right, lane)
    norm0 = _energy(x, x, gT, w_row, g_left, g_right, lane)
    if norm0 <= 0.0:
        norm0 = 1.0
    rel = math.sqrt(max(rho, 0.0) / norm0)
    stop = max(rtol, eta * rel)
    if rel <= stop:
        return 0, rel
    pdir[:, :] = z
    it = 0
    while it < max_iter:
        it += 1
        # q = (I - H) p, H = homogeneous row-after-column solve; pq = <p, q>_M on the way
        _transpose(pdir, xt)
        _sweep(ca, cbg, cp, cas, cae, cbe, xt, zc, zc, vc)
        _transpose(vc, vct)
        _sweep(ra, rbg, rp, ras, rae, rbe, vct, zr, zr, q)
        for l in range(n_rows):
            q[0, l] = pdir[0, l] - q[0, l]
            lane[l] = gT[0, l] * pdir[0, l] * q[0, l]
        for k in range(1, n_cols):
            for l in range(n_rows):
                qk = pdir[k, l] - q[k, l]
                q[k, l] = qk
                lane[l] += gT[k, l] * pdir[k, l] * qk + w_row[l] * (
                    pdir[k, l] - pdir[k - 1, l]) * (qk - q[k - 1, l])
        pq = _finish_energy(pdir, q, g_left, g_right, lane)
        if pq <= 0.0:
            break
        a = rho / pq
        # x += a p; z -= a q; rho_new = <z, z>_M on the way
        for l in range(n_rows):
            x[0, l] += a * pdir[0, l]
            z0 = z[0, l] - a * q[0, l]
            z[0, l] = z0
            lane[l] = gT[0, l] * z0 * z0
        for k in range(1, n_cols):
            for l in range(n_rows):
                x[k, l] += a * pdir[k, l]
                zk = z[k, l] - a * q[k, l]
                z[k, l] = zk
                dz = zk - z[k - 1, l]
                lane[l] += gT[k, l] * zk * zk + w_row[l] * dz * dz
        rho_new = _finish_energy(z, z, g_left, g_right, lane)
        rel = math.sqrt(max(rho_new, 0.0) / norm0)
        if rel <= stop:
            break
        beta = rho_new / rho
        rho = rho_new
        for k in range(n_cols):
            for l in range(n_rows):
                pdir[k, l] = z[k, l] + beta * pdir[k, l]
    return it, rel


# --------------------------------------------------------------------------------------------
# Factorisation, outputs, and the batch drivers


@numba.njit(**JIT)
def _alloc_factors(n, m):
    return (np.empty((n, m)), np.empty((n, m)), np.empty((n, m)), np.empty((n, m)),
            np.empty(m), np.empty(m), np.empty(m))


@numba.njit(**JIT)
def _factor_all(g, gT, r_row, r_col, g_left, g_right, g_top, g_bottom, row_c, col_c):
    ra, rbg, rbinj, rp, ras, rae, rbe = row_c
    ca, cbg, cbinj, cp, cas, cae, cbe = col_c
    _factor_lines(gT, r_row, g_left, g_right, ra, rbg, rbinj, rp, ras, rae, rbe)
    _factor_lines(g, r_col, g_top, g_bottom, ca, cbg, cbinj, cp, cas, cae, cbe)


@numba.njit(**JIT)
def _chain_currents(v, shunt_out, w, gs, ge, vs, ve, i_start, i_end, lane):
    """Terminal currents, wire power and KCL mismatch of a set of chains (n, m), chain inner.

    v: node voltages [V]; shunt_out: current leaving each node through its cell [A]; w: wire
    conductance per chain [S] (0 = merged chain). Fills i_start (current in at the start
    terminal) and i_end (current out at the end terminal) [A]. Returns (wire power [W],
    largest mismatch between the KCL and Ohm's-law segment currents [A], rounding floor of
    that mismatch [A], largest current [A]).
    """
    n, m = v.shape
    eps = 2.220446049250313e-16
    total, seg, vmax = lane[0], lane[1], lane[2]
    for l in range(m):
        total[l] = shunt_out[0, l]
        vmax[l] = abs(v[0, l])
    for k in range(1, n):
        for l in range(m):
            total[l] += shunt_out[k, l]
            vmax[l] = max(vmax[l], abs(v[k, l]))
    scale = 0.0
    for l in range(m):
        start_ideal = gs[l] == INF
        end_ideal = ge[l] == INF
        a = 0.0 if start_ideal else gs[l] * (vs[l] - v[0, l])
        e = 0.0 if end_ideal else ge[l] * (v[n - 1, l] - ve[l])
        if start_ideal and not end_ideal:
            a = total[l] + e
        elif end_ideal and not start_ideal:
            e = a - total[l]
        elif start_ideal and end_ideal:  # validated: w > 0 and n >= 2
            a = shunt_out[0, l] + (v[0, l] - v[1, l]) * w[l]
            e = (v[n - 2, l] - v[n - 1, l]) * w[l] - shunt_out[n - 1, l]
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
            seg[l] -= shunt_out[k, l]
            dv = v[k, l] - v[k + 1, l]
            pw[l] += w[l] * dv * dv
            diff = abs(seg[l] - dv * w[l]) if w[l] > 0.0 else 0.0
            mm[l] = max(mm[l], diff)
    floor = 0.0
    for l in range(m):
        seg[l] -= shunt_out[n - 1, l]
        mm[l] = max(mm[l], abs(seg[l] - i_end[l]))
        power += pw[l]
        mismatch = max(mismatch, mm[l])
        floor = max(floor, 64.0 * eps * vmax[l] * w[l])
    return power, mismatch, floor, scale


@numba.njit(**JIT)
def _outputs(vr, vc, idev, w_row, w_col, g_left, g_right, g_top, g_bottom,
             v_left, v_right, v_top, v_bottom, t_left, t_right, t_top, t_bottom, powers):
    """Terminal currents (array -> terminal) [A], powers [W]; returns the relative KCL residual.

    powers: [device, row wires, column wires, terminals, delivered by sources].
    """
    n_rows, n_cols = vr.shape
    p_dev = 0.0
    scale = 0.0
    neg = np.empty((n_rows, n_cols))
    for i in range(n_rows):
        for j in range(n_cols):
            p_dev += idev[i, j] * (vr[i, j] - vc[i, j])
            scale = max(scale, abs(idev[i, j]))
            neg[i, j] = -idev[i, j]
    vrT = np.empty((n_cols, n_rows))
    idevT = np.empty((n_cols, n_rows))
    _transpose(vr, vrT)
    _transpose(idev, idevT)
    lane_r = np.empty((5, n_rows))
    lane_c = np.empty((5, n_cols))
    i_in_r = np.empty(n_rows)
    i_in_c = np.empty(n_cols)
    p_row, mm_r, fl_r, sc_r = _chain_currents(vrT, idevT, w_row, g_left, g_right, v_left,
                                              v_right, i_in_r, t_right, lane_r)
    p_col, mm_c, fl_c, sc_c = _chain_currents(vc, neg, w_col, g_top, g_bottom, v_top,
                                              v_bottom, i_in_c, t_bottom, lane_c)
    p_term = 0.0
    p_src = 0.0
    for i in range(n_rows):
        t_left[i] = -i_in_r[i]
        p_src += v_left[i] * i_in_r[i] - v_right[i] * t_right[i]
        if g_left[i] < INF and g_left[i] > 0.0:
            p_term += i_in_r[i] * i_in_r[i] / g_left[i]
        if g_right[i] < INF and g_right[i] > 0.0:
            p_term += t_right[i] * t_right[i] / g_right[i]
    for j in range(n_cols):
        t_top[j] = -i_in_c[j]
        p_src += v_top[j] * i_in_c[j] - v_bottom[j] * t_bottom[j]
        if g_top[j] < INF and g_top[j] > 0.0:
            p_term += i_in_c[j] * i_in_c[j] / g_top[j]
        if g_bottom[j] < INF and g_bottom[j] > 0.0:
            p_term += t_bottom[j] * t_bottom[j] / g_bottom[j]
    powers[0] = p_dev
    powers[1] = p_row
    powers[2] = p_col
    powers[3] = p_term
    powers[4] = p_src
    scale = max(scale, sc_r, sc_c)
    if scale == 0.0:
        return 0.0
    return max(mm_r, mm_c) / (scale + max(fl_r, fl_c))


@numba.njit(**JIT)
def _wire_conductance(r):
    """1/r per line, 0 where r = 0 (merged lines carry no wire energy)."""
    w = np.zeros(r.size)
    for l in range(r.size):
        if r[l] > 0.0:
            w[l] = 1.0 / r[l]
    return w


@numba.njit(**JIT)
def _end_voltages(bias, v_in, input_code, which):
    """Source voltages of end set `which` (0 left, 1 right, 2 top, 3 bottom) for one input."""
    if input_code == which:
        return v_in.copy()
    return bias.copy()


@numba.njit(**JIT_PARALLEL)
def _solve_linear_batch(
    g, gT, row_c, col_c, r_row, r_col, g_left, g_right, g_top, g_bottom,
    b_left, b_right, b_top, b_bottom, input_code, v_in, rtol, max_iter, n_threads,
    vr_out, vc_out, idev_out, t_left, t_right, t_top, t_bottom, powers, iters, resid, kcl,
):
    """Solve every input of the batch v_in (B, n_in) on a linear array.

    The batch is cut into one contiguous chunk per thread; each chunk allocates its scratch
    once (fresh large allocations per input cost page faults comparable to a solve).
    """
    n_rows, n_cols = g.shape
    n_batch = v_in.shape[0]
    keep = vr_out.shape[0] == n_batch
    w_row = _wire_conductance(r_row)
    n_chunks = max(1, min(n_batch, n_threads))
    w_col = _wire_conductance(r_col)
    ca, cbg, cbinj, cp, cas, cae, cbe = col_c
    dummy = np.empty((0, 0))
    for c in prange(n_chunks):
        work = _alloc_workspace(n_rows, n_cols)
        x = work[7]
        vr = np.empty((n_rows, n_cols))
        vc = np.empty((n_rows, n_cols))
        idev = np.empty((n_rows, n_cols))
        for b in range(c * n_batch // n_chunks, (c + 1) * n_batch // n_chunks):
            vl = _end_voltages(b_left, v_in[b], input_code, 0)
            vrt = _end_voltages(b_right, v_in[b], input_code, 1)
            vt = _end_voltages(b_top, v_in[b], input_code, 2)
            vb = _end_voltages(b_bottom, v_in[b], input_code, 3)
            it, rel = _pcg(gT, row_c, col_c, w_row, g_left, g_right, vl, vrt, vt, vb,
                           dummy, dummy, False, x, False, rtol, 0.0, max_iter, work)
            _transpose(x, vr)
            _sweep(ca, cbg, cp, cas, cae, cbe, vr, vt, vb, vc)
            for i in range(n_rows):
                for j in range(n_cols):
                    idev[i, j] = g[i, j] * (vr[i, j] - vc[i, j])
            kcl[b] = _outputs(vr, vc, idev, w_row, w_col, g_left, g_right, g_top, g_bottom,
                              vl, vrt, vt, vb, t_left[b], t_right[b], t_top[b], t_bottom[b],
                              powers[b])
            iters[b] = it
            resid[b] = rel
            if keep:
                vr_out[b] = vr
                vc_out[b] = vc
                idev_out[b] = idev
