"""circuitxbar: circuit-level accuracy and power of memristor crossbar accelerators."""

import os as _os
import sys as _sys

# Compile time (issue 5): while typing, Numba builds a highlighted error message (colorama
# wraps and unwraps the terminal streams each time) for every type it looks at, raised or not:
# about 20,000 messages and 1.0 s of the whole solver's first-call compile. Numba's own switch
# turns the highlighting off; it is read when Numba is imported, so it only applies when this
# import comes first, and a value already set wins (an empty one keeps the highlighting).
if "numba" not in _sys.modules:
    _os.environ.setdefault("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", "1")

# a mistyped CIRCUITXBAR_* switch fails here, by name, rather than reading as its default
from circuitxbar import _env  # noqa: E402

_env.check_all()

from circuitxbar.crossbar import Crossbar
from circuitxbar.errors import CircuitxbarError, ConvergenceError, ResultFileError, ValidationError
from circuitxbar.solver import SolverInfo, SolveResult, solve, transfer_matrices, transfer_matrix
from circuitxbar.factorization import Factorization, factorize  # noqa: E402  (uses solver)
from circuitxbar._precompile import precompile

__all__ = [
    "Crossbar",
    "solve",
    "transfer_matrix",
    "transfer_matrices",
    "factorize",
    "Factorization",
    "precompile",
    "SolveResult",
    "SolverInfo",
    "CircuitxbarError",
    "ConvergenceError",
    "ResultFileError",
    "ValidationError",
]
__version__ = "0.1.0"


def kernel_sources():
    """Every source file whose code ends up in a compiled kernel (the cache guard's list).
    _config.py and _linkonly.py are included because Numba's cache key ignores the compile
    flags and the LLVM pipeline they set."""
    import os

    from circuitxbar.devices import kernels as _device_kernels

    here = os.path.dirname(os.path.abspath(__file__))
    names = ("_kernels.py", "_newton.py", "_config.py", "_linkonly.py", "_reduce.py", "_lapack.py",
             "_direct.py", "_intrinsics.py", "_native.py")
    return [os.path.join(here, name) for name in names] + [_device_kernels.__file__]


def _keep_freed_memory():
    from circuitxbar import _memory

    _memory.IN_EFFECT = _memory.keep_freed_memory()


def _guard_kernel_caches():
    from circuitxbar import _config

    _config.drop_stale_caches(kernel_sources())


_guard_kernel_caches()
_keep_freed_memory()
