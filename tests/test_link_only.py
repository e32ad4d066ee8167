"""INNER kernels are compiled to LLVM IR only and linked into their callers (_linkonly): the
callers' results, exceptions and caches behave as for ordinarily compiled kernels."""

import numba
import numpy as np
import pytest

from circuitxbar import _linkonly
from circuitxbar._config import INNER, JIT
from numba_probes import compile_events

LOCAL_JIT = dict(JIT, cache=False)  # test kernels leave nothing in the package's cache


@numba.njit(**INNER)
def _scaled_sum(a, s):
    if s < 0.0:
        raise ValueError("negative scale")
    t = 0.0
    for x in a:
        t += x
    return s * t


@numba.njit(**INNER)
def _twice_scaled_sum(a, s):  # an inner kernel calling another: both link into the caller
    return 2.0 * _scaled_sum(a, s)


@numba.njit(**LOCAL_JIT)
def _caller(a, s):
    return _twice_scaled_sum(a, s) + _scaled_sum(a, 1.0)


def _libraries(kernel):
    return [cres.library for cres in kernel.overloads.values()]


link_only = pytest.mark.skipif(
    _linkonly.SWITCHED_OFF, reason="link-only compilation switched off (CIRCUITXBAR_LINK_ONLY=0)")


@link_only
def test_this_numba_supports_link_only_kernels():
    # where it does not, INNER kernels compile the ordinary way and this figure is lost
    assert _linkonly.SUPPORTED, f"numba {numba.__version__}: link-only pipeline unavailable"
    assert INNER["pipeline_class"] is _linkonly.LinkOnlyCompiler
    assert INNER["cache"] is False  # no machine code to cache


@link_only
def test_a_caller_runs_linked_inner_kernels():
    a = np.arange(1.0, 6.0)
    assert _caller(a, 3.0) == pytest.approx(2 * 3 * 15.0 + 15.0)
    for kernel in (_scaled_sum, _twice_scaled_sum):
        (library,) = _libraries(kernel)
        assert isinstance(library, _linkonly.LinkOnlyLibrary)
        # the caller linked it, so it was finalised, without machine code of its own
        assert library._finalized
    (caller_library,) = _libraries(_caller)
    assert not isinstance(caller_library, _linkonly.LinkOnlyLibrary)


def test_an_exception_in_a_linked_inner_kernel_reaches_python():
    with pytest.raises(ValueError, match="negative scale"):
        _caller(np.ones(3), -1.0)


@link_only
def test_every_inner_kernel_of_the_package_is_link_only():
    import importlib

    from circuitxbar._native import Shared

    seen = shared = 0
    for name in ("_direct", "_kernels", "_lapack", "_newton", "_reduce", "devices.kernels"):
        module = importlib.import_module(f"circuitxbar.{name}")
        by_address = {id(obj.kernel) for obj in vars(module).values() if isinstance(obj, Shared)}
        for kernel in vars(module).values():
            if (isinstance(kernel, numba.core.registry.CPUDispatcher)
                    and kernel.targetoptions.get("no_cpython_wrapper")):
                seen += 1
                if id(kernel) in by_address:
                    # called by address (_native): machine code of its own, cached
                    shared += 1
                    assert kernel._compiler.pipeline_class is JIT.get(
                        "pipeline_class", numba.core.compiler.Compiler), name
                    cached = isinstance(kernel._cache, numba.core.caching.FunctionCache)
                    assert cached == JIT["cache"], name
                else:
                    assert kernel._compiler.pipeline_class is _linkonly.LinkOnlyCompiler, name
    # _pcg, _outputs, _alloc_factors, _leaf, merge and the two device slopes
    assert seen >= 50 and shared == 7


def test_zero_allocators_fill_every_entry():
    # the kernels' np.zeros stand-ins (np.empty and a loop): every entry written, over memory
    # that a previous allocation of the same size left dirty
    from circuitxbar import _kernels as K
    from circuitxbar._config import python_twin

    zeros1, zeros2 = python_twin(K.zeros1), python_twin(K.zeros2)
    for _ in range(3):
        np.full((37, 53), np.nan)  # dirty the allocator's free blocks
        a, b = zeros1(37 * 53), zeros2(37, 53)
        assert a.shape == (37 * 53,) and b.shape == (37, 53)
        assert not a.any() and not b.any() and np.isfinite(b).all()


def test_work_arrays_are_padded_in_python_and_in_kernels():
    # empty2 (the (R, C) arrays of the factorisation and the solves) keeps a page of padding
    # after every array, from Python (_prepare) and in kernels alike: two of them never lie
    # closer than that, so the heap cannot place them a power of two apart (see empty2)
    import numba

    from circuitxbar import _kernels as K

    n, m = 256, 256
    a = K.empty2(n, m)
    assert a.shape == (n, m) and a.flags.c_contiguous and a.dtype == np.float64
    assert a.base.size == n * m + K.PAD

    @numba.njit
    def two_apart(n, m):
        x = K.empty2(n, m)
        y = K.empty2(n, m)
        x[0, 0] = 1.0
        y[n - 1, m - 1] = 2.0
        return abs(y.ctypes.data - x.ctypes.data), x.shape, y.shape, y.flags.c_contiguous

    gap, shape_x, shape_y, contiguous = two_apart(n, m)
    assert shape_x == shape_y == (n, m) and contiguous
    assert gap >= (n * m + K.PAD) * 8
    row_c, col_c, _ = K._alloc_factors.py_func(n, m)
    for arr in row_c[:3] + col_c[:3]:
        assert arr.base.size == n * m + K.PAD


def _sum8(a):
    t = 0.0
    for k in range(8):  # a constant trip count: LLVM's default pipeline unrolls it fully
        t += a[k]
    return t


def _fadds(kernel):
    (sig,) = kernel.signatures
    return kernel.inspect_llvm(sig).count("fadd double")


@pytest.mark.skipif(not _linkonly.TUNED, reason="this Numba's LLVM pipeline cannot be tuned")
def test_kernels_compile_without_loop_unrolling():
    assert JIT["pipeline_class"] is _linkonly.TunedCompiler
    ours = numba.njit(**LOCAL_JIT)(_sum8)
    default = numba.njit(cache=False)(_sum8)  # Numba's own pipeline, outside the package's
    a = np.arange(1.0, 9.0)
    assert ours(a) == default(a) == 36.0
    (cres,) = ours.overloads.values()
    assert isinstance(cres.library, _linkonly.TunedLibrary)
    # ours keeps the loop (one addition in its body); the default, compiled after ours, still
    # unrolls (the tuning does not leak out of the package's own libraries)
    assert _fadds(ours) == 1
    assert _fadds(default) >= 8


def test_threads_sharing_a_counter_take_every_input_once():
    # solver.run_shared: each thread takes the next input with _take_next until the batch ends
    import threading

    from circuitxbar._intrinsics import _take_next

    @numba.njit(nogil=True, cache=False)
    def take_all(counter, n, taken, worker):
        while True:
            b = _take_next(counter)
            if b >= n:
                break
            for _ in range(2000):  # some work, so that the threads interleave
                taken[b] += 0
            taken[b] = worker
        return 0

    n = 20_000
    counter = np.zeros(1, np.int64)
    taken = np.full(n, -1, np.int64)
    take_all(np.zeros(1, np.int64), 2, np.full(2, -1, np.int64), 0)  # compile first
    threads = [threading.Thread(target=take_all, args=(counter, n, taken, w)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (taken >= 0).all()  # every input taken; each by exactly one thread (it wrote once)
    assert counter[0] == n + 4  # and every thread stopped after one look past the end


def _compiled_during(call):
    """Qualified names of every function Numba compiles while ``call()`` runs."""
    return compile_events(call, lambda ev: ev.data["dispatcher"].py_func.__qualname__)


@pytest.mark.skipif(not _linkonly.TUNED, reason="kernels compile through Numba's own pipeline")
def test_a_literal_tuple_index_compiles_no_getitem_overload():
    # the kernels compile without IR rewrites; _linkonly.ConstGetitems still turns a constant
    # index into a static getitem, so a.shape[1] or half[2] compiles nothing of its own
    def corner(a, t):
        half = (t, t + 1, t + 2)
        return a.shape[1] + a[0, 0] + half[2] + (a.shape[0], 1.5)[1]

    a = np.ones((2, 3))
    names = _compiled_during(lambda: numba.njit(**LOCAL_JIT)(corner)(a, 4))
    assert names and all(n.endswith("corner") for n in names), names
    assert numba.njit(**LOCAL_JIT)(corner)(a, 4) == corner(a, 4)
    # the control: Numba's own pipeline without rewrites compiles one per tuple type and index
    plain = dict(LOCAL_JIT)
    plain.pop("pipeline_class")
    names = _compiled_during(lambda: numba.njit(**plain)(corner)(a, 5))
    assert [n for n in names if "getitem" in n.split(".")[0]], names
