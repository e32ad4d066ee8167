"""circuitxbar: circuit-level accuracy and power of memristor crossbar accelerators."""

from circuitxbar.crossbar import Crossbar
from circuitxbar.errors import CircuitxbarError, ConvergenceError, ResultFileError, ValidationError
from circuitxbar.solver import SolverInfo, SolveResult, solve, transfer_matrix

__all__ = [
    "Crossbar",
    "solve",
    "transfer_matrix",
    "SolveResult",
    "SolverInfo",
    "CircuitxbarError",
    "ConvergenceError",
    "ResultFileError",
    "ValidationError",
]
__version__ = "0.1.0"
