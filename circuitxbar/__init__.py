"""circuitxbar: circuit-level accuracy and power of memristor crossbar accelerators."""

from circuitxbar.crossbar import Crossbar
from circuitxbar.errors import CircuitxbarError, ConvergenceError, ResultFileError, ValidationError

__all__ = [
    "Crossbar",
    "CircuitxbarError",
    "ConvergenceError",
    "ResultFileError",
    "ValidationError",
]
__version__ = "0.1.0"
