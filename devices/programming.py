"""Programming conductances into cells, and what goes wrong after: variation, read noise (RTN),
stuck-at faults, drift. Pure functions and frozen, validated dataclasses; every random draw takes
``rng`` (a numpy Generator or an int seed) and is reproducible.

Conventions: conductances [S]; a device window ``[g_min, g_max]``; a cell with ``b`` bits stores
one of ``2**b`` equally spaced conductance levels ``g_min + k (g_max - g_min) / (2**b - 1)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from circuitxbar.devices import _validate as val
from circuitxbar.devices.base import Serializable
from circuitxbar.errors import ValidationError


def _window(g_min, g_max):
    g_min = val.non_negative("conductance window", "g_min", g_min, "S")
    g_max = val.positive("conductance window", "g_max", g_max, "S")
    if not g_max > g_min:
        raise ValidationError(
            f"conductance window: g_max = {g_max!r} S must exceed g_min = {g_min!r} S "
            f"(on/off ratio g_max/g_min > 1)"
        )
    return g_min, g_max


def _bits(bits):
    return val.integer("levels", "bits", bits, low=1, high=8)


def conductance_levels(g_min, g_max, bits):
    """The ``2**bits`` equally spaced conductance levels [S] of a ``bits``-bit cell (1..8)."""
    g_min, g_max = _window(g_min, g_max)
    return np.linspace(g_min, g_max, 2 ** _bits(bits))


def quantize(g_target, g_min, g_max, bits):
    """Level index (int64) of the level nearest each target conductance [S] (clipped to the
    window). ``conductance_levels(...)[index]`` gives the conductances."""
    g_min, g_max = _window(g_min, g_max)
    n = 2 ** _bits(bits) - 1
    g = np.asarray(g_target, dtype=np.float64)
    if np.isnan(g).any():
        raise ValidationError("quantize: g_target contains NaN; give finite conductances in S")
    x = np.clip((g - g_min) / (g_max - g_min), 0.0, 1.0) * n
    return np.rint(x).astype(np.int64)


def weights_to_conductance(w, g_min, g_max, *, w_max=None, bits=None):
    """Map non-negative weights linearly onto the window: ``0 -> g_min``, ``w_max -> g_max`` [S].

    ``w_max`` defaults to ``max(w)``; with ``bits`` the result is snapped to the cell's levels.
    """
    g_min, g_max = _window(g_min, g_max)
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValidationError("weights_to_conductance: weights contain NaN or inf")
    if (w < 0).any():
        raise ValidationError(
            f"weights_to_conductance: weight {float(w.min())!r} is negative; map signed weights "
            f"with differential_pair()"
        )
    w_max = _w_max(w, w_max)
    g = g_min + (g_max - g_min) * np.clip(w / w_max, 0.0, 1.0)
    if bits is not None:
        g = conductance_levels(g_min, g_max, bits)[quantize(g, g_min, g_max, bits)]
    return g


def _w_max(w, w_max):
    if w_max is None:
        w_max = float(np.max(np.abs(w))) if w.size else 0.0
        return w_max if w_max > 0 else 1.0
    return val.positive("weights", "w_max", w_max, "(weight units)")


@dataclasses.dataclass(frozen=True, eq=False)
class DifferentialPair:
    """Signed weights as two cells per weight, ``w ~ (g_plus - g_minus) / siemens_per_unit``.

    Attributes
    ----------
    g_plus, g_minus : ndarray
        Conductances of the positive and negative cells [S]; the unused cell sits at g_min.
    siemens_per_unit : float
        Conductance difference per weight unit [S].
    """

    g_plus: np.ndarray
    g_minus: np.ndarray
    siemens_per_unit: float

    def weights(self, g_plus=None, g_minus=None):
        """Weights decoded from (possibly perturbed) pair conductances [S]."""
        gp = self.g_plus if g_plus is None else np.asarray(g_plus, np.float64)
        gm = self.g_minus if g_minus is None else np.asarray(g_minus, np.float64)
        return (gp - gm) / self.siemens_per_unit


def differential_pair(w, g_min, g_max, *, w_max=None, bits=None):
    """Signed weights -> (G+, G-): ``w > 0`` programs G+ = g_min + |w| s, G- = g_min, and the
    reverse for ``w < 0``, with ``s = (g_max - g_min) / w_max`` [S per unit]; ``w_max`` defaults to
    ``max|w|``. With ``bits`` each cell is snapped to its levels."""
    g_min, g_max = _window(g_min, g_max)
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValidationError("differential_pair: weights contain NaN or inf")
    w_max = _w_max(w, w_max)
    mag = weights_to_conductance(np.abs(w), g_min, g_max, w_max=w_max, bits=bits)
    g_plus = np.where(w > 0, mag, g_min)
    g_minus = np.where(w < 0, mag, g_min)
    return DifferentialPair(g_plus, g_minus, (g_max - g_min) / w_max)


# ---------------------------------------------------------------------------------------------
# non-idealities


@dataclasses.dataclass(frozen=True)
class ProgrammingVariation(Serializable):
    """Write-verify residual error: the programmed conductance scatters around the target.

    ``gaussian``: ``G = G_t + N(0, sigma(G_t))``, ``sigma(G) = sqrt((sigma_relative G)^2 +
    sigma_absolute^2)`` (state dependent: relative part grows with G, absolute floor).
    ``lognormal``: ``G = G_t exp(s Z - s^2/2) + N(0, sigma_absolute)`` with
    ``s^2 = log(1 + sigma_relative^2)``: mean G_t, relative standard deviation exactly
    ``sigma_relative`` (the usual model for multiplicative filament variation).
    Results are clipped at 0 S (a conductance cannot be negative).

    Parameters
    ----------
    distribution : str
        ``"gaussian"`` or ``"lognormal"``.
    sigma_relative : float
        Relative standard deviation [fraction of G], >= 0.
    sigma_absolute : float
        State-independent standard deviation [S], >= 0.
    """

    distribution: str = "gaussian"
    sigma_relative: float = 0.0
    sigma_absolute: float = 0.0

    def __post_init__(self):
        o = "ProgrammingVariation"
        val.choice(o, "distribution", self.distribution, ("gaussian", "lognormal"))
        object.__setattr__(self, "sigma_relative",
                           val.non_negative(o, "sigma_relative", self.sigma_relative, "(fraction)"))
        object.__setattr__(self, "sigma_absolute",
                           val.non_negative(o, "sigma_absolute", self.sigma_absolute, "S"))

    def sigma(self, g):
        """Standard deviation of the programmed conductance [S] at target ``g`` [S]."""
        g = np.asarray(g, dtype=np.float64)
        return np.hypot(self.sigma_relative * g, self.sigma_absolute)

    def apply(self, g_target, rng):
        """Programmed conductances [S] for targets ``g_target`` [S]."""
        rng = val.as_rng(rng)
        g = val.conductance_array("g_target", g_target)
        if self.distribution == "gaussian":
            out = g + self.sigma(g) * rng.standard_normal(g.shape)
        else:
            s = np.sqrt(np.log1p(self.sigma_relative ** 2))
            out = g * np.exp(s * rng.standard_normal(g.shape) - 0.5 * s * s)
            if self.sigma_absolute > 0:
                out = out + self.sigma_absolute * rng.standard_normal(g.shape)
        return np.maximum(out, 0.0)


@dataclasses.dataclass(frozen=True)
class ReadNoise(Serializable):
    """Read-to-read fluctuation: random telegraph noise (RTN) plus optional white noise.

    RTN: each read, each cell's trap is occupied with probability ``rtn_occupancy``; the read
    conductance is ``G + dG`` if occupied, ``G - dG`` if not (mean G for occupancy 0.5), with the
    *bounded* amplitude

        dG(G) = rtn_amplitude * rtn_reference^rtn_exponent * G^(1 - rtn_exponent)  [S],

    i.e. the relative amplitude ``dG/G = rtn_amplitude (rtn_reference / G)^rtn_exponent`` grows
    with resistance (Ielmini et al., IEEE TED 2010: RTN dR/R rises with R). ``rtn_exponent = 1``
    gives the same absolute amplitude ``rtn_amplitude * rtn_reference`` at every state;
    ``rtn_exponent = 0`` a fixed fraction of the signal. White noise adds
    ``N(0, gaussian_relative G)``. ``scale`` in ``sample`` multiplies every amplitude (the paper's
    5x / 18x stress tests). Reads are clipped at 0 S.

    Parameters
    ----------
    rtn_amplitude : float
        Relative RTN amplitude at ``G = rtn_reference`` [fraction], >= 0 (the paper: <= 0.05).
    rtn_reference : float
        Conductance where the relative amplitude equals ``rtn_amplitude`` [S], > 0. The presets
        use the 2-bit level step ``(g_max - g_min)/3``: "5 % of the signal level" as the paper's
        sense amplifier sees it.
    rtn_exponent : float
        How fast the relative amplitude grows with resistance, in [0, 1].
    rtn_occupancy : float
        Probability that the trap is occupied during a read, in [0, 1].
    gaussian_relative : float
        White (thermal/shot) read noise, standard deviation as a fraction of G, >= 0.
    """

    rtn_amplitude: float = 0.0
    rtn_reference: float = 1e-5
    rtn_exponent: float = 1.0
    rtn_occupancy: float = 0.5
    gaussian_relative: float = 0.0

    def __post_init__(self):
        o = "ReadNoise"
        object.__setattr__(self, "rtn_amplitude", val.non_negative(
            o, "rtn_amplitude", self.rtn_amplitude, "(fraction)"))
        object.__setattr__(self, "rtn_reference", val.positive(
            o, "rtn_reference", self.rtn_reference, "S"))
        object.__setattr__(self, "rtn_exponent", val.fraction(
            o, "rtn_exponent", self.rtn_exponent,
            fix="0 = amplitude proportional to G, 1 = same absolute amplitude at every state"))
        object.__setattr__(self, "rtn_occupancy", val.fraction(
            o, "rtn_occupancy", self.rtn_occupancy))
        object.__setattr__(self, "gaussian_relative", val.non_negative(
            o, "gaussian_relative", self.gaussian_relative, "(fraction)"))

    def rtn_deviation(self, g):
        """RTN amplitude dG [S] at conductance ``g`` [S] (scale 1)."""
        g = np.asarray(g, dtype=np.float64)
        b = self.rtn_exponent
        return self.rtn_amplitude * self.rtn_reference ** b * np.power(g, 1.0 - b)

    def sample(self, g, rng, *, scale=1.0):
        """One noisy read of conductances ``g`` [S]; ``scale`` multiplies all noise amplitudes."""
        rng = val.as_rng(rng)
        scale = val.non_negative("ReadNoise.sample", "scale", scale, "(factor)")
        g = val.conductance_array("g", g)
        occupied = rng.random(g.shape) < self.rtn_occupancy
        out = g + scale * np.where(occupied, 1.0, -1.0) * self.rtn_deviation(g)
        if self.gaussian_relative > 0:
            out = out + scale * self.gaussian_relative * g * rng.standard_normal(g.shape)
        return np.maximum(out, 0.0)


@dataclasses.dataclass(frozen=True, eq=False)
class FaultMap:
    """Result of ``StuckAtFaults.apply``: conductances [S] and which cells are stuck."""

    conductance: np.ndarray
    stuck_on: np.ndarray
    stuck_off: np.ndarray


@dataclasses.dataclass(frozen=True)
class StuckAtFaults(Serializable):
    """Cells stuck at ON (g_max) or OFF (g_min), independently per cell.

    Parameters
    ----------
    rate_on : float
        Probability a cell is stuck at g_max (stuck-at-ON, "SA1") [fraction].
    rate_off : float
        Probability a cell is stuck at g_min (stuck-at-OFF, "SA0") [fraction].
        ``rate_on + rate_off <= 1``.
    """

    rate_on: float = 0.0
    rate_off: float = 0.0

    def __post_init__(self):
        o = "StuckAtFaults"
        object.__setattr__(self, "rate_on", val.fraction(o, "rate_on", self.rate_on))
        object.__setattr__(self, "rate_off", val.fraction(o, "rate_off", self.rate_off))
        if self.rate_on + self.rate_off > 1.0:
            raise ValidationError(
                f"StuckAtFaults: rate_on + rate_off = {self.rate_on + self.rate_off!r} exceeds 1"
            )

    def apply(self, g, g_min, g_max, rng):
        """Pin faulty cells of ``g`` [S] to ``g_max`` / ``g_min``; returns a FaultMap."""
        rng = val.as_rng(rng)
        g_min, g_max = _window(g_min, g_max)
        g = val.conductance_array("g", g)
        u = rng.random(g.shape)
        stuck_on = u < self.rate_on
        stuck_off = (u >= self.rate_on) & (u < self.rate_on + self.rate_off)
        out = np.where(stuck_on, g_max, np.where(stuck_off, g_min, g))
        return FaultMap(out, stuck_on, stuck_off)


@dataclasses.dataclass(frozen=True)
class Drift(Serializable):
    """Conductance drift, a power law in time: ``G(t) = G(t0) (t / t0)^(-nu)``.

    Each cell may draw its own exponent ``nu + nu_sigma Z`` (seeded).

    Parameters
    ----------
    nu : float
        Drift exponent [-] (> 0: conductance decays; RRAM ~ 0.001-0.01, PCM ~ 0.05-0.1).
    t0 : float
        Time at which the cell was read right after programming [s], > 0.
    nu_sigma : float
        Cell-to-cell standard deviation of the exponent [-], >= 0.
    """

    nu: float = 0.0
    t0: float = 1.0
    nu_sigma: float = 0.0

    def __post_init__(self):
        o = "Drift"
        object.__setattr__(self, "nu", val.real(o, "nu", self.nu, "(exponent)"))
        object.__setattr__(self, "t0", val.positive(o, "t0", self.t0, "s"))
        object.__setattr__(self, "nu_sigma",
                           val.non_negative(o, "nu_sigma", self.nu_sigma, "(exponent)"))

    def apply(self, g, t, rng=None):
        """Conductances [S] at time ``t`` [s] after programming (``rng`` needed if nu_sigma>0)."""
        g = val.conductance_array("g", g)
        t = val.positive("Drift.apply", "t", t, "s")
        nu = self.nu
        if self.nu_sigma > 0:
            nu = nu + self.nu_sigma * val.as_rng(rng).standard_normal(g.shape)
        return g * np.power(t / self.t0, -nu)
