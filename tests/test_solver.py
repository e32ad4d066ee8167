"""The fast solver against its slow twins: SciPy sparse nodal solve, ngspice, closed forms.

Tolerances: i_out to 1e-9 relative (of the largest output) against SciPy, 1e-6 against ngspice
(it prints limited digits), closed forms to 1e-12, energy balance to 1e-9.
"""

import numpy as np
import pytest

import circuitxbar as cx
from circuitxbar.errors import ConvergenceError, ValidationError
from reference import ReferenceLinearSolver, reference_solve, reference_transfer_matrix
from spice import require_ngspice, spice_solve

FIELDS = ("i_out", "v_row", "v_col", "i_device", "i_row_left", "i_row_right", "i_col_top",
          "i_col_bottom")
POWERS = ("power_device", "power_row_wire", "power_col_wire", "power_terminal", "power_source")


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    scale = np.abs(b).max()
    return np.abs(a - b).max() / scale if scale > 0 else np.abs(a - b).max()


def random_xbar(rng, n_rows, n_cols, *, g_lo=1e-6, g_hi=1e-4, **kw):
    g = rng.uniform(g_lo, g_hi, (n_rows, n_cols))
    kw.setdefault("r_row", rng.uniform(0.5, 3.0))
    kw.setdefault("r_col", rng.uniform(0.5, 3.0))
    kw.setdefault("r_source", rng.uniform(0.0, 50.0))
    kw.setdefault("r_sense", rng.uniform(0.0, 50.0))
    return cx.Crossbar(g, **kw)


def assert_matches_reference(xbar, v, tol=1e-9):
    fast = cx.solve(xbar, v)
    ref = reference_solve(xbar, v)
    for name in FIELDS:
        err = rel_err(getattr(fast, name), getattr(ref, name))
        assert err <= tol, f"{name}: relative error {err:.3g} > {tol:g}"
    for name in POWERS:
        err = rel_err(getattr(fast, name), getattr(ref, name))
        assert err <= tol, f"{name}: relative error {err:.3g} > {tol:g}"
    return fast


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 7), (9, 1), (2, 3), (16, 16), (13, 40), (40, 13), (64, 64), (128, 96),
              (128, 128)]
)
def test_random_arrays_match_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    xbar = random_xbar(rng, *shape)
    v = rng.uniform(-0.3, 0.3, (3, shape[0]))
    fast = assert_matches_reference(xbar, v)
    assert fast.i_out.shape == (3, shape[1])


def test_hard_regime_256_matches_scipy():
    # N^2 r G = 16: strong IR drop, the regime where damped fixed-point solvers diverge
    rng = np.random.default_rng(7)
    g = rng.uniform(1e-5, 1e-4, (256, 256))
    xbar = cx.Crossbar(g, 2.5, 2.5, 1.0, 1.0)
    assert xbar.ir_drop_number() > 10
    assert_matches_reference(xbar, rng.uniform(0, 0.2, (2, 256)))


def test_hardest_regime_512_matches_superlu():
    # N^2 r G = 65 (512x512, 2.5 ohm segments, cells to 1e-4 S): the performance issue's
    # exactness bound, where CrossSim's damped fixed point needs dozens of restarts
    rng = np.random.default_rng(71)
    xbar = cx.Crossbar(rng.uniform(1e-5, 1e-4, (512, 512)), 2.5, 2.5)
    assert xbar.ir_drop_number() > 60
    v = rng.uniform(0, 0.2, (2, 512))
    ref = ReferenceLinearSolver(xbar).solve(v)
    assert rel_err(cx.solve(xbar, v, keep_nodes=False).i_out, ref.i_out) <= 1e-9


def test_per_line_resistances_and_all_ends_driven():
    rng = np.random.default_rng(3)
    n_rows, n_cols = 11, 17
    xbar = random_xbar(
        rng, n_rows, n_cols,
        r_row=rng.uniform(0.1, 5, n_rows), r_col=rng.uniform(0.1, 5, n_cols),
        r_source=rng.uniform(1, 20, n_rows), r_sense=rng.uniform(1, 20, n_cols),
        r_row_right=rng.uniform(1, 20, n_rows), r_col_top=rng.uniform(1, 20, n_cols),
        v_row_right=rng.uniform(-0.1, 0.1, n_rows), v_col_top=rng.uniform(-0.1, 0.1, n_cols),
        v_col_bottom=rng.uniform(-0.05, 0.05, n_cols),
    )
    assert_matches_reference(xbar, rng.uniform(-0.3, 0.3, (2, n_rows)))


def test_memory_style_read_column_driven_rows_sensed():
    # the paper's dense crossbar: one column enabled, every row sensed at its left end
    rng = np.random.default_rng(4)
    n_rows, n_cols = 32, 24
    xbar = random_xbar(rng, n_rows, n_cols, r_source=5.0, r_sense=np.inf, r_col_top=2.0,
                       input_end="col_top", output_end="row_left")
    v = np.zeros((n_cols, n_cols))
    v[np.arange(n_cols), np.arange(n_cols)] = 0.2
    fast = assert_matches_reference(xbar, v)
    assert fast.i_out.shape == (n_cols, n_rows)


def test_zero_conductance_cells_and_floating_lines():
    rng = np.random.default_rng(5)
    g = rng.uniform(1e-6, 1e-4, (12, 10))
    g[3, :] = 0.0  # a row that touches nothing
    g[:, 6] = 0.0  # a column that touches nothing
    g[rng.random(g.shape) < 0.3] = 0.0
    # rows open at both ends except the inputs: row 3 floats with no cell at all
    xbar = cx.Crossbar(g, 1.0, 2.0, r_source=3.0, r_sense=4.0)
    fast = assert_matches_reference(xbar, rng.uniform(0, 0.2, 12))
    assert np.all(fast.i_device[3] == 0) and fast.i_out[6] == 0.0


def test_floating_line_with_cells_matches_scipy():
    # row 0 has no terminal at all: it floats and is set by its cells alone
    rng = np.random.default_rng(6)
    xbar = random_xbar(rng, 6, 9, r_source=np.r_[np.inf, rng.uniform(1, 5, 5)])
    assert_matches_reference(xbar, rng.uniform(0, 0.2, 6))


@pytest.mark.parametrize("which", ["rows", "cols", "both"])
def test_zero_wire_resistance_merges_lines(which):
    rng = np.random.default_rng(8)
    kw = {"r_row": 0.0} if which in ("rows", "both") else {}
    if which in ("cols", "both"):
        kw["r_col"] = 0.0
    xbar = random_xbar(rng, 7, 5, **kw)
    fast = assert_matches_reference(xbar, rng.uniform(0, 0.2, 7))
    if which in ("rows", "both"):
        assert np.all(np.ptp(fast.v_row, axis=1) == 0.0)


def test_zero_wires_and_ideal_terminals_give_g_transpose_v_exactly():
    rng = np.random.default_rng(9)
    g = rng.uniform(1e-7, 1e-3, (20, 30))
    v = rng.uniform(-1, 1, (4, 20))
    res = cx.solve(cx.Crossbar(g, 0.0, 0.0, 0.0, 0.0), v)
    np.testing.assert_allclose(res.i_out, v @ g, rtol=1e-13, atol=0)


def test_single_cell_series_formula():
    g, rs, rsense, v = 2.5e-5, 123.0, 456.0, 0.37
    res = cx.solve(cx.Crossbar([[g]], 7.0, 9.0, rs, rsense), [v])
    expected = v / (rs + 1.0 / g + rsense)
    assert res.i_out[0] == pytest.approx(expected, rel=1e-13)
    assert res.power_terminal == pytest.approx(expected**2 * (rs + rsense), rel=1e-12)


def test_one_row_ladder_closed_form():
    # 1x2: source -> node a -(r)- node b; cells to two ideal-sensed columns
    g1, g2, r, v = 1e-3, 2e-3, 10.0, 1.0
    res = cx.solve(cx.Crossbar([[g1, g2]], r, 0.0, 0.0, 0.0), [v])
    i2 = v / (r + 1.0 / g2)
    np.testing.assert_allclose(res.i_out, [g1 * v, i2], rtol=1e-13)


def test_held_line_is_pinned():
    rng = np.random.default_rng(10)
    # right ends of every row held at 0.1 V (ideal), left ends driven through 5 ohm
    xbar = random_xbar(rng, 8, 8, r_source=5.0, r_row_right=0.0, v_row_right=0.1)
    fast = assert_matches_reference(xbar, rng.uniform(0, 0.2, 8))
    np.testing.assert_array_equal(fast.v_row[:, -1], 0.1)


def test_extreme_on_off_ratio():
    rng = np.random.default_rng(11)
    g = np.where(rng.random((48, 40)) < 0.5, 1e-9, 1e-3)  # on/off ratio 1e6
    assert_matches_reference(cx.Crossbar(g, 1.0, 1.0, 10.0, 10.0), rng.uniform(0, 0.2, (2, 48)))


def _milliohm_array(r_wire):
    # weak cells behind (milli)ohm-scale wire segments: the sensed columns sit at microvolts
    rng = np.random.default_rng(21)
    xbar = cx.Crossbar(10 ** rng.uniform(-9, -6, (48, 48)), r_wire, r_wire)
    return xbar, rng.standard_normal((2, 48))


@pytest.mark.parametrize("r_wire", [0.01, 0.001])
def test_highly_conductive_wires_raise_no_false_kcl_alarm(r_wire):
    # the column voltages are computed to eps of the 1 V sources; times 1000 S that rounding
    # was once 1e-8 of the currents, and every path raised ConvergenceError on a right answer
    xbar, v = _milliohm_array(r_wire)
    fast = cx.solve(xbar, v)
    ref = reference_solve(xbar, v)
    for name in ("i_out", "v_row", "i_device", "i_col_bottom"):
        assert rel_err(getattr(fast, name), getattr(ref, name)) <= 1e-9, name
    # the column nodes sit at microvolts: both solvers get them to eps of the 1 V sources
    assert np.abs(fast.v_col - ref.v_col).max() <= 1e-13 * np.abs(v).max()
    # SciPy's driver currents come from Ohm's law over the first segment, so they carry that
    # rounding (2e-8 of the current at 10 mohm); KCL says each is its row's cell currents
    rows = fast.i_device.sum(axis=2)
    assert np.abs(-fast.i_row_left - rows).max() <= 1e-13 * np.abs(rows).max()
    assert rel_err(cx.factorize(xbar).solve(v).i_out, ref.i_out) <= 1e-9
    assert rel_err(cx.transfer_matrix(xbar), reference_transfer_matrix(xbar)) <= 1e-9


def test_kcl_check_still_sees_a_picovolt_behind_milliohm_wires():
    # the rounding floor must not hide real errors: one column node off by 1e-12 V
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin
    from circuitxbar.crossbar import END_NAMES
    from circuitxbar.solver import _terminals

    xbar, v = _milliohm_array(0.001)
    res = cx.solve(xbar, v[0])
    term_g, bias = _terminals(xbar)
    ends = python_twin(K._end_voltages)(*bias, v[0], END_NAMES.index(xbar.input_end))
    outputs = python_twin(K._outputs)
    n, m = xbar.shape

    def kcl(v_col):
        currents = [np.empty(n), np.empty(n), np.empty(m), np.empty(m), np.empty(5)]
        return outputs(res.v_row, v_col, res.i_device, 1 / xbar.r_row, 1 / xbar.r_col, *term_g,
                       *ends, *currents)

    assert kcl(res.v_col) <= 1e-9
    off = res.v_col.copy()
    off[20, 30] += 1e-12
    # 1e-12 V x 1000 S = 1e-9 A on each neighbouring segment, against currents of ~1e-5 A
    assert kcl(off) > 1e-6


@pytest.mark.parametrize("m", [7, 19])
@pytest.mark.parametrize("n_nodes", [1, 2, 7, 8, 9, 17, 26])
def test_row_factorisation_by_blocks_matches_the_node_major_one(n_nodes, m):
    # _factor_rows eliminates chain-major rows ROW_BLOCK nodes at a time through scratch (8 x 8
    # blocks of 8 chains transposed in registers, the rest element by element);
    # _factor_lines on the transposed array is the plain node-major elimination. Chain kinds:
    # ideal start (pinned), resistive and open starts, zero-resistance wires pinned at their
    # start (inf all along), a floating chain with no cells, ideal and open ends. (The
    # elimination itself is checked against SciPy by the solve tests.)
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin

    rng = np.random.default_rng(31)
    g = rng.uniform(1e-5, 1e-3, (m, n_nodes))
    g[5] = 0.0
    r = np.resize([1.0, 0.5, 0.0, 2.0, 0.0, 1.0, 1.5], m)
    g_start = np.resize([np.inf, 0.1, np.inf, 0.0, 0.05, 0.0, np.inf], m)
    g_end = np.resize([np.inf, 0.0, 0.2, np.inf, np.inf, 0.0, 0.3], m)
    blocks = tuple(np.full((K.ROW_BLOCK, m), np.nan) for _ in range(4))

    def run(kernel, gg, shape, *extra):
        coef = [np.full(shape, np.nan) for _ in range(3)] + [np.full(m, np.nan) for _ in range(3)]
        python_twin(kernel)(gg, r, g_start, g_end, *coef, *extra)
        return coef

    by_rows = run(K._factor_rows, g, (m, n_nodes), blocks)
    by_nodes = run(K._factor_lines, np.ascontiguousarray(g.T), (n_nodes, m))
    for got, want in zip(by_rows[:3], by_nodes[:3]):
        np.testing.assert_array_equal(got, want.T)  # every entry written, none NaN
    for got, want in zip(by_rows[3:], by_nodes[3:]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("r_source", [0.0, 20.0])
def test_zero_resistance_rows_driven_by_ideal_sources(r_source):
    # rows of zero resistance pinned at an ideal driver are one node at the source voltage
    # (the eliminations carry inf through every node); with a resistive driver they merge
    rng = np.random.default_rng(32)
    xbar = random_xbar(rng, 19, 13, r_source=r_source, r_row=np.r_[0.0, 1.5, 0.0, np.ones(16)],
                       r_col=np.r_[0.0, np.full(12, 2.0)])
    v = rng.uniform(-0.3, 0.5, (3, 19))
    assert_matches_reference(xbar, v)
    np.testing.assert_allclose(cx.transfer_matrix(xbar), reference_transfer_matrix(xbar),
                               rtol=1e-9, atol=0)


def test_energy_conservation():
    rng = np.random.default_rng(12)
    xbar = random_xbar(rng, 50, 70, r_row_right=30.0, v_row_right=0.05, v_col_bottom=0.01)
    res = cx.solve(xbar, rng.uniform(-0.2, 0.4, (5, 50)))
    balance = np.abs(res.power_source - res.power_total) / res.power_source
    assert balance.max() <= 1e-9


def test_transfer_matrix_matches_solve_and_reference():
    rng = np.random.default_rng(13)
    xbar = random_xbar(rng, 24, 36)
    t = cx.transfer_matrix(xbar)
    assert t.shape == (36, 24)
    v = rng.uniform(-0.3, 0.3, (6, 24))
    assert rel_err(v @ t.T, cx.solve(xbar, v).i_out) <= 1e-11
    assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9


@pytest.mark.parametrize("shape", [(40, 12), (12, 40)])
def test_transfer_matrix_uses_reciprocity_on_the_smaller_side(shape):
    # 40 rows > 12 columns: solved by driving the 12 outputs (reciprocity); the reverse shape
    # is solved directly; both must equal the SuperLU transfer matrix
    rng = np.random.default_rng(17)
    xbar = random_xbar(rng, *shape, r_row_right=40.0)
    assert rel_err(cx.transfer_matrix(xbar), reference_transfer_matrix(xbar)) <= 1e-9


def test_transfer_matrix_rejects_bias_and_nonlinear():
    rng = np.random.default_rng(14)
    with pytest.raises(ValidationError, match="affine"):
        cx.transfer_matrix(random_xbar(rng, 4, 4, v_col_bottom=0.1))
    with pytest.raises(ValidationError, match="nonlinear"):
        cx.transfer_matrix(random_xbar(rng, 4, 4, device=cx.devices.Sinh(k=3.0)))


def test_single_input_and_batch_shapes_and_keep_nodes():
    rng = np.random.default_rng(15)
    xbar = random_xbar(rng, 5, 3)
    one = cx.solve(xbar, np.full(5, 0.1))
    assert one.i_out.shape == (3,) and one.v_row.shape == (5, 3) and one.power_device.shape == ()
    many = cx.solve(xbar, np.full((4, 5), 0.1), keep_nodes=False)
    assert many.i_out.shape == (4, 3) and many.v_row is None
    np.testing.assert_allclose(many.i_out[2], one.i_out, rtol=1e-14)
    assert many.info.iterations.shape == (4,) and many.info.method


def test_not_converged_raises_with_residual_and_iterations():
    rng = np.random.default_rng(16)
    xbar = cx.Crossbar(rng.uniform(1e-5, 1e-4, (64, 64)), 2.5, 2.5)
    with pytest.raises(ConvergenceError) as exc:
        cx.solve(xbar, np.full(64, 0.2), max_iter=1)
    assert exc.value.iterations == 1 and exc.value.residual > exc.value.tolerance


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(conductance=[[1e-5, np.nan]]), "NaN|not finite"),
        (dict(conductance=[[1e-5, -1e-6]]), "negative"),
        (dict(conductance=[1e-5, 1e-6]), "2-D"),
        (dict(r_row=-1.0), "negative"),
        (dict(r_col=[1.0, 2.0, 3.0]), "shape"),
        (dict(r_source=np.nan), "NaN"),
        (dict(r_row=np.inf), "infinite"),
        (dict(input_end="middle"), "row_left"),
        (dict(r_source=np.inf), "open on every line"),
    ],
)
def test_bad_crossbar_input_is_rejected(kwargs, match):
    args = dict(conductance=np.full((2, 2), 1e-5), r_row=1.0, r_col=1.0)
    args.update(kwargs)
    with pytest.raises(ValidationError, match=match):
        cx.Crossbar(**args)


def test_bad_v_in_is_rejected():
    xbar = cx.Crossbar(np.full((3, 2), 1e-5), 1.0, 1.0)
    with pytest.raises(ValidationError, match=r"shape \(3,\)"):
        cx.solve(xbar, np.zeros(2))
    with pytest.raises(ValidationError, match="not finite"):
        cx.solve(xbar, [0.1, np.nan, 0.2])


@pytest.mark.parametrize("entry", [lambda x: cx.solve(x, np.zeros(2)), cx.transfer_matrix,
                                   cx.factorize])
def test_something_else_than_a_crossbar_is_rejected(entry):
    # a bare conductance matrix is the likely mistake: the message names what came instead
    with pytest.raises(ValidationError, match="must be a circuitxbar.Crossbar, got ndarray"):
        entry(np.full((2, 2), 1e-5))


def test_shorted_ideal_sources_are_rejected():
    xbar = cx.Crossbar(np.full((2, 3), 1e-5), 0.0, 1.0, r_source=0.0, r_row_right=0.0)
    with pytest.raises(ValidationError, match="shorts"):
        cx.solve(xbar, np.zeros(2))


@pytest.mark.parametrize("n", [8, 32, 64])
def test_matches_ngspice(n):
    require_ngspice()
    rng = np.random.default_rng(100 + n)
    xbar = random_xbar(rng, n, n + n // 4, r_source=rng.uniform(5, 20), r_sense=rng.uniform(5, 20))
    v = rng.uniform(0, 0.3, n)
    fast = cx.solve(xbar, v)
    spice = spice_solve(xbar, v)
    assert rel_err(fast.i_out, spice.i_out) <= 1e-6


def _row_chain_currents_one_row_at_a_time(vr, idev, w_row, g_left, g_right, v_left, v_right,
                                          v_src):
    """The row chains' KCL check written plainly, one row after another (the kernel
    interleaves four rows; every row's own operations and their order are the same)."""
    from circuitxbar._kernels import KCL_FLOOR

    n_rows, n_cols = vr.shape
    i_start, i_end = np.empty(n_rows), np.empty(n_rows)
    power = mismatch = scale = 0.0
    for i in range(n_rows):
        total, vmax = 0.0, v_src
        for j in range(n_cols):
            total += idev[i, j]
            vmax = max(vmax, abs(vr[i, j]))
        w, start_ideal, end_ideal = w_row[i], g_left[i] == np.inf, g_right[i] == np.inf
        a = 0.0 if start_ideal else g_left[i] * (v_left[i] - vr[i, 0])
        e = 0.0 if end_ideal else g_right[i] * (vr[i, -1] - v_right[i])
        if start_ideal and not end_ideal:
            a = total + e
        elif end_ideal and not start_ideal:
            e = a - total
        elif start_ideal and end_ideal:
            a = idev[i, 0] + (vr[i, 0] - vr[i, 1]) * w
            e = (vr[i, -2] - vr[i, -1]) * w - idev[i, -1]
        i_start[i], i_end[i] = a, e
        scale = max(scale, abs(a), abs(e))
        seg, mm, pw = a, 0.0, 0.0
        for j in range(n_cols - 1):
            seg -= idev[i, j]
            dv = vr[i, j] - vr[i, j + 1]
            pw += w * dv * dv
            if w > 0.0:
                mm = max(mm, abs(seg - dv * w))
        seg -= idev[i, -1]
        power += pw
        mismatch = max(mismatch, max(mm, abs(seg - e)) - KCL_FLOOR * vmax * w)
    return (power, mismatch, scale), i_start, i_end


@pytest.mark.parametrize("n_rows", [1, 2, 3, 4, 5, 7, 9])
def test_row_kcl_check_interleaved_rows_match_one_row_at_a_time(n_rows):
    # every terminal kind (ideal, resistive, open) at both ends and merged rows (w = 0), with
    # row counts that leave 0-3 rows over after the groups of four
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin

    rng = np.random.default_rng(n_rows)
    n_cols = 6
    vr = rng.uniform(-0.3, 0.3, (n_rows, n_cols))
    idev = rng.uniform(-1e-5, 1e-5, (n_rows, n_cols))
    kinds = np.array([np.inf, 1e-3, 0.0])
    g_left, g_right = kinds[np.arange(n_rows) % 3], kinds[(np.arange(n_rows) // 3) % 3]
    w_row = np.where(np.arange(n_rows) % 4 == 2, 0.0, rng.uniform(0.5, 2.0, n_rows))
    v_left, v_right = rng.uniform(0, 0.3, n_rows), rng.uniform(0, 0.3, n_rows)
    i_start, i_end = np.empty(n_rows), np.empty(n_rows)
    got = python_twin(K._row_chain_currents)(vr, idev, w_row, g_left, g_right, v_left, v_right,
                                             i_start, i_end, 0.3)
    want, want_start, want_end = _row_chain_currents_one_row_at_a_time(
        vr, idev, w_row, g_left, g_right, v_left, v_right, 0.3)
    assert got == want
    np.testing.assert_array_equal(i_start, want_start)
    np.testing.assert_array_equal(i_end, want_end)


@pytest.mark.parametrize("n_rows", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("with_inj", [False, True])
def test_column_passes_two_rows_at_a_time_match_one_row_at_a_time(n_rows, with_inj):
    # _col_forward (with the CG direction update) and _col_voltages run the column chains two
    # rows per pass; written out one row at a time, the same recurrences give the same bits,
    # for even and odd row counts
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin

    rng = np.random.default_rng(40 + n_rows)
    n_cols = 5
    cbg, cbinj, cp = (rng.uniform(0.1, 0.9, (n_rows, n_cols)) for _ in range(3))
    cas, cae, cbe = (rng.uniform(0.1, 0.9, n_cols) for _ in range(3))
    col_c = (cbg, cbinj, cp, cas, cae, cbe)
    inj = rng.uniform(-1e-5, 1e-5, (n_rows, n_cols)) if with_inj else np.empty((0, 0))
    u0, z = rng.uniform(-0.3, 0.3, (2, n_rows, n_cols))
    v_top, v_bottom = rng.uniform(0, 0.3, (2, n_cols))
    beta = 0.7

    u_want = z + beta * u0
    sc_want = np.empty((n_rows, n_cols))
    for i in range(n_rows):
        s = cas * v_top if i == 0 else sc_want[i - 1]
        sc_want[i] = (s + cbg[i] * u_want[i] if i == 0 else s + cbg[i] * (u_want[i] - s))
        if with_inj:
            sc_want[i] += cbinj[i] * inj[i]
    u, sc = u0.copy(), np.full((n_rows, n_cols), np.nan)
    python_twin(K._col_forward)(col_c, u, inj, v_top, sc, z, beta)
    np.testing.assert_array_equal(u, u_want)
    np.testing.assert_array_equal(sc, sc_want)

    vc_want = sc_want.copy()  # the column voltages for row voltages u_want
    vc_want[-1] = cae * vc_want[-1] + cbe * v_bottom
    for i in range(n_rows - 2, -1, -1):
        vc_want[i] = vc_want[i] + cp[i] * (vc_want[i + 1] - vc_want[i])
    vc = np.full((n_rows, n_cols), np.nan)
    python_twin(K._col_voltages)(col_c, u_want, inj, v_top, v_bottom, vc)
    np.testing.assert_array_equal(vc, vc_want)


def test_transpose8_moves_one_block_transposed_and_nothing_else():
    import numba

    from circuitxbar._intrinsics import _transpose8

    @numba.njit
    def run(src, sr, sc, dst, dr, dc):
        _transpose8(src, sr, sc, dst, dr, dc)

    src = np.arange(20.0 * 30.0).reshape(20, 30)
    dst = np.full((25, 17), np.nan)
    run(src, 3, 5, dst, 2, 9)
    want = np.full((25, 17), np.nan)
    want[2:10, 9:17] = src[3:11, 5:13].T
    np.testing.assert_array_equal(dst, want)
