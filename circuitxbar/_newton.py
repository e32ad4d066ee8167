"""Nonlinear devices: Newton's method on the whole network with the linear solver inside.

Why it converges: with every device monotone (dI/dV >= 0) the DC solution minimises the
network's co-content, a convex function of the node voltages. Each Newton direction comes from
the linearised network (device -> its differential conductance plus a current source), solved
by the same line-Schur CG as the linear case; a line search on the co-content's directional
derivative (which needs only currents, never the co-content itself) keeps every step a descent
step. Full Newton steps are taken whenever they do not overshoot the minimum along the line, so
convergence near the solution is quadratic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from circuitxbar import _kernels as K
from circuitxbar._config import INNER, JIT, SHARED, kernel_input
from circuitxbar._native import Shared, addresses
from circuitxbar._intrinsics import _take_next
from circuitxbar.devices.kernels import SINH, cell_current, kernel_model
from circuitxbar.devices.kernels import _sinh_cosh as sinh_cosh

INF = math.inf
#: relative CG tolerance of each Newton step's linear solve (inexact Newton), and the looser
#: one of the first two solves
FORCING = 1e-4
EARLY_FORCING = 1e-2
#: chord steps (the last factors kept, the devices' current source re-linearised at the new
#: point) are tried once a full Newton step was below CHORD_TRY of the source scale, and taken
#: when no cell's differential conductance moved by more than CHORD_REL of the factored one:
#: a chord step then shrinks the error by about that factor, at no factorisation
CHORD_TRY = 1e-3
CHORD_REL = 1e-2
#: Newton's start, ``solve(newton_start=...)``: "solve" takes the small-signal network (the
#: devices linearised at zero bias) solved by CG to EARLY_FORCING of its starting residual;
#: "sweep" that network's line-Schur map applied twice from zero instead, x = F(F(0)), no CG
#: (K._pcg with max_iter 0): a rougher start that Newton's first step absorbs. On sinh
#: arrays (k = 2-10 1/V, 64 to 512 squared, 0.5-4 ohm segments, cells 1e-5..1e-4 S, one
#: process alternating the two) the sweep kept the Newton steps and saved 1-2 CG iterations,
#: 1.03-1.18x faster per input up to an IR-drop number of 16 (1.05-1.17x on the 256 x 256
#: benchmark at 6.6, 1.12x on 400 x 400 at 16); at 20 (448 x 448) some inputs took a fourth
#: Newton step (0.89x), at 26 (512 x 512) and 65 every input did (0.96x). "auto" sweeps up to
#: SWEEP_START_MAX_IR_DROP (Crossbar.ir_drop_number), else solves
#: (the names: solver.NEWTON_STARTS).
SWEEP_START_MAX_IR_DROP = 16.0


@numba.njit(**INNER)
def _direction(x, xc, vr, vc, idev, w_row, w_col, g_left, g_right, g_top, g_bottom, v_left,
               v_right, v_top, v_bottom, lanes):
    """What the line search needs of the Newton direction, in one pass that only reads.

    The new point X = (x, xc) holds the new row and column voltages, the current point
    V = (vr, vc). The direction d = (x - vr, xc - vc) is never stored: the line search evaluates
    points (1 - t) V + t X from the two pairs (``_device_slope``). Returns (largest |d|, a, b,
    s0): the wire and terminal part of the co-content's slope along d, slope_lin(t) = a + b t,
    and the device part at t = 0, s0 = sum idev (d_r - d_c). ``lanes`` (4, C) scratch:
    per-column partial sums keep the loops vectorisable without reassociation (no fastmath).
    Rows run top to bottom: the same loops over rows in descending order ran at half the speed
    (LLVM's vectorised code for them, measured on a 256 x 256 array).
    """
    n_rows, n_cols = vr.shape
    big, la, lb, ls = lanes[0], lanes[1], lanes[2], lanes[3]
    for j in range(n_cols):
        big[j] = 0.0
        la[j] = 0.0
        lb[j] = 0.0
        ls[j] = 0.0
    a = 0.0
    b = 0.0
    last = n_rows - 1
    for i in range(n_rows):
        for j in range(n_cols):
            d_r = x[i, j] - vr[i, j]
            d_c = xc[i, j] - vc[i, j]
            big[j] = max(big[j], abs(d_r), abs(d_c))
            ls[j] += idev[i, j] * (d_r - d_c)
        w = w_row[i]
        for j in range(n_cols - 1):
            dd = (x[i, j + 1] - vr[i, j + 1]) - (x[i, j] - vr[i, j])
            la[j] += w * (vr[i, j + 1] - vr[i, j]) * dd
            lb[j] += w * dd * dd
        if i > 0:
            for j in range(n_cols):
                dd = (xc[i, j] - vc[i, j]) - (xc[i - 1, j] - vc[i - 1, j])
                la[j] += w_col[j] * (vc[i, j] - vc[i - 1, j]) * dd
                lb[j] += w_col[j] * dd * dd
        if g_left[i] < INF:
            d = x[i, 0] - vr[i, 0]
            a += g_left[i] * (vr[i, 0] - v_left[i]) * d
            b += g_left[i] * d * d
        if g_right[i] < INF:
            d = x[i, n_cols - 1] - vr[i, n_cols - 1]
            a += g_right[i] * (vr[i, n_cols - 1] - v_right[i]) * d
            b += g_right[i] * d * d
    for j in range(n_cols):
        if g_top[j] < INF:
            d = xc[0, j] - vc[0, j]
            a += g_top[j] * (vc[0, j] - v_top[j]) * d
            b += g_top[j] * d * d
        if g_bottom[j] < INF:
            d = xc[last, j] - vc[last, j]
            a += g_bottom[j] * (vc[last, j] - v_bottom[j]) * d
            b += g_bottom[j] * d * d
    step_max = 0.0
    s0 = 0.0
    for j in range(n_cols):
        step_max = max(step_max, big[j])
        a += la[j]
        b += lb[j]
        s0 += ls[j]
    return step_max, a, b, s0


# The device part of the co-content's slope at the point (1 - t) V + t X between the pairs
# V = (vr, vc) and X = (xr, xc): both kernels below fill idev, gdev at that point and
# inj = idev - gdev v, the current source of the devices linearised there (the next Newton
# step's, when this point is accepted), and return (slope, all finite). Each cell's voltage is
# (1 - t) u0 + t u1 from its voltages u0 at V and u1 at X: exactly u1 at t = 1 and u0 at t = 0,
# so a full step lands on X itself, bit for bit, and the pair X becomes the current point
# without a pass to write it. X = V evaluates V. The slope takes the step per cell as
# (xr - vr) - (xc - vc), differences of nearby voltages (exact when within a factor of 2):
# u1 - u0 would carry the rounding of u0 and u1, which near convergence (steps of 1e-10 V)
# decides the sign of the slope the line search reads. vr_to, vc_to (R, C), unless empty,
# receive the point itself, written while the row is in cache (the line search's last
# evaluation is the accepted point; only a step shorter than the full one needs this).
# Called by address (DEVICE_SLOPE_SINH or DEVICE_SLOPE_ANY, chosen in Python by the model).


@numba.njit(**SHARED)
def _device_slope_sinh(code, params, table, gstate, gate, vr, vc, xr, xc, t, idev, gdev, inj,
                       vr_to, vc_to):
    """The devices' slope (see above) for the sinh model (code SINH), inlined: the generic
    dispatch costs more than the sinh, and the device library compiles only for other models.
    Per-column partial sums keep the loop vectorisable (no reassociation without fastmath),
    and the branch-free sinh_cosh vectorises with it."""
    n_rows, n_cols = vr.shape
    move = vr_to.shape[0] > 0
    t0 = 1.0 - t
    s = 0.0
    k = params[0]
    inv_k = 1.0 / k
    lane = K.zeros1(n_cols)
    for i in range(n_rows):
        for j in range(n_cols):
            v = t0 * (vr[i, j] - vc[i, j]) + t * (xr[i, j] - xc[i, j])
            sh, ch = sinh_cosh(k * v)
            cur = gstate[i, j] * sh * inv_k
            gd = gstate[i, j] * ch
            idev[i, j] = cur
            gdev[i, j] = gd
            inj[i, j] = cur - gd * v
            lane[j] += cur * ((xr[i, j] - vr[i, j]) - (xc[i, j] - vc[i, j]))
        if move:
            _move_row(vr, vc, xr, xc, t, vr_to, vc_to, i)
    for j in range(n_cols):
        s += lane[j]
    return s, math.isfinite(s)


@numba.njit(**SHARED)
def _device_slope_any(code, params, table, gstate, gate, vr, vc, xr, xc, t, idev, gdev, inj,
                      vr_to, vc_to):
    """The devices' slope (see above) for any device model, through cell_current."""
    n_rows, n_cols = vr.shape
    move = vr_to.shape[0] > 0
    t0 = 1.0 - t
    s = 0.0
    finite = True
    for i in range(n_rows):
        for j in range(n_cols):
            v = t0 * (vr[i, j] - vc[i, j]) + t * (xr[i, j] - xc[i, j])
            cur, dcur = cell_current(code, params, table, gstate[i, j], gate[i, j], v)
            if not (math.isfinite(cur) and math.isfinite(dcur)):
                finite = False
            idev[i, j] = cur
            gdev[i, j] = dcur
            inj[i, j] = cur - dcur * v
            s += cur * ((xr[i, j] - vr[i, j]) - (xc[i, j] - vc[i, j]))
        if move:
            _move_row(vr, vc, xr, xc, t, vr_to, vc_to, i)
    return s, finite


#: (code, params, table, gstate, gate, vr, vc, xr, xc, t, idev, gdev, inj, vr_to, vc_to)
_SLOPE_TYPES = ((numba.types.int64, K.F1_READ) + (K.F2_READ,) * 3 + (K.F2,) * 4
                + (numba.types.float64,) + (K.F2,) * 5)
_SLOPE_RESULT = numba.types.Tuple((numba.types.float64, numba.types.boolean))
DEVICE_SLOPE_SINH = Shared(_device_slope_sinh, _SLOPE_TYPES, _SLOPE_RESULT)
DEVICE_SLOPE_ANY = Shared(_device_slope_any, _SLOPE_TYPES, _SLOPE_RESULT)
#: calls either device-slope kernel, by the address Python chose (solve_nonlinear)
call_device_slope = DEVICE_SLOPE_ANY.call


@numba.njit(**INNER)
def _move_row(vr, vc, xr, xc, t, vr_to, vc_to, i):
    """Row i of the point (1 - t) V + t X into (vr_to, vc_to)."""
    t0 = 1.0 - t
    for j in range(vr.shape[1]):
        vr_to[i, j] = t0 * vr[i, j] + t * xr[i, j]
        vc_to[i, j] = t0 * vc[i, j] + t * xc[i, j]


@numba.njit(**INNER)
def _alloc_newton(n_rows, n_cols, alloc_factors_at):
    """Scratch of one Newton solve, allocated once per thread chunk (fresh pages per input
    would cost page faults comparable to the solve): gd, inj, row factors, column factors,
    factor scratch, CG workspace, the pair of row and column voltages (R, C) that a Newton
    step solves into, lanes (4, C), the chord step's factored conductances and current source
    (R, C), and the spare pair (R, C) that a step shorter than the full one writes its new
    point into. alloc_factors_at: the address of K.ALLOC_FACTORS."""
    row_c, col_c, fscratch = K.call_alloc_factors(alloc_factors_at, (n_rows, n_cols))
    return (K.empty2(n_rows, n_cols), K.empty2(n_rows, n_cols), row_c, col_c,
            fscratch, K._alloc_workspace(n_rows, n_cols), K.empty2(n_rows, n_cols),
            K.empty2(n_rows, n_cols), np.empty((4, n_cols)), K.empty2(n_rows, n_cols),
            K.empty2(n_rows, n_cols), K.empty2(n_rows, n_cols), K.empty2(n_rows, n_cols))


@numba.njit(**INNER)
def _chord_source(gd, gd_fac, inj, vr, vc, inj_chord, lane):
    """The devices linearised at the current point with the factored conductances gd_fac
    instead of their own gd: inj_chord = inj + (gd - gd_fac) v, the same current at v.
    Returns max |gd - gd_fac| / gd_fac over the cells (0/0 counts 0, x/0 infinite).
    lane (C,): per-column maxima, so the loop and its divisions vectorise (one running
    maximum does not without fastmath: 93-120 us at 256 x 256)."""
    n_rows, n_cols = gd.shape
    for j in range(n_cols):
        lane[j] = 0.0
    for i in range(n_rows):
        for j in range(n_cols):
            d = gd[i, j] - gd_fac[i, j]
            inj_chord[i, j] = inj[i, j] + d * (vr[i, j] - vc[i, j])
            q = abs(d) / gd_fac[i, j] if gd_fac[i, j] > 0.0 else (INF if d != 0.0 else 0.0)
            lane[j] = max(lane[j], q)
    rel = 0.0
    for j in range(n_cols):
        rel = max(rel, lane[j])
    return rel


@numba.njit(**INNER)
def _zero_bias(code, params, table, gstate, gate, r_row, r_col, g_left, g_right, g_top,
               g_bottom, factor_all_at, alloc_factors_at, slope_at):
    """Device currents and conductances at zero bias and that network's chain factors:
    (idev0, gd0, row factors, column factors, all finite, any current). Input-independent, so
    computed once per batch chunk rather than once per input."""
    n_rows, n_cols = gstate.shape
    idev0 = K.empty2(n_rows, n_cols)
    K._fill(idev0, 0.0)
    gd0 = K.empty2(n_rows, n_cols)
    if code == SINH:
        # sinh gives no current at zero bias and its small-signal conductance is g: no exp
        K._copy(gstate, gd0)
        finite = True
    else:
        zero = K.zeros2(n_rows, n_cols)
        none = np.empty((0, 0))
        _s, finite = call_device_slope(slope_at, (code, params, table, gstate, gate, zero, zero,
                                                  zero, zero, 0.0, idev0, gd0,
                                                  K.empty2(n_rows, n_cols), none, none))
    any_current = False
    for i in range(n_rows):
        for j in range(n_cols):
            any_current = any_current or idev0[i, j] != 0.0
    row_c, col_c, fscratch = K.call_alloc_factors(alloc_factors_at, (n_rows, n_cols))
    if finite:
        K.call_factor_all(factor_all_at, (gd0, r_row, r_col, g_left, g_right, g_top, g_bottom,
                                          row_c, col_c, fscratch))
    return idev0, gd0, row_c, col_c, finite, any_current


@numba.njit(**INNER)
def _newton_one(code, params, table, gstate, gate, r_row, r_col, w_row, w_col,
                g_left, g_right, g_top, g_bottom, v_left, v_right, v_top, v_bottom,
                rtol, newton_tol, max_iter, max_newton, vr, vc, idev, scratch, zero_bias,
                shared, start_iter):
    """Solve one input. vr, vc (R, C) and the scratch's two pairs take turns holding the
    current point (a full step's point is the pair its linear solve wrote, a shorter one is
    written into the spare pair; none is copied): the solution's pair is returned. idev (R, C)
    receives the device currents; scratch from _alloc_newton.

    zero_bias (from _zero_bias): the devices linearised at zero bias and that network
    factorised, the same for every input, so the first step of each input reuses them.
    shared: the addresses of NEWTON_SHARED and of the model's device slope (device_slope).
    start_iter: the start's CG iteration limit, 0 for the sweep (SWEEP_START_MAX_IR_DROP).

    Returns (cg iterations, newton steps, last CG residual, status, current, chord steps, vr,
    vc): status 0 converged, 1 device current not finite, 2 no convergence within max_newton,
    3 not a descent direction; current: idev already holds the device currents at the returned
    voltages; chord steps: how many of the steps kept the previous factors; vr, vc: the row and
    column voltages (one of the two pairs).
    """
    gd, inj, row_c, col_c, fscratch, work, xr, xc, lanes, gd_fac, inj_chord, vr_to, vc_to = \
        scratch
    pcg_at, _outputs_at, factor_all_at, _alloc_factors_at, slope_at = shared
    v_scale = 0.0
    for arr in (v_left, v_right, v_top, v_bottom):
        for k in range(arr.size):
            v_scale = max(v_scale, abs(arr[k]))
    if v_scale == 0.0:
        v_scale = 1.0
    idev0, gd0, row_c0, col_c0, finite0, current0 = zero_bias
    if not finite0:
        return 0, 0, 0.0, 1, False, 0, vr, vc
    # the small-signal start: the devices linearised at zero bias, where v = 0 and so the
    # linearisation's current source is the zero-bias current itself (none for sinh: the
    # kernels' faster source-free paths give the same numbers)
    inj0 = idev0 if current0 else np.empty((0, 0))
    none = np.empty((0, 0))
    # straight into vr: the start is the first linearisation point (no copy of it)
    it, rel = K.call_pcg(pcg_at, (gd0, row_c0, col_c0, w_row, g_left, g_right, v_left, v_right,
                                  v_top, v_bottom, inj0, none, vr, rtol, EARLY_FORCING,
                                  start_iter, work, vc))
    total_it = it
    # the point itself: X = V
    _s, finite = call_device_slope(slope_at, (code, params, table, gstate, gate, vr, vc, vr, vc,
                                              1.0, idev, gd, inj, none, none))
    if not finite:
        return total_it, 0, rel, 1, False, 0, vr, vc
    prev_step = 0.0
    # the factors in row_c, col_c are of the conductances gd_fac (none yet)
    try_chord = False
    n_chord = 0
    for step in range(1, max_newton + 1):
        # linearised at the current point: I(v) ~ gd v + inj (inj from _device_slope there);
        # the warm start is vr itself. Near the solution the conductances barely move: keep
        # the factors (chord step) and shift the linearisation's source to them instead.
        change = INF
        if try_chord:
            change = _chord_source(gd, gd_fac, inj, vr, vc, inj_chord, lanes[0])
        chord = change <= CHORD_REL
        if chord:
            g_lin, inj_lin = gd_fac, inj_chord
            n_chord += 1
        else:
            # factor this point's conductances; they become gd_fac (swapped, not copied)
            gd, gd_fac = gd_fac, gd
            K.call_factor_all(factor_all_at, (gd_fac, r_row, r_col, g_left, g_right, g_top,
                                              g_bottom, row_c, col_c, fscratch))
            g_lin, inj_lin = gd_fac, inj
        # forcing term (inexact Newton): the small-signal start and the first Newton step are
        # far from the solution, where a looser inner solve costs no extra Newton step
        # (measured on the sinh benchmark: 14 -> 12 CG iterations, still 3 Newton steps)
        eta = EARLY_FORCING if step < 2 else FORCING
        # no inner solve needs to be tighter than a tenth of the Newton tolerance (the last
        # step's size is below newton_tol; 1e-12 against rtol's 1e-13 saves one CG iteration
        # on the sinh benchmark, KCL mismatch 6e-13)
        it, rel = K.call_pcg(pcg_at, (g_lin, row_c, col_c, w_row, g_left, g_right, v_left,
                                      v_right, v_top, v_bottom, inj_lin, vr, xr,
                                      max(rtol, 0.1 * newton_tol), eta, max_iter, work, xc))
        total_it += it
        # the new point X = (xr, xc)
        step_max, a, b, s0 = _direction(xr, xc, vr, vc, idev, w_row, w_col, g_left, g_right,
                                        g_top, g_bottom, v_left, v_right, v_top, v_bottom,
                                        lanes)
        if step_max <= newton_tol * v_scale:
            # converged: the last Newton step is below tolerance; take it (it only helps)
            return total_it, step, rel, 0, False, n_chord, xr, xc
        f0 = a + s0
        if f0 >= 0.0 and step_max > 1e-6 * v_scale:
            return total_it, step, rel, 3, False, n_chord, vr, vc
        # the full Newton step, unless it overshoots the minimum along d; then a search for t
        # in (0, 1) where the slope is back near zero (Illinois method). One call site of
        # _device_slope for both: each site would carry the whole device library (compile time).
        t = 1.0
        lo, f_lo, hi, f_hi = 0.0, f0, 1.0, INF
        side = 0
        finite = True
        for ls in range(61):
            if ls > 0:
                t = 0.5 * (lo + hi) if f_hi == INF else (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            # the full step lands on X itself; a shorter one is written into the spare pair
            full = t == 1.0
            st, finite = call_device_slope(slope_at, (code, params, table, gstate, gate, vr, vc,
                                                      xr, xc, t, idev, gd, inj,
                                                      none if full else vr_to,
                                                      none if full else vc_to))
            ft = a + b * t + st if finite else INF
            if ls == 0:
                # f0 >= 0 only when the step is so small that rounding decides the slope's
                # sign: take the full step there (quadratic convergence), no line search
                if not (f0 < 0.0 and (not finite or ft > 0.01 * (-f0))):
                    break
                f_hi = ft
                continue
            if ft <= 0.0 and ft >= 0.5 * f0 or abs(ft) <= 0.01 * (-f0):
                break
            if ft > 0.0:
                hi, f_hi = t, ft
                if side == 1 and f_hi < INF:
                    f_lo *= 0.5
                side = 1
            else:
                lo, f_lo = t, ft
                if side == -1 and f_hi < INF:
                    f_hi *= 0.5
                side = -1
        if not finite and f0 < 0.0:
            return total_it, step, rel, 1, False, n_chord, vr, vc
        # the last evaluation was at the accepted t: that point is X (full step) or the spare
        # pair, and the old point's pair is free for the next step
        if t == 1.0:
            vr, vc, xr, xc = xr, xc, vr, vc
        else:
            vr, vc, vr_to, vc_to = vr_to, vc_to, vr, vc
        if t == 1.0 and (prev_step > 0.0 or chord):
            # Quadratic convergence predicts the next step as s_k^3 / s_{k-1}^2, a chord step's
            # linear convergence as change * s_k; the inexact inner solves (forcing FORCING
            # from step 2 on) bound it below by FORCING s_k. When even that is below the
            # tolerance, another step would only confirm convergence: stop now.
            # (products, not ** 2: a power compiles Numba's integer-power helper)
            rate = change if chord else (step_max * step_max) / (prev_step * prev_step)
            predicted = max(rate * step_max, FORCING * step_max)
            if predicted <= 0.1 * newton_tol * v_scale:
                # idev, gd hold the currents at this full step's end point: the returned state
                return total_it, step, rel, 0, True, n_chord, vr, vc
        # a full step this small: the conductances may have settled enough to keep the factors
        try_chord = t == 1.0 and step_max <= CHORD_TRY * v_scale
        prev_step = step_max if t == 1.0 and not chord else 0.0
    return total_it, max_newton, rel, 2, False, n_chord, vr, vc


@numba.njit(**JIT)
def _solve_nonlinear_chunk(
    code, params, table, gstate, gate, r_row, r_col, g_left, g_right, g_top, g_bottom,
    b_left, b_right, b_top, b_bottom, input_code, v_in, rtol, newton_tol, max_iter, max_newton,
    next_input, b_stop, vr_out, vc_out, idev_out, t_left, t_right, t_top, t_bottom, powers,
    iters, newton, chords, resid, kcl, status, shared, start_iter,
):
    """Solve inputs until next_input (int64 (1,), shared by the batch's threads) passes b_stop
    (nogil; one call per thread, see solver.run_shared). A Newton input costs milliseconds and
    the cost varies by input and by core, so inputs are handed out one at a time. shared: the
    addresses of NEWTON_SHARED and of the model's device slope (device_slope); start_iter:
    _newton_one's."""
    _pcg_at, outputs_at, factor_all_at, alloc_factors_at, slope_at = shared
    n_rows, n_cols = gstate.shape
    keep = vr_out.shape[0] == v_in.shape[0]
    w_row = K._wire_conductance(r_row)
    w_col = K._wire_conductance(r_col)
    scratch = _alloc_newton(n_rows, n_cols, alloc_factors_at)
    zero_bias = _zero_bias(code, params, table, gstate, gate, r_row, r_col, g_left, g_right,
                           g_top, g_bottom, factor_all_at, alloc_factors_at, slope_at)
    vr_a = K.empty2(n_rows, n_cols)
    vc_a = K.empty2(n_rows, n_cols)
    idev = K.empty2(n_rows, n_cols)
    gd = K.empty2(n_rows, n_cols)
    inj = K.empty2(n_rows, n_cols)
    none = np.empty((0, 0))
    for _ in range(b_stop):  # a thread takes at most every input
        b = _take_next(next_input)
        if b >= b_stop:
            break
        vl, vrt, vt, vb = K._end_voltages(b_left, b_right, b_top, b_bottom, v_in[b], input_code)
        # vr_a, vc_a and the scratch's two pairs are distinct buffers every time: the solution
        # comes back in any of the three
        it, nsteps, rel, st, current, n_chord, vr, vc = _newton_one(
            code, params, table, gstate, gate, r_row, r_col, w_row, w_col, g_left, g_right,
            g_top, g_bottom, vl, vrt, vt, vb, rtol, newton_tol, max_iter, max_newton, vr_a,
            vc_a, idev, scratch, zero_bias, shared, start_iter)
        if not current:
            # device currents at the returned voltages (not at the last trial point)
            _s, finite = call_device_slope(slope_at, (code, params, table, gstate, gate, vr, vc,
                                                      vr, vc, 1.0, idev, gd, inj, none, none))
            if not finite and st == 0:
                st = 1
        kcl[b] = K.call_outputs(outputs_at, (vr, vc, idev, w_row, w_col, g_left, g_right, g_top,
                                             g_bottom, vl, vrt, vt, vb, t_left[b], t_right[b],
                                             t_top[b], t_bottom[b], powers[b]))
        iters[b] = it
        newton[b] = nsteps
        chords[b] = n_chord
        resid[b] = rel
        status[b] = st
        if keep:
            K._copy(vr, vr_out[b])
            K._copy(vc, vc_out[b])
            K._copy(idev, idev_out[b])


#: the kernels _solve_nonlinear_chunk calls through their address, in its ``shared`` order
#: (then the model's device slope)
NEWTON_SHARED = (K.PCG, K.OUTPUTS, K.FACTOR_ALL, K.ALLOC_FACTORS)


def device_slope(code):
    """The device-slope kernel for a model code: sinh's own, else the generic one."""
    return DEVICE_SLOPE_SINH if code == SINH else DEVICE_SLOPE_ANY

STATUS_TEXT = {
    1: "a device current or its derivative is not finite (voltage outside the model's range, "
       "or sinh overflow); check the device parameters and the input voltages",
    2: "Newton did not converge within max_newton steps",
    3: "Newton direction is not a descent direction; the device I-V may be non-monotone",
}


def sweep_start(xbar, newton_start="auto"):
    """Whether Newton starts from the sweep on this crossbar (``newton_start``: one of
    solver.NEWTON_STARTS; see SWEEP_START_MAX_IR_DROP)."""
    if newton_start == "auto":
        return xbar.ir_drop_number() <= SWEEP_START_MAX_IR_DROP
    return newton_start == "sweep"


def _chunk_arguments(xbar, v, rtol, max_iter, keep_nodes, newton_tol, max_newton,
                     newton_start, model, shared):
    """The Newton chunk's outputs ``o`` and ``status``, and its arguments for run_shared's
    counter; ``model``: kernel_model's; ``shared``: the addresses of NEWTON_SHARED and of the
    device slope."""
    from circuitxbar.solver import _alloc_outputs, _terminals
    from circuitxbar.crossbar import END_NAMES

    term_g, bias = _terminals(xbar)
    # scalars as Python float and int (a NumPy float32 or int32 is another Numba type)
    rtol, newton_tol, max_iter, max_newton = (float(rtol), float(newton_tol), int(max_iter),
                                              int(max_newton))
    code, params, table = model
    o = _alloc_outputs(xbar, v.shape[0], keep_nodes)
    status = np.zeros(v.shape[0], np.int64)
    gate = kernel_input(xbar.gate)
    ends = END_NAMES.index(xbar.input_end)
    outs = (o["vr"], o["vc"], o["idev"], o["t_left"], o["t_right"], o["t_top"], o["t_bottom"],
            o["powers"], o["iters"], o["newton"], o["chord"], o["resid"], o["kcl"], status)
    n_batch = v.shape[0]
    start_iter = 0 if sweep_start(xbar, newton_start) else max_iter
    return o, status, lambda counter: (
        code, params, table, xbar.conductance, gate, xbar.r_row, xbar.r_col, *term_g, *bias,
        ends, v, rtol, newton_tol, max_iter, max_newton, counter, n_batch, *outs, shared,
        start_iter)


def compile_own_kernels(xbar, v_in):
    """Compile (or load from the disk cache) the Newton path's own kernels for a sinh
    crossbar ``xbar`` and its inputs ``v_in``: the chunk and sinh's device slope, but not the
    linear solve's kernels that the chunk calls by address (NEWTON_SHARED: their result types
    are declared, so the chunk compiles without them). A background worker runs this while
    another process compiles the linear solve; a solve in that process then loads the chunk
    from the cache (``_background``, ``_precompile``). The chunk is compiled for the types of
    the arguments a solve of ``xbar`` passes, built by the same code (the types depend on
    neither the size nor the model); the zero addresses only stand for their type, as the
    chunk never runs here."""
    from circuitxbar.solver import _as_batch

    v, _ = _as_batch(xbar, v_in)
    shared = (0,) * len(NEWTON_SHARED) + (DEVICE_SLOPE_SINH.address(),)
    _, _, args = _chunk_arguments(xbar, v, 1e-13, 100, False, 1e-11, 50, "auto",
                                  kernel_model(xbar.device), shared)
    values = args(np.zeros(1, np.int64))
    _solve_nonlinear_chunk.compile(
        tuple(_solve_nonlinear_chunk.typeof_pyval(a) for a in values))


def solve_nonlinear(xbar, v, rtol, max_iter, keep_nodes, *, newton_tol=1e-11, max_newton=50,
                    newton_start="auto"):
    """Newton solve of a crossbar with a nonlinear device model; see ``solver.solve``."""
    from circuitxbar.errors import ConvergenceError
    from circuitxbar.solver import run_shared
    from circuitxbar import _background

    _background.before("newton")
    model = kernel_model(xbar.device)
    slope = device_slope(model[0])
    if slope is DEVICE_SLOPE_ANY:  # the device library (sinh's own slope is the Newton path's)
        _background.before("devices")
    o, status, args = _chunk_arguments(xbar, v, rtol, max_iter, keep_nodes, newton_tol,
                                       max_newton, newton_start, model,
                                       addresses(NEWTON_SHARED + (slope,)))
    # a Newton solve costs several linear ones
    run_shared(_solve_nonlinear_chunk, v.shape[0], args,
               work_per_item=8 * xbar.conductance.size)
    if status.any():
        b = int(np.flatnonzero(status)[0])
        hint = ""
        v_range = getattr(xbar.device, "v_range", None)
        if status[b] == 1 and v_range is not None:
            # cell voltages never exceed the spread of the source voltages (maximum principle)
            from circuitxbar.solver import _terminals

            bias = _terminals(xbar)[1]
            srcs = np.concatenate([v[b]] + [np.asarray(x) for x in bias])
            hint = (f"; the model is valid for cell voltages in [{v_range[0]:g}, {v_range[1]:g}] "
                    f"V and this input's sources span {np.ptp(srcs):g} V")
        raise ConvergenceError(
            f"input {b}: nonlinear solve with {type(xbar.device).__name__} failed after "
            f"{int(o['newton'][b])} Newton steps: {STATUS_TEXT[int(status[b])]}{hint}",
            residual=float(o["kcl"][b]), iterations=int(o["newton"][b]), tolerance=newton_tol,
        )
    o["failed"] = np.zeros(v.shape[0], bool)
    return o
