"""Named device presets: the I-V model, conductance window, programming and noise in one object.

``preset(name)`` returns a frozen :class:`DeviceSpec`. Sources and the values that are our own
assumptions (the paper gives no device numbers, see paper digest section 2.3):

``taox_dpe``
    TaOx RRAM as used by the paper (its ref. [17]: M. Hu et al., "Dot-product engine for
    neuromorphic computing: programming 1T1M crossbar to accelerate matrix-vector
    multiplication", DAC 2016), which reports about 1 % programming error at 32 levels (5 bits):
    modelled as Gaussian write-verify error with sigma = 1 % of the window. Window 1-100 uS
    (1 MOhm - 10 kOhm, on/off 100) and the mild read nonlinearity Sinh(k = 2 /V) (3 % excess
    current at 0.3 V) are ASSUMPTIONS. Read noise is the paper's RTN: 5 % of the signal level
    (Feinberg et al., HPCA 2018, as cited), taken as 5 % of the 2-bit level step, same absolute
    amplitude at every state (relative amplitude ~ resistance, Ielmini et al. TED 2010).
    No faults and no drift, like the paper. 4 levels (2 bits per cell), read at 0.2 V.
``hfox``
    A generic HfOx 1T1R RRAM. Window 5-100 uS (200 kOhm - 10 kOhm; typical of H.-S. P. Wong et
    al., "Metal-oxide RRAM", Proc. IEEE 100(6), 2012), Sinh(k = 3 /V) memristor behind a
    1 kOhm access transistor with 10 pS leakage (ASSUMPTIONS), lognormal programming variation
    5 % (ASSUMPTION, typical of write-verify), RTN as for taox_dpe, stuck-at-ON 9.04 % and
    stuck-at-OFF 1.75 % (C.-Y. Chen et al., "RRAM defect modeling and failure analysis based on
    March test and a novel squeeze-search scheme", IEEE Trans. Computers 64(1), 2015), drift
    nu = 0.005 +- 0.002 from t0 = 1 s (ASSUMPTION, RRAM relaxation).
``fixed_resistor``
    The paper's computation-crossbar cell: a fixed resistor behind a transistor switch
    (SwitchedResistor, perfect cut-off). Three levels 0, 1, 2 units of 10 uS (100 kOhm), the
    +-1 / +-2 conductances of its base-7 digit scheme; the unit is an ASSUMPTION. Resistors are
    never programmed: 1 % fabrication mismatch (ASSUMPTION) and RTN 0.5 % of the signal
    (ASSUMPTION; the paper only says "much smaller fluctuations" than memristors).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from circuitxbar.devices import _validate as val
from circuitxbar.devices.base import DeviceModel, Serializable
from circuitxbar.devices.models import OneTransistorOneResistor, Sinh, SwitchedResistor
from circuitxbar.devices.programming import Drift, ProgrammingVariation, ReadNoise, StuckAtFaults
from circuitxbar.errors import ValidationError


@dataclasses.dataclass(frozen=True, eq=False)
class ProgrammedCells:
    """Result of ``DeviceSpec.program``.

    Attributes
    ----------
    conductance : ndarray
        Programmed conductances [S], variation and faults included.
    level : ndarray of int64
        Index of the level each target was snapped to.
    stuck_on, stuck_off : ndarray of bool
        Cells stuck at g_max / g_min.
    """

    conductance: np.ndarray
    level: np.ndarray
    stuck_on: np.ndarray
    stuck_off: np.ndarray


@dataclasses.dataclass(frozen=True)
class DeviceSpec(Serializable):
    """A device technology: read I-V model plus programming window, levels and non-idealities.

    Parameters
    ----------
    name : str
    description : str
    iv : DeviceModel
        The read I-V model handed to ``Crossbar(device=...)``.
    g_min, g_max : float
        Conductance window [S], ``0 <= g_min < g_max`` (on/off ratio g_max/g_min).
    levels_per_cell : int
        Default number of equally spaced levels per cell (4 = 2 bits), >= 2.
    v_read : float
        Read voltage of a memory-style cell read [V], > 0.
    programming, read_noise, faults, drift
        The non-idealities (see ``circuitxbar.devices.programming``).
    """

    name: str
    description: str
    iv: DeviceModel
    g_min: float
    g_max: float
    levels_per_cell: int = 4
    v_read: float = 0.2
    programming: ProgrammingVariation = dataclasses.field(default_factory=ProgrammingVariation)
    read_noise: ReadNoise = dataclasses.field(default_factory=ReadNoise)
    faults: StuckAtFaults = dataclasses.field(default_factory=StuckAtFaults)
    drift: Drift = dataclasses.field(default_factory=Drift)

    def __post_init__(self):
        o = f"DeviceSpec {self.name!r}"
        if not isinstance(self.iv, DeviceModel):
            raise ValidationError(f"{o}: iv = {self.iv!r} must be a device model (Ohmic(), ...)")
        g_min = val.non_negative(o, "g_min", self.g_min, "S")
        g_max = val.positive(o, "g_max", self.g_max, "S")
        if not g_max > g_min:
            raise ValidationError(f"{o}: g_max = {g_max!r} S must exceed g_min = {g_min!r} S")
        object.__setattr__(self, "g_min", g_min)
        object.__setattr__(self, "g_max", g_max)
        object.__setattr__(self, "levels_per_cell",
                           val.integer(o, "levels_per_cell", self.levels_per_cell, low=2))
        object.__setattr__(self, "v_read", val.positive(o, "v_read", self.v_read, "V"))
        lo, hi = self.iv.v_range
        if not lo <= self.v_read <= hi:
            raise ValidationError(f"{o}: v_read = {self.v_read} V lies outside the I-V model's "
                                  f"range [{lo:g}, {hi:g}] V")
        for name, cls in (("programming", ProgrammingVariation), ("read_noise", ReadNoise),
                          ("faults", StuckAtFaults), ("drift", Drift)):
            if not isinstance(getattr(self, name), cls):
                raise ValidationError(f"{o}: {name} must be a {cls.__name__}")

    @property
    def on_off_ratio(self):
        """g_max / g_min (inf when g_min = 0)."""
        return self.g_max / self.g_min if self.g_min > 0 else float("inf")

    def levels(self, n_levels=None, *, bits=None):
        """Equally spaced conductance levels [S]: ``n_levels`` (default ``levels_per_cell``) or
        ``2**bits``."""
        if bits is not None:
            n_levels = 2 ** val.integer("levels", "bits", bits, low=1, high=8)
        n = self.levels_per_cell if n_levels is None else val.integer(
            "levels", "n_levels", n_levels, low=2)
        return np.linspace(self.g_min, self.g_max, n)

    def program(self, g_target, rng, *, n_levels=None, bits=None, faults=True):
        """Snap targets [S] to the nearest level, apply programming variation, then stuck-at
        faults (``faults=False`` to skip them)."""
        rng = val.as_rng(rng)
        levels = self.levels(n_levels, bits=bits)
        g = np.asarray(g_target, dtype=np.float64)
        if np.isnan(g).any():
            raise ValidationError("program: g_target contains NaN; give conductances in S")
        step = levels[1] - levels[0]
        idx = np.rint(np.clip((g - self.g_min) / step, 0, levels.size - 1)).astype(np.int64)
        out = self.programming.apply(levels[idx], rng)
        stuck_on = np.zeros(out.shape, bool)
        stuck_off = np.zeros(out.shape, bool)
        if faults:
            fm = self.faults.apply(out, self.g_min, self.g_max, rng)
            out, stuck_on, stuck_off = fm.conductance, fm.stuck_on, fm.stuck_off
        return ProgrammedCells(out, idx, stuck_on, stuck_off)

    def read(self, g, rng, *, scale=1.0):
        """One noisy read of conductances ``g`` [S] (``scale`` multiplies the noise)."""
        return self.read_noise.sample(g, rng, scale=scale)

    def drifted(self, g, t, rng=None):
        """Conductances [S] at time ``t`` [s] after programming."""
        return self.drift.apply(g, t, rng)


def _taox_dpe():
    g_min, g_max = 1e-6, 1e-4
    return DeviceSpec(
        name="taox_dpe",
        description="TaOx RRAM like the paper's (Hu et al., DAC 2016 dot-product engine): "
                    "1-100 uS, 2 bits/cell, 1 % programming error, RTN 5 % of the level step",
        iv=Sinh(k=2.0),
        g_min=g_min, g_max=g_max, levels_per_cell=4, v_read=0.2,
        programming=ProgrammingVariation("gaussian", 0.0, 0.01 * (g_max - g_min)),
        read_noise=ReadNoise(rtn_amplitude=0.05, rtn_reference=(g_max - g_min) / 3,
                             rtn_exponent=1.0),
    )


def _hfox():
    g_min, g_max = 5e-6, 1e-4
    return DeviceSpec(
        name="hfox",
        description="generic HfOx 1T1R RRAM: 5-100 uS, sinh k=3/V, 1 kOhm access transistor, "
                    "5 % lognormal variation, Chen et al. 2015 stuck-at rates, slow drift",
        iv=OneTransistorOneResistor(r_on=1e3, memristor=Sinh(k=3.0), g_leak=1e-11),
        g_min=g_min, g_max=g_max, levels_per_cell=4, v_read=0.2,
        programming=ProgrammingVariation("lognormal", 0.05, 0.0),
        read_noise=ReadNoise(rtn_amplitude=0.05, rtn_reference=(g_max - g_min) / 3,
                             rtn_exponent=1.0),
        faults=StuckAtFaults(rate_on=0.0904, rate_off=0.0175),
        drift=Drift(nu=0.005, t0=1.0, nu_sigma=0.002),
    )


def _fixed_resistor():
    unit = 1e-5
    return DeviceSpec(
        name="fixed_resistor",
        description="the paper's computation-crossbar cell: fixed resistor (0, 1, 2 x 10 uS) "
                    "behind a switch, 1 % mismatch, RTN 0.5 % of the signal",
        iv=SwitchedResistor(g_leak=0.0),
        g_min=0.0, g_max=2 * unit, levels_per_cell=3, v_read=0.2,
        programming=ProgrammingVariation("gaussian", 0.01, 0.0),
        read_noise=ReadNoise(rtn_amplitude=0.005, rtn_reference=unit, rtn_exponent=0.0),
    )


_PRESETS = {
    "taox_dpe": _taox_dpe,
    "hfox": _hfox,
    "fixed_resistor": _fixed_resistor,
}


def preset_names():
    """Names accepted by ``preset``."""
    return tuple(_PRESETS)


def preset(name):
    """The named DeviceSpec (see the module docstring for sources); unknown names raise
    ValidationError listing the valid ones."""
    try:
        factory = _PRESETS[name]
    except (KeyError, TypeError):
        raise ValidationError(
            f"unknown device preset {name!r}; valid presets are {', '.join(_PRESETS)}"
        ) from None
    return factory()
