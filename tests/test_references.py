"""The slow references checked on their own: closed forms, hand-solved ladders, energy balance,
and the SciPy nodal reference against ngspice.

Tolerances (relative to the largest magnitude of the compared vector):
closed forms 1e-13, energy balance 1e-12, reference vs ngspice 1e-9 on terminal currents and node
voltages (the agreement seen is 1e-14..5e-13 for every device model, linear or not).
"""

import numpy as np
import pytest

from circuitxbar import Crossbar
import circuitxbar.devices as devices

from reference import (
    ReferenceConvergenceError,
    ReferenceLinearSolver,
    reference_solve,
    reference_transfer_matrix,
)
from spice import (
    SPICE_AVAILABLE,
    _expr_const,
    _split_const,
    build_netlist,
    require_ngspice,
    spice_solve,
)

END_NAMES = ("row_left", "row_right", "col_top", "col_bottom")


class SinhStandIn:
    """``I = G sinh(k V) / k`` written here, for when circuitxbar.devices has no Sinh yet."""

    is_linear = False
    has_switch = False

    def __init__(self, k):
        self.k = float(k)

    def packed(self):
        return -1, np.zeros(1), np.zeros((1, 1))

    def current(self, v, g, gate=True):
        return np.asarray(g) * np.sinh(self.k * np.asarray(v)) / self.k

    def differential_conductance(self, v, g, gate=True):
        return np.asarray(g) * np.cosh(self.k * np.asarray(v))


SinhStandIn.__name__ = "Sinh"  # spice.py writes any model named Sinh as G*sinh(k*V)/k


class SwitchedOhmicStandIn:
    """A linear cell behind an ideal switch, I = gate * G V: checks that gate reaches the model."""

    is_linear = True
    has_switch = True

    def packed(self):
        return -1, np.zeros(1), np.zeros((1, 1))

    def current(self, v, g, gate=True):
        return np.asarray(gate, float) * np.asarray(g) * np.asarray(v)

    def differential_conductance(self, v, g, gate=True):
        return np.broadcast_to(np.asarray(gate, float) * np.asarray(g), np.shape(v))


def sinh_device(k):
    real = getattr(devices, "Sinh", None)
    return real(k=k) if real is not None else SinhStandIn(k)


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = np.abs(b).max()
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a).max())


def random_crossbar(rng, n_rows, n_cols, *, four_ends=False, **kw):
    g = rng.uniform(1e-6, 1e-4, (n_rows, n_cols))
    g[rng.random((n_rows, n_cols)) < 0.05] = 0.0  # a few absent cells
    args = dict(
        r_row=rng.uniform(0.5, 3.0, n_rows), r_col=rng.uniform(0.5, 3.0, n_cols),
        r_source=rng.uniform(50, 500, n_rows), r_sense=rng.uniform(20, 200, n_cols),
    )
    if four_ends:
        args.update(
            r_row_right=rng.uniform(50, 500, n_rows), r_col_top=rng.uniform(20, 200, n_cols),
            v_row_right=rng.uniform(-0.1, 0.1, n_rows), v_col_top=rng.uniform(-0.05, 0.05, n_cols),
            v_col_bottom=rng.uniform(-0.05, 0.05, n_cols),
        )
    args.update(kw)
    return Crossbar(g, **args)


def dissipated(res):
    return res.power_device + res.power_row_wire + res.power_col_wire + res.power_terminal


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------


def test_zero_wire_and_terminal_resistance_gives_g_transpose_v():
    rng = np.random.default_rng(1)
    g = rng.uniform(1e-6, 1e-4, (5, 7))
    xb = Crossbar(g, 0.0, 0.0, 0.0, 0.0)
    v = rng.uniform(-0.3, 0.3, (4, 5))
    res = reference_solve(xb, v)
    np.testing.assert_allclose(res.i_out, v @ g, rtol=1e-14, atol=0)
    np.testing.assert_allclose(res.i_row_left, -v * g.sum(axis=1), rtol=1e-14, atol=0)
    np.testing.assert_allclose(reference_transfer_matrix(xb), g.T, rtol=1e-14, atol=0)
    np.testing.assert_array_equal(res.v_row, np.broadcast_to(v[:, :, None], res.v_row.shape))
    np.testing.assert_array_equal(res.v_col, 0.0)


def test_single_cell_series_formula():
    g, r_source, r_sense, v = 3e-5, 1234.0, 567.0, 0.37
    xb = Crossbar([[g]], 2.0, 3.0, r_source, r_sense)
    res = reference_solve(xb, [v])
    current = v / (r_source + 1.0 / g + r_sense)
    assert res.i_out[0] == pytest.approx(current, rel=1e-14)
    assert res.i_device[0, 0] == pytest.approx(current, rel=1e-14)
    assert res.i_row_left[0] == pytest.approx(-current, rel=1e-14)
    assert res.v_row[0, 0] == pytest.approx(v - current * r_source, rel=1e-14)
    assert res.v_col[0, 0] == pytest.approx(current * r_sense, rel=1e-14)
    assert res.power_terminal == pytest.approx(current**2 * (r_source + r_sense), rel=1e-13)
    assert res.power_source == pytest.approx(v * current, rel=1e-14)


def test_single_cell_with_all_four_ends_biased():
    # two nodes: row node a (left: v through r1, right: vr through r2), column node c
    # (top: vt through r3, bottom: vb through r4), cell g between them
    g, r1, r2, r3, r4 = 2e-4, 100.0, 300.0, 50.0, 80.0
    v, vr, vt, vb = 0.5, 0.1, -0.2, 0.05
    xb = Crossbar([[g]], 1.0, 1.0, r1, r4, r_row_right=r2, r_col_top=r3,
                  v_row_right=vr, v_col_top=vt, v_col_bottom=vb)
    m = np.array([[1 / r1 + 1 / r2 + g, -g], [-g, g + 1 / r3 + 1 / r4]])
    a, c = np.linalg.solve(m, [v / r1 + vr / r2, vt / r3 + vb / r4])
    res = reference_solve(xb, [v])
    assert res.i_row_left[0] == pytest.approx((a - v) / r1, rel=1e-12)
    assert res.i_row_right[0] == pytest.approx((a - vr) / r2, rel=1e-12)
    assert res.i_col_top[0] == pytest.approx((c - vt) / r3, rel=1e-12)
    assert res.i_col_bottom[0] == pytest.approx((c - vb) / r4, rel=1e-12)
    np.testing.assert_array_equal(res.i_out, res.i_col_bottom)


def test_one_row_two_columns_by_hand():
    # row: v --r_s-- a --r-- b ; cells g1 (a -> col 0), g2 (b -> col 1); columns ideal at 0 V
    g1, g2, r_s, r, v = 4e-5, 7e-5, 150.0, 2.5, 0.3
    xb = Crossbar([[g1, g2]], r, 1.0, r_s, 0.0)
    y_right = 1.0 / (r + 1.0 / g2)  # r in series with g2
    a = v / r_s / (1.0 / r_s + g1 + y_right)
    b = a * (1.0 / r) / (1.0 / r + g2)
    res = reference_solve(xb, [v])
    np.testing.assert_allclose(res.i_out, [g1 * a, g2 * b], rtol=1e-13)
    np.testing.assert_allclose(res.v_row[0], [a, b], rtol=1e-13)
    assert res.i_row_left[0] == pytest.approx(-(v - a) / r_s, rel=1e-12)


def test_two_rows_one_column_by_hand():
    # rows i = 0, 1: v_i --r_s-- cell g_i -- column node c_i ; c0 --r-- c1 --r_sense-- 0 V
    g0, g1, r_s, r, r_sense = 5e-5, 2e-5, 200.0, 3.0, 40.0
    v0, v1 = 0.25, -0.1
    xb = Crossbar([[g0], [g1]], 1.0, r, r_s, r_sense)
    y0, y1 = 1 / (r_s + 1 / g0), 1 / (r_s + 1 / g1)  # each row branch in series
    # KCL at c0: y0 (v0 - c0) = (c0 - c1) / r ; at c1: y1 (v1 - c1) + (c0 - c1) / r = c1 / r_sense
    a11, a12, b1 = y0 + 1 / r, -1 / r, y0 * v0
    a21, a22, b2 = -1 / r, y1 + 1 / r + 1 / r_sense, y1 * v1
    det = a11 * a22 - a12 * a21
    c0 = (b1 * a22 - a12 * b2) / det
    c1 = (a11 * b2 - a21 * b1) / det
    res = reference_solve(xb, [v0, v1])
    assert res.i_out[0] == pytest.approx(c1 / r_sense, rel=1e-13)
    np.testing.assert_allclose(res.v_col[:, 0], [c0, c1], rtol=1e-13)
    np.testing.assert_allclose(res.i_device[:, 0], [y0 * (v0 - c0), y1 * (v1 - c1)], rtol=1e-12)


def _ladder(g, r, v):
    """Node voltages of a line driven ideally at node 0 with segments r and cells g to 0 V."""
    z = 1.0 / g[-1]  # impedance seen looking right from each node, from the far end back
    z_right = [z]
    for gk in g[-2::-1]:
        z = 1.0 / (gk + 1.0 / (r + z))
        z_right.append(z)
    z_right = z_right[::-1]
    nodes = [v]
    for k in range(1, len(g)):
        nodes.append(nodes[-1] * z_right[k] / (r + z_right[k]))
    return np.array(nodes)


def test_one_row_ladder():
    rng = np.random.default_rng(2)
    g = rng.uniform(1e-5, 1e-3, 7)
    r, v = 4.0, 0.4
    xb = Crossbar(g[None, :], r, 1.0, 0.0, 0.0)
    nodes = _ladder(g, r, v)
    res = reference_solve(xb, [v])
    np.testing.assert_allclose(res.v_row[0], nodes, rtol=1e-13)
    np.testing.assert_allclose(res.i_out, g * nodes, rtol=1e-13)


def test_one_column_ladder_driven_from_the_top_read_at_the_rows():
    # input at col_top (ideal), outputs at row_left (virtual ground): device current is
    # column -> row, i.e. negative, and flows from the array into each row terminal
    rng = np.random.default_rng(3)
    g = rng.uniform(1e-5, 1e-3, 6)
    r, v = 2.0, 0.3
    xb = Crossbar(g[:, None], 1.0, r, 0.0, np.inf, r_col_top=0.0,
                  input_end="col_top", output_end="row_left")
    nodes = _ladder(g, r, v)
    res = reference_solve(xb, [v])
    np.testing.assert_allclose(res.v_col[:, 0], nodes, rtol=1e-13)
    np.testing.assert_allclose(res.i_out, g * nodes, rtol=1e-13)
    np.testing.assert_allclose(res.i_device[:, 0], -g * nodes, rtol=1e-13)
    assert res.i_col_top[0] == pytest.approx(-np.sum(g * nodes), rel=1e-13)
    np.testing.assert_array_equal(res.i_col_bottom, 0.0)


def test_zero_resistance_line_merges_into_one_node():
    rng = np.random.default_rng(4)
    g = rng.uniform(1e-5, 1e-4, (4, 5))
    r_row = np.array([0.0, 2.0, 0.0, 1.0])
    r_col = np.array([1.0, 0.0, 3.0, 0.0, 2.0])
    xb = Crossbar(g, r_row, r_col, 100.0, 30.0)
    v = rng.uniform(0, 0.3, 4)
    res = reference_solve(xb, v)
    for i in (0, 2):
        np.testing.assert_array_equal(res.v_row[i], res.v_row[i, 0])
    for j in (1, 3):
        np.testing.assert_array_equal(res.v_col[:, j], res.v_col[0, j])
    # micro-ohm wires approach the merged answer (tiny resistances cost digits: cond ~ 1e11)
    near = reference_solve(Crossbar(g, np.where(r_row == 0, 1e-6, r_row),
                                    np.where(r_col == 0, 1e-6, r_col), 100.0, 30.0), v)
    assert rel_err(near.i_out, res.i_out) < 1e-7


def test_two_ideal_ends_on_one_node_is_rejected():
    g = np.full((3, 4), 1e-5)
    with pytest.raises(ValueError, match="same node"):
        reference_solve(Crossbar(g, 0.0, 1.0, 0.0, 10.0, r_row_right=0.0), np.ones(3))
    with pytest.raises(ValueError, match="same node"):
        reference_solve(Crossbar(g[:, :1], 1.0, 1.0, 0.0, 10.0, r_row_right=0.0), np.ones(3))


def test_floating_lines_get_zero_voltage_and_change_nothing():
    rng = np.random.default_rng(5)
    g = rng.uniform(1e-5, 1e-4, (5, 6))
    g[2, :] = 0.0
    g[:, 4] = 0.0
    # same geometry, row 2 and column 4 connected to their terminals: isolated, no current
    base = Crossbar(g, 1.0, 1.0, 100.0, 20.0)
    # row 2 and column 4 with every end open and every cell 0: floating
    r_source = np.full(5, 100.0)
    r_source[2] = np.inf
    r_sense = np.full(6, 20.0)
    r_sense[4] = np.inf
    xb = Crossbar(g, 1.0, 1.0, r_source, r_sense)
    v = rng.uniform(0, 0.3, 5)
    res = reference_solve(xb, v)
    ref = reference_solve(base, v)
    np.testing.assert_array_equal(res.v_row[2], 0.0)
    np.testing.assert_array_equal(res.v_col[:, 4], 0.0)
    assert res.i_out[4] == 0.0 and res.i_row_left[2] == 0.0
    np.testing.assert_allclose(res.i_out, ref.i_out, rtol=1e-13, atol=0)
    assert res.power_source == pytest.approx(dissipated(res), rel=1e-12)
    # a line with open ends but conducting cells is not floating: it is a passive line
    xb = Crossbar(rng.uniform(1e-5, 1e-4, (5, 6)), 1.0, 1.0, r_source, r_sense)
    res = reference_solve(xb, v)
    assert np.all(res.v_row[2] != 0.0) and np.all(res.v_col[:, 4] != 0.0)
    assert res.i_row_left[2] == 0.0 and res.i_out[4] == 0.0
    np.testing.assert_allclose(res.i_device[2].sum(), 0.0, atol=1e-10 * np.abs(res.i_device).max())


def test_gate_reaches_the_device_model():
    rng = np.random.default_rng(6)
    g = rng.uniform(1e-5, 1e-4, (6, 4))
    gate = rng.random((6, 4)) < 0.6
    xb = Crossbar(g, 1.0, 2.0, 50.0, 10.0, device=SwitchedOhmicStandIn(), gate=gate)
    v = rng.uniform(0, 0.3, 6)
    res = reference_solve(xb, v)
    ref = reference_solve(Crossbar(np.where(gate, g, 0.0), 1.0, 2.0, 50.0, 10.0), v)
    np.testing.assert_allclose(res.i_out, ref.i_out, rtol=1e-14)
    np.testing.assert_array_equal(res.i_device[~gate], 0.0)


def test_transfer_matrix_and_batched_solves():
    rng = np.random.default_rng(7)
    xb = random_crossbar(rng, 9, 6, four_ends=True)
    solver = ReferenceLinearSolver(xb)
    t = solver.transfer_matrix()
    v = rng.uniform(-0.3, 0.3, (5, 9))
    batch = solver.solve(v)
    offset = solver.solve(np.zeros(9)).i_out
    np.testing.assert_allclose(batch.i_out, v @ t.T + offset, rtol=1e-12,
                               atol=1e-12 * np.abs(offset).max())
    for b in range(5):
        one = reference_solve(xb, v[b])
        np.testing.assert_allclose(one.i_out, batch.i_out[b], rtol=1e-14)
    np.testing.assert_allclose(reference_transfer_matrix(xb), t, rtol=1e-15)
    with pytest.raises(TypeError):
        ReferenceLinearSolver(Crossbar(xb.conductance, 1.0, 1.0, device=SinhStandIn(3.0)))


# --------------------------------------------------------------------------------------------
# energy conservation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["default", "four_ends", "zero_wires", "ideal_ends", "sinh"])
def test_energy_conservation(case):
    rng = np.random.default_rng(8)
    kw = {}
    if case == "four_ends":
        kw = dict(four_ends=True)
    elif case == "zero_wires":
        kw = dict(r_row=np.array([0.0, 1.0] * 6), r_col=np.array([2.0, 0.0, 0.5] * 3))
    elif case == "ideal_ends":
        kw = dict(four_ends=True, r_source=0.0, r_sense=0.0)
    elif case == "sinh":
        kw = dict(four_ends=True, device=sinh_device(8.0))
    xb = random_crossbar(rng, 12, 9, **kw)
    v = rng.uniform(-0.6, 0.6, (3, 12))
    res = reference_solve(xb, v)
    np.testing.assert_allclose(res.power_source, dissipated(res), rtol=1e-12, atol=0)
    cell_power = (res.i_device * (res.v_row - res.v_col)).sum(axis=(1, 2))
    np.testing.assert_allclose(res.power_device, cell_power, rtol=1e-14)


# --------------------------------------------------------------------------------------------
# nonlinear devices
# --------------------------------------------------------------------------------------------


def test_sinh_with_tiny_k_is_the_linear_array():
    rng = np.random.default_rng(9)
    lin = random_crossbar(rng, 10, 7, four_ends=True)
    v = rng.uniform(-0.3, 0.3, 10)
    res = reference_solve(lin.with_conductance(lin.conductance), v)
    kw = {f: getattr(lin, f) for f in ("r_row", "r_col", "r_source", "r_sense", "r_row_right",
                                        "r_col_top", "v_row_right", "v_col_top", "v_col_bottom")}
    nl = reference_solve(Crossbar(lin.conductance, device=SinhStandIn(1e-6), **kw), v)
    assert rel_err(nl.i_out, res.i_out) < 1e-11


def test_newton_converges_and_raises_when_starved():
    rng = np.random.default_rng(10)
    xb = random_crossbar(rng, 10, 7, device=SinhStandIn(12.0))
    v = rng.uniform(0.5, 1.0, 10)
    res = reference_solve(xb, v)
    assert res.residual <= 1e-13
    assert res.iterations >= 3
    with pytest.raises(ReferenceConvergenceError) as info:
        reference_solve(xb, v, max_iterations=1)
    assert info.value.iterations == 1 and info.value.residual > 1e-13


# --------------------------------------------------------------------------------------------
# reference vs ngspice
# --------------------------------------------------------------------------------------------

SPICE_TOL = 1e-9

spice_cases = [
    # (rows, columns, options)
    (8, 8, {}),
    (8, 5, dict(four_ends=True)),
    (32, 27, {}),
    (27, 32, dict(four_ends=True)),
    (32, 32, dict(four_ends=True, r_source=0.0, r_row=np.r_[0.0, np.full(31, 1.5)])),
    (12, 9, dict(input_end="col_top", output_end="row_right", r_col_top=10.0, r_sense=np.inf,
                 r_row_right=5.0, r_source=np.inf)),
]


@pytest.mark.skipif(not SPICE_AVAILABLE, reason="ngspice not installed: apt-get install ngspice")
@pytest.mark.parametrize("n_rows,n_cols,options", spice_cases,
                         ids=[f"{r}x{c}-{'-'.join(o) or 'default'}" for r, c, o in spice_cases])
def test_reference_matches_ngspice(n_rows, n_cols, options):
    require_ngspice()
    rng = np.random.default_rng(100 + n_rows * n_cols)
    xb = random_crossbar(rng, n_rows, n_cols, **options)
    v = rng.uniform(-0.3, 0.3, xb.n_inputs)
    ref = reference_solve(xb, v)
    sp = spice_solve(xb, v)
    assert rel_err(ref.i_out, sp.i_out) < SPICE_TOL
    for end in END_NAMES:
        assert rel_err(ref.terminal_current(end), sp.terminal_current(end)) < SPICE_TOL, end
    assert rel_err(ref.v_row, sp.v_row) < SPICE_TOL
    assert rel_err(ref.v_col, sp.v_col) < SPICE_TOL


@pytest.mark.skipif(not SPICE_AVAILABLE, reason="ngspice not installed: apt-get install ngspice")
def test_reference_matches_ngspice_with_floating_lines_and_gate():
    require_ngspice()
    rng = np.random.default_rng(11)
    g = rng.uniform(1e-5, 1e-4, (7, 6))
    g[3, :] = 0.0
    gate = rng.random((7, 6)) < 0.7
    r_source = np.full(7, 80.0)
    r_source[3] = np.inf
    xb = Crossbar(g, 1.0, 2.0, r_source, 20.0, device=devices.SwitchedResistor(), gate=gate)
    v = rng.uniform(0, 0.3, 7)
    ref, sp = reference_solve(xb, v), spice_solve(xb, v)
    np.testing.assert_array_equal(ref.v_row[3], 0.0)
    assert rel_err(ref.i_out, sp.i_out) < SPICE_TOL
    np.testing.assert_array_equal(sp.v_row[3], 0.0)


@pytest.mark.skipif(not SPICE_AVAILABLE, reason="ngspice not installed: apt-get install ngspice")
@pytest.mark.parametrize("four_ends", [False, True])
def test_sinh_reference_matches_ngspice(four_ends):
    require_ngspice()
    rng = np.random.default_rng(12)
    xb = random_crossbar(rng, 8, 8, four_ends=four_ends, device=sinh_device(6.0))
    v = rng.uniform(-1.0, 1.0, 8)
    ref = reference_solve(xb, v)
    sp = spice_solve(xb, v)
    for end in END_NAMES:
        assert rel_err(ref.terminal_current(end), sp.terminal_current(end)) < SPICE_TOL, end


@pytest.mark.skipif(not SPICE_AVAILABLE, reason="ngspice not installed: apt-get install ngspice")
def test_strongly_nonlinear_sinh_with_nodeset():
    require_ngspice()
    rng = np.random.default_rng(13)
    xb = random_crossbar(rng, 6, 5, device=sinh_device(60.0))  # needs source stepping
    v = rng.uniform(0.8, 1.0, 6)
    ref = reference_solve(xb, v)
    sp = spice_solve(xb, v, v_start=(ref.v_row, ref.v_col))
    assert rel_err(ref.i_out, sp.i_out) < SPICE_TOL


def test_spice_expression_constants_survive_11_digit_reprinting():
    rng = np.random.default_rng(14)
    for x in np.concatenate([rng.uniform(1e-7, 1e-3, 50), [1.0, 6.0, 1 / 3, 12.345678901234567]]):
        hi, lo = _split_const(x)
        reprinted = float(f"{hi:.10e}") + float(f"{lo:.10e}")  # what ngspice keeps of each part
        assert abs(reprinted - x) <= 4e-16 * x
        assert _expr_const(x).count("e") in (1, 2)


def test_spice_netlist_merges_zero_wires_and_rejects_shorted_ideal_ends():
    g = np.full((3, 4), 1e-5)
    text, _ = build_netlist(Crossbar(g, [0.0, 1.0, 1.0], 1.0, 10.0, 0.0), np.ones(3))
    assert "Rr0_" not in text and "Rd0_2 r0 c0_2" in text and "Rr1_0 r1_0 r1_1" in text
    with pytest.raises(ValueError, match="same node"):
        build_netlist(Crossbar(g, 0.0, 1.0, 0.0, 10.0, r_row_right=0.0), np.ones(3))


def _device_models():
    d = devices
    return {
        "1S1R-threshold-ohmic": d.OneSelectorOneResistor(),
        "1S1R-threshold-sinh": d.OneSelectorOneResistor(memristor=d.Sinh(k=3.0)),
        "1S1R-exponential-ohmic": d.OneSelectorOneResistor(
            selector=d.ExponentialSelector(i0=1e-6, v0=0.05)),
        "1S1R-exponential-sinh": d.OneSelectorOneResistor(
            selector=d.ExponentialSelector(i0=1e-6, v0=0.05), memristor=d.Sinh(k=4.0)),
        "1T1R-ohmic": d.OneTransistorOneResistor(r_on=2000.0, g_leak=1e-9),
        "1T1R-sinh": d.OneTransistorOneResistor(r_on=2000.0, memristor=d.Sinh(k=3.0),
                                                g_leak=1e-9),
        "1T1R-sinh-ideal-switch": d.OneTransistorOneResistor(r_on=0.0, memristor=d.Sinh(k=3.0)),
        "switched-resistor-leaky": d.SwitchedResistor(g_leak=1e-8),
        "switched-resistor": d.SwitchedResistor(),
    }


DEVICE_NAMES = [
    "1S1R-threshold-ohmic", "1S1R-threshold-sinh", "1S1R-exponential-ohmic",
    "1S1R-exponential-sinh", "1T1R-ohmic", "1T1R-sinh", "1T1R-sinh-ideal-switch",
    "switched-resistor-leaky", "switched-resistor",
]


@pytest.mark.skipif(not SPICE_AVAILABLE, reason="ngspice not installed: apt-get install ngspice")
@pytest.mark.parametrize("name", DEVICE_NAMES)
def test_device_models_match_ngspice_series_cells(name):
    """Series cells: the reference uses the model's own internal-node solve, SPICE an explicit
    internal node, so this also checks circuitxbar.devices' series solve."""
    require_ngspice()
    if not hasattr(devices, "OneSelectorOneResistor"):
        pytest.skip("circuitxbar.devices has no series-cell models yet")
    model = _device_models()[name]
    rng = np.random.default_rng(15 + DEVICE_NAMES.index(name))
    gate = rng.random((8, 7)) < 0.7 if model.has_switch else None
    xb = random_crossbar(rng, 8, 7, four_ends=True, device=model, gate=gate)
    v = rng.uniform(-1.0, 1.0, 8)
    ref = reference_solve(xb, v)
    sp = spice_solve(xb, v)
    for end in END_NAMES:
        assert rel_err(ref.terminal_current(end), sp.terminal_current(end)) < SPICE_TOL, end
    np.testing.assert_allclose(ref.power_source, dissipated(ref), rtol=1e-12)
