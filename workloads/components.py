"""Circuit component library at 32 nm for the architecture cost model.

Each :class:`Component` is one instance's area [mm^2] and the energy [J] of one *event* (a
conversion, a sample, a bit held for a cycle, a byte moved), with the source of the number.
The paper (Wang et al., TPAMI 2024) prints no per-component table; it says it uses ISAAC's
components at 32 nm, so the defaults below come from ISAAC's Table I (Shafiee et al., ISCA 2016,
per IMA of 8 crossbars of 128 x 128, 100 ns crossbar read, 1.28 GS/s ADC), divided down to one
instance. Energies quoted "per cycle" are ISAAC's power times its 100 ns cycle.

Resolution laws (the only ones in the model; tested against these closed forms).

ADC, geometric from an 8-bit reference (``g = energy_growth_per_bit = area_growth_per_bit = 2``;
SAR ADC power roughly doubles per bit near 8 bits, Kull et al. as used by ISAAC)::

    E(N) = E(N_ref) * g**(N - N_ref)        A(N) = A(N_ref) * g**(N - N_ref)

DAC (:class:`CapacitiveDAC`), from ISAAC's 1-bit DAC, by one of two laws per quantity
(``energy_law``, ``area_law``):

* ``"two_term"`` (default). A row DAC is a row driver plus a binary-weighted capacitor array
  (Saberi et al., TCAS-I 2011: an N-bit conventional array holds ``2**N - 1`` switched unit
  capacitors). Only the array grows with resolution::

      E(N) = E_drive + (2**N - 1) * C_unit * V_ref**2,   E_drive = E(1) - C_unit * V_ref**2
      A(N) = A(1) + (2**N - 2) * C_unit / rho_C

  ISAAC's 1-bit figure (0.39 pJ per 100-ns row drive) is almost all row-line charging and driver
  overhead, independent of resolution; ``E_drive`` is calibrated so that ``E(1)`` is ISAAC's.
  The array term charges every unit capacitor through ``V_ref`` once per conversion: the upper
  end of setting one code (the code average of a floating-top-plate array is
  ``(4**N - 1) / (6 * 2**N)`` units, a sixth of it) and 0.75x the average of a full N-step SAR
  search with conventional switching, ``sum_i 2**(N+1-2i) (2**i - 1)`` units (339 at 8 bits).
  ISAAC's 1-bit DAC (0.166 um^2) is smaller than one unit capacitor (0.5 um^2 by default): it
  is a bare driver, so the area law keeps it whole as the driver and adds the ``2**N - 2``
  units an N-bit array has beyond a 1-bit one (one unit, 0.4 % of an 8-bit array, short).
  A multi-level row also needs a linear driver whose bias current neither term holds, so
  whatever the margin in the array term, the law may undercount a real 8-bit row DAC.
* ``"doubling"``: ``X(N) = X(1) * g**(N - 1)`` with ``g = energy_growth_per_bit`` /
  ``area_growth_per_bit`` (2): the whole of ISAAC's 1-bit DAC scaled as if it were all
  capacitor array. Kept to compare; it makes one 8-bit conversion 50 pJ, 128x the 1-bit
  drive, which no part of the circuit explains.

DAC constants (fields of ``dac``, overridable like any other):

* ``unit_capacitance_f`` C_unit = 1 fF: mid of the 0.5-2 fF range that 8-bit matching needs at
  32 nm. A binary-weighted array's mid-scale DNL has ``sigma = sqrt(2**N - 1) * sigma_u`` LSB,
  so 3-sigma DNL < 0.5 LSB needs ``sigma_u <= 1.04 %``; at a metal-fringe (MOM) matching of
  about 1 % * sqrt(fF) (order of published 28-45 nm data; an assumption, not a measurement)
  that is about 1 fF. kT/C noise of the 255 fF array (0.13 mV) is far below an LSB.
* ``reference_voltage_v`` V_ref = 1.0 V: the array switches between ground and the 32 nm core
  supply (about 1 V); a DAC whose full scale is the smaller crossbar read
  voltage would spend less, so this is the upper end.
* ``capacitor_density_f_per_m2`` rho_C = 2 fF/um^2 (2e-3 F/m^2): interdigitated MOM fingers at
  minimum pitch in the 32 nm BEOL, ``eps_r eps_0 t / (s p)`` ~ 0.4-0.6 fF/um^2 per thin metal
  layer (eps_r ~ 2.7, t ~ 100 nm, s ~ 56 nm, p ~ 112 nm) over about four layers.

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


#: resolution laws a :class:`CapacitiveDAC` accepts for its energy and its area
DAC_LAWS = ("two_term", "doubling")


@dataclasses.dataclass(frozen=True)
class CapacitiveDAC(Component):
    """A row DAC: a fixed row driver plus a binary-weighted capacitor array.

    ``area_mm2`` and ``energy_j`` are the DAC at ``reference_bits`` (ISAAC's 1-bit DAC); other
    resolutions follow ``energy_law`` / ``area_law`` (see the module docstring for both laws
    and where every constant comes from).

    Parameters (beyond :class:`Component`'s)
    ----------------------------------------
    unit_capacitance_f : float
        C_unit, one unit capacitor of the array [F].
    reference_voltage_v : float
        V_ref, the voltage the array switches through [V].
    capacitor_density_f_per_m2 : float
        rho_C, capacitance per unit of layout area [F/m^2].
    energy_law, area_law : str
        ``"two_term"`` (driver + array) or ``"doubling"`` (the whole DAC times
        ``energy_growth_per_bit`` / ``area_growth_per_bit`` per bit).
    """

    unit_capacitance_f: float = 1e-15
    reference_voltage_v: float = 1.0
    capacitor_density_f_per_m2: float = 2e-3
    energy_law: str = "two_term"
    area_law: str = "two_term"

    def __post_init__(self):
        super().__post_init__()
        if self.reference_bits is None:
            raise ValidationError(
                f"component {self.name!r}: a CapacitiveDAC needs reference_bits (the "
                f"resolution its area_mm2 and energy_j are given at), e.g. 1"
            )
        for field, unit in (("unit_capacitance_f", "F"), ("reference_voltage_v", "V"),
                            ("capacitor_density_f_per_m2", "F/m^2")):
            value = getattr(self, field)
            if (isinstance(value, bool) or not isinstance(value, (int, float))
                    or not math.isfinite(value) or value <= 0):
                raise ValidationError(
                    f"component {self.name!r}: {field} = {value!r} must be a finite number "
                    f"> 0 [{unit}]"
                )
            object.__setattr__(self, field, float(value))
        for field in ("energy_law", "area_law"):
            law = getattr(self, field)
            if law not in DAC_LAWS:
                raise ValidationError(
                    f"component {self.name!r}: {field} = {law!r} is not a DAC law; valid laws "
                    f"are {', '.join(DAC_LAWS)}"
                )
        if self.energy_law == "two_term" and self.drive_energy_j < 0:
            raise ValidationError(
                f"component {self.name!r}: the capacitor array alone, "
                f"{2 ** self.reference_bits - 1} x C_unit x V_ref^2 = "
                f"{self._array_energy_j(self.reference_bits):.4g} J, exceeds the whole DAC's "
                f"energy_j = {self.energy_j:.4g} J at {self.reference_bits} bit(s), leaving a "
                f"negative drive energy; lower unit_capacitance_f or reference_voltage_v, or "
                f"use energy_law = 'doubling'"
            )

    @property
    def unit_switch_energy_j(self):
        """C_unit * V_ref^2: one unit capacitor charged through V_ref [J]."""
        return self.unit_capacitance_f * self.reference_voltage_v**2

    @property
    def unit_area_mm2(self):
        """C_unit / rho_C: layout area of one unit capacitor [mm^2]."""
        return self.unit_capacitance_f / self.capacitor_density_f_per_m2 * 1e6

    @property
    def drive_energy_j(self):
        """E_drive: the resolution-independent row-drive energy of one conversion [J]."""
        return self.energy_j - self._array_energy_j(self.reference_bits)

    def _array_energy_j(self, bits):
        return (2**bits - 1) * self.unit_switch_energy_j

    def energy_at(self, bits):
        """Energy of one conversion at ``bits`` of resolution [J], by ``energy_law``."""
        if self.energy_law == "doubling":
            return super().energy_at(bits)
        self._bits_above_reference(bits)
        return self.drive_energy_j + self._array_energy_j(bits)

    def area_at(self, bits):
        """Area of one DAC at ``bits`` of resolution [mm^2], by ``area_law``."""
        if self.area_law == "doubling":
            return super().area_at(bits)
        self._bits_above_reference(bits)
        area = self.area_mm2 + (2**bits - 2**self.reference_bits) * self.unit_area_mm2
        if area < 0:
            raise ValidationError(
                f"component {self.name!r}: {bits} bit(s) is below reference_bits = "
                f"{self.reference_bits} by more unit capacitors than the reference DAC's area "
                f"holds; give the reference at the lowest resolution used"
            )
        return area


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
    CapacitiveDAC(
        "dac", 0.00017 / 1024, 4e-3 / 1024 * _ISAAC_CYCLE_S,
        "one row DAC", "one conversion (one 100-ns row drive)",
        _ISAAC + ": 1-bit DAC x 8 x 128, 4 mW, 0.00017 mm^2 (a bare row driver); other "
        "resolutions add a binary-weighted capacitor array (Saberi et al., TCAS-I 2011): "
        "2**N - 1 units of C_unit = 1 fF (8-bit matching) switched through V_ref = 1 V, laid "
        "out at 2 fF/um^2 (MOM fingers, 32 nm BEOL)",
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
#: the class each library entry must be (``Component`` unless named here)
_CLASSES = {"dac": CapacitiveDAC}


def _overridable(component):
    return tuple(f.name for f in dataclasses.fields(component) if f.name != "name")


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
            kind = _CLASSES.get(key, Component)
            if not isinstance(comp, kind) or comp.name != key:
                raise ValidationError(
                    f"library entry {key!r} must be a {kind.__name__} named {key!r}"
                )
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
            valid = _overridable(base)
            if not isinstance(fields, dict):
                raise ValidationError(
                    f"override of component {name!r} must be a table of fields "
                    f"({', '.join(valid)}); got {fields!r}"
                )
            bad = [k for k in fields if k not in valid]
            if bad:
                raise ValidationError(
                    f"component {name!r} has no field {bad[0]!r}; valid fields are "
                    f"{', '.join(valid)}"
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
            items[name] = _CLASSES.get(name, Component)(**fields)
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
    """Energy of one DAC conversion at ``bits`` of resolution [J], by the DAC's energy_law."""
    return library["dac"].energy_at(bits)


def dac_area_mm2(bits, library=DEFAULT_LIBRARY):
    """Area of one DAC at ``bits`` of resolution [mm^2], by the DAC's area_law."""
    return library["dac"].area_at(bits)
