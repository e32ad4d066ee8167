"""circuitxbar: circuit-level accuracy and power of memristor crossbar accelerators."""

from circuitxbar.crossbar import Crossbar
from circuitxbar.errors import CircuitxbarError, ConvergenceError, ResultFileError, ValidationError
from circuitxbar.solver import SolverInfo, SolveResult, solve, transfer_matrices, transfer_matrix
from circuitxbar.factorization import Factorization, factorize  # noqa: E402  (uses solver)

__all__ = [
    "Crossbar",
    "solve",
    "transfer_matrix",
    "transfer_matrices",
    "factorize",
    "Factorization",
    "SolveResult",
    "SolverInfo",
    "CircuitxbarError",
    "ConvergenceError",
    "ResultFileError",
    "ValidationError",
]
__version__ = "0.1.0"


def _guard_kernel_caches():
    import os

    from circuitxbar import _config
    from circuitxbar.devices import kernels as _device_kernels

    here = os.path.dirname(os.path.abspath(__file__))
    # _config.py is included because Numba's cache key ignores the compile flags set there
    _config.drop_stale_caches((os.path.join(here, "_kernels.py"), os.path.join(here, "_newton.py"),
                               os.path.join(here, "_config.py"), os.path.join(here, "_reduce.py"),
                               os.path.join(here, "_lapack.py"), os.path.join(here, "_direct.py"), os.path.join(here, "_intrinsics.py"),
                               _device_kernels.__file__))


_guard_kernel_caches()
