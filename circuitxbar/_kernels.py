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
def _energy(x, y, g, w, g_start, g_end):
    """Row-chain energy inner product <x, M y> for (C, R) row-layout arrays.

    w (R,): wire conductance 1/r per row, 0 for zero-resistance rows. Terms of ideal terminals
    and zero-resistance segments are skipped: on the vectors CG uses the pinned nodes are zero
    and merged nodes equal, so those terms are exactly zero.
    """
    n, m = x.shape
    acc = 0.0
    for l in range(m):
        acc += g[0, l] * x[0, l] * y[0, l]
    for k in range(1, n):
        for l in range(m):
            acc += g[k, l] * x[k, l] * y[k, l] + w[l] * (x[k, l] - x[k - 1, l]) * (y[k, l] - y[k - 1, l])
    for l in range(m):
        if g_start[l] < INF:
            acc += g_start[l] * x[0, l] * y[0, l]
        if g_end[l] < INF:
            acc += g_end[l] * x[n - 1, l] * y[n - 1, l]
    return acc


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
    v_left, v_right, v_top, v_bottom, inj, injT, has_inj, x, warm, rtol, eta, max_iter,
):
    """CG on the row voltages x (C, R), in place. Returns (iterations, relative residual).

    row_c / col_c: tuples (alpha, bg, binj, p, a_start, a_end, b_end) of the row (C, R) and
    column (R, C) chain factorisations. inj (R, C) / injT (C, R): extra device current flowing
    row -> column in every cell (Newton linearisation), used when has_inj. With warm, x holds a
    starting point; otherwise the start is F(0). The residual is ||F(x) - x||_M / ||x||_M; CG
    stops when it is below rtol or below eta times its starting value (inexact Newton).
    """
    n_cols, n_rows = gT.shape
    ra, rbg, rbinj, rp, ras, rae, rbe = row_c
    ca, cbg, cbinj, cp, cas, cae, cbe = col_c
    zr = np.zeros(n_rows)
    zc = np.zeros(n_cols)
    xt = np.empty((n_rows, n_cols))
    vc = np.empty((n_rows, n_cols))
    vct = np.empty((n_cols, n_rows))
    z = np.empty((n_cols, n_rows))
    pdir = np.empty((n_cols, n_rows))
    q = np.empty((n_cols, n_rows))
    if not warm:
        x[:, :] = 0.0
        _apply_f(row_c, col_c, x, v_left, v_right, v_top, v_bottom, inj, injT, has_inj, xt, vc, vct, z)
        x[:, :] = z
    _apply_f(row_c, col_c, x, v_left, v_right, v_top, v_bottom, inj, injT, has_inj, xt, vc, vct, z)
    for k in range(n_cols):
        for l in range(n_rows):
            z[k, l] -= x[k, l]
    rho = _energy(z, z, gT, w_row, g_left, g_right)
    norm0 = _energy(x, x, gT, w_row, g_left, g_right)
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
        # q = (I - H) p, H = homogeneous row-after-column solve
        _transpose(pdir, xt)
        _sweep(ca, cbg, cp, cas, cae, cbe, xt, zc, zc, vc)
        _transpose(vc, vct)
        _sweep(ra, rbg, rp, ras, rae, rbe, vct, zr, zr, q)
        for k in range(n_cols):
            for l in range(n_rows):
                q[k, l] = pdir[k, l] - q[k, l]
        pq = _energy(pdir, q, gT, w_row, g_left, g_right)
        if pq <= 0.0:
            break
        a = rho / pq
        for k in range(n_cols):
            for l in range(n_rows):
                x[k, l] += a * pdir[k, l]
                z[k, l] -= a * q[k, l]
        rho_new = _energy(z, z, gT, w_row, g_left, g_right)
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
def _chain_currents(v, shunt_out, r, gs, ge, vs, ve):
    """Terminal currents, wire power and KCL mismatch of one chain.

    v: node voltages along the chain [V]; shunt_out: current leaving each node through its
    cell [A]. Returns (current in at the start terminal, current out at the end terminal,
    wire power [W], largest mismatch between the KCL and Ohm's-law segment currents [A],
    rounding floor of that mismatch [A]).
    """
    n = v.size
    total = 0.0
    for k in range(n):
        total += shunt_out[k]
    i_start = 0.0
    i_end = 0.0
    start_ideal = gs == INF
    end_ideal = ge == INF
    if not start_ideal:
        i_start = gs * (vs - v[0])
    if not end_ideal:
        i_end = ge * (v[n - 1] - ve)
    if start_ideal and not end_ideal:
        i_start = total + i_end
    elif end_ideal and not start_ideal:
        i_end = i_start - total
    elif start_ideal and end_ideal:  # validated: r > 0 and n >= 2
        i_start = shunt_out[0] + (v[0] - v[1]) / r
        i_end = (v[n - 2] - v[n - 1]) / r - shunt_out[n - 1]
    power = 0.0
    mismatch = 0.0
    seg = i_start
    vmax = 0.0
    for k in range(n):
        vmax = max(vmax, abs(v[k]))
    for k in range(n - 1):
        seg -= shunt_out[k]
        if r > 0.0:
            dv = v[k] - v[k + 1]
            power += dv * dv / r
            mismatch = max(mismatch, abs(seg - dv / r))
    seg -= shunt_out[n - 1]
    mismatch = max(mismatch, abs(seg - i_end))
    floor = 64.0 * 2.220446049250313e-16 * vmax / r if r > 0.0 else 0.0
    return i_start, i_end, power, mismatch, floor


@numba.njit(**JIT)
def _outputs(vr, vc, idev, r_row, r_col, g_left, g_right, g_top, g_bottom,
             v_left, v_right, v_top, v_bottom, t_left, t_right, t_top, t_bottom, powers):
    """Terminal currents (array -> terminal) [A], powers [W]; returns the relative KCL residual.

    powers: [device, row wires, column wires, terminals, delivered by sources].
    """
    n_rows, n_cols = vr.shape
    p_dev = 0.0
    for i in range(n_rows):
        for j in range(n_cols):
            p_dev += idev[i, j] * (vr[i, j] - vc[i, j])
    p_row = 0.0
    p_col = 0.0
    p_term = 0.0
    p_src = 0.0
    mismatch = 0.0
    floor = 0.0
    scale = 0.0
    neg = np.empty(n_rows)
    for i in range(n_rows):
        i_in, i_out, pw, mm, fl = _chain_currents(vr[i, :], idev[i, :], r_row[i], g_left[i],
                                                  g_right[i], v_left[i], v_right[i])
        t_left[i] = -i_in
        t_right[i] = i_out
        p_row += pw
        mismatch = max(mismatch, mm)
        floor = max(floor, fl)
        scale = max(scale, abs(i_in), abs(i_out))
        p_src += v_left[i] * i_in - v_right[i] * i_out
        if g_left[i] < INF and g_left[i] > 0.0:
            p_term += i_in * i_in / g_left[i]
        if g_right[i] < INF and g_right[i] > 0.0:
            p_term += i_out * i_out / g_right[i]
    for j in range(n_cols):
        for i in range(n_rows):
            neg[i] = -idev[i, j]
        i_in, i_out, pw, mm, fl = _chain_currents(vc[:, j], neg, r_col[j], g_top[j],
                                                  g_bottom[j], v_top[j], v_bottom[j])
        t_top[j] = -i_in
        t_bottom[j] = i_out
        p_col += pw
        mismatch = max(mismatch, mm)
        floor = max(floor, fl)
        scale = max(scale, abs(i_in), abs(i_out))
        p_src += v_top[j] * i_in - v_bottom[j] * i_out
        if g_top[j] < INF and g_top[j] > 0.0:
            p_term += i_in * i_in / g_top[j]
        if g_bottom[j] < INF and g_bottom[j] > 0.0:
            p_term += i_out * i_out / g_bottom[j]
    for i in range(n_rows):
        for j in range(n_cols):
            scale = max(scale, abs(idev[i, j]))
    powers[0] = p_dev
    powers[1] = p_row
    powers[2] = p_col
    powers[3] = p_term
    powers[4] = p_src
    if scale == 0.0:
        return 0.0
    return mismatch / (scale + floor)


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
    b_left, b_right, b_top, b_bottom, input_code, v_in, rtol, max_iter,
    vr_out, vc_out, idev_out, t_left, t_right, t_top, t_bottom, powers, iters, resid, kcl,
):
    """Solve every input of the batch v_in (B, n_in) on a linear array (one per thread)."""
    n_rows, n_cols = g.shape
    n_batch = v_in.shape[0]
    keep = vr_out.shape[0] == n_batch
    w_row = _wire_conductance(r_row)
    for b in prange(n_batch):
        vl = _end_voltages(b_left, v_in[b], input_code, 0)
        vrt = _end_voltages(b_right, v_in[b], input_code, 1)
        vt = _end_voltages(b_top, v_in[b], input_code, 2)
        vb = _end_voltages(b_bottom, v_in[b], input_code, 3)
        x = np.empty((n_cols, n_rows))
        dummy = np.empty((0, 0))
        it, rel = _pcg(gT, row_c, col_c, w_row, g_left, g_right, vl, vrt, vt, vb,
                       dummy, dummy, False, x, False, rtol, 0.0, max_iter)
        vr = np.empty((n_rows, n_cols))
        _transpose(x, vr)
        vc = np.empty((n_rows, n_cols))
        ca, cbg, cbinj, cp, cas, cae, cbe = col_c
        _sweep(ca, cbg, cp, cas, cae, cbe, vr, vt, vb, vc)
        idev = np.empty((n_rows, n_cols))
        for i in range(n_rows):
            for j in range(n_cols):
                idev[i, j] = g[i, j] * (vr[i, j] - vc[i, j])
        kcl[b] = _outputs(vr, vc, idev, r_row, r_col, g_left, g_right, g_top, g_bottom,
                          vl, vrt, vt, vb, t_left[b], t_right[b], t_top[b], t_bottom[b], powers[b])
        iters[b] = it
        resid[b] = rel
        if keep:
            vr_out[b] = vr
            vc_out[b] = vc
            idev_out[b] = idev
