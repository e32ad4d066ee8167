"""Linear solves and transfer matrices against SciPy SuperLU on the same circuit."""

import numpy as np
import pytest

import circuitxbar as cx
from conftest import bench_crossbar, median_seconds, record, steady
from reference import ReferenceLinearSolver

SIZES = ((64, 128), (64, 128, 256, 512))


def _inputs(n, batch, seed=1):
    return np.random.default_rng(seed).uniform(0.0, 0.3, (batch, n))


@pytest.mark.parametrize("batch", [1, 64, 128])
def test_solve(benchmark, size, batch):
    xbar = bench_crossbar(size)
    v = _inputs(size, batch)
    benchmark.group = f"solve {size}x{size} batch {batch}"
    res = steady(benchmark, cx.solve, args=(xbar, v), kwargs={"keep_nodes": False},
                 rounds=5 if size <= 256 else 2)
    assert res.info.kcl_residual.max() <= 1e-9
    record(f"solve (batch {batch}) per input", size, "circuitxbar",
           median_seconds(benchmark) / batch)


#: the two SuperLU references of the per-input and transfer-matrix cases. Issue 5's is one
#: input per triangular solve ("SuperLU factor + 128 solves"): its quoted 7 ms per input at
#: 128x128 and 30 ms at 256x256 are that (5.5 and 27 ms here, against 2.1 and 11 ms per input
#: with 8 right-hand sides per call, SuperLU's multi-column solve at its best). Both are
#: reported; the issue's targets are read against the first.
ONE_PER_CALL = "one input per call (issue 5's reference)"
EIGHT_PER_CALL = "8 inputs per call"

#: SuperLU's factorisation time per size, measured once for both references
_FACTOR_SECONDS = {}


@pytest.mark.parametrize("per_call", [1, 8])
def test_superlu_per_input(benchmark, size, per_call):
    """SuperLU's per-input triangular solves (its factorisation is not counted), one input or
    eight per call: lu.solve alone, on right-hand sides assembled beforehand."""
    xbar = bench_crossbar(size)
    ref = ReferenceLinearSolver(xbar)
    v = _inputs(size, per_call)
    rhs = np.ascontiguousarray(ref._rhs(ref.network.source_voltages(v)))
    benchmark.group = f"superlu {size}x{size}"
    steady(benchmark, ref.lu.solve, args=(rhs,), rounds=11 if per_call == 1 and size <= 256
           else 3)
    per_input = median_seconds(benchmark) / per_call
    how = ONE_PER_CALL if per_call == 1 else EIGHT_PER_CALL
    for b in (1, 64, 128):
        record(f"solve (batch {b}) per input", size, f"SuperLU triangular solve, {how}",
               per_input)
    record("solve, factorised (batch 64) per input", size,
           f"SuperLU triangular solve, {how}", per_input)
    if size not in _FACTOR_SECONDS:
        _FACTOR_SECONDS[size] = _superlu_factor_seconds(ref)
        record("factorise", size, "SuperLU factor", _FACTOR_SECONDS[size], unit="array")
    for case in ("transfer matrix", "transfer matrix (CG per input)",
                 "transfer matrix, 8 arrays at a time, per array"):
        record(case, size, f"SuperLU factor + n solves, {how}",
               _FACTOR_SECONDS[size] + size * per_input, unit="array")


def test_factorised_solve(benchmark, size):
    """cx.factorize once (not timed, as SuperLU's factorisation is not), then batches of 64."""
    xbar = bench_crossbar(size)
    v = _inputs(size, 64)
    fac = cx.factorize(xbar)
    benchmark.group = f"solve {size}x{size} batch 64"
    res = steady(benchmark, fac.solve, args=(v,), kwargs={"keep_nodes": False},
                 rounds=5 if size <= 256 else 3)
    assert res.info.kcl_residual.max() <= 1e-9
    record("solve, factorised (batch 64) per input", size, "circuitxbar",
           median_seconds(benchmark) / 64)


def test_factorize(benchmark, size):
    xbar = bench_crossbar(size)
    benchmark.group = f"factorise {size}x{size}"
    steady(benchmark, cx.factorize, args=(xbar,), rounds=3)
    record("factorise", size, "circuitxbar", median_seconds(benchmark), unit="array")


def _superlu_factor_seconds(ref):
    import time

    best = np.inf
    for _ in range(2 if ref.matrix.shape[0] < 300_000 else 1):
        t0 = time.perf_counter()
        ref.factor()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("method", ["auto", "cg"])
def test_transfer_matrix(benchmark, size, method):
    """method "auto" is the direct Kron reduction at these sizes (checked against one full
    solve, included in the time); "cg" is one CG solve per input."""
    xbar = bench_crossbar(size)
    benchmark.group = f"transfer matrix {size}x{size}"
    # untimed calls on this array first (steady): the steady state a study of many arrays runs
    # in, as the solves are timed after calls on their own array; 11 rounds, as a 5-round
    # median of a few-ms case moved by 30 % between runs on this 2-core machine
    t = steady(benchmark, cx.transfer_matrix, args=(xbar,), kwargs={"method": method},
               rounds=11 if size <= 256 else 2)
    assert t.shape == (size, size)
    case = "transfer matrix" if method == "auto" else "transfer matrix (CG per input)"
    record(case, size, "circuitxbar", median_seconds(benchmark), unit="array")


def test_transfer_matrices_throughput(benchmark, size):
    """Many arrays, one per thread (cx.transfer_matrices): the study's case. Per array."""
    n_arrays = 8
    arrays = [bench_crossbar(size, seed=k) for k in range(n_arrays)]
    benchmark.group = f"transfer matrix {size}x{size}"
    ts = steady(benchmark, cx.transfer_matrices, args=(arrays,), rounds=3)
    assert len(ts) == n_arrays
    record("transfer matrix, 8 arrays at a time, per array", size, "circuitxbar",
           median_seconds(benchmark) / n_arrays, unit="array")
