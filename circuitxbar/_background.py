"""Background compile (issue 5, first-call compile time): the first solver call of a process
whose disk cache lacks the solver's kernels starts one worker process, which compiles the
solver's other paths into Numba's disk cache while this process compiles the path it needs.

Numba compiles one kernel at a time in a process (typing under the GIL, LLVM under a global
lock), so the four paths (linear, transfer matrix, Newton, factorised) compiled at their first
calls take 19-28 s one after another on the 2-core AMD machine, with the second core idle.
``circuitxbar.precompile`` already splits them over two processes when asked; this does the
same at the first call, so a process that goes on to use the other paths finds them compiled
(or waits for the worker to finish the one it is on: never longer than compiling it here).

Who compiles what: every path is claimed once, by whichever process asks first (a file created
with O_EXCL in a directory the two share). This process claims the path it is calling; the
worker takes the rest in ``worker_order`` (the paths that share least code with this one first,
as ``precompile``'s groups) and skips any this process has claimed meanwhile. When this process
reaches a path the worker holds, it waits for the worker's "done" file (or for the worker to
exit, and then compiles it here); the kernels then load from the cache.

When it runs: the disk cache on (``_config.CACHE``) and writable, two or more solver threads
(``solver.num_threads``: NUMBA_NUM_THREADS=1 keeps to one core), a POSIX system (the worker
locks the cache directory with ``fcntl.flock``: one background compile per cache at a time,
however many processes start together), and a cache that is not warm already
(``_precompile.cache_is_warm``). ``CIRCUITXBAR_BACKGROUND_COMPILE=0`` switches it off. The
worker runs at a lower priority (nice 5) and is stopped when this process exits: what it has
finished stays in the cache (Numba writes each entry whole, by renaming a finished file), what
it has not is compiled by the next process that needs it. Nothing here can fail a solve: any
error leaves this process compiling its kernels itself, as without the worker.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from circuitxbar import _env

#: set to 0 to switch the background compile off (read by _env)
SWITCH = "CIRCUITXBAR_BACKGROUND_COMPILE"
#: the order the worker compiles the paths in (less the one this process is calling): those that
#: share the least code with the calling path first (``worker_order``). After the linear solve,
#: Newton's own kernels first: they compile without the linear solve's (``_precompile._run_path``
#: with ``own``), so a study that goes on from a linear check to a nonlinear model finds Newton
#: ready about 7 s in. Then the factorised solve: the transfer matrix's check is a linear CG
#: solve, so a worker that started on it compiled that solve a second time beside a process
#: compiling the linear path, and the transfer matrix's own kernels are the factorised solve's,
#: cached by the time the process reaches them. Whole solver as installed (its first calls in
#: the benchmark's order: linear, transfer, Newton, factorised), 2-core AMD machine,
#: alternating with the former order (factorised, transfer, Newton; the worker's Newton then
#: its whole path): 15.9-18.5 s against 15.7-19.2 s, the new order faster in 4 pairs of 6
ORDER = ("newton", "factorised", "transfer", "linear", "devices")
#: the worker's order after a first call of these paths instead. The factorised solve: the
#: linear solve and Newton share none of its kernels (first calls factorised, transfer,
#: linear, Newton, alternating: 12.7-14.6 s against 15.9-18.2 s with ``ORDER``). The transfer
#: matrix: it compiles its direct kernels first and its check, a linear CG solve, last; a
#: worker compiling the linear solve meanwhile leaves the check's kernels cached for it (first
#: calls transfer, linear, Newton, factorised: the first call 9.6-10.5 s against 12.6-14.4 s,
#: the four 15.1-18.0 s against 17.0-21.1 s)
ORDER_AFTER = {"factorised": ("linear", "newton", "transfer", "devices"),
               "transfer": ("linear", "factorised", "newton", "devices")}
#: the longest wait for the worker's path [s]; after it this process compiles the path itself
#: (a path takes the worker 3-10 s on the 2-core AMD machine)
WAIT_LIMIT_S = 120.0
#: the lock file in the kernels' cache directory that one worker at a time holds
LOCK_NAME = "circuitxbar-background-compile.lock"

# the worker: this package first on its path, at a lower priority than the process it helps
_WORKER = ("import os, sys; sys.path.insert(0, sys.argv[1]); "
           "hasattr(os, 'nice') and os.nice(5); "
           "from circuitxbar._background import _worker; "
           "sys.exit(_worker(sys.argv[2], sys.argv[3], sys.argv[4:]))")

_lock = threading.Lock()
#: paths this process has passed (compiled here, or waited for)
_seen = set()
#: the worker (subprocess.Popen), the claims directory and the process that started them
#: (a forked child inherits this state but not the worker), once started; why_not: why not
_state = {"decided": False, "proc": None, "claims": None, "pid": None, "why_not": None}


def switched_off():
    return not _env.switch(SWITCH)


def disable(reason):
    """No background compile in this process (``precompile`` compiles everything itself)."""
    with _lock:
        if not _state["decided"]:
            _state["decided"] = True
            _state["why_not"] = reason


def before(path):
    """Called by each solver path before its kernels first run in this process: the first
    call may start the worker; a path the worker holds is waited for."""
    if path in _seen:
        return
    with _lock:
        if path in _seen:
            return
        try:
            if not _state["decided"]:
                _state["decided"] = True
                _start(path)
            else:
                _take_or_wait(path)
        except Exception as exc:  # never a failed solve: this process compiles what it needs
            _state["why_not"] = f"{type(exc).__name__}: {exc}"
        finally:
            _seen.add(path)


def _lock_path():
    from circuitxbar import _config, _kernels

    return os.path.join(_config.numba_cache_dir(_kernels.__file__), LOCK_NAME)


def _reason_not_to_start(lock_path):
    from circuitxbar import _config, _precompile
    from circuitxbar.solver import num_threads

    if switched_off():
        return f"{SWITCH} switches it off"
    if not _config.CACHE:
        return "the disk cache is off (CIRCUITXBAR_NO_CACHE)"
    if num_threads() < 2:
        return "one solver thread (NUMBA_NUM_THREADS)"
    if not sys.executable:
        return "no Python interpreter to start"
    try:
        import fcntl  # noqa: F401  (the worker's lock)
    except ImportError:
        return "no fcntl (not a POSIX system)"
    cache_dir = os.path.dirname(lock_path)
    try:
        os.makedirs(cache_dir, exist_ok=True)
    except OSError:
        pass
    if not os.access(cache_dir, os.W_OK):
        return f"the cache directory {cache_dir} is not writable"
    if _precompile.cache_is_warm():
        return "the disk cache already holds every kernel"
    if not _lock_is_free(lock_path):
        return "another process's worker is compiling into this cache"
    return None


def _lock_is_free(lock_path):
    """Whether no worker holds the cache's lock now (the worker takes it for good; this only
    spares starting one that would give way at once)."""
    import fcntl

    try:
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
        return True
    except OSError:
        return False


def worker_order(path):
    """The paths the worker compiles, in order, when this process's first call is ``path``."""
    order = ORDER_AFTER.get(path, ORDER)
    return tuple(p for p in order if p != path)


def _start(path):
    from circuitxbar._precompile import PACKAGE_PARENT

    lock_path = _lock_path()
    why_not = _reason_not_to_start(lock_path)
    if why_not is not None:
        _state["why_not"] = why_not
        return
    claims = tempfile.mkdtemp(prefix="circuitxbar-compile-")
    _claim(claims, path)
    env = dict(os.environ, **{SWITCH: "0"})  # the worker's own solver calls start no worker
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER, PACKAGE_PARENT, claims, lock_path,
             *worker_order(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env)
    except BaseException:
        shutil.rmtree(claims, ignore_errors=True)
        raise
    _state["proc"], _state["claims"], _state["pid"] = proc, claims, os.getpid()
    atexit.register(stop)


def _claim(claims, path):
    """True if this caller is the first to claim ``path`` (and so compiles it)."""
    try:
        os.close(os.open(os.path.join(claims, path), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _ours():
    """The worker and claims directory, if this process started them."""
    if _state["proc"] is None or _state["pid"] != os.getpid():
        return None, None
    return _state["proc"], _state["claims"]


def _take_or_wait(path):
    proc, claims = _ours()
    if proc is None or _claim(claims, path):
        return
    done = os.path.join(claims, path + ".done")
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not os.path.exists(done) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def stop():
    """Stop the worker (at exit; its finished kernels stay cached) and drop the claims."""
    proc, claims = _ours()
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if claims is not None:
        shutil.rmtree(claims, ignore_errors=True)


def _worker(claims, lock_path, paths):
    """The worker process: compile ``paths`` in order into the disk cache, each unless this
    process's parent claimed it first. Returns its exit status: 0, or 3 when another worker
    holds the cache's lock (nothing claimed, so the parent compiles what it needs)."""
    import fcntl

    lock = open(lock_path, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 3
    from circuitxbar._precompile import _run_path

    for path in paths:
        if _claim(claims, path):
            _run_path(path, own=True)
            with open(os.path.join(claims, path + ".done"), "w"):
                pass
    return 0
