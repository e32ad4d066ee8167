"""The direct transfer matrix (nested-dissection Kron reduction, ``_reduce``) against SuperLU,
against the per-input CG method, and its check and fallback.

Tolerance: 1e-9 of the largest entry, the solver issue's agreement; the measured agreement is
about 1e-13 (printed by the hard-regime test on failure).
"""

import numpy as np
import pytest

import circuitxbar as cx
from circuitxbar import _reduce, _transfer
from circuitxbar._config import python_twin
from circuitxbar.errors import ConvergenceError, ValidationError
from reference import reference_transfer_matrix
from test_solver import random_xbar, rel_err

TERMINALS = ("r_source", "r_row_right", "r_col_top", "r_sense")  # END_NAMES order


def varied_xbar(rng, n_rows, n_cols, **kw):
    """Per-line wire resistances and a mix of ideal, resistive and open terminals."""
    kw.setdefault("r_row", rng.uniform(0.2, 4.0, n_rows))
    kw.setdefault("r_col", rng.uniform(0.2, 4.0, n_cols))
    kw.setdefault("r_source", np.where(rng.random(n_rows) < 0.3, 0.0,
                                       rng.uniform(1.0, 100.0, n_rows)))
    kw.setdefault("r_sense", np.where(rng.random(n_cols) < 0.3, 0.0,
                                      rng.uniform(1.0, 100.0, n_cols)))
    kw.setdefault("r_row_right", np.where(rng.random(n_rows) < 0.5, np.inf,
                                          rng.uniform(1.0, 1e3, n_rows)))
    return random_xbar(rng, n_rows, n_cols, **kw)


@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (3, 7), (5, 5), (4, 17), (17, 4), (16, 16),
                                   (33, 20), (64, 48)])
def test_direct_matches_superlu(shape):
    rng = np.random.default_rng(100 + sum(shape))
    xbar = varied_xbar(rng, *shape)
    t = cx.transfer_matrix(xbar, method="direct")
    assert t.shape == (shape[1], shape[0])
    assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9


@pytest.mark.parametrize("ends", [("row_left", "col_bottom"), ("row_left", "row_right"),
                                  ("col_top", "row_left"), ("col_bottom", "col_top"),
                                  ("row_right", "col_top"), ("col_top", "col_bottom")])
def test_direct_any_input_and_output_ends(ends):
    rng = np.random.default_rng(7)
    resistances = {name: rng.uniform(0.0, 30.0, 12 if name in TERMINALS[:2] else 9)
                   for name in TERMINALS}
    xbar = random_xbar(rng, 12, 9, input_end=ends[0], output_end=ends[1], **resistances)
    t = cx.transfer_matrix(xbar, method="direct")
    assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9


@pytest.mark.parametrize("ends", [("row_left", "col_bottom"), ("col_top", "row_left"),
                                  ("col_bottom", "col_top")])
def test_direct_ideal_ends_read_t_from_either_triangle(ends):
    # every end ideal: T is one block of the reduced matrix's lower triangle, read transposed
    # when the output end set comes before the input set
    rng = np.random.default_rng(8)
    xbar = random_xbar(rng, 11, 7, input_end=ends[0], output_end=ends[1],
                       **dict.fromkeys(TERMINALS, 0.0))
    t = cx.transfer_matrix(xbar, method="direct")
    assert t.flags.c_contiguous
    assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9


def test_open_ends_are_eliminated_and_kept_ends_stay():
    # default array: rows driven at the left, sensed at the bottom, the other ends open
    rng = np.random.default_rng(3)
    xbar = random_xbar(rng, 6, 5)
    prep = cx.solver._prepare(xbar)
    keep = _transfer.ports(prep.term_g, 0, 3)
    assert keep.tolist() == [True, False, False, True]
    lower, _ = _transfer.boundary_matrix(prep.g, xbar.r_row, xbar.r_col, keep)
    assert lower.shape == (6 + 5, 6 + 5)
    y = _reduce.full_laplacian(lower)  # the reduction keeps the strictly lower triangle
    np.testing.assert_array_equal(np.tril(y, -1), np.tril(lower, -1))
    # a resistor network's boundary matrix: symmetric, off-diagonals <= 0, rows sum to zero
    np.testing.assert_array_equal(y, y.T)
    assert (y - np.diag(np.diag(y)) <= 0).all()
    assert np.abs(y.sum(axis=1)).max() <= 1e-12 * np.abs(y).max()


def test_boundary_matrix_is_the_kron_reduction():
    # independent reference: the full nodal Laplacian, Schur-complemented by dense algebra
    rng = np.random.default_rng(4)
    n_rows, n_cols = 5, 6
    g = rng.uniform(1e-5, 1e-3, (n_rows, n_cols))
    r_row, r_col = rng.uniform(0.5, 2.0, n_rows), rng.uniform(0.5, 2.0, n_cols)
    keep = np.ones(4, dtype=bool)
    y = _reduce.full_laplacian(_transfer.boundary_matrix(g, r_row, r_col, keep)[0])

    def row(i, j):
        return i * n_cols + j

    def col(i, j):
        return n_rows * n_cols + i * n_cols + j

    n = 2 * n_rows * n_cols
    lap = np.zeros((n, n))

    def link(a, b, c):
        lap[a, a] += c
        lap[b, b] += c
        lap[a, b] -= c
        lap[b, a] -= c

    for i in range(n_rows):
        for j in range(n_cols):
            link(row(i, j), col(i, j), g[i, j])
            if j + 1 < n_cols:
                link(row(i, j), row(i, j + 1), 1 / r_row[i])
            if i + 1 < n_rows:
                link(col(i, j), col(i + 1, j), 1 / r_col[j])
    ends = ([row(i, 0) for i in range(n_rows)] + [row(i, n_cols - 1) for i in range(n_rows)]
            + [col(0, j) for j in range(n_cols)] + [col(n_rows - 1, j) for j in range(n_cols)])
    inner = sorted(set(range(n)) - set(ends))
    kron = lap[np.ix_(ends, ends)] - lap[np.ix_(ends, inner)] @ np.linalg.solve(
        lap[np.ix_(inner, inner)], lap[np.ix_(inner, ends)])
    assert np.abs(y - kron).max() <= 1e-12 * np.abs(kron).max()


def test_hard_regime_512_direct_matches_cg_solves():
    # N^2 r G_max = 66 (512x512, 2.5 ohm, 1e-4 S): T against full iterative solves
    rng = np.random.default_rng(5)
    xbar = cx.Crossbar(rng.uniform(1e-6, 1e-4, (512, 512)), 2.5, 2.5)
    t = cx.transfer_matrix(xbar, method="direct")
    v = rng.uniform(-0.3, 0.3, (4, 512))
    err = rel_err(v @ t.T, cx.solve(xbar, v, keep_nodes=False).i_out)
    assert err <= 1e-9, f"direct T against solve: {err:.3g}"


@pytest.mark.parametrize("g_lo,g_hi,r_wire", [(1e-9, 1e-3, 1.0), (1e-6, 1e-4, 0.01),
                                               (1e-4, 1e-2, 10.0)])
def test_extreme_conductance_and_wire_ratios(g_lo, g_hi, r_wire):
    rng = np.random.default_rng(6)
    g = np.exp(rng.uniform(np.log(g_lo), np.log(g_hi), (40, 30)))
    xbar = cx.Crossbar(g, r_wire, r_wire, r_source=rng.uniform(0, 5, 40))
    t = cx.transfer_matrix(xbar, method="direct")
    assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9


def test_methods_agree_and_validate():
    rng = np.random.default_rng(8)
    xbar = varied_xbar(rng, 20, 26)
    direct = cx.transfer_matrix(xbar, method="direct")
    iterative = cx.transfer_matrix(xbar, method="cg")
    assert rel_err(direct, iterative) <= 1e-11
    with pytest.raises(ValidationError, match="method='nested'"):
        cx.transfer_matrix(xbar, method="nested")


def test_direct_refuses_arrays_it_cannot_reduce_and_auto_falls_back():
    rng = np.random.default_rng(9)
    merged = random_xbar(rng, 8, 8, r_row=np.r_[0.0, np.ones(7)])
    with pytest.raises(ValidationError, match="resistance > 0"):
        cx.transfer_matrix(merged, method="direct")
    assert rel_err(cx.transfer_matrix(merged), reference_transfer_matrix(merged)) <= 1e-9
    single_row = random_xbar(rng, 1, 9)
    with pytest.raises(ValidationError, match="2 rows"):
        cx.transfer_matrix(single_row, method="direct")
    assert rel_err(cx.transfer_matrix(single_row), reference_transfer_matrix(single_row)) <= 1e-9


def _corrupting(calls):
    """transfer_matrix_direct with one entry of T off by 1e-6; records its executor argument."""
    real = _transfer.transfer_matrix_direct

    def corrupted(*args, **kw):
        calls.append(args[-1])
        t, side = real(*args, **kw)
        t[3, 4] *= 1.0 + 1e-6
        return t, side

    return corrupted


def test_a_wrong_direct_result_is_caught(monkeypatch):
    # the check against a full solve is what guarantees the result: corrupt one entry
    rng = np.random.default_rng(10)
    xbar = random_xbar(rng, 30, 32)  # large enough for "auto" to try the direct method
    good = reference_transfer_matrix(xbar)
    calls = []
    monkeypatch.setattr(_transfer, "transfer_matrix_direct", _corrupting(calls))
    with pytest.raises(ConvergenceError, match="disagrees with a full solve"):
        cx.transfer_matrix(xbar, method="direct")
    assert rel_err(cx.transfer_matrix(xbar, method="auto"), good) <= 1e-9
    assert len(calls) == 2  # auto tried the direct method, rejected it, and fell back to CG


def test_the_check_runs_beside_the_merge_and_still_decides(monkeypatch):
    # 64x80 cells: the halves go to two threads and the check's solve runs on the pool thread
    # while this one merges them; its verdict must still stop a wrong matrix, and an error in
    # the pool's half must reach the caller (auto then falls back to CG)
    from circuitxbar import solver

    monkeypatch.setattr(solver, "num_threads", lambda: 2)  # two threads even on one core
    rng = np.random.default_rng(14)
    xbar = random_xbar(rng, 64, 80)
    assert xbar.conductance.size >= _transfer._MIN_PARALLEL_CELLS
    good = reference_transfer_matrix(xbar)
    real = _transfer.transfer_matrix_direct
    executors = []
    monkeypatch.setattr(_transfer, "transfer_matrix_direct", _corrupting(executors))
    with pytest.raises(ConvergenceError, match="disagrees with a full solve"):
        cx.transfer_matrix(xbar, method="direct")
    assert executors[0] is not None  # the pool was handed the second half
    monkeypatch.setattr(_transfer, "transfer_matrix_direct", real)

    real_reduce = _reduce.reduce_block
    halves_failed = []

    def second_half_fails(g, wr, wc, i0, i1, j0, j1, *rest):
        if j0 > 0:  # the second half, reduced on the pool thread
            halves_failed.append(1)
            raise np.linalg.LinAlgError("singular block (injected)")
        return real_reduce(g, wr, wc, i0, i1, j0, j1, *rest)

    monkeypatch.setattr(_reduce, "reduce_block", second_half_fails)
    # a failed reduction leaves no T to check: the fallback's CG columns are the only solves
    check_solves = []
    real_solve = solver.solve

    def counting_solve(*args, **kw):
        check_solves.append(1)
        return real_solve(*args, **kw)

    monkeypatch.setattr(solver, "solve", counting_solve)
    assert rel_err(cx.transfer_matrix(xbar, method="auto"), good) <= 1e-9
    assert halves_failed
    assert not check_solves


def test_auto_takes_cg_on_narrow_arrays(monkeypatch):
    rng = np.random.default_rng(13)
    monkeypatch.setattr(_transfer, "transfer_matrix_direct", None)  # would fail if called
    narrow = random_xbar(rng, 300, 8)
    assert rel_err(cx.transfer_matrix(narrow), reference_transfer_matrix(narrow)) <= 1e-9


def test_gth_elimination_matches_dense_schur():
    # the node-by-node elimination against numpy on a random Laplacian
    rng = np.random.default_rng(11)
    n, nb = 14, 6
    c = np.triu(rng.uniform(0, 1, (n, n)) * (rng.random((n, n)) < 0.5), 1)
    c = c + c.T
    lap = np.diag(c.sum(axis=1)) - c
    ref = lap[:nb, :nb] - lap[:nb, nb:] @ np.linalg.solve(lap[nb:, nb:], lap[nb:, :nb])
    # it reads and returns the strictly lower triangle only: garbage above must not matter
    garbage = np.tril(lap) + np.triu(np.full((n, n), np.nan), 1)
    got = python_twin(_reduce._gth_eliminate)(garbage, nb, np.empty(0))
    got = _reduce.full_laplacian(got)
    assert np.abs(got - ref).max() <= 1e-13 * np.abs(ref).max()


def test_blas_merge_matches_node_by_node_merge():
    # a merge sharing 20 nodes takes the Cholesky/TRTRI/TRMM/SYRK path; the same merge eliminated
    # node by node (cancellation-free) must agree
    rng = np.random.default_rng(12)
    g = rng.uniform(1e-6, 1e-4, (20, 40))
    wr, wc = 1 / rng.uniform(0.5, 2, 20), 1 / rng.uniform(0.5, 2, 40)
    keep = np.array([True, False, True, True])
    args = (0, 20, 0, 40, 20, 40, keep)
    none = np.empty((0, 0))
    ya = _reduce.reduce_block(g, wr, wc, 0, 20, 0, 20, keep, none, none)
    yb = _reduce.reduce_block(g, wr, wc, 0, 20, 20, 40, keep, none, none)
    ca, ta, cb, tb, nb, m = python_twin(_reduce._merge_layout)(*args)
    assert m == 20 > _reduce.SMALL
    blas, ok = python_twin(_reduce._blas_merge)(ya, yb, ca, ta, cb, tb, nb, m, np.empty(0))
    assert ok
    y = np.zeros((nb + m, nb + m))
    python_twin(_reduce._scatter)(ya, ca, ta, 0, y, y, y)
    python_twin(_reduce._scatter)(yb, cb, tb, 0, y, y, y)
    gth = python_twin(_reduce._gth_eliminate)(y, nb, np.empty(0))
    blas, gth = _reduce.full_laplacian(blas), _reduce.full_laplacian(gth)
    assert np.abs(blas - gth).max() <= 1e-13 * np.abs(gth).max()


def test_floating_lines_take_the_node_by_node_merge():
    # two columns with no cells and both ends open float: where their nodes are the shared
    # line of a large merge, Cholesky meets a zero pivot and the merge falls back to the
    # node-by-node elimination, which skips isolated nodes
    rng = np.random.default_rng(5)
    g = rng.uniform(1e-5, 1e-4, (40, 40))
    g[:, [17, 30]] = 0.0
    xbar = cx.Crossbar(g, 1.0, 1.0, input_end="row_left", output_end="row_right",
                       r_row_right=0.0, r_sense=np.inf)
    fac = cx.factorize(xbar)
    kind, op_n, op_nb = fac._steps[:3]
    fallback = (kind == _reduce.MERGED_BY_GTH) & (op_n - op_nb > _reduce.SMALL) & (
        op_nb > op_n - op_nb)  # a leaf eliminates more nodes than it keeps
    assert fallback.any()
    assert rel_err(cx.transfer_matrix(xbar, method="direct"),
                   reference_transfer_matrix(xbar)) <= 1e-9
    v = rng.uniform(0.0, 0.3, (3, 40))
    assert rel_err(fac.solve(v).i_out, cx.solve(xbar, v).i_out) <= 1e-9


def test_many_arrays_at_once_match_one_at_a_time():
    rng = np.random.default_rng(14)
    arrays = [varied_xbar(rng, 40, 30), random_xbar(rng, 300, 8), varied_xbar(rng, 26, 26),
              random_xbar(rng, 8, 8, r_row=np.r_[0.0, np.ones(7)]), varied_xbar(rng, 64, 48)]
    many = cx.transfer_matrices(arrays)
    assert len(many) == len(arrays)
    for t, xbar in zip(many, arrays):
        assert rel_err(t, reference_transfer_matrix(xbar)) <= 1e-9
        np.testing.assert_allclose(t, cx.transfer_matrix(xbar), rtol=0, atol=1e-12 * abs(t).max())
    assert cx.transfer_matrices([]) == []


def test_many_arrays_name_the_one_that_fails():
    rng = np.random.default_rng(15)
    arrays = [random_xbar(rng, 30, 30), random_xbar(rng, 4, 4, v_col_bottom=0.1)]
    with pytest.raises(ValidationError, match="affine") as info:
        cx.transfer_matrices(arrays)
    assert "crossbars[1]" in "".join(getattr(info.value, "__notes__", []))
