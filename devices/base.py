"""The contract every device model meets, so that the Numba solver can call it.

A model is a frozen dataclass. Besides its NumPy methods it *packs* itself into plain arrays,
``(code, params, table)``, which the compiled kernel ``circuitxbar.devices.kernels.cell_current``
dispatches on: no Python objects ever enter a kernel.

Per cell the solver passes the programmed state ``g`` [S] (the small-signal conductance at
0 V), the access-switch state ``gate`` (1.0 on, 0.0 off) and the voltage ``v`` [V] across the
cell (row node minus column node).
"""

from __future__ import annotations

import dataclasses

import numpy as np


class DeviceModel:
    """Base class of the read I-V models. Subclasses are frozen dataclasses."""

    #: integer dispatched on inside the kernel (see kernels.py)
    code: int = -1
    #: True when I is exactly proportional to V for every state and gate
    is_linear: bool = False
    #: True when the model has an access switch, so ``gate`` may turn cells off
    has_switch: bool = False

    def packed(self):
        """``(code, params, table)``: int, float64 1-D array, float64 2-D array."""
        return self.code, np.zeros(1), np.zeros((1, 1))

    def current(self, v, g, gate=True):
        """Cell current I(V) [A] for voltage ``v`` [V] and state ``g`` [S] (NumPy, broadcast)."""
        from circuitxbar.devices.kernels import eval_many

        return eval_many(self, v, g, gate)[0]

    def differential_conductance(self, v, g, gate=True):
        """dI/dV [S] (NumPy, broadcast)."""
        from circuitxbar.devices.kernels import eval_many

        return eval_many(self, v, g, gate)[1]

    def effective_conductance(self, g, gate=True):
        """For linear models: the conductance I/V of each cell [S]."""
        if not self.is_linear:
            raise TypeError(f"{type(self).__name__} is nonlinear: it has no single conductance")
        return self.differential_conductance(0.0, g, gate)

    def to_dict(self):
        """JSON-ready dict with the model name; ``circuitxbar.devices.from_dict`` inverts it."""
        d = {"model": type(self).__name__}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            d[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return d
