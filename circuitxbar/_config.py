"""Compilation flags for every Numba kernel, in one place (STYLE habit: never hard-coded), and
the one form every input array takes on its way into a kernel (``kernel_input``).

fastmath stays off: the line solves rely on IEEE infinities for ideal terminals and
zero-resistance wires, and the solver promises 1e-9 agreement, which reassociation can break.
``cache=True`` keeps compiled kernels on disk next to the sources (``__pycache__``); set
``CIRCUITXBAR_NO_CACHE=1`` where that directory is read-only.
"""

import gc
import glob
import hashlib
import os

import numpy as np
from numba.core import event as _numba_event

from circuitxbar import _linkonly
from circuitxbar._env import switch

CACHE = not switch("CIRCUITXBAR_NO_CACHE")

#: options of every kernel called from Python. nogil: batches run one call per Python thread in
#: parallel (solver.run_shared, run_chunked), which compiles far faster than ``parallel=True``
#: and ``prange``.
#: No C-callback wrapper: no kernel is ever passed as a first-class function.
#: No IR rewrites: their main work is fusing array expressions, which no kernel has (explicit
#: loops throughout; one written later would still compute the same, unfused). Skipping them
#: saves about 0.8 s of the whole solver's first-call compile; both chunk kernels' machine code
#: stays the same up to register allocation. The one rewrite that saved compile time, constant
#: indices as static getitems, runs on its own (``_linkonly.ConstGetitems``): without it every
#: literal index into a tuple compiled a getitem overload per tuple type and index.
JIT = dict(nogil=True, cache=CACHE, fastmath=False, error_model="numpy", no_cfunc_wrapper=True,
           no_rewrites=True)
#: LLVM's loop unrolling off for every kernel (``_linkonly``: compile time, no speed lost)
if _linkonly.TUNED:
    JIT.update(pipeline_class=_linkonly.TunedCompiler)

# Compile time (issue 5). Numba builds machine code for every kernel's own library and again
# inside every caller that links it, so a kernel deep in the call tree was compiled several times.
#: kernels called only from other kernels: no Python entry wrapper (argument unboxing code),
#: and compiled to LLVM IR only, which their callers link and optimise once with their own
#: code (``_linkonly``: the machine code of their own libraries never ran). Not cached, as
#: there is no machine code to save; their callers are, with the inner code inside. Whole
#: solver's first-call compile 24.6-25.9 -> 18.7 s, the same machine code speed (LLVM inlines
#: what Numba's IR inlining, ``inline="always"``, used to: that tier is gone, 2 s slower now).
#: Calling one from Python crashes the process; tests call its ``python_twin``.
INNER = dict(JIT, no_cpython_wrapper=True)
if _linkonly.SUPPORTED:
    INNER.update(cache=False, pipeline_class=_linkonly.LinkOnlyCompiler)

#: kernels that other kernels call through their address (``_native.Shared``): compiled once,
#: as their own cached library with machine code, and never linked into a caller; no Python
#: entry wrapper, since only kernels call them
SHARED = dict(JIT, no_cpython_wrapper=True)

#: Python's cyclic garbage collector pauses while a circuitxbar kernel compiles (issue 5,
#: compile time). Numba's compiler allocates millions of short-lived objects, many in cycles;
#: the collector ran 18 full collections during the whole solver's first-call compile, 2.5 s
#: of 22-23 s (timed with gc.callbacks). Paused, what Numba left is collected once after each
#: kernel's compile: 1.2 s, and the compile's peak memory grows by about 40 MB (294 -> 336
#: MB). Set CIRCUITXBAR_COMPILE_GC=1 to keep collecting during compiles.
PAUSE_GC_WHILE_COMPILING = not switch("CIRCUITXBAR_COMPILE_GC")


class _CollectorPause(_numba_event.Listener):
    """Numba's "numba:compile" events (fired under its global compiler lock, nested for the
    kernels a kernel calls): the outermost compile of a circuitxbar kernel turns the collector
    off and its end, normal or by an exception, turns it back on. A collector that was already
    off, and compiles of other packages' functions, are left alone."""

    def __init__(self):
        self.depth = 0
        self.resume = False

    def on_start(self, event):
        self.depth += 1
        if self.depth == 1 and PAUSE_GC_WHILE_COMPILING and gc.isenabled():
            func = getattr((event.data or {}).get("dispatcher"), "py_func", None)
            if (getattr(func, "__module__", None) or "").split(".")[0] == "circuitxbar":
                gc.disable()
                self.resume = True

    def on_end(self, event):
        self.depth -= 1
        if self.depth == 0 and self.resume:
            self.resume = False
            gc.enable()


COLLECTOR_PAUSE = _CollectorPause()
_numba_event.register("numba:compile", COLLECTOR_PAUSE)

#: the stamp file that ``drop_stale_caches`` keeps in each kernel cache directory
MARKER_NAME = "kernel_sources.sha256"


def numba_cache_dir(source):
    """Where Numba keeps the machine code of kernels defined in ``source``: the first of its
    cache locators that takes the file (``NUMBA_CACHE_DIR``; the ``__pycache__`` beside it if
    writable; else the user-wide cache), as Numba itself decides for every kernel."""
    try:
        from numba.core import caching

        def probe():
            pass  # a function for the locators to read a line number from

        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # (its older name)
        for cls in impl._locator_classes:
            locator = cls.from_function(probe, source)
            if locator is not None:
                return locator.get_cache_path()
    except Exception:  # pragma: no cover - a Numba without these internals: its classic place
        pass
    return os.path.join(os.path.dirname(source), "__pycache__")


def drop_stale_caches(sources, marker=None, settings=None, locate=numba_cache_dir):
    """Delete cached machine code when any kernel source changed since it was compiled.

    Numba checks a cached function against its own source file only, but the machine code of a
    kernel includes the kernels it calls from other modules: after an edit to ``_kernels.py``,
    a cached ``_newton`` kernel would still run the old ``_kernels`` code (and crash when a
    workspace layout changed). One digest over all kernel sources guards them together, and
    over ``settings`` (default: the LLVM pipeline setting, ``_linkonly.TUNED``). Called from
    ``circuitxbar/__init__.py`` before any kernel runs (Numba loads caches lazily).

    The cache directories are Numba's own (``locate``: ``NUMBA_CACHE_DIR`` or the user-wide
    cache as much as ``__pycache__``), and each holds its own stamp (``MARKER_NAME``), so a
    process under another cache setting still finds its stale entries; an explicit ``marker``
    file stamps every directory at once.
    """
    if not CACHE:
        return
    paths = sorted({os.path.realpath(p) for p in sources if os.path.exists(p)})
    digest = hashlib.sha256()
    # settings that change the machine code as much as a source edit does (the LLVM pipeline)
    digest.update((f"tuned={_linkonly.TUNED}" if settings is None else settings).encode())
    for path in paths:
        with open(path, "rb") as fh:
            digest.update(fh.read())
    stamp = digest.hexdigest()
    cache_dirs = sorted({locate(path) for path in paths})
    if marker is not None:
        stamped = [(marker, cache_dirs)]
    else:
        stamped = [(os.path.join(d, MARKER_NAME), [d]) for d in cache_dirs]
    for mark, dirs in stamped:
        try:
            with open(mark) as fh:
                if fh.read().strip() == stamp:
                    continue
        except OSError:
            pass
        try:
            for cache_dir in dirs:
                for f in glob.glob(os.path.join(cache_dir, "*.nbi")) + glob.glob(
                        os.path.join(cache_dir, "*.nbc")):
                    os.remove(f)
            os.makedirs(os.path.dirname(mark), exist_ok=True)
            with open(mark, "w") as fh:
                fh.write(stamp)
        except OSError:
            pass  # read-only cache: nothing can be written there, so nothing stale was either


def python_twin(kernel):
    """A Python-callable twin of an ``INNER`` kernel (for tests): the same source,
    compiled with the entry wrapper that those kernels go without. Never cached: Numba's cache
    key ignores the wrapper flag, so a cached twin and its kernel would load each other's code
    (and a kernel without wrapper called from Python crashes the process)."""
    import numba

    return numba.njit(**dict(JIT, cache=False))(kernel.py_func)


def kernel_input(a, dtype=np.float64):
    """``a`` as every kernel takes an input array: C-contiguous, ``dtype`` and read-only (a
    view; a copy only where the layout or dtype differs). Numba compiles a kernel once per
    argument type, and whether an array is writable is part of its type: a read-only input (a
    memory-mapped file, a frozen array, a tabulated model's table) would otherwise cost a
    second compile of a whole chunk kernel (2-6 s each, measured), and a writable one after it
    a third."""
    out = np.ascontiguousarray(a, dtype=dtype).view()
    out.flags.writeable = False
    return out
