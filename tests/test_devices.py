"""Device-model library: I-V kernels against slow twins, programming/noise statistics, the
paper's dense-crossbar read, validation, JSON round-trip, and the ``device`` command.

Statistical tests use fixed seeds and state their tolerance as a multiple of the standard error
implied by the sample size (5 SE: a false alarm about once in 1.7 million runs per check).
"""

from __future__ import annotations

import json
import math
import sys

import h5py
import numba
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq

import circuitxbar as cx
import circuitxbar.devices as dev
from circuitxbar._config import python_twin
from circuitxbar.devices import kernels
from circuitxbar.errors import ValidationError

SE = 5.0  # tolerance in standard errors for every statistical check


def _tab_from_csv():
    return dev.Tabulated.from_csv(dev.example_csv_path())


# (id, model, states [S], gates to try)
MODELS = [
    ("ohmic", dev.Ohmic(), [0.0, 1e-6, 1e-4], [1.0]),
    ("sinh", dev.Sinh(k=3.0), [0.0, 1e-6, 1e-4], [1.0]),
    ("sinh_tiny_k", dev.Sinh(k=1e-6), [1e-5], [1.0]),
    ("1s1r_threshold_ohmic",
     dev.OneSelectorOneResistor(dev.ThresholdSelector(v_th=0.4, g_on=1e-3, g_off=1e-9, width=0.02),
                                dev.Ohmic()), [0.0, 1e-6, 1e-4], [1.0]),
    ("1s1r_threshold_sinh_no_leak",
     dev.OneSelectorOneResistor(dev.ThresholdSelector(v_th=0.3, g_on=5e-4, g_off=0.0, width=0.03),
                                dev.Sinh(k=2.0)), [1e-6, 1e-4], [1.0]),
    ("1s1r_exponential_sinh",
     dev.OneSelectorOneResistor(dev.ExponentialSelector(i0=1e-8, v0=0.05), dev.Sinh(k=2.0)),
     [1e-6, 3e-5, 1e-4], [1.0]),
    ("1s1r_exponential_ohmic",
     dev.OneSelectorOneResistor(dev.ExponentialSelector(i0=1e-7, v0=0.08), dev.Ohmic()),
     [1e-6, 1e-4], [1.0]),
    ("1t1r_ohmic", dev.OneTransistorOneResistor(r_on=2e3, g_leak=1e-9), [0.0, 1e-6, 1e-4],
     [1.0, 0.0]),
    ("1t1r_sinh", dev.OneTransistorOneResistor(r_on=2e3, memristor=dev.Sinh(k=3.0), g_leak=1e-9),
     [0.0, 1e-6, 1e-4], [1.0, 0.0]),
    ("1t1r_ideal_switch", dev.OneTransistorOneResistor(r_on=0.0, memristor=dev.Sinh(k=3.0)),
     [1e-5], [1.0, 0.0]),
    ("tabulated_csv", _tab_from_csv(), [0.0, 5e-7, 1.0038e-06, 2e-5, 8e-5, 2e-4], [1.0]),
    ("tabulated_extrapolate",
     dev.Tabulated.from_model(dev.Sinh(k=2.5), [1e-6, 1e-5, 1e-4], np.linspace(-0.6, 0.6, 13),
                              extrapolate=True), [3e-6, 5e-5], [1.0]),
    ("switched_resistor", dev.SwitchedResistor(g_leak=1e-9), [0.0, 1e-5, 2e-5], [1.0, 0.0]),
]
IDS = [m[0] for m in MODELS]


def _sweep(model, n=161):
    lo, hi = model.v_range
    vmax = min(1.0, -lo, hi)
    # offset so no sample lands on a table knot (the FD test straddles knots anyway)
    return np.linspace(-vmax, vmax, n) * 0.99 + 0.00123


# -- contract: I(0) = 0, monotone, dI/dV matches finite differences --------------------------


@pytest.mark.parametrize("name,model,states,gates", MODELS, ids=IDS)
def test_zero_current_at_zero_voltage(name, model, states, gates):
    for gate in gates:
        i = model.current(0.0, np.asarray(states), gate)
        assert (i == 0.0).all(), (name, gate, i)


@pytest.mark.parametrize("name,model,states,gates", MODELS, ids=IDS)
def test_monotone_non_decreasing(name, model, states, gates):
    v = np.linspace(*np.clip(model.v_range, -2.0, 2.0), 2001)
    for g in states:
        for gate in gates:
            i, d = model.current_and_slope(v, g, gate)
            assert np.isfinite(i).all() and np.isfinite(d).all()
            assert (d >= 0).all(), (name, g, gate)
            assert (np.diff(i) >= 0).all(), (name, g, gate)


@pytest.mark.parametrize("name,model,states,gates", MODELS, ids=IDS)
def test_derivative_matches_central_difference(name, model, states, gates):
    v = _sweep(model)
    h = 1e-6
    for g in states:
        for gate in gates:
            _i, d = model.current_and_slope(v, g, gate)
            fd = (model.current(v + h, g, gate) - model.current(v - h, g, gate)) / (2 * h)
            scale = max(np.abs(d).max(), 1e-30)
            # FD truncation ~ h^2 I''' (and ~ h f'' jump at PCHIP knots), round-off ~ eps I / h
            assert np.abs(fd - d).max() <= 2e-6 * scale, (name, g, gate)


def test_linear_flags_and_exact_effective_conductance():
    linear = {n for n, m, _s, _g in MODELS if m.is_linear}
    assert linear == {"ohmic", "1t1r_ohmic", "switched_resistor"}
    switch = {n for n, m, _s, _g in MODELS if m.has_switch}
    assert switch == {"1t1r_ohmic", "1t1r_sinh", "1t1r_ideal_switch", "switched_resistor"}
    rng = np.random.default_rng(1)
    g = rng.uniform(0, 1e-4, (5, 7))
    gate = rng.random((5, 7)) < 0.5
    v = rng.uniform(-1, 1, (5, 7))
    for model, expect in (
        (dev.Ohmic(), g),
        (dev.SwitchedResistor(g_leak=1e-9), np.where(gate, g, g * 1e-9 / (g + 1e-9))),
        (dev.OneTransistorOneResistor(r_on=2e3, g_leak=1e-9),
         np.where(gate, g / (1 + g * 2e3), g * 1e-9 / (g + 1e-9))),
    ):
        ge = model.effective_conductance(g, gate)
        np.testing.assert_allclose(ge, expect, rtol=1e-14)
        assert (model.current(v, g, gate) == ge * v).all()  # I exactly proportional to V
    assert (dev.SwitchedResistor().effective_conductance(g, False) == 0).all()
    with pytest.raises(TypeError):
        dev.Sinh(k=2.0).effective_conductance(g)


# -- slow twins --------------------------------------------------------------------------------


def test_sinh_against_numpy_and_small_kv():
    m = dev.Sinh(k=3.0)
    v = np.linspace(-2, 2, 101)
    i, d = m.current_and_slope(v, 2e-5)
    np.testing.assert_allclose(i, 2e-5 * np.sinh(3.0 * v) / 3.0, rtol=1e-14, atol=0)
    np.testing.assert_allclose(d, 2e-5 * np.cosh(3.0 * v), rtol=1e-14)
    # no cancellation for small kV: G V (1 + (kV)^2/6) to full precision
    tiny = dev.Sinh(k=1e-6)
    v = np.array([1e-12, 1e-3, 0.5])
    np.testing.assert_allclose(tiny.current(v, 1e-5), 1e-5 * v * (1 + (1e-6 * v) ** 2 / 6),
                               rtol=2e-16)


@numba.njit
def _sinh_cosh_loop(x):
    s = np.empty_like(x)
    c = np.empty_like(x)
    for i in range(x.size):
        s[i], c[i] = kernels._sinh_cosh(x[i])
    return s, c


def test_branch_free_sinh_cosh_within_3_ulp():
    """The solver's own (vectorisable) sinh/cosh against libm over the whole exact range, at the
    points where its range reduction switches (multiples of ln 2) and at tiny arguments."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-kernels.X_CAP, kernels.X_CAP, 100_000),
                        rng.uniform(-1.0, 1.0, 100_000),
                        10.0 ** rng.uniform(-300, 0, 20_000) * rng.choice([-1, 1], 20_000),
                        np.arange(-72, 73) * math.log(2), [0.0, 5e-324, kernels.X_CAP]])
    s, c = _sinh_cosh_loop(x)  # in a compiled loop, as the solver calls it (vectorised)
    one = python_twin(kernels._sinh_cosh)
    s_one = np.array([one(v)[0] for v in x[::97]])
    np.testing.assert_array_equal(s_one, s[::97])  # and one value at a time: the same numbers
    ulp_s = np.abs(s - np.sinh(x)) / np.maximum(np.spacing(np.abs(np.sinh(x))), 5e-324)
    ulp_c = np.abs(c - np.cosh(x)) / np.spacing(np.cosh(x))
    assert ulp_s.max() <= 3 and ulp_c.max() <= 3, (ulp_s.max(), ulp_c.max())
    # beyond the cap: the tangent line, continuous with the formula at the cap
    s_cap, c_cap = one(kernels.X_CAP)
    s_out, c_out = one(kernels.X_CAP + 1.0)
    assert c_out == c_cap and s_out == pytest.approx(s_cap + c_cap, rel=1e-15)


def test_sinh_range_guard():
    m = dev.Sinh(k=3.0)
    assert m.v_range == pytest.approx((-kernels.X_CAP / 3, kernels.X_CAP / 3))
    # beyond the cap: finite, monotone, C1 continuation
    v = np.array([16.0, 17.0, 100.0, 1e6])
    i, d = m.current_and_slope(v, 1e-4)
    assert np.isfinite(i).all() and (np.diff(i) > 0).all()
    assert d[-1] == pytest.approx(1e-4 * math.cosh(kernels.X_CAP))
    with pytest.raises(ValidationError, match="k \\* v_max"):
        dev.Sinh(k=30.0, v_max=2.0)
    assert dev.Sinh(k=3.0, v_max=1.0).v_range == (-1.0, 1.0)


def _selector_ref(sel, u):
    if isinstance(sel, dev.ExponentialSelector):
        return sel.i0 * math.sinh(u / sel.v0)
    sp = lambda z: max(z, 0.0) + math.log1p(math.exp(-abs(z)))  # noqa: E731
    return sel.g_off * u + sel.g_on * sel.width * (sp((u - sel.v_th) / sel.width)
                                                   - sp((-u - sel.v_th) / sel.width))


def _memristor_ref(mem, g, w):
    return g * w if isinstance(mem, dev.Ohmic) else g * math.sinh(mem.k * w) / mem.k


@pytest.mark.parametrize("name", [n for n in IDS if n.startswith("1s1r")])
def test_1s1r_against_brentq_and_current_continuity(name):
    model = dict((m[0], m[1]) for m in MODELS)[name]
    sel, mem = model.selector, model.memristor
    v = np.array([-0.9, -0.31, -1e-3, 1e-6, 0.05, 0.2, 0.45, 0.8, 1.0])
    for g in (1e-6, 1e-4):
        i = model.current(v, g)
        w = model.memristor_voltage(v, g)
        # continuity at the internal node: memristor current == selector current
        i_m = mem.current(w, g)
        i_s = sel.current(v - w)
        np.testing.assert_allclose(i_m, i_s, rtol=1e-12, atol=1e-25)
        np.testing.assert_allclose(i, i_m, rtol=0, atol=0)
        for vk, ik in zip(v, i):
            f = lambda x: _memristor_ref(mem, g, x) - _selector_ref(sel, vk - x)  # noqa: E731
            wk = brentq(f, min(0, vk), max(0, vk), xtol=1e-300, rtol=1e-15, maxiter=500)
            assert ik == pytest.approx(_memristor_ref(mem, g, wk), rel=1e-10, abs=1e-25)


def test_1s1r_series_slope_formula():
    model = dict((m[0], m[1]) for m in MODELS)["1s1r_exponential_sinh"]
    v, g = 0.6, 5e-5
    w = float(model.memristor_voltage(v, g))
    g_m = g * math.cosh(2.0 * w)
    g_s = 1e-8 / 0.05 * math.cosh((v - w) / 0.05)
    assert float(model.differential_conductance(v, g)) == pytest.approx(
        g_m * g_s / (g_m + g_s), rel=1e-13)
    # g = 0: an open memristor carries nothing
    assert model.current(0.5, 0.0) == 0.0 and model.differential_conductance(0.5, 0.0) == 0.0


def test_1t1r_sinh_against_brentq_and_gate():
    m = dev.OneTransistorOneResistor(r_on=2e3, memristor=dev.Sinh(k=3.0), g_leak=1e-9)
    for v in (-0.7, 0.1, 0.5):
        for gate, g_t in ((1.0, 1 / 2e3), (0.0, 1e-9)):
            f = lambda w: 1e-4 * math.sinh(3 * w) / 3 - g_t * (v - w)  # noqa: E731
            w = brentq(f, min(0, v), max(0, v), xtol=1e-300, rtol=1e-15)
            assert float(m.current(v, 1e-4, gate)) == pytest.approx(g_t * (v - w), rel=1e-10)
    ideal = dev.OneTransistorOneResistor(r_on=0.0, memristor=dev.Sinh(k=3.0))
    assert float(ideal.current(0.4, 1e-4, 1.0)) == pytest.approx(1e-4 * math.sinh(1.2) / 3)
    assert float(ideal.current(0.4, 1e-4, 0.0)) == 0.0


def test_tabulated_reproduces_points_and_matches_scipy_pchip():
    tab = _tab_from_csv()
    g_s = tab.state_conductance
    for s, g in enumerate(g_s):
        v = np.asarray(tab.voltages[s])
        i = np.asarray(tab.currents[s])
        assert (tab.current(v, g) == i).all()  # table points reproduced exactly
        ref = PchipInterpolator(v, i)
        x = np.linspace(v[0], v[-1], 777)
        np.testing.assert_allclose(tab.current(x, g), ref(x), rtol=1e-12, atol=1e-22)
        np.testing.assert_allclose(tab.differential_conductance(x, g), ref.derivative()(x),
                                   rtol=1e-10, atol=1e-18)
        assert tab.differential_conductance(0.0, g) == pytest.approx(g, rel=1e-14)
        # continuous derivative across every knot
        d = tab.differential_conductance
        jump = np.abs(d(v[1:-1] + 1e-9, g) - d(v[1:-1] - 1e-9, g))
        assert jump.max() <= 1e-6 * np.abs(d(v, g)).max()


def test_tabulated_state_selection():
    tab = _tab_from_csv()
    g_s = tab.state_conductance
    v = np.linspace(-0.5, 0.5, 41)
    # between two states: blend by small-signal conductance; slope at 0 V equals g
    g = 0.3 * g_s[1] + 0.7 * g_s[2]
    t = (g - g_s[1]) / (g_s[2] - g_s[1])
    expect = (1 - t) * tab.current(v, g_s[1]) + t * tab.current(v, g_s[2])
    np.testing.assert_allclose(tab.current(v, g), expect, rtol=1e-13, atol=1e-22)
    assert float(tab.differential_conductance(0.0, g)) == pytest.approx(g, rel=1e-13)
    # outside the states: the nearest state scaled to g
    for g, s in ((0.25 * g_s[0], 0), (3 * g_s[-1], -1)):
        np.testing.assert_allclose(tab.current(v, g), g / g_s[s] * tab.current(v, g_s[s]),
                                   rtol=1e-14, atol=1e-25)
    # continuous in g across a state
    assert float(tab.current(0.3, g_s[2] * (1 + 1e-12))) == pytest.approx(
        float(tab.current(0.3, g_s[2])), rel=1e-9)


def test_tabulated_out_of_range():
    tab = _tab_from_csv()
    assert tab.v_range == (-0.5, 0.5)
    assert np.isnan(tab.current(0.6, 5e-5)) and np.isnan(tab.differential_conductance(-0.6, 5e-5))
    with pytest.raises(ValidationError, match="outside the model's range"):
        tab.check_voltage([0.1, 0.7])
    tab.check_voltage([-0.5, 0.0, 0.5])
    ext = dev.Tabulated(tab.voltages, tab.currents, extrapolate=True)
    g = tab.state_conductance[3]
    i_end, d_end = ext.current_and_slope(0.5, g)
    assert float(ext.current(0.7, g)) == pytest.approx(float(i_end + 0.2 * d_end), rel=1e-14)
    assert ext.v_range == (-math.inf, math.inf)


def test_tabulated_states_with_different_grids(tmp_path):
    path = tmp_path / "iv.csv"
    path.write_text("# comment\nState,V,I\n"
                    "b,-0.2,-4e-6\nb,0,0\nb,0.1,2e-6\nb,0.3,7e-6\n"
                    "a,-0.3,-3e-7\na,0,0\na,0.3,3e-7\n")
    tab = dev.Tabulated.from_csv(path)
    assert tab.state_conductance[0] == pytest.approx(1e-6)  # state "a" sorted first
    assert tab.v_range == (-0.2, 0.3)
    assert (tab.current([-0.2, 0.0, 0.1, 0.3], tab.state_conductance[1]) ==
            [-4e-6, 0.0, 2e-6, 7e-6]).all()


# -- solver contract smoke test ----------------------------------------------------------------


def test_solver_sees_the_model_curve():
    """A single cell with ideal wires and terminals: the solver's output is the model's I(V)."""
    for name, model, states, _gates in MODELS:
        if name.startswith("tabulated"):
            continue
        g = states[-1]
        xb = cx.Crossbar(np.array([[g]]), 0.0, 0.0, device=model)
        got = cx.solve(xb, [0.4]).i_out
        assert float(np.ravel(got)[0]) == pytest.approx(float(model.current(0.4, g)),
                                                        rel=1e-9), name


# -- programming and non-idealities -------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 5])
def test_levels_and_quantize(bits):
    lv = dev.conductance_levels(1e-6, 1e-4, bits)
    assert lv.size == 2 ** bits and lv[0] == 1e-6 and lv[-1] == pytest.approx(1e-4)
    assert np.allclose(np.diff(lv), (1e-4 - 1e-6) / (2 ** bits - 1))
    jitter = np.random.default_rng(bits).uniform(-0.49, 0.49, lv.size) * np.diff(lv)[0]
    assert (dev.quantize(lv + jitter, 1e-6, 1e-4, bits) == np.arange(lv.size)).all()
    assert dev.quantize([-1.0, 1.0], 1e-6, 1e-4, bits).tolist() == [0, 2 ** bits - 1]


def test_differential_pair_and_weight_mapping():
    w = np.array([-3.0, -1.0, 0.0, 2.0, 3.0])
    pair = dev.differential_pair(w, 1e-6, 1e-4)
    np.testing.assert_allclose(pair.weights(), w, rtol=1e-12, atol=1e-12)
    assert (pair.g_minus[w >= 0] == 1e-6).all() and (pair.g_plus[w <= 0] == 1e-6).all()
    assert pair.g_plus.max() == pytest.approx(1e-4)
    q = dev.differential_pair(w, 1e-6, 1e-4, bits=1)
    assert set(np.unique(np.r_[q.g_plus, q.g_minus])) <= {1e-6, 1e-4}
    g = dev.weights_to_conductance([0.0, 0.5, 1.0], 0.0, 2e-5)
    np.testing.assert_allclose(g, [0, 1e-5, 2e-5])
    with pytest.raises(ValidationError, match="differential_pair"):
        dev.weights_to_conductance([-1.0], 0.0, 1e-5)


@pytest.mark.parametrize("dist", ["gaussian", "lognormal"])
def test_programming_variation_statistics(dist):
    n = 200_000
    var = dev.ProgrammingVariation(dist, sigma_relative=0.05)
    for g in (1e-6, 5e-5):
        x = var.apply(np.full(n, g), rng=7)
        sigma = 0.05 * g
        assert abs(x.mean() - g) <= SE * sigma / math.sqrt(n)
        # SE of the sample std ~ sigma / sqrt(2n) (near-normal samples)
        assert abs(x.std() - sigma) <= SE * sigma / math.sqrt(2 * n) * 1.1
    # absolute floor adds in quadrature (state dependent sigma)
    var = dev.ProgrammingVariation("gaussian", sigma_relative=0.03, sigma_absolute=1e-6)
    assert var.sigma(4e-5) == pytest.approx(math.hypot(1.2e-6, 1e-6))
    x = var.apply(np.full(n, 4e-5), rng=8)
    assert abs(x.std() - var.sigma(4e-5)) <= SE * var.sigma(4e-5) / math.sqrt(2 * n)
    assert (dev.ProgrammingVariation("gaussian", 0.0, 1e-5).apply(np.zeros(1000), 1) >= 0).all()


def test_rtn_statistics_and_resistance_scaling():
    n = 100_000
    noise = dev.ReadNoise(rtn_amplitude=0.05, rtn_reference=3.3e-5, rtn_exponent=1.0,
                          rtn_occupancy=0.3)
    for g in (1e-5, 1e-4):
        x = noise.sample(np.full(n, g), rng=3)
        dev_ = x - g
        dg = 0.05 * 3.3e-5  # exponent 1: same absolute amplitude at every state
        assert np.allclose(np.abs(dev_), dg, rtol=1e-9)  # bounded: exactly +-dG
        frac = (dev_ > 0).mean()
        assert abs(frac - 0.3) <= SE * math.sqrt(0.3 * 0.7 / n)
    # relative amplitude grows with resistance: dG/G = a (G_ref / G)^b
    half = dev.ReadNoise(rtn_amplitude=0.05, rtn_reference=1e-5, rtn_exponent=0.5)
    rel = half.rtn_deviation(np.array([1e-6, 1e-5, 1e-4])) / np.array([1e-6, 1e-5, 1e-4])
    np.testing.assert_allclose(rel, 0.05 * np.sqrt([10.0, 1.0, 0.1]), rtol=1e-12)
    # scale multiplies the amplitude; gaussian part has the stated sigma
    x = noise.sample(np.full(10, 5e-5), rng=1, scale=5.0)
    assert np.allclose(np.abs(x - 5e-5), 5 * 0.05 * 3.3e-5)
    white = dev.ReadNoise(gaussian_relative=0.02)
    x = white.sample(np.full(n, 1e-4), rng=2)
    assert abs(x.std() - 2e-6) <= SE * 2e-6 / math.sqrt(2 * n)


def test_stuck_at_rates_within_binomial_error():
    n = 200_000
    faults = dev.StuckAtFaults(rate_on=0.0904, rate_off=0.0175)
    g = np.full(n, 5e-5)
    fm = faults.apply(g, 1e-6, 1e-4, rng=11)
    for count, p in ((fm.stuck_on.sum(), 0.0904), (fm.stuck_off.sum(), 0.0175)):
        assert abs(count - n * p) <= SE * math.sqrt(n * p * (1 - p))
    assert not (fm.stuck_on & fm.stuck_off).any()
    assert (fm.conductance[fm.stuck_on] == 1e-4).all()
    assert (fm.conductance[fm.stuck_off] == 1e-6).all()
    healthy = ~(fm.stuck_on | fm.stuck_off)
    assert (fm.conductance[healthy] == 5e-5).all()


def test_drift_power_law():
    d = dev.Drift(nu=0.01, t0=1.0)
    t = np.array([1.0, 10.0, 1e3, 1e6])
    g = np.array([d.apply([1e-4], tk)[0] for tk in t])
    np.testing.assert_allclose(g, 1e-4 * t ** -0.01, rtol=1e-14)
    slope = np.polyfit(np.log(t), np.log(g), 1)[0]
    assert slope == pytest.approx(-0.01, rel=1e-10)
    n = 100_000
    dv = dev.Drift(nu=0.005, t0=1.0, nu_sigma=0.002)
    x = dv.apply(np.full(n, 1e-4), 1e4, rng=5)
    nu = -np.log(x / 1e-4) / np.log(1e4)
    assert abs(nu.mean() - 0.005) <= SE * 0.002 / math.sqrt(n)
    assert abs(nu.std() - 0.002) <= SE * 0.002 / math.sqrt(2 * n)


def test_seeded_reproducibility():
    spec = dev.preset("hfox")
    g = spec.levels()[np.random.default_rng(0).integers(0, 4, (64, 64))]
    a = spec.program(g, rng=42)
    b = spec.program(g, rng=np.random.default_rng(42))
    assert (a.conductance == b.conductance).all() and (a.stuck_on == b.stuck_on).all()
    c = spec.program(g, rng=43)
    assert not (a.conductance == c.conductance).all()
    assert (spec.read(g, 9) == spec.read(g, 9)).all()
    assert (spec.drifted(g, 100.0, 3) == spec.drifted(g, 100.0, 3)).all()
    w = np.arange(-128, 128)
    r1 = dev.dense_read(w, 5, noise_scale=12.0)
    r2 = dev.dense_read(w, 5, noise_scale=12.0)
    assert (r1.weights == r2.weights).all()
    with pytest.raises(ValidationError, match="seed"):
        spec.read(g, None)


# -- the paper's dense-crossbar read -------------------------------------------------------------


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_int8_split_join_round_trip(bits):
    w = np.arange(-128, 128, dtype=np.int8)
    cells = dev.split_int8(w, bits)
    assert cells.shape == (256, 8 // bits) and cells.max() == 2 ** bits - 1
    assert (dev.join_int8(cells, bits) == w).all()


WEIGHTS = np.random.default_rng(2024).integers(-128, 128, 50_000)


@pytest.mark.parametrize("bits,scale", [(2, 1.0), (1, 1.0), (4, 1.0), (2, 5.0), (1, 18.0)])
def test_dense_read_exact_where_the_paper_says(bits, scale):
    r = dev.dense_read(WEIGHTS, rng=1, bits_per_cell=bits, noise_scale=scale)
    assert r.exact and r.cell_error_rate == 0.0 and r.weight_error_rate == 0.0
    assert (r.weights == WEIGHTS).all()


@pytest.mark.parametrize("bits,scale", [(2, 15.0), (1, 40.0), (4, 5.0)])
def test_dense_read_fails_at_much_larger_noise(bits, scale):
    r = dev.dense_read(WEIGHTS, rng=1, bits_per_cell=bits, noise_scale=scale)
    assert not r.exact and r.weight_error_rate > 0.1


def test_exact_noise_scale_margins():
    # 5 % of the 2-bit step against half a step (2-bit) or 1.5 steps (1-bit)
    assert dev.exact_noise_scale("taox_dpe", 2) == pytest.approx(10.0, rel=1e-9)
    assert dev.exact_noise_scale("taox_dpe", 1) == pytest.approx(30.0, rel=1e-9)
    assert 5 < dev.exact_noise_scale("hfox", 2) and 18 < dev.exact_noise_scale("hfox", 1)
    r = dev.dense_read(WEIGHTS, rng=3, bits_per_cell=2, noise_scale=9.7, device="hfox")
    assert r.exact


# -- validation, presets, JSON ----------------------------------------------------------------


BAD = [
    (lambda: dev.Sinh(k=0.0), "k = 0.0"),
    (lambda: dev.Sinh(k=-1.0), "k = -1.0"),
    (lambda: dev.Sinh(k=float("nan")), "not finite"),
    (lambda: dev.ThresholdSelector(v_th=0.3, g_on=-1e-3), "g_on = -0.001"),
    (lambda: dev.ThresholdSelector(v_th=0.3, g_on=1e-3, width=0.0), "width = 0.0"),
    (lambda: dev.ExponentialSelector(i0=1e-9, v0=-0.1), "v0 = -0.1"),
    (lambda: dev.OneSelectorOneResistor(memristor=dev.SwitchedResistor()), "memristor"),
    (lambda: dev.OneTransistorOneResistor(r_on=-5.0), "r_on = -5.0"),
    (lambda: dev.OneTransistorOneResistor(r_on=1e3, g_leak=-1e-9), "g_leak = -1e-09"),
    (lambda: dev.SwitchedResistor(g_leak=float("nan")), "not finite"),
    (lambda: dev.Tabulated([[0.0, -0.1, 0.2]], [[0.0, -1e-6, 2e-6]]), "strictly increasing"),
    (lambda: dev.Tabulated([[-0.1, 0.0, 0.2]], [[-1e-6, 0.0, float("nan")]]), "not finite"),
    (lambda: dev.Tabulated([[-0.1, 0.0, 0.2]], [[1e-6, 0.0, 2e-6]]), "current falls"),
    (lambda: dev.Tabulated([[-0.1, 0.1]], [[-1e-6, 1e-6]]), "(0 V, 0 A)"),
    (lambda: dev.Tabulated([[-0.1, 0.0, 0.1]] * 2, [[-1e-6, 0.0, 1e-6]] * 2), "same small-signal"),
    (lambda: dev.ProgrammingVariation("uniform"), "'uniform'"),
    (lambda: dev.ProgrammingVariation("gaussian", sigma_relative=-0.1), "sigma_relative = -0.1"),
    (lambda: dev.ReadNoise(rtn_exponent=2.0), "rtn_exponent = 2.0"),
    (lambda: dev.ReadNoise(rtn_reference=0.0), "rtn_reference = 0.0"),
    (lambda: dev.StuckAtFaults(rate_on=0.7, rate_off=0.5), "exceeds 1"),
    (lambda: dev.StuckAtFaults(rate_on=1.5), "rate_on = 1.5"),
    (lambda: dev.Drift(t0=0.0), "t0 = 0.0"),
    (lambda: dev.conductance_levels(1e-4, 1e-6, 2), "must exceed"),
    (lambda: dev.conductance_levels(-1e-6, 1e-4, 2), "g_min = -1e-06"),
    (lambda: dev.conductance_levels(1e-6, 1e-4, 0), "bits = 0"),
    (lambda: dev.dense_read([1, 2], 0, bits_per_cell=3), "bits_per_cell = 3"),
    (lambda: dev.dense_read([300], 0), "INT8"),
    (lambda: dev.Tabulated.from_csv("/nonexistent/iv.csv"), "cannot read"),
]


@pytest.mark.parametrize("make,fragment", BAD, ids=[b[1] for b in BAD])
def test_bad_parameters_raise_validation_error(make, fragment):
    with pytest.raises(ValidationError) as exc:
        make()
    assert fragment in str(exc.value)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValidationError) as exc:
        dev.preset("taox")
    for name in dev.preset_names():
        assert name in str(exc.value)
    with pytest.raises(ValidationError, match="Sinh"):
        dev.from_dict({"model": "Sinhh", "k": 1.0})
    with pytest.raises(ValidationError, match="unknown field"):
        dev.from_dict({"model": "Sinh", "kk": 1.0})


ROUND_TRIP = [m[1] for m in MODELS] + [
    dev.ProgrammingVariation("lognormal", 0.05, 1e-7),
    dev.ReadNoise(0.05, 3e-5, 0.5, 0.4, 0.01),
    dev.StuckAtFaults(0.01, 0.02),
    dev.Drift(0.01, 2.0, 0.001),
] + [dev.preset(n) for n in dev.preset_names()]


@pytest.mark.parametrize("obj", ROUND_TRIP, ids=lambda o: type(o).__name__)
def test_json_round_trip(obj):
    text = obj.to_json()
    json.loads(text)  # strict JSON
    back = type(obj).from_json(text)
    assert back == obj and type(back) is type(obj)
    assert dev.from_dict(json.loads(text)) == obj
    if isinstance(obj, dev.DeviceModel):
        code, params, table = back.packed()
        c0, p0, t0 = obj.packed()
        assert code == c0 and np.array_equal(params, p0) and np.array_equal(table, t0,
                                                                            equal_nan=True)


def test_presets():
    for name in dev.preset_names():
        spec = dev.preset(name)
        assert isinstance(spec, dev.DeviceSpec) and spec.name == name
        assert spec.iv.current(spec.v_read, spec.g_max) > 0
        with pytest.raises(AttributeError):
            spec.g_max = 1.0  # frozen
    assert dev.preset("fixed_resistor").iv.is_linear
    assert dev.preset("fixed_resistor").levels().tolist() == pytest.approx([0, 1e-5, 2e-5])
    assert dev.preset("taox_dpe").levels(bits=5).size == 32


def test_crossbar_accepts_switch_models_and_gate():
    g = np.full((2, 3), 5e-5)
    gate = np.array([[1, 0, 1], [0, 1, 1]], bool)
    xb = cx.Crossbar(g, 1.0, 1.0, device=dev.OneTransistorOneResistor(r_on=1e3), gate=gate)
    assert xb.is_linear
    with pytest.raises(ValidationError, match="no access switch"):
        cx.Crossbar(g, 1.0, 1.0, device=dev.Sinh(k=2.0), gate=gate)


# -- the device command ----------------------------------------------------------------------------


def test_device_command_writes_hdf5(tmp_path, capsys):
    from circuitxbar.cli import main

    out = tmp_path / "iv.h5"
    assert main(["device", "hfox", "--out", str(out), "--points", "51", "--levels", "3"]) == 0
    assert "hfox" in capsys.readouterr().out
    with h5py.File(out) as f:
        assert f.attrs["schema_version"] == 1
        spec = dev.DeviceSpec.from_json(f.attrs["device_json"])
        assert spec == dev.preset("hfox")
        assert f["current"].shape == (3, 51) and f["current"].attrs["units"] == "A"
        assert f["voltage"].attrs["units"] == "V"
        np.testing.assert_array_equal(
            f["current"][()], spec.iv.current(f["voltage"][()][None, :],
                                              f["conductance"][()][:, None]))
    assert [p.name for p in tmp_path.iterdir()] == ["iv.h5"]  # no temp file left behind
    assert main(["device", "nope"]) == 2


def test_device_command_plot(tmp_path):
    pytest.importorskip("matplotlib")
    from circuitxbar.cli import main

    png = tmp_path / "iv.png"
    assert main(["device", "taox_dpe", "--plot", str(png), "--out",
                 str(tmp_path / "x.h5"), "--points", "21"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    from circuitxbar.devices.export import iv_family, plot_iv_family

    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    fam = iv_family(dev.preset("taox_dpe"), points=5)
    with pytest.raises(ValidationError, match=r"pip install circuitxbar\[plot\]"):
        plot_iv_family(fam, tmp_path / "x.png")


@pytest.mark.parametrize("model", [
    dev.Ohmic(), dev.SwitchedResistor(), dev.SwitchedResistor(g_leak=1e-7),
    dev.OneTransistorOneResistor(r_on=1e3, g_leak=1e-8),
    dev.OneTransistorOneResistor(r_on=0.0),
])
def test_numpy_effective_conductance_equals_the_kernel(model):
    # linear models answer effective_conductance in NumPy (no kernel compile for linear
    # studies); it must equal the compiled kernel's dI/dV exactly
    from circuitxbar.devices.base import DeviceModel

    rng = np.random.default_rng(31)
    g = rng.uniform(0.0, 1e-4, 200)
    g[:3] = 0.0
    gate = rng.random(200) < 0.5
    np.testing.assert_array_equal(model.effective_conductance(g, gate),
                                  DeviceModel.effective_conductance(model, g, gate))
