"""Memristor and resistor device models (shipped as ``circuitxbar.devices``).

* read I-V models (``Ohmic``, ``Sinh``, ``OneSelectorOneResistor``, ``OneTransistorOneResistor``,
  ``Tabulated``, ``SwitchedResistor``), each packing itself for the compiled kernel
  ``circuitxbar.devices.kernels.cell_current``;
* programming and non-idealities (levels, differential pairs, variation, read noise / RTN,
  stuck-at faults, drift) in ``programming``;
* the paper's dense-crossbar memory read (INT8 split into cells, threshold decode) in ``dense``;
* named presets bundling all of it (``preset(name)``).

See devices/README.md for conventions and data flow.
"""

from circuitxbar.devices.base import DeviceModel, Serializable, from_dict
from circuitxbar.devices.models import (
    ExponentialSelector,
    Ohmic,
    OneSelectorOneResistor,
    OneTransistorOneResistor,
    Selector,
    Sinh,
    SwitchedResistor,
    Tabulated,
    ThresholdSelector,
    example_csv_path,
)
from circuitxbar.devices.programming import (
    DifferentialPair,
    Drift,
    FaultMap,
    ProgrammingVariation,
    ReadNoise,
    StuckAtFaults,
    conductance_levels,
    differential_pair,
    quantize,
    weights_to_conductance,
)
from circuitxbar.devices.presets import DeviceSpec, ProgrammedCells, preset, preset_names
from circuitxbar.devices.dense import (
    DenseReadResult,
    dense_read,
    exact_noise_scale,
    join_int8,
    split_int8,
)

__all__ = [
    "DenseReadResult",
    "DeviceModel",
    "DeviceSpec",
    "DifferentialPair",
    "Drift",
    "FaultMap",
    "ProgrammedCells",
    "ProgrammingVariation",
    "ReadNoise",
    "StuckAtFaults",
    "conductance_levels",
    "dense_read",
    "differential_pair",
    "exact_noise_scale",
    "join_int8",
    "preset",
    "preset_names",
    "quantize",
    "split_int8",
    "weights_to_conductance",
    "ExponentialSelector",
    "Ohmic",
    "OneSelectorOneResistor",
    "OneTransistorOneResistor",
    "Selector",
    "Serializable",
    "Sinh",
    "SwitchedResistor",
    "Tabulated",
    "ThresholdSelector",
    "example_csv_path",
    "from_dict",
]
