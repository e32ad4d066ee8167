"""Exceptions raised by circuitxbar. Every message names the offending value and the fix."""


class CircuitxbarError(Exception):
    """Base class of every error raised by circuitxbar."""


class ValidationError(CircuitxbarError, ValueError):
    """An argument is invalid (NaN, negative resistance, wrong shape, unknown name, ...)."""


class ConvergenceError(CircuitxbarError, RuntimeError):
    """A solver stopped without meeting its tolerance.

    Attributes
    ----------
    residual : float
        Final relative residual reached (the solver's own measure, see the message).
    iterations : int
        Iterations spent before giving up.
    tolerance : float
        The tolerance that was asked for.
    """

    def __init__(self, message, *, residual, iterations, tolerance):
        super().__init__(message)
        self.residual = float(residual)
        self.iterations = int(iterations)
        self.tolerance = float(tolerance)


class ResultFileError(CircuitxbarError, OSError):
    """An HDF5 result file is missing, corrupt, or of an unknown schema version."""
