"""Read I-V models."""

from __future__ import annotations

import dataclasses

from circuitxbar.devices.base import DeviceModel
from circuitxbar.devices import kernels


@dataclasses.dataclass(frozen=True)
class Ohmic(DeviceModel):
    """Linear cell, ``I = G V``."""

    code = kernels.OHMIC
    is_linear = True
