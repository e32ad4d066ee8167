"""Kernels called through their address (_native.Shared): the same results as a linked call,
every call site's types checked against the compiled ones, exceptions reach Python, and the
solver's callers hold no copy of what they call that way. (A caller loaded from the disk cache
in a fresh process: tests/test_precompile.py runs every path so, with no compile at all.)"""

import numba
import numpy as np
import pytest
from numba.core import types
from numba.core.errors import TypingError

from circuitxbar._config import JIT, SHARED
from circuitxbar._native import Shared
from numba_probes import read_only

LOCAL = dict(cache=False)  # test kernels leave nothing in the package's cache
F1 = types.float64[::1]


@numba.njit(**dict(SHARED, **LOCAL))
def _axpy(a, x, y, out):
    if a < 0.0:
        raise ValueError("negative a")
    s = 0.0
    for i in range(x.size):
        out[i] = a * x[i] + y[i]
        s += out[i]
    return s, x.size


# x is only read: compiled read-only, so a writable x fits too; out is written
AXPY = Shared(_axpy, (types.float64, F1.copy(readonly=True), F1, F1))
call_axpy = AXPY.call


def _caller():
    """A fresh caller (each test compiles its own specialisations)."""
    @numba.njit(**dict(JIT, **LOCAL))
    def caller(at, a, x, y, out):
        s, n = call_axpy(at, (a, x, y, out))
        return s + n

    return caller


def test_a_call_by_address_computes_what_the_kernel_does():
    x, y, out = np.arange(5.0), np.ones(5), np.zeros(5)
    got = _caller()(AXPY.address(), 2.0, x, y, out)
    np.testing.assert_array_equal(out, 2.0 * x + 1.0)
    assert got == (2.0 * x + 1.0).sum() + 5
    assert AXPY.address() == AXPY.address() != 0


def test_a_read_only_array_fits_where_the_kernel_only_reads():
    x = read_only(np.arange(4.0))
    out = np.zeros(4)
    _caller()(AXPY.address(), 1.0, x, np.zeros(4), out)
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("change, message", [
    # the kernel writes out: a read-only one must not reach it
    (lambda a: dict(a, out=read_only(np.zeros(4))), "argument 3"),
    # a strided view has another layout ('A'): the kernel's loads would be wrong
    (lambda a: dict(a, x=np.arange(8.0)[::2]), "argument 1"),
    (lambda a: dict(a, y=np.ones(4, np.float32)), "argument 2"),
    (lambda a: dict(a, a=1), "argument 0"),
    (lambda a: dict(a, at=1.5), "address must be an int64"),
])
def test_a_call_site_with_other_types_fails_to_compile(change, message):
    args = dict(at=AXPY.address(), a=1.0, x=np.ones(4), y=np.ones(4), out=np.zeros(4))
    args = change(args)
    with pytest.raises(TypingError, match=message):
        _caller()(args["at"], args["a"], args["x"], args["y"], args["out"])


def test_a_call_site_with_the_wrong_number_of_arguments_fails_to_compile():
    @numba.njit(**dict(JIT, **LOCAL))
    def short(at, x):
        return call_axpy(at, (1.0, x, x))

    with pytest.raises(TypingError, match="takes a tuple of 4 arguments"):
        short(AXPY.address(), np.ones(3))


def test_an_exception_in_a_kernel_called_by_address_reaches_python():
    with pytest.raises(ValueError, match="negative a"):
        _caller()(AXPY.address(), -1.0, np.ones(3), np.ones(3), np.zeros(3))


@numba.njit(**dict(SHARED, **LOCAL))
def _axpy_twice(a, x, y, out):  # another kernel of AXPY's types and result
    s = 0.0
    for i in range(x.size):
        out[i] = 2.0 * a * x[i] + y[i]
        s += out[i]
    return s, x.size


AXPY_RESULT = types.Tuple((types.float64, types.int64))
AXPY_TWICE = Shared(_axpy_twice, AXPY.types, AXPY_RESULT)
call_either = AXPY_TWICE.call


def test_with_its_result_type_declared_a_call_site_takes_either_kernel():
    @numba.njit(**dict(JIT, **LOCAL))
    def caller(at, a, x, y, out):
        return call_either(at, (a, x, y, out))

    x, y, out = np.arange(4.0), np.ones(4), np.zeros(4)
    caller(AXPY.address(), 1.0, x, y, out)  # the caller's compile ...
    assert not _axpy_twice.overloads  # ... compiled nothing of the kernel it may call
    np.testing.assert_array_equal(out, x + 1.0)
    caller(AXPY_TWICE.address(), 1.0, x, y, out)
    np.testing.assert_array_equal(out, 2.0 * x + 1.0)


def test_a_kernel_that_returns_another_type_than_declared_has_no_address():
    wrong = Shared(_axpy_twice, AXPY.types, types.Tuple((types.float64, types.float64)))
    with pytest.raises(TypeError, match="not the declared"):
        wrong.address()


def _defined(kernel):
    """Names of the functions a fresh compile of ``kernel`` (for its signature in use) defines
    in its own machine code (a cached library keeps no LLVM module to look into)."""
    options = {k: v for k, v in kernel.targetoptions.items() if k != "nopython"}
    fresh = numba.njit(cache=False, pipeline_class=kernel._compiler.pipeline_class,
                       **options)(kernel.py_func)
    fresh.compile(kernel.signatures[0])
    (cres,) = fresh.overloads.values()
    return [f.name for f in cres.library._final_module.functions if not f.is_declaration]


def test_the_generic_device_slope_solves_sinh_as_its_own_kernel_does(monkeypatch):
    # the sinh model's slope kernel is a faster copy of the generic one's sinh case: forced
    # through the generic kernel, a sinh solve converges to the same answer
    import circuitxbar as cx
    from circuitxbar import _newton

    rng = np.random.default_rng(4)
    xbar = cx.Crossbar(rng.uniform(1e-5, 1e-4, (24, 24)), 1.0, 1.0,
                       device=cx.devices.Sinh(k=5.0))
    v = rng.uniform(0.0, 0.3, (3, 24))
    own = cx.solve(xbar, v)
    monkeypatch.setattr(_newton, "device_slope", lambda code: _newton.DEVICE_SLOPE_ANY)
    generic = cx.solve(xbar, v)
    np.testing.assert_allclose(generic.i_out, own.i_out, rtol=1e-11, atol=0)
    assert _newton._device_slope_any.overloads  # it did run the generic kernel


def test_the_newton_chunk_holds_no_copy_of_the_linear_solve():
    # the compile-time point of calling by address: the linear solve, its outputs and the chain
    # factorisation are compiled once, not again inside the Newton chunk
    import circuitxbar as cx
    from circuitxbar import _linkonly, _newton

    if not _linkonly.SUPPORTED:
        pytest.skip("link-only compilation off: the inner kernels' names differ")
    xbar = cx.Crossbar(np.full((4, 4), 1e-5), 1.0, 1.0, device=cx.devices.Sinh(k=5.0))
    cx.solve(xbar, np.full(4, 0.1))
    names = _defined(_newton._solve_nonlinear_chunk)
    assert any("7_newton11_newton_one" in n for n in names)  # the names are what they seem
    for callee in ("8_kernels4_pcg", "8_kernels13_col_voltages", "8_kernels8_outputs",
                   "8_kernels12_factor_rows", "8_kernels13_factor_lines",
                   "8_kernels14_alloc_factors",
                   # nor the device slope (by address too), nor the generic device library,
                   # which a sinh solve never compiles
                   "_device_slope", "cell_current"):
        assert not any(callee in n for n in names), callee


def test_tuples_fit_element_by_element_and_only_as_the_same_kind_of_tuple():
    from circuitxbar._native import _fits

    f2 = types.float64[:, ::1]
    f2_read = f2.copy(readonly=True)
    f1 = types.float64[::1]
    assert _fits(types.Tuple((f2, f1)), types.Tuple((f2, f1.copy(readonly=True))))
    assert not _fits(types.Tuple((f2, f1.copy(readonly=True))), types.Tuple((f2, f1)))
    # a UniTuple is an LLVM array, any other tuple a struct: never passed as each other
    assert not _fits(types.UniTuple(f2, 2), types.Tuple((f2, f2_read)))
    assert _fits(types.UniTuple(f2, 2), types.UniTuple(f2_read, 2))
    assert not _fits(types.UniTuple(f2, 2), types.UniTuple(f2, 3))
    assert not _fits(types.float64[:, :], f2)  # layout 'A' against 'C'


def test_every_declared_result_type_is_the_kernels_own():
    # a declared result type is what call sites compile against without the kernel: a wrong
    # one would be a call with the wrong layout, so each is checked against the compiled kernel
    from circuitxbar import _kernels as K
    from circuitxbar import _newton, _reduce

    declared = [s for module in (K, _newton, _reduce) for s in vars(module).values()
                if isinstance(s, Shared) and s.restype is not None]
    assert {s.name for s in declared} >= {"_pcg", "_outputs", "_factor_all", "_alloc_factors",
                                          "_device_slope_sinh", "_device_slope_any"}
    for s in declared:
        assert s.compiled().signature.return_type == s.restype, s.name
        assert s.address()


# process 1 compiles the Newton path's own kernels into an empty disk cache, process 2 solves
# sinh and reports the chunk's cache hits and misses (a miss is a compile)
_OWN = """
import json, sys
import numpy as np
import circuitxbar as cx
from circuitxbar import _newton as N
if sys.argv[1] == "own":
    N.compile_own_kernels(cx.Crossbar(np.full((4, 4), 1e-5), 1.0, 1.0,
                                      device=cx.devices.Sinh(k=5.0)), np.full(4, 0.1))
else:
    cx.solve(cx.Crossbar(np.full((6, 6), 2e-5), 1.0, 1.0, device=cx.devices.Sinh(k=5.0)),
             np.full((2, 6), 0.2))
chunk = N._solve_nonlinear_chunk
print(json.dumps({"shared": [len(s.kernel.overloads) for s in N.NEWTON_SHARED],
                  "chunk": len(chunk.overloads),
                  "slope": len(N._device_slope_sinh.overloads),
                  "hits": sum(chunk.stats.cache_hits.values()),
                  "misses": sum(chunk.stats.cache_misses.values())}))
"""


def test_the_newton_chunk_compiles_alone_for_the_types_a_solve_passes(tmp_path):
    # what a background worker compiles while another process compiles the linear solve: the
    # chunk and sinh's slope, none of the linear solve's kernels; a later sinh solve then
    # loads that chunk from the cache, so it was compiled for exactly the solve's types
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("CIRCUITXBAR_NO_CACHE", "CIRCUITXBAR_BACKGROUND_COMPILE")}
    env.update(NUMBA_CACHE_DIR=str(tmp_path), CIRCUITXBAR_BACKGROUND_COMPILE="0")

    def run(mode):
        out = subprocess.run([sys.executable, "-c", _OWN, mode], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    own = run("own")
    assert own["shared"] == [0, 0, 0, 0] and own["chunk"] == 1 and own["slope"] == 1
    assert own["misses"] == 1  # compiled there, into the cache
    solve = run("solve")
    assert solve["chunk"] == 1 and solve["hits"] == 1 and solve["misses"] == 0
    assert all(n == 1 for n in solve["shared"])  # the linear solve's kernels compiled there
