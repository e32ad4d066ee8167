"""Memristor and resistor device models (shipped as ``circuitxbar.devices``)."""

from circuitxbar.devices.base import DeviceModel
from circuitxbar.devices.models import Ohmic

__all__ = ["DeviceModel", "Ohmic"]
