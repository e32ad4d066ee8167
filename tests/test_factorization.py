"""The factorised solve (``cx.factorize(x).solve(v)``) against SciPy's sparse nodal solve, against
the iterative ``cx.solve``, and its checks.

Tolerance: 1e-9 of the largest value, the solver issue's agreement; measured about 1e-14.
"""

import numpy as np
import pytest

import circuitxbar as cx
from circuitxbar import _reduce
from circuitxbar.errors import ConvergenceError, ValidationError
from reference import reference_solve
from test_solver import FIELDS, POWERS, random_xbar, rel_err
from test_transfer import TERMINALS, varied_xbar


def assert_matches(fast, ref, tol=1e-9):
    for name in FIELDS + POWERS:
        err = rel_err(getattr(fast, name), getattr(ref, name))
        assert err <= tol, f"{name}: relative error {err:.3g} > {tol:g}"


@pytest.mark.parametrize("shape", [(2, 2), (2, 5), (7, 9), (5, 5), (17, 4), (16, 16), (20, 23),
                                   (33, 20), (64, 48)])
def test_matches_scipy_with_varied_wires_and_terminals(shape):
    # per-line wires; ideal, resistive and open terminals: free and pinned end nodes
    rng = np.random.default_rng(200 + sum(shape))
    xbar = varied_xbar(rng, *shape)
    v = rng.uniform(-0.3, 0.3, (4, shape[0]))
    fast = cx.factorize(xbar).solve(v)
    assert fast.info.method == "direct-nested-dissection"
    assert_matches(fast, reference_solve(xbar, v))


@pytest.mark.parametrize("ends", [("row_left", "col_bottom"), ("col_top", "row_left"),
                                  ("row_right", "col_top"), ("col_bottom", "col_top")])
def test_any_input_end_with_biased_ends(ends):
    # every end has a terminal and the non-input ones hold bias voltages (an affine response)
    rng = np.random.default_rng(8)
    n_rows, n_cols = 14, 11
    kw = {name: rng.uniform(0.0, 30.0, n_rows if name in TERMINALS[:2] else n_cols)
          for name in TERMINALS}
    for end, n in (("row_left", n_rows), ("row_right", n_rows), ("col_top", n_cols),
                   ("col_bottom", n_cols)):
        if end != ends[0]:
            kw["v_" + end] = rng.uniform(-0.1, 0.1, n)
    xbar = random_xbar(rng, n_rows, n_cols, input_end=ends[0], output_end=ends[1], **kw)
    v = rng.uniform(-0.3, 0.3, (3, xbar.n_inputs))
    assert_matches(cx.factorize(xbar).solve(v), reference_solve(xbar, v))


def test_hard_regime_and_extreme_cells_match_the_iterative_solve():
    rng = np.random.default_rng(9)
    # N^2 r G = 16 at 128 x 128; cells spanning 1e-9..1e-3 S with some exactly 0
    g = 10.0 ** rng.uniform(-9, -3, (128, 128))
    g[rng.random(g.shape) < 0.05] = 0.0
    xbar = cx.Crossbar(g, 1.0, 1.0)
    v = rng.uniform(0.0, 0.3, (5, 128))
    fast = cx.factorize(xbar).solve(v)
    assert_matches(fast, cx.solve(xbar, v))
    assert fast.info.kcl_residual.max() <= 1e-11


def test_energy_is_conserved():
    rng = np.random.default_rng(10)
    xbar = varied_xbar(rng, 40, 30)
    res = cx.factorize(xbar).solve(rng.uniform(-0.3, 0.3, (6, 40)), keep_nodes=False)
    assert res.v_row is None
    np.testing.assert_allclose(res.power_source, res.power_total, rtol=1e-9)


def test_batches_of_any_size_give_the_same_numbers():
    # sub-batches, chunks on two threads and reused workspaces must not mix inputs
    rng = np.random.default_rng(11)
    xbar = random_xbar(rng, 48, 40)
    fac = cx.factorize(xbar)
    v = rng.uniform(0.0, 0.3, (70, 48))
    whole = fac.solve(v, keep_nodes=False).i_out
    for lo, hi in ((0, 1), (1, 4), (4, 70), (69, 70)):
        np.testing.assert_allclose(fac.solve(v[lo:hi], keep_nodes=False).i_out, whole[lo:hi],
                                   rtol=0, atol=1e-14 * abs(whole).max())
    one = fac.solve(v[5])
    assert one.i_out.shape == (40,) and one.v_row.shape == (48, 40)
    np.testing.assert_allclose(one.i_out, whole[5], rtol=0, atol=1e-14 * abs(whole).max())


def test_tile_numbering_covers_every_node_once():
    for shape in ((16, 16), (20, 23), (3, 50), (33, 17)):
        position = _reduce.tile_position(*shape)
        assert np.array_equal(np.sort(position), np.arange(2 * shape[0] * shape[1]))


@pytest.mark.parametrize("spoil", ["scale", "nan"])
def test_a_corrupted_factor_is_caught(spoil):
    # the KCL check on every solution is what guarantees it: spoil one weight of one leaf
    # (a NaN one too: the check's maxima skip NaN, so it must come through the power sums)
    rng = np.random.default_rng(12)
    xbar = random_xbar(rng, 24, 24)
    fac = cx.factorize(xbar)
    _kind, _n, _nb, _off, _ids, _first, _ptr, _target, val, _x_off, _x = fac._steps
    if spoil == "nan":
        val[len(val) // 2] = np.nan
    else:
        val[len(val) // 2] *= 1.0 + 1e-3
    v = rng.uniform(0.1, 0.3, 24)
    for keep_nodes in (True, False):  # both output paths check
        with pytest.raises(ConvergenceError, match="KCL mismatch"):
            fac.solve(v, keep_nodes=keep_nodes)


def test_what_it_refuses():
    rng = np.random.default_rng(13)
    with pytest.raises(ValidationError, match="linear device"):
        cx.factorize(random_xbar(rng, 8, 8, device=cx.devices.Sinh(k=3.0)))
    with pytest.raises(ValidationError, match="resistance > 0"):
        cx.factorize(random_xbar(rng, 8, 8, r_row=np.r_[0.0, np.ones(7)]))
    with pytest.raises(ValidationError, match="at least 2 rows"):
        cx.factorize(random_xbar(rng, 1, 8))
    with pytest.raises(ValidationError, match="Crossbar"):
        cx.factorize(np.ones((4, 4)))
    fac = cx.factorize(random_xbar(rng, 8, 6))
    with pytest.raises(ValidationError, match="shape"):
        fac.solve(np.ones(6))
    with pytest.raises(ValidationError, match="not finite"):
        fac.solve(np.full(8, np.nan))
    with pytest.raises(ValidationError, match="kcl_tol"):
        fac.solve(np.ones(8), kcl_tol=0.0)


def test_batched_outputs_match_the_iterative_solves_outputs_on_the_same_voltages():
    # the factorised solve computes currents, powers and the KCL check across the batch straight
    # from the back substitution's tile-ordered voltages (_direct._outputs_batch); the iterative
    # solve per input from row-major ones (_kernels._outputs). Fed the same node voltages,
    # the two must agree to rounding.
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin
    from circuitxbar.crossbar import END_NAMES
    from circuitxbar.solver import _terminals

    outputs, end_voltages = python_twin(K._outputs), python_twin(K._end_voltages)
    wire_g = python_twin(K._wire_conductance)
    rng = np.random.default_rng(14)
    for shape in ((20, 23), (33, 20)):
        xbar = varied_xbar(rng, *shape)
        v = rng.uniform(-0.3, 0.3, (9, shape[0]))
        for keep_nodes in (True, False):
            batched = cx.factorize(xbar).solve(v, keep_nodes=keep_nodes)
            nodes = batched if keep_nodes else cx.factorize(xbar).solve(v)
            (g_l, g_r, g_t, g_b), bias = _terminals(xbar)
            for b in range(v.shape[0]):
                vr, vc = nodes.v_row[b], nodes.v_col[b]
                idev = xbar.conductance * (vr - vc)
                ends = end_voltages(*bias, v[b], END_NAMES.index(xbar.input_end))
                t = [np.zeros(shape[0]), np.zeros(shape[0]), np.zeros(shape[1]),
                     np.zeros(shape[1])]
                powers = np.zeros(5)
                kcl = outputs(vr, vc, idev, wire_g(xbar.r_row), wire_g(xbar.r_col), g_l, g_r,
                              g_t, g_b, *ends, *t, powers)
                for name, ref in zip(("i_row_left", "i_row_right", "i_col_top",
                                      "i_col_bottom"), t):
                    assert rel_err(getattr(batched, name)[b], ref) <= 1e-13, name
                for name, ref in zip(POWERS, powers):
                    assert rel_err(getattr(batched, name)[b], ref) <= 1e-13, name
                np.testing.assert_allclose(batched.info.kcl_residual[b], kcl, rtol=1e-6)


def test_solve_method_choice():
    rng = np.random.default_rng(15)
    xbar = random_xbar(rng, 20, 16)
    v = rng.uniform(0.0, 0.3, (cx.solver.FACTORIZE_MIN_BATCH, 20))
    auto, cg = cx.solve(xbar, v, keep_nodes=False), cx.solve(xbar, v, method="cg")
    assert auto.info.method == "direct-nested-dissection"  # a batch large enough to pay
    assert cg.info.method == "pcg-line-schur"
    assert rel_err(auto.i_out, cg.i_out) <= 1e-12
    assert cx.solve(xbar, v[:3]).info.method == "pcg-line-schur"  # too few inputs
    one = cx.solve(xbar, v[0], method="factorize")
    assert one.i_out.shape == (16,) and one.info.method == "direct-nested-dissection"
    wires = random_xbar(rng, 8, 8, r_row=np.r_[0.0, np.ones(7)])  # where it does not apply
    big = rng.uniform(0.0, 0.3, (cx.solver.FACTORIZE_MIN_BATCH, 8))
    assert cx.solve(wires, big, keep_nodes=False).info.method == "pcg-line-schur"
    with pytest.raises(ValidationError, match="linear device"):
        cx.solve(random_xbar(rng, 8, 8, device=cx.devices.Sinh(k=3.0)), big[0],
                 method="factorize")
    with pytest.raises(ValidationError, match="method"):
        cx.solve(xbar, v[0], method="lu")
