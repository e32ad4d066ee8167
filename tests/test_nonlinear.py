"""Nonlinear devices solved together with the wires: against a SciPy Newton reference that
factors the sparse Jacobian at every step (1e-9), against ngspice (1e-6), and closed forms."""

import numpy as np
import pytest

import circuitxbar as cx
from circuitxbar import _newton, devices
from circuitxbar.errors import ConvergenceError, ValidationError
from reference import reference_solve
from spice import require_ngspice, spice_solve

from test_solver import FIELDS, POWERS, random_xbar, rel_err


def assert_matches_reference(xbar, v, tol=1e-9, **kw):
    fast = cx.solve(xbar, v, **kw)
    ref = reference_solve(xbar, v)
    for name in FIELDS + POWERS:
        err = rel_err(getattr(fast, name), getattr(ref, name))
        assert err <= tol, f"{name}: relative error {err:.3g} > {tol:g}"
    assert np.all(fast.info.newton_steps >= 1)
    return fast


@pytest.mark.parametrize("shape, k", [((1, 1), 5.0), ((8, 8), 5.0), ((13, 29), 3.0),
                                      ((64, 48), 5.0), ((128, 128), 5.0)])
def test_sinh_arrays_match_scipy_newton(shape, k):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    xbar = random_xbar(rng, *shape, device=devices.Sinh(k=k))
    assert_matches_reference(xbar, rng.uniform(-0.4, 0.4, (2, shape[0])))


@pytest.mark.parametrize("start", ["sweep", "solve"])
def test_both_newton_starts_match_scipy_newton(start):
    # the sweep start (auto's choice on these arrays) and the solved small-signal start
    # (auto's above an IR-drop number of 16) both reach the reference: non-square, signed
    # inputs, terminal resistances
    rng = np.random.default_rng(31)
    xbar = random_xbar(rng, 40, 56, device=devices.Sinh(k=5.0))
    fast = assert_matches_reference(xbar, rng.uniform(-0.3, 0.3, (3, 40)), newton_start=start)
    balance = np.abs(fast.power_source - fast.power_total) / fast.power_source
    assert balance.max() <= 1e-9


def test_auto_newton_start_follows_the_ir_drop_number():
    rng = np.random.default_rng(32)
    g = rng.uniform(1e-5, 1e-4, (48, 48))
    v = rng.uniform(0.0, 0.3, (2, 48))
    # N^2 r G_max: about 0.23 with 1 ohm segments, about 46 with 200 ohm
    for r, chosen in ((1.0, "sweep"), (200.0, "solve")):
        xbar = cx.Crossbar(g, r, r, device=devices.Sinh(k=5.0))
        assert _newton.sweep_start(xbar) == (chosen == "sweep")
        auto = cx.solve(xbar, v)
        same = cx.solve(xbar, v, newton_start=chosen)
        np.testing.assert_array_equal(auto.i_out, same.i_out)
        np.testing.assert_array_equal(auto.info.iterations, same.info.iterations)
        # the other start takes another path to the same solution
        other = cx.solve(xbar, v, newton_start="solve" if chosen == "sweep" else "sweep")
        assert not (np.array_equal(other.i_out, same.i_out)
                    and np.array_equal(other.info.iterations, same.info.iterations))
        assert rel_err(other.i_out, same.i_out) <= 1e-9


def test_an_unknown_newton_start_is_refused_with_the_valid_names():
    xbar = cx.Crossbar(np.full((4, 4), 1e-5), 1.0, 1.0)
    with pytest.raises(ValidationError, match=r"newton_start='fast'.*'sweep'"):
        cx.solve(xbar, np.zeros(4), newton_start="fast")


def test_chord_steps_keep_the_scipy_agreement():
    # the benchmark's regime (k = 5, inputs to 0.3 V): the last step keeps the previous
    # factors (chord step) and the answer is still the reference's to 1e-9
    rng = np.random.default_rng(5)
    xbar = random_xbar(rng, 96, 80, device=devices.Sinh(k=5.0))
    fast = assert_matches_reference(xbar, rng.uniform(0.0, 0.3, (3, 96)))
    assert np.all(fast.info.chord_steps >= 1)
    assert np.all(fast.info.chord_steps < fast.info.newton_steps)


def test_an_input_already_solved_at_the_start_returns_it():
    # zero volts everywhere: the small-signal start is the solution, so the first Newton
    # step's inner solve starts converged (no CG update: its warm start is returned as it is)
    rng = np.random.default_rng(6)
    xbar = random_xbar(rng, 12, 10, device=devices.Sinh(k=5.0))
    v = np.stack([np.zeros(12), rng.uniform(0.0, 0.3, 12), np.zeros(12)])
    fast = assert_matches_reference(xbar, v)
    for b in (0, 2):
        assert fast.info.newton_steps[b] == 1
        assert not np.any(fast.v_row[b]) and not np.any(fast.v_col[b])
        assert not np.any(fast.i_out[b])


def test_chord_source_shifts_the_linearisation_to_the_factored_conductances():
    from circuitxbar._config import python_twin
    from circuitxbar._newton import _chord_source

    rng = np.random.default_rng(6)
    vr, vc, inj = rng.uniform(-1, 1, (3, 4, 5))
    gd_fac = rng.uniform(1.0, 2.0, (4, 5))
    gd = gd_fac * (1 + rng.uniform(-1e-3, 1e-3, (4, 5)))
    gd[0, 0] = gd_fac[0, 0] * 1.02  # the largest relative change
    out = np.empty((4, 5))
    chord = python_twin(_chord_source)
    lane = np.full(5, np.nan)  # scratch: its contents are never read
    rel = chord(gd, gd_fac, inj, vr, vc, out, lane)
    # the same current at v: inj + gd v == inj_chord + gd_fac v
    np.testing.assert_allclose(out + gd_fac * (vr - vc), inj + gd * (vr - vc), rtol=0, atol=1e-15)
    assert rel == pytest.approx(0.02, rel=1e-12)
    gd_fac[1, 1] = gd[1, 1] = 0.0  # a cell without conductance before and after: no change
    assert chord(gd, gd_fac, inj, vr, vc, out, lane) == pytest.approx(0.02)
    gd_fac[1, 1] = 0.0
    gd[1, 1] = 1e-9  # conductance from nothing: no chord step
    assert chord(gd, gd_fac, inj, vr, vc, out, lane) == np.inf


def test_strongly_nonlinear_sinh_with_hard_wires():
    # k V up to 10 at the drivers, N^2 r G ~ 4: Newton needs its line search here
    rng = np.random.default_rng(21)
    xbar = cx.Crossbar(rng.uniform(1e-5, 1e-4, (48, 48)), 2.5, 2.5, 1.0, 1.0,
                       device=devices.Sinh(k=20.0))
    fast = assert_matches_reference(xbar, rng.uniform(0.3, 0.5, (2, 48)))
    balance = np.abs(fast.power_source - fast.power_total) / fast.power_source
    assert balance.max() <= 1e-9


def test_sinh_small_k_tends_to_ohmic():
    rng = np.random.default_rng(22)
    g = rng.uniform(1e-6, 1e-4, (20, 16))
    v = rng.uniform(0, 0.2, 20)
    lin = cx.solve(cx.Crossbar(g, 1.0, 1.0, 5.0, 5.0), v)
    nl = cx.solve(cx.Crossbar(g, 1.0, 1.0, 5.0, 5.0, device=devices.Sinh(k=1e-3)), v)
    # sinh(kv)/k = v (1 + (kv)^2/6 + ...): relative deviation ~ (k v)^2 / 6 < 1e-8
    assert rel_err(nl.i_out, lin.i_out) <= 1e-8


def test_sinh_single_cell_closed_form():
    # one cell, ideal terminals, no wires: I = G sinh(k V) / k exactly
    g, k, v = 3e-5, 4.0, 0.35
    res = cx.solve(cx.Crossbar([[g]], 0.0, 0.0, device=devices.Sinh(k=k)), [v])
    assert res.i_out[0] == pytest.approx(g * np.sinh(k * v) / k, rel=1e-13)


@pytest.mark.parametrize("shape", [(16, 12), (128, 128)])
def test_one_selector_one_resistor_matches_scipy(shape):
    rng = np.random.default_rng(23)
    model = devices.OneSelectorOneResistor()  # default selector and memristor of the library
    xbar = random_xbar(rng, *shape, device=model)
    assert_matches_reference(xbar, rng.uniform(0.0, 1.0, (2, shape[0])))


def test_one_transistor_one_resistor_gated_matches_scipy():
    rng = np.random.default_rng(24)
    model = devices.OneTransistorOneResistor(r_on=2e3, memristor=devices.Sinh(k=3.0),
                                             g_leak=1e-9)
    gate = rng.random((10, 14)) < 0.7
    xbar = random_xbar(rng, 10, 14, device=model, gate=gate)
    assert_matches_reference(xbar, rng.uniform(0.0, 0.5, (2, 10)))


def test_newton_step_limit_raises():
    rng = np.random.default_rng(25)
    xbar = random_xbar(rng, 16, 16, device=devices.Sinh(k=15.0))
    with pytest.raises(ConvergenceError) as exc:
        cx.solve(xbar, np.full(16, 0.5), max_newton=1)
    assert exc.value.iterations == 1


@pytest.mark.parametrize("n", [8, 32])
def test_sinh_matches_ngspice(n):
    require_ngspice()
    rng = np.random.default_rng(200 + n)
    xbar = random_xbar(rng, n, n + 3, device=devices.Sinh(k=5.0), r_source=10.0, r_sense=10.0)
    v = rng.uniform(0, 0.4, n)
    fast = cx.solve(xbar, v)
    assert rel_err(fast.i_out, spice_solve(xbar, v).i_out) <= 1e-6


def test_one_selector_one_resistor_matches_ngspice():
    require_ngspice()
    rng = np.random.default_rng(210)
    xbar = random_xbar(rng, 8, 8, device=devices.OneSelectorOneResistor(), r_source=10.0,
                       r_sense=10.0)
    v = rng.uniform(0.2, 1.0, 8)
    fast = cx.solve(xbar, v)
    assert rel_err(fast.i_out, spice_solve(xbar, v, v_start=(fast.v_row, fast.v_col)).i_out) <= 1e-6


def test_tabulated_device_outside_its_range_names_the_range():
    model = devices.Tabulated.from_csv(devices.example_csv_path())
    xbar = cx.Crossbar(np.full((4, 4), 2e-5), 1.0, 1.0, device=model)
    with pytest.raises(ConvergenceError, match=r"valid for cell voltages in \[-0.5, 0.5\] V "
                       r"and this input's sources span 5 V"):
        cx.solve(xbar, np.full(4, 5.0))


@pytest.mark.parametrize("device", [None, devices.Sinh(k=5.0)])
def test_a_batch_on_threads_that_share_its_inputs_is_each_input_alone(device):
    # the batch's threads take inputs one at a time (solver.run_shared): whichever thread
    # solves an input, the answer is the one a single-input call gives, bit for bit
    rng = np.random.default_rng(17)
    kw = {} if device is None else {"device": device}
    xbar = cx.Crossbar(rng.uniform(1e-5, 1e-4, (64, 96)), 1.0, 1.0, **kw)  # two threads
    v = rng.uniform(0.0, 0.3, (41, 64))
    batch = cx.solve(xbar, v, method="cg") if device is None else cx.solve(xbar, v)
    for b in range(v.shape[0]):
        one = cx.solve(xbar, v[b], method="cg") if device is None else cx.solve(xbar, v[b])
        np.testing.assert_array_equal(batch.i_out[b], one.i_out)
        np.testing.assert_array_equal(batch.v_row[b], one.v_row)
    assert batch.info.iterations.min() > 0
