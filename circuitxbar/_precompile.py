"""``circuitxbar.precompile``: every kernel compiled ahead of its first call, in parallel
processes (issue 5, compile time), and the ``circuitxbar precompile`` command.

Numba compiles a kernel in the process that first calls it, one at a time (its typing is
Python under the GIL, its LLVM work under a global lock), so the solver's four paths compile
one after another: 17-22 s on the 2-core AMD machine (21-23 s before the by-address kernels
of ``_native``), 16 s on the Intel one. Two processes
compile two disjoint groups of paths at once into Numba's disk cache, and this process then
loads the other group's machine code from it. Measured on the AMD machine: two whole-solver
compiles running side by side take 24.7 and 24.8 s against 22.8 s alone, so a second process
is nearly a second core's worth of compile.

The groups (``GROUPS``) are balanced by measurement: each path's first call alone, no cache
(AMD, a slow hour, seconds): linear 9.3 (import included), Newton's own kernels 6.6, the
factorised solve 10.7-11.4 (its direct solve 4.1-4.7), the device library 2.2, and a path
after another shares its kernels (the transfer matrix after the factorised solve: its check,
the linear solve, and 0.7 s of its own). This process takes the linear solve, the transfer
matrix (whose check is that solve) and the device library; the worker takes Newton's own
kernels (``_run_path`` with ``own``: the chunk compiles without the linear solve's kernels it
calls by address) and the factorised solve. 7 alternating pairs against the former groups
(this process linear and Newton, the worker the rest): 16.6-20.2 s against 17.7-21.1 s, 5
pairs faster, the median pair by 0.9 s.

Only the disk cache carries code between processes: without it (``CIRCUITXBAR_NO_CACHE=1``)
and with ``jobs=1`` every path compiles here, one after another. A worker that fails or runs
out of time is reported in a warning and its paths compile here instead: never a missing
kernel, only a slower start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

#: the paths, in the two groups compiled side by side (module docstring): this process takes
#: the first, a worker process the second
GROUPS = (("linear", "transfer", "devices"), ("newton", "factorised"))
PATHS = tuple(p for group in GROUPS for p in group)

#: Python modules whose cached kernels precompile covers (every ``JIT`` kernel in them)
KERNEL_MODULES = ("circuitxbar._kernels", "circuitxbar._newton", "circuitxbar._reduce",
                  "circuitxbar._direct", "circuitxbar.devices.kernels")

#: the directory holding this package: a worker process puts it first on its path, whatever
#: its working directory holds (here and in _background)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the worker: this package first on its path
_WORKER = ("import sys; sys.path.insert(0, sys.argv[1]); "
           "from circuitxbar._precompile import _worker; _worker(sys.argv[2:])")


def _run_path(path, own=False):
    """The smallest calls that compile (or load) every kernel one path runs: the kernels'
    types do not depend on the array size, the device model or the terminal options.
    ``own``: a worker's compile into the disk cache, where the Newton path compiles only its
    own kernels, not the linear solve's it calls (``_newton.compile_own_kernels``): that
    solve is the linear path's, compiled by whichever process takes that path."""
    import circuitxbar as cx
    from circuitxbar.devices import kernels as dk

    def xbar(n, **kw):
        return cx.Crossbar(np.full((n, n), 1e-5), 1.0, 1.0, **kw)

    if path == "linear":
        cx.solve(xbar(8), np.full(8, 0.1))
    elif path == "newton":
        sinh, v = xbar(8, device=cx.devices.Sinh(k=5.0)), np.full(8, 0.1)
        if own:
            from circuitxbar import _newton

            _newton.compile_own_kernels(sinh, v)
        else:
            cx.solve(sinh, v)
    elif path == "transfer":
        cx.transfer_matrix(xbar(32))
    elif path == "factorised":
        cx.factorize(xbar(32)).solve(np.full(32, 0.1))
    elif path == "devices":  # the device library: its NumPy fronts, its Newton slope
        one = np.full(1, 0.1)
        dk.eval_many(cx.devices.Sinh(k=5.0), one, 1e-5)
        dk.eval_series(1.0, 0, np.zeros(4), one, 1e-5)
        dk.eval_selector(0, np.zeros(4), one)
        # and the Newton solver's device slope for models other than sinh (the newton path's
        # sinh solve takes sinh's own): the device library again, so compiled beside it
        from circuitxbar import _newton

        _newton.DEVICE_SLOPE_ANY.address()
    else:  # pragma: no cover - PATHS is checked by the callers
        raise AssertionError(path)


def _run_paths(paths, own=False):
    seconds = {}
    for path in paths:
        t0 = time.perf_counter()
        _run_path(path, own)
        seconds[path] = time.perf_counter() - t0
    return seconds


def _worker(paths):
    """Entry point of a worker process: compile ``paths`` into the disk cache, print timings."""
    print(json.dumps(_run_paths(paths, own=True)))


def cached_kernels():
    """Every kernel of ``KERNEL_MODULES`` that Numba caches on disk (the ``JIT`` tier)."""
    import importlib

    from numba.core.caching import FunctionCache
    from numba.core.dispatcher import Dispatcher

    found = []
    for name in KERNEL_MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == name and isinstance(
                    getattr(obj, "_cache", None), FunctionCache):
                found.append(obj)
    return found


def cache_is_warm():
    """True when every cached kernel has an entry in the disk cache (its index file). A stale
    entry still counts: circuitxbar drops those at import (``_config.drop_stale_caches``)."""
    for disp in cached_kernels():
        index = getattr(getattr(disp._cache, "_cache_file", None), "_index_path", None)
        if index is None or not os.path.exists(index):
            return False
    return True


def precompile(jobs=None, *, timeout=600.0):
    """Compile every kernel of the solver now (or load it from the disk cache), in ``jobs``
    processes at once; returns ``{path: seconds}`` for the paths "linear", "newton",
    "transfer", "factorised" and "devices", each measured in the process that compiled it.

    ``jobs``: processes to compile in, this one included; default the solver's thread count
    (``solver.num_threads``: NUMBA_NUM_THREADS, else every core), at most 2 (more would split
    paths that share their kernels).
    With ``jobs=1``, without the disk cache, or when the cache already holds every kernel,
    everything runs in this process. ``timeout`` [s] bounds the wait for a worker, after which
    its paths compile here. Run it once after installing (``circuitxbar precompile``): every
    later process loads the kernels from the cache in about 0.3 s.
    """
    from circuitxbar import _background, _config
    from circuitxbar.errors import ValidationError
    from circuitxbar.solver import num_threads

    if jobs is None:
        jobs = num_threads()
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValidationError(f"jobs must be a whole number >= 1 (processes to compile in), "
                              f"got {jobs!r}")
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValidationError(f"timeout must be a positive number of seconds, got {timeout!r}")
    # this compiles every path (here or in its own worker): no background worker beside it
    _background.disable("precompile compiles every path")
    if jobs == 1 or not _config.CACHE or cache_is_warm():
        return _run_paths(PATHS)

    here, away = GROUPS
    # the worker writes into files, not pipes: this process reads nothing until its own half
    # is compiled, and a worker with more than a pipe's 64 KB to say (Numba's warnings on
    # stderr) would stop there and wait for it
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        try:
            proc = subprocess.Popen([sys.executable, "-c", _WORKER, PACKAGE_PARENT, *away],
                                    stdout=out_file, stderr=err_file, text=True,
                                    env=dict(os.environ, **{_background.SWITCH: "0"}))
        except (OSError, TypeError, ValueError) as exc:  # no interpreter to start (embedded)
            warnings.warn(f"circuitxbar.precompile: could not start a worker process ({exc}); "
                          f"compiling every path in this process", RuntimeWarning, stacklevel=2)
            return _run_paths(PATHS)
        try:
            seconds = _run_paths(here)
            try:
                proc.wait(timeout=timeout)
                failure = None
            except subprocess.TimeoutExpired:
                failure = f"did not finish within timeout={timeout:g} s"
        finally:
            if proc.poll() is None:  # interrupted, or out of time: never leave it running
                proc.kill()
                proc.wait()
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if failure is None and proc.returncode != 0:
        failure = f"exited with status {proc.returncode}: {err.strip()[-800:]}"
    if failure is None:
        try:
            worker_seconds = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            failure = f"printed no timings (stdout: {out.strip()[-200:]!r})"
    if failure is not None:
        warnings.warn(f"circuitxbar.precompile: the worker process compiling {away} {failure}; "
                      f"compiling them in this process instead", RuntimeWarning, stacklevel=2)
        seconds.update(_run_paths(away))
    else:
        _run_paths(away)  # load what the worker compiled into this process
        seconds.update(worker_seconds)
    return {p: seconds[p] for p in PATHS}


def add_parser(subparsers):
    p = subparsers.add_parser(
        "precompile", help="compile every solver kernel into the disk cache, in parallel "
        "processes (once after installing; later processes load them in under a second)")
    p.add_argument("--jobs", type=int, default=None,
                   help="processes to compile in (default: NUMBA_NUM_THREADS, else the cores, "
                        "at most 2)")
    p.set_defaults(func=_cli)


def _cli(args):
    t0 = time.perf_counter()
    seconds = precompile(args.jobs)
    wall = time.perf_counter() - t0
    print("circuitxbar precompile: " + ", ".join(f"{p} {s:.1f} s" for p, s in seconds.items())
          + f"; {wall:.1f} s in all")
    return 0
