"""Circuit component library at 32 nm for the architecture cost model.

Each :class:`Component` is one instance's area [mm^2] and the energy [J] of one *event* (a
conversion, a sample, a bit held for a cycle, a byte moved), with the source of the number.
The paper (Wang et al., TPAMI 2024) prints no per-component table; it says it uses ISAAC's
components at 32 nm, so the defaults below come from ISAAC's Table I (Shafiee et al., ISCA 2016,
per IMA of 8 crossbars of 128 x 128, 100 ns crossbar read, 1.28 GS/s ADC), divided down to one
instance. Energies quoted "per cycle" are ISAAC's power times its 100 ns cycle.

Scaling laws (the only ones in the model; tested against these closed forms)::

    E(N) = E(N_ref) * g_E**(N - N_ref)        A(N) = A(N_ref) * g_A**(N - N_ref)

for the ADC and the DAC, with ``g_E = energy_growth_per_bit = 2`` and
``g_A = area_growth_per_bit = 2``: SAR ADC power roughly doubles per bit of resolution near 8
bits (Kull et al. as used by ISAAC), and a binary-weighted capacitive DAC (Saberi et al.,
TCAS-I 2011) has ``2**N`` unit capacitors, so its switched charge and its area both double per
bit. The ADC reference is 8 bits, the DAC reference 1 bit.

Overrides: :func:`load_components` reads a JSON or TOML file whose top-level tables are named
after components (``[adc]`` ``area_mm2 = 0.0015``); a ``params`` table is left to the caller.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import tomllib
import types

from circuitxbar.errors import ValidationError

#: feature size the library is given at [m]
TECHNOLOGY_NODE_M = 32e-9
_F2_MM2 = (TECHNOLOGY_NODE_M * 1e3) ** 2  # one F^2 in mm^2
_ISAAC_CYCLE_S = 100e-9
_ISAAC_ADC_RATE = 1.28e9  # conversions per second
_ISAAC_CELLS_PER_IMA = 8 * 128 * 128


@dataclasses.dataclass(frozen=True)
class Component:
    """One circuit component: area of an instance, energy of an event, and where they come from.

    Parameters
    ----------
    name : str
        Library key.
    area_mm2 : float
        Area of one instance [mm^2] (at ``reference_bits`` for scalable components).
    energy_j : float
        Energy of one event [J] (at ``reference_bits`` for scalable components).
    unit : str
        What one instance is ("one ADC", "one stored bit", ...).
    event : str
        What one event of ``energy_j`` is ("one conversion", "one byte read or written", ...).
    source : str
        Where the numbers come from, or the assumption made.
    reference_bits : int or None
        Resolution the numbers are given at, for components scaled by resolution.
    area_growth_per_bit, energy_growth_per_bit : float
        Factors on area and on energy per extra bit of resolution (scalable components only).
    """

    name: str
    area_mm2: float
    energy_j: float
    unit: str
    event: str
    source: str
    reference_bits: int | None = None
    area_growth_per_bit: float = 2.0
    energy_growth_per_bit: float = 2.0

    def __post_init__(self):
        for field in ("area_mm2", "energy_j"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(
                    f"component {self.name!r}: {field} = {value!r} must be a number"
                )
            if not math.isfinite(value) or value < 0:
                raise ValidationError(
                    f"component {self.name!r}: {field} = {value!r} must be finite and >= 0 "
                    f"({'mm^2' if field == 'area_mm2' else 'J'})"
                )
            object.__setattr__(self, field, float(value))
        if self.reference_bits is not None and (
            not isinstance(self.reference_bits, int) or self.reference_bits < 1
        ):
            raise ValidationError(
                f"component {self.name!r}: reference_bits = {self.reference_bits!r} must be a "
                f"positive integer or None"
            )
        for field in ("area_growth_per_bit", "energy_growth_per_bit"):
            g = getattr(self, field)
            if (isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g)
                    or g <= 0):
                raise ValidationError(
                    f"component {self.name!r}: {field} = {g!r} must be a finite number > 0"
                )
            object.__setattr__(self, field, float(g))

    def _bits_above_reference(self, bits):
        if self.reference_bits is None:
            raise ValidationError(
                f"component {self.name!r} has no resolution to scale; only components with "
                f"reference_bits (adc, dac) scale with bits"
            )
        if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
            raise ValidationError(f"bits = {bits!r} must be a positive integer")
        return bits - self.reference_bits

    def area_at(self, bits):
        """Area of one instance at ``bits`` of resolution [mm^2]."""
        return self.area_mm2 * self.area_growth_per_bit ** self._bits_above_reference(bits)

    def energy_at(self, bits):
        """Energy of one event at ``bits`` of resolution [J]."""
        return self.energy_j * self.energy_growth_per_bit ** self._bits_above_reference(bits)

    def to_dict(self):
        return dataclasses.asdict(self)


_ISAAC = "ISAAC Table I (Shafiee et al., ISCA 2016), 32 nm"

_DEFAULTS = (
    Component(
        "adc", 0.0096 / 8, 16e-3 / 8 / _ISAAC_ADC_RATE,
        "one SAR ADC", "one conversion",
        "Kull et al., JSSC 2013 (8-bit 1.2 GS/s async SAR, 3.1 mW, 32 nm SOI) as adopted by "
        + _ISAAC + ": 2 mW and 0.0012 mm^2 at 8 bits, 1.28 GS/s; scaled by resolution with "
        "power doubling per bit (ISAAC's rule); energy per conversion independent of rate",
        reference_bits=8,
    ),
    Component(
        "dac", 0.00017 / 1024, 4e-3 / 1024 * _ISAAC_CYCLE_S,
        "one row DAC", "one conversion (one 100-ns row drive)",
        _ISAAC + ": 1-bit DAC x 8 x 128, 4 mW, 0.00017 mm^2; capacitive-DAC law of Saberi et al., "
        "TCAS-I 2011 (2**N unit capacitors) for other resolutions",
        reference_bits=1,
    ),
    Component(
        "sample_hold", 0.00004 / 1024, 10e-6 / 1024 * _ISAAC_CYCLE_S,
        "one column sample-and-hold", "one sample",
        "O'Halloran & Sarpeshkar, JSSC 2004, via " + _ISAAC + " (x 8 x 128: 10 uW, 0.00004 mm^2)",
    ),
    Component(
        "shift_add", 0.00024 / 8, 0.2e-3 / (8 * _ISAAC_ADC_RATE),
        "shift-and-add logic for one ADC", "one add of an ADC output",
        "DaDianNao (Chen et al., MICRO 2014) via " + _ISAAC + " (4 units per 8 ADCs: 0.2 mW, "
        "0.00024 mm^2)",
    ),
    Component(
        "register_bit", 0.0021 / (2048 * 8), 1.24e-3 * _ISAAC_CYCLE_S / (2048 * 8),
        "one stored bit", "one bit active for one 100-ns cycle",
        "CACTI 6.5 via " + _ISAAC + ": 2 KB input register, 1.24 mW, 0.0021 mm^2, spread over "
        "its bits",
    ),
    Component(
        "cache_byte", 0.083 / 65536, 20.7e-3 / (48 * 1.2e9),
        "one byte of on-chip cache", "one byte read or written",
        "CACTI eDRAM via " + _ISAAC + " (tile buffer 64 KB: 20.7 mW, 0.083 mm^2), assuming one "
        "384-bit bus transfer per 1.2 GHz cycle",
    ),
    Component(
        "memristor_cell", 0.0002 / _ISAAC_CELLS_PER_IMA,
        2.4e-3 * _ISAAC_CYCLE_S / _ISAAC_CELLS_PER_IMA,
        "one memristor cell", "one cell read for one 100-ns cycle at ISAAC's resistance range",
        "Hu et al., DAC 2016 (dot-product engine, TaOx) via " + _ISAAC + " (8 x 128 x 128 "
        "2-bit cells: 2.4 mW, 0.0002 mm^2; 6.6e8 cells/mm^2, the paper's rho_r)",
    ),
    Component(
        "fixed_resistor_cell", 25 * _F2_MM2,
        2.4e-3 * _ISAAC_CYCLE_S / _ISAAC_CELLS_PER_IMA,
        "one fixed resistor with its switch (1T1R)",
        "one unit of on-conductance for one 100-ns cycle",
        "assumption: the paper gives no size or value; a 1T1R cell of 25 F^2 at 32 nm, unit "
        "conductance equal to ISAAC's mean cell conductance (so its energy per unit is "
        "memristor_cell's)",
    ),
    Component(
        "f_unit", 0.0006 / 2, 0.52e-3 / 2 / 1.2e9,
        "one digital F unit (EXP, divide, GELU, +x) shared by a crossbar's columns",
        "one output element",
        "assumption: the paper's EDA synthesis figures are unpublished; sized like ISAAC's "
        "sigmoid unit (x2: 0.52 mW, 0.0006 mm^2) at one element per 1.2 GHz cycle",
    ),
    Component(
        "encoder", 0.00024 / 8, 0.2e-3 / (8 * _ISAAC_ADC_RATE),
        "one binary-to-balanced-digit encoder", "one activation encoded",
        "assumption: unpublished; sized like one shift-and-add lane (a few adders)",
    ),
    Component(
        "isaac_tile_overhead", (0.372 - 12 * 0.01312) / 96,
        (330e-3 - 12 * 24.08e-3) * _ISAAC_CYCLE_S / 96,
        "ISAAC tile-level share of one crossbar (eDRAM, bus, router, OR, sigmoid, pooling)",
        "one crossbar-cycle",
        _ISAAC + ": tile 0.372 mm^2, 330 mW minus 12 IMAs (0.01312 mm^2, 24.08 mW each), "
        "over 96 crossbars",
    ),
)

COMPONENT_NAMES = tuple(c.name for c in _DEFAULTS)
_FIELDS = tuple(f.name for f in dataclasses.fields(Component))
_OVERRIDABLE = tuple(f for f in _FIELDS if f != "name")


@dataclasses.dataclass(frozen=True, eq=False)
class ComponentLibrary:
    """An immutable set of :class:`Component` by name; every name in ``COMPONENT_NAMES``."""

    components: types.MappingProxyType

    def __init__(self, components):
        items = dict(components.items() if hasattr(components, "items") else
                     ((c.name, c) for c in components))
        missing = [n for n in COMPONENT_NAMES if n not in items]
        extra = [n for n in items if n not in COMPONENT_NAMES]
        if missing or extra:
            raise ValidationError(
                f"a component library needs exactly {', '.join(COMPONENT_NAMES)}; "
                f"missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        for key, comp in items.items():
            if not isinstance(comp, Component) or comp.name != key:
                raise ValidationError(f"library entry {key!r} must be a Component named {key!r}")
        object.__setattr__(self, "components", types.MappingProxyType(items))

    def __getitem__(self, name):
        try:
            return self.components[name]
        except KeyError:
            raise ValidationError(
                f"unknown component {name!r}; valid names are {', '.join(COMPONENT_NAMES)}"
            ) from None

    def __eq__(self, other):
        return isinstance(other, ComponentLibrary) and dict(self.components) == dict(
            other.components
        )

    __hash__ = None

    def with_overrides(self, overrides):
        """A copy with some fields replaced: ``{"adc": {"area_mm2": 0.0015}, ...}``."""
        if not isinstance(overrides, dict):
            raise ValidationError(
                f"component overrides must be a mapping name -> {{field: value}}; "
                f"got {type(overrides).__name__}"
            )
        items = dict(self.components)
        for name, fields in overrides.items():
            base = self[name]
            if not isinstance(fields, dict):
                raise ValidationError(
                    f"override of component {name!r} must be a table of fields "
                    f"({', '.join(_OVERRIDABLE)}); got {fields!r}"
                )
            bad = [k for k in fields if k not in _OVERRIDABLE]
            if bad:
                raise ValidationError(
                    f"component {name!r} has no field {bad[0]!r}; valid fields are "
                    f"{', '.join(_OVERRIDABLE)}"
                )
            items[name] = dataclasses.replace(base, **fields)
        return ComponentLibrary(items)

    def to_dict(self):
        """JSON-ready ``{name: {field: value}}``; :meth:`from_dict` inverts it."""
        return {name: comp.to_dict() for name, comp in self.components.items()}

    @classmethod
    def from_dict(cls, data):
        items = {}
        for name, fields in data.items():
            if name not in COMPONENT_NAMES:
                raise ValidationError(
                    f"unknown component {name!r}; valid names are {', '.join(COMPONENT_NAMES)}"
                )
            items[name] = Component(**fields)
        return cls(items)


DEFAULT_LIBRARY = ComponentLibrary(_DEFAULTS)


def read_override_file(path):
    """The raw mapping stored in a JSON (``.json``) or TOML (any other suffix) file."""
    path = pathlib.Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"cannot read override file {str(path)!r}: {exc.strerror}") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise ValidationError(f"{str(path)!r} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{str(path)!r} must hold a table of component overrides")
    return data


def load_components(path, base=None):
    """``base`` (default library) with the component tables of a JSON/TOML file applied.

    A ``params`` table in the same file is ignored here (the cost model reads it).
    """
    data = {k: v for k, v in read_override_file(path).items() if k != "params"}
    return (base or DEFAULT_LIBRARY).with_overrides(data)


def adc_energy_j(bits, library=DEFAULT_LIBRARY):
    """Energy of one ADC conversion at ``bits`` of resolution [J]."""
    return library["adc"].energy_at(bits)


def adc_area_mm2(bits, library=DEFAULT_LIBRARY):
    """Area of one ADC at ``bits`` of resolution [mm^2]."""
    return library["adc"].area_at(bits)


def dac_energy_j(bits, library=DEFAULT_LIBRARY):
    """Energy of one DAC conversion at ``bits`` of resolution [J]."""
    return library["dac"].energy_at(bits)


def dac_area_mm2(bits, library=DEFAULT_LIBRARY):
    """Area of one DAC at ``bits`` of resolution [mm^2]."""
    return library["dac"].area_at(bits)
