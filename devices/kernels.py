"""Compiled I-V evaluation: ``cell_current(code, params, table, g, gate, v) -> (I, dI/dV)``.

One function dispatches on the model code so the solver kernels stay generic. Arguments:
``code`` int, ``params`` float64 1-D, ``table`` float64 2-D C-contiguous (both from the model's
``packed()``), ``g`` the cell's programmed state [S] (small-signal conductance at 0 V), ``gate``
1.0 / 0.0 (access switch on / off; > 0.5 counts as on), ``v`` the voltage across the cell, row
node minus column node [V]. Returns the current [A] (row -> column) and dI/dV [S].

Every curve is odd or at least passes through I(0) = 0, and is monotone non-decreasing in v
(dI/dV >= 0), which the Newton solver relies on for global convergence. Model codes and
``params`` / ``table`` layouts (the solver may rely on them; ``table`` is a dummy (1, 1) array
unless stated):

=====  ====================  ==========================================================
code   model                 params
=====  ====================  ==========================================================
0      Ohmic                 unused.  I = g v
1      Sinh                  [k [1/V]].  I = g sinh(k v) / k
2      OneSelectorOneResistor [k_m [1/V] (0 = ohmic memristor), selector kind, p0..p3]
                             kind 0 exponential: p0 = i0 [A], p1 = v0 [V],
                               I_s(u) = i0 sinh(u / v0);
                             kind 1 threshold: p0 = g_off [S], p1 = g_on [S], p2 = v_th [V],
                               p3 = width [V], I_s(u) = g_off u + g_on width
                               [softplus((u - v_th)/width) - softplus((-u - v_th)/width)]
3      OneTransistorOneResistor [k_m [1/V] (0 = ohmic), g_transistor_on [S] (inf when
                             r_on = 0), g_leak [S], SELECTOR_OHMIC]; memristor in series with the
                             transistor conductance (g_transistor_on when gate on, g_leak off)
4      Tabulated             [n_states S, extrapolate (0/1), g_0..g_{S-1} [S] ascending,
                             n_0..n_{S-1} (points per state)]; table (3 S, max n): row 3s the
                             voltages [V], 3s+1 the currents [A], 3s+2 the PCHIP slopes [S]
                             of state s, padded with NaN
5      SwitchedResistor      [g_leak [S]]; on: I = g v; off: g in series with g_leak
=====  ====================  ==========================================================

Numerical guards (why they exist, not just what they do):

* Exponential branches (sinh of the memristor and of the exponential selector) follow the exact
  formula for |argument| <= ``X_CAP`` = 50 and continue *linearly* beyond it with the slope at
  the cap. The curve stays C1 and monotone, and a Newton iterate that wanders far out gets a
  finite current instead of inf (cosh(710) overflows). The models validate that their stated
  ``v_max`` keeps the argument inside the cap, so inside ``model.v_range`` the formula is exact.
* Tabulated curves return NaN outside the measured voltage range unless built with
  ``extrapolate=True``; a kernel cannot raise, so the solver must turn a NaN current into an
  error (or check ``model.v_range`` / ``model.check_voltage`` on the Python side).
* Series cells (1S1R, 1T1R with a sinh memristor) are solved per call for the internal node by a
  bracketed, bisection-safeguarded Newton iteration to machine precision; the returned dI/dV is
  the exact series value g_m g_s / (g_m + g_s) at that node.

The constants below are compile-time constants, never configuration.
"""

import math

import numba
import numpy as np

from circuitxbar._config import INNER, JIT, kernel_input
from circuitxbar._intrinsics import _float_from_bits, _mul_add

OHMIC = 0
SINH = 1
ONE_S_ONE_R = 2
ONE_T_ONE_R = 3
TABULATED = 4
SWITCHED_RESISTOR = 5

SELECTOR_EXPONENTIAL = 0
SELECTOR_THRESHOLD = 1
SELECTOR_OHMIC = 2  # internal: the 1T1R transistor as a series conductance

#: |argument| beyond which sinh/cosh continue linearly (see module docstring)
X_CAP = 50.0
_SINH_CAP = math.sinh(X_CAP)
_COSH_CAP = math.cosh(X_CAP)
_EPS = 2.220446049250313e-16


_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact for |n| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
#: 1/k!, k = 1..16
_INV_FACT = tuple(1.0 / math.factorial(k) for k in range(1, 17))


@numba.njit(**INNER)
def _horner_expm1(r):
    """(e^r - 1) / r for -1e-15 < r < ln 2 by its Taylor series to r^15 (the first term left
    out is below 2e-16 relative at r = ln 2). Written out term by term: the loop that stood
    here relied on LLVM unrolling it, and the solver compiles with loop unrolling off."""
    f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15 = _INV_FACT
    acc = _mul_add(r, f15, f14)
    acc = _mul_add(r, acc, f13)
    acc = _mul_add(r, acc, f12)
    acc = _mul_add(r, acc, f11)
    acc = _mul_add(r, acc, f10)
    acc = _mul_add(r, acc, f9)
    acc = _mul_add(r, acc, f8)
    acc = _mul_add(r, acc, f7)
    acc = _mul_add(r, acc, f6)
    acc = _mul_add(r, acc, f5)
    acc = _mul_add(r, acc, f4)
    acc = _mul_add(r, acc, f3)
    acc = _mul_add(r, acc, f2)
    acc = _mul_add(r, acc, f1)
    return _mul_add(r, acc, f0)


@numba.njit(**INNER)
def _sinh_cosh(x):
    """(sinh x, cosh x) for |x| <= X_CAP; beyond, the tangent line at the cap and its slope.

    Branch-free, so a loop over cells vectorises (the solver evaluates every cell at every
    Newton step; libm's exp is a scalar call). With |x| = n ln2 + r, 0 <= r < ln2:
    m = e^|x| - 1 = 2^n expm1(r) + (2^n - 1), a sum of two non-negative terms, expm1(r) by its
    Taylor series, 2^n built from its bits. Then sinh = m (1 + 1/(m + 1)) / 2 and
    cosh = (m + 1 + 1/(m + 1)) / 2 add only positive terms: no cancellation at small |x|, and
    within 2 ulp of libm over |x| <= X_CAP (tests/test_devices.py).
    """
    ax = min(abs(x), X_CAP)
    n = math.floor(ax * _INV_LN2)
    r = (ax - n * _LN2_HI) - n * _LN2_LO
    # expm1(r) = sum r^k / k!, k = 1..16, Horner; 1/k! as exact-rounded constants
    q = r * _horner_expm1(r)
    two_n = _float_from_bits((np.int64(n) + 1023) << 52)
    m = two_n * q + (two_n - 1.0)
    inv = 1.0 / (m + 1.0)
    s = 0.5 * m * (1.0 + inv)
    c = 0.5 * (m + 1.0 + inv)
    beyond = abs(x) > X_CAP
    s = _SINH_CAP + _COSH_CAP * (abs(x) - X_CAP) if beyond else s
    c = _COSH_CAP if beyond else c
    return (s if x >= 0.0 else -s), c


@numba.njit(**INNER)
def _memristor(k, g, w):
    """Memristor branch: ohmic for k == 0, else g sinh(k w) / k. Returns (I, dI/dw)."""
    if k == 0.0:
        return g * w, g
    s, c = _sinh_cosh(k * w)
    return g * s / k, g * c


@numba.njit(**INNER)
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@numba.njit(**INNER)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(**INNER)
def _threshold_diff(u, v_th, width):
    """softplus((u - v_th)/w) - softplus((-u - v_th)/w) for u >= 0, without cancellation.

    Written as log1p(2 e^c sinh(d) / (1 + e^b)) with c = -v_th/w, d = u/w, b = (-u - v_th)/w,
    which stays relatively accurate when u -> 0 (the direct difference loses digits there).
    """
    a = (u - v_th) / width
    b = (-u - v_th) / width
    d = u / width
    if d > 30.0:
        return _softplus(a) - _softplus(b)
    c = -v_th / width
    return math.log1p(2.0 * math.exp(c) * math.sinh(d) / (1.0 + math.exp(b)))


@numba.njit(**INNER)
def _selector(kind, p0, p1, p2, p3, u):
    """Series element current and slope at its voltage u. Returns (I, dI/du)."""
    if kind == SELECTOR_EXPONENTIAL:
        s, c = _sinh_cosh(u / p1)
        return p0 * s, p0 / p1 * c
    if kind == SELECTOR_THRESHOLD:
        au = abs(u)
        diff = _threshold_diff(au, p2, p3)
        cur = p0 * au + p1 * p3 * diff
        slope = p0 + p1 * (_sigmoid((au - p2) / p3) + _sigmoid((-au - p2) / p3))
        return (cur if u >= 0.0 else -cur), slope
    # SELECTOR_OHMIC
    return p0 * u, p0


@numba.njit(**INNER)
def _series_parallel(a, b):
    """Series combination a b / (a + b) of two non-negative conductances [S] (inf allowed)."""
    if a == 0.0 or b == 0.0:
        return 0.0
    if math.isinf(a):
        return b
    if math.isinf(b):
        return a
    return a * b / (a + b)


@numba.njit(**INNER)
def series_node(k_m, g, kind, p0, p1, p2, p3, v):
    """Memristor (k_m, g) in series with a selector; solve for the memristor voltage w.

    Returns (I [A], dI/dV [S], w [V]); the selector carries v - w. Both branches are odd and
    monotone, so the root of f(w) = I_m(w) - I_s(v - w) is unique and lies in [0, v] (for
    v >= 0; negative v by symmetry).
    """
    if g == 0.0:  # memristor open: no current, the whole voltage across it
        return 0.0, 0.0, v
    sign = 1.0
    if v < 0.0:
        sign = -1.0
        v = -v
    if v == 0.0:
        _im, gm = _memristor(k_m, g, 0.0)
        _is, gs = _selector(kind, p0, p1, p2, p3, 0.0)
        return 0.0, _series_parallel(gm, gs), 0.0
    lo = 0.0
    hi = v
    _im, gm0 = _memristor(k_m, g, 0.0)
    _is, gs0 = _selector(kind, p0, p1, p2, p3, 0.0)
    # start from the small-signal divider; the bracket makes any start safe
    w = v * gs0 / (gm0 + gs0) if gm0 + gs0 > 0.0 else 0.5 * v
    for _it in range(200):
        im, gm = _memristor(k_m, g, w)
        is_, gs = _selector(kind, p0, p1, p2, p3, v - w)
        f = im - is_
        if f == 0.0:
            break
        if f > 0.0:
            hi = w
        else:
            lo = w
        fp = gm + gs
        w_new = w - f / fp if fp > 0.0 else 0.5 * (lo + hi)
        if not (lo < w_new < hi):
            w_new = 0.5 * (lo + hi)
        done = abs(w_new - w) <= 2.0 * _EPS * v or hi - lo <= 4.0 * _EPS * v
        w = w_new
        if done:
            break
    im, gm = _memristor(k_m, g, w)
    is_, gs = _selector(kind, p0, p1, p2, p3, v - w)
    return sign * im, _series_parallel(gm, gs), sign * w


@numba.njit(**INNER)
def _pchip_state(table, s, n, v, extrapolate):
    """Hermite cubic of tabulated state s at v. Returns (I, dI/dV); NaN outside unless
    extrapolating (linearly with the end slope, which keeps the curve C1 and monotone)."""
    xr = 3 * s
    x0 = table[xr, 0]
    xn = table[xr, n - 1]
    if v < x0 or v > xn:
        if not extrapolate:
            return np.nan, np.nan
        if v < x0:
            d = table[xr + 2, 0]
            return table[xr + 1, 0] + d * (v - x0), d
        d = table[xr + 2, n - 1]
        return table[xr + 1, n - 1] + d * (v - xn), d
    lo = 0
    hi = n - 1
    while hi - lo > 1:  # table[xr, lo] <= v < table[xr, hi] (or v == last knot)
        mid = (lo + hi) // 2
        if table[xr, mid] <= v:
            lo = mid
        else:
            hi = mid
    h = table[xr, hi] - table[xr, lo]
    t = (v - table[xr, lo]) / h
    y0 = table[xr + 1, lo]
    y1 = table[xr + 1, hi]
    d0 = table[xr + 2, lo]
    d1 = table[xr + 2, hi]
    omt = 1.0 - t
    # at t == 0 (t == 1) every basis function but h00 (h01) is exactly 0: knots reproduce
    cur = (1.0 + 2.0 * t) * omt * omt * y0 + t * omt * omt * h * d0 \
        + t * t * (3.0 - 2.0 * t) * y1 + t * t * (t - 1.0) * h * d1
    slope = 6.0 * t * (t - 1.0) * (y0 - y1) / h + (3.0 * t * t - 4.0 * t + 1.0) * d0 \
        + (3.0 * t * t - 2.0 * t) * d1
    return cur, slope


@numba.njit(**INNER)
def _tabulated(params, table, g, v):
    n_states = int(params[0])
    extrapolate = params[1] != 0.0
    g0 = 2
    n0 = 2 + n_states
    if g <= params[g0]:
        # below the lowest state: that state's curve scaled to small-signal conductance g
        # state index as a runtime value (last - last): a literal 0 would make Numba compile a
        # second specialisation of _pchip_state
        cur, slope = _pchip_state(table, n_states - n_states, int(params[n0]), v, extrapolate)
        r = g / params[g0]
        return r * cur, r * slope
    last = n_states - 1
    if g >= params[g0 + last]:
        cur, slope = _pchip_state(table, last, int(params[n0 + last]), v, extrapolate)
        r = g / params[g0 + last]
        return r * cur, r * slope
    a = 0
    b = last
    while b - a > 1:  # params[g0 + a] < g < params[g0 + b]
        mid = (a + b) // 2
        if params[g0 + mid] <= g:
            a = mid
        else:
            b = mid
    ga = params[g0 + a]
    gb = params[g0 + b]
    t = (g - ga) / (gb - ga)
    ia, da = _pchip_state(table, a, int(params[n0 + a]), v, extrapolate)
    if t == 0.0:
        return ia, da
    ib, db = _pchip_state(table, b, int(params[n0 + b]), v, extrapolate)
    # convex blend by small-signal conductance: slope at 0 V is exactly g, monotone in v
    return (1.0 - t) * ia + t * ib, (1.0 - t) * da + t * db


@numba.njit(**INNER)
def cell_current(code, params, table, g, gate, v):
    """Current [A] and differential conductance dI/dV [S] of one cell (see module docstring)."""
    if code == OHMIC:
        return g * v, g
    if code == SINH:
        k = params[0]
        s, c = _sinh_cosh(k * v)
        return g * s / k, g * c
    if code == ONE_S_ONE_R:
        cur, slope, _w = series_node(params[0], g, int(params[1]), params[2], params[3],
                                     params[4], params[5], v)
        return cur, slope
    if code == ONE_T_ONE_R:
        k_m = params[0]
        g_t = params[1] if gate > 0.5 else params[2]
        if k_m == 0.0:
            ge = _series_parallel(g, g_t)
            return ge * v, ge
        if math.isinf(g_t):
            return _memristor(k_m, g, v)
        if g_t == 0.0:
            return 0.0, 0.0
        # the selector kind from params (always SELECTOR_OHMIC here) rather than the literal
        # constant, so series_node and _selector compile once for 1S1R and 1T1R together
        cur, slope, _w = series_node(k_m, g, int(params[3]), g_t, 0.0, 0.0, 0.0, v)
        return cur, slope
    if code == TABULATED:
        return _tabulated(params, table, g, v)
    if code == SWITCHED_RESISTOR:
        if gate > 0.5:
            return g * v, g
        ge = _series_parallel(g, params[0])
        return ge * v, ge
    return np.nan, np.nan


@numba.njit(**JIT)
def _eval_flat(code, params, table, g, gate, v, i_out, d_out):
    for n in range(v.size):
        i_out[n], d_out[n] = cell_current(code, params, table, g[n], gate[n], v[n])


@numba.njit(**JIT)
def _series_flat(k_m, kind, p0, p1, p2, p3, g, v, i_out, d_out, w_out):
    for n in range(v.size):
        i_out[n], d_out[n], w_out[n] = series_node(k_m, g[n], kind, p0, p1, p2, p3, v[n])


def _broadcast(v, g, gate):
    v, g, gate = np.broadcast_arrays(
        np.asarray(v, np.float64), np.asarray(g, np.float64), np.asarray(gate, np.float64)
    )
    # np.array copies: broadcast views are read-only aliases that Numba should not receive
    return (v.shape, np.array(v, order="C").ravel(), np.array(g, order="C").ravel(),
            np.array(gate, order="C").ravel())


def kernel_model(model):
    """``model.packed()`` as the kernels take it: (code int, params, table 2-D), both arrays
    in ``kernel_input`` form, so every model reaches a kernel with the same argument types."""
    code, params, table = model.packed()
    return int(code), kernel_input(params), kernel_input(np.atleast_2d(table))


def eval_many(model, v, g, gate=True):
    """Vectorised NumPy front of ``cell_current``: returns (I [A], dI/dV [S]) broadcast."""
    shape, v, g, gate = _broadcast(v, g, gate)
    code, params, table = kernel_model(model)
    i_out = np.empty(v.size)
    d_out = np.empty(v.size)
    _eval_flat(code, params, table, g, gate, v, i_out, d_out)
    return i_out.reshape(shape), d_out.reshape(shape)


def eval_series(k_m, kind, p, v, g):
    """NumPy front of ``series_node``: (I [A], dI/dV [S], memristor voltage w [V]) broadcast."""
    shape, v, g, _gate = _broadcast(v, g, 1.0)
    i_out = np.empty(v.size)
    d_out = np.empty(v.size)
    w_out = np.empty(v.size)
    _series_flat(float(k_m), int(kind), float(p[0]), float(p[1]), float(p[2]), float(p[3]),
                 g, v, i_out, d_out, w_out)
    return i_out.reshape(shape), d_out.reshape(shape), w_out.reshape(shape)


@numba.njit(**JIT)
def _selector_flat(kind, p0, p1, p2, p3, u, i_out, d_out):
    for n in range(u.size):
        i_out[n], d_out[n] = _selector(kind, p0, p1, p2, p3, u[n])


def eval_selector(kind, p, u):
    """NumPy front of the selector branch alone: (I [A], dI/du [S]) at selector voltage u [V]."""
    u = np.asarray(u, dtype=np.float64)
    flat = kernel_input(u).ravel()
    i_out = np.empty(flat.size)
    d_out = np.empty(flat.size)
    _selector_flat(int(kind), float(p[0]), float(p[1]), float(p[2]), float(p[3]), flat,
                   i_out, d_out)
    return i_out.reshape(u.shape), d_out.reshape(u.shape)
