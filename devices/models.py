"""Read I-V models: one frozen, validated dataclass per cell type.

Units: conductances [S], resistances [ohm], voltages [V], currents [A], ``k`` [1/V]. A cell's
state ``g`` [S] is always its small-signal conductance at 0 V (for series cells: the memristor's,
the series elements come on top). Every model is monotone non-decreasing in v with I(0) = 0;
the parameter checks below are what guarantee it.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os

import numpy as np

from circuitxbar.devices import _validate as val
from circuitxbar.devices import kernels
from circuitxbar.devices.base import DeviceModel, Serializable
from circuitxbar.errors import ValidationError


def _series_np(a, b):
    """Conductance of a and b in series [S], NumPy, exact for b = inf (a alone) and a + b = 0.

    Linear models compute their effective conductance with this rather than through the
    compiled kernel, so a purely linear study never compiles the nonlinear device code.
    """
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.isinf(b), a, a * b / (a + b))
    return np.where((a + b) > 0, out, 0.0)


@dataclasses.dataclass(frozen=True)
class Ohmic(DeviceModel):
    """Linear cell, ``I = G V``; valid at every voltage."""

    code = kernels.OHMIC
    is_linear = True

    def effective_conductance(self, g, gate=True):
        """I / V of each cell [S]: the state itself."""
        g, _ = np.broadcast_arrays(np.asarray(g, np.float64), np.asarray(gate))
        return g.copy()


@dataclasses.dataclass(frozen=True)
class Sinh(DeviceModel):
    """The usual read nonlinearity of TaOx/HfOx RRAM: ``I = G sinh(k V) / k``.

    ``G`` is the cell state (small-signal conductance at 0 V), so ``dI/dV = G cosh(k V)`` and the
    curve is odd and strictly increasing for every k > 0. ``sinh`` is evaluated directly (no
    ``exp(x) - exp(-x)`` cancellation), so the current stays relatively exact as kV -> 0.

    Parameters
    ----------
    k : float
        Nonlinearity coefficient [1/V], > 0. ``sinh(k V)/(k V) - 1`` is the relative excess
        current over ohmic at V; k -> 0 recovers Ohmic.
    v_max : float or None
        Largest |V| [V] the model is used at (its ``v_range``). ``k * v_max`` must not exceed
        ``kernels.X_CAP`` = 50, the point beyond which the kernel continues the curve linearly
        (to keep Newton iterates finite; cosh overflows at 710). ``None``: ``X_CAP / k``.
    """

    k: float
    v_max: float | None = None

    code = kernels.SINH

    def __post_init__(self):
        k = val.positive("Sinh", "k", self.k, "1/V",
                         fix="k is the sinh nonlinearity; use Ohmic() for a linear cell")
        object.__setattr__(self, "k", k)
        if self.v_max is not None:
            v_max = val.positive("Sinh", "v_max", self.v_max, "V")
            if k * v_max > kernels.X_CAP:
                raise ValidationError(
                    f"Sinh: k * v_max = {k:g} * {v_max:g} = {k * v_max:g} exceeds "
                    f"{kernels.X_CAP:g}; beyond it sinh would overflow the solver's Jacobian, so "
                    f"the kernel continues linearly there. Lower v_max to <= "
                    f"{kernels.X_CAP / k:g} V or use a smaller k"
                )
            object.__setattr__(self, "v_max", v_max)

    def packed(self):
        return self.code, np.array([self.k]), np.zeros((1, 1))

    @property
    def v_range(self):
        vm = self.v_max if self.v_max is not None else kernels.X_CAP / self.k
        return (-vm, vm)


def _memristor_k(owner, memristor):
    if isinstance(memristor, Ohmic):
        return 0.0
    if isinstance(memristor, Sinh):
        return memristor.k
    raise ValidationError(
        f"{owner}: memristor = {memristor!r} must be Ohmic() or Sinh(k=...); the series solve "
        f"supports those two memristor curves"
    )


# ---------------------------------------------------------------------------------------------
# selectors (for 1S1R)


class Selector(Serializable):
    """A two-terminal selector I-V (odd, strictly increasing)."""

    kind = -1

    def selector_params(self):
        """(kind, [p0, p1, p2, p3]) as laid out in kernels.py."""
        raise NotImplementedError

    def current(self, u):
        """Selector current [A] at selector voltage ``u`` [V] (NumPy)."""
        kind, p = self.selector_params()
        u = np.asarray(u, np.float64)
        i, _d = kernels.eval_selector(kind, p, u)
        return i

    @property
    def u_max(self):
        """Largest |u| [V] where the formula is exact (see kernels.X_CAP)."""
        return math.inf


@dataclasses.dataclass(frozen=True)
class ExponentialSelector(Selector):
    """Exponential (tunnelling / MIEC-like) selector, ``I = i0 sinh(u / v0)``.

    Parameters
    ----------
    i0 : float
        Current scale [A], > 0; the selector's 0-V conductance is ``i0 / v0``.
    v0 : float
        Voltage scale [V], > 0 (e-folding voltage of the current).
    """

    i0: float
    v0: float

    kind = kernels.SELECTOR_EXPONENTIAL

    def __post_init__(self):
        object.__setattr__(self, "i0", val.positive("ExponentialSelector", "i0", self.i0, "A"))
        object.__setattr__(self, "v0", val.positive("ExponentialSelector", "v0", self.v0, "V"))

    def selector_params(self):
        return self.kind, [self.i0, self.v0, 0.0, 0.0]

    @property
    def u_max(self):
        return kernels.X_CAP * self.v0


@dataclasses.dataclass(frozen=True)
class ThresholdSelector(Selector):
    """Threshold selector, smoothed so that Newton sees a C-infinity curve.

    ``I = g_off u + g_on width [softplus((u - v_th)/width) - softplus((-u - v_th)/width)]``:
    conductance ``g_off`` below the threshold, ``g_off + g_on`` above it, the corner rounded over
    about ``width``. Odd, strictly increasing, I(0) = 0.

    Parameters
    ----------
    v_th : float
        Threshold voltage [V], >= 0.
    g_on : float
        Extra conductance once on [S], > 0.
    g_off : float
        Off conductance [S], >= 0 (leakage below threshold).
    width : float
        Smoothing width of the corner [V], > 0.
    """

    v_th: float
    g_on: float
    g_off: float = 0.0
    width: float = 0.01

    kind = kernels.SELECTOR_THRESHOLD

    def __post_init__(self):
        o = "ThresholdSelector"
        object.__setattr__(self, "v_th", val.non_negative(o, "v_th", self.v_th, "V"))
        object.__setattr__(self, "g_on", val.positive(o, "g_on", self.g_on, "S"))
        object.__setattr__(self, "g_off", val.non_negative(o, "g_off", self.g_off, "S"))
        object.__setattr__(self, "width", val.positive(
            o, "width", self.width, "V", fix="the corner smoothing width; 0.005-0.05 V is usual"))

    def selector_params(self):
        return self.kind, [self.g_off, self.g_on, self.v_th, self.width]


@dataclasses.dataclass(frozen=True)
class OneSelectorOneResistor(DeviceModel):
    """1S1R cell: a memristor (Ohmic or Sinh, state g) in series with a selector.

    Solved as **one two-terminal curve**: every kernel call finds the internal node (the
    memristor voltage w, with ``I_m(w) = I_s(v - w)``) by a bracketed, bisection-safeguarded
    Newton iteration to machine precision, and returns ``I`` and the exact series
    ``dI/dV = g_m g_s / (g_m + g_s)``. The solver therefore sees an ordinary monotone cell and
    needs no extra unknowns. A cell with g = 0 carries no current.

    Parameters
    ----------
    selector : ThresholdSelector or ExponentialSelector
    memristor : Ohmic or Sinh
        The resistive element's curve; its state is the cell's g [S].
    """

    selector: Selector = dataclasses.field(
        default_factory=lambda: ThresholdSelector(v_th=0.4, g_on=1e-3, g_off=1e-9, width=0.02))
    memristor: DeviceModel = dataclasses.field(default_factory=Ohmic)

    code = kernels.ONE_S_ONE_R

    def __post_init__(self):
        if not isinstance(self.selector, Selector):
            raise ValidationError(
                f"OneSelectorOneResistor: selector = {self.selector!r} must be a "
                f"ThresholdSelector(...) or ExponentialSelector(...)"
            )
        _memristor_k("OneSelectorOneResistor", self.memristor)

    def packed(self):
        kind, p = self.selector.selector_params()
        k_m = _memristor_k("OneSelectorOneResistor", self.memristor)
        return self.code, np.array([k_m, float(kind)] + list(p)), np.zeros((1, 1))

    @property
    def v_range(self):
        vm = min(self.memristor.v_range[1], self.selector.u_max)
        return (-vm, vm)

    def memristor_voltage(self, v, g):
        """Voltage across the memristor [V] at cell voltage ``v`` [V] and state ``g`` [S]; the
        selector carries ``v - memristor_voltage``."""
        kind, p = self.selector.selector_params()
        k_m = _memristor_k("OneSelectorOneResistor", self.memristor)
        return kernels.eval_series(k_m, kind, p, v, g)[2]


@dataclasses.dataclass(frozen=True)
class OneTransistorOneResistor(DeviceModel):
    """1T1R cell: a memristor (Ohmic or Sinh, state g) in series with its access transistor.

    With the word line selecting it (gate = 1) the transistor is a linear resistor ``r_on``
    (triode region, fine at read voltages); deselected (gate = 0) it leaves only ``g_leak``, in
    series with the memristor. With an Ohmic memristor the cell is linear, with the exact
    ``effective_conductance = g / (1 + g r_on)`` (on) or ``g g_leak / (g + g_leak)`` (off).
    With a Sinh memristor the internal node is solved per call as for 1S1R.

    Parameters
    ----------
    r_on : float
        Transistor on-resistance [ohm], >= 0 (0 = ideal switch).
    memristor : Ohmic or Sinh
    g_leak : float
        Off-state (gate = 0) transistor conductance [S], >= 0; 0 = perfect cut-off.
    """

    r_on: float
    memristor: DeviceModel = dataclasses.field(default_factory=Ohmic)
    g_leak: float = 0.0

    code = kernels.ONE_T_ONE_R
    has_switch = True

    def __post_init__(self):
        o = "OneTransistorOneResistor"
        object.__setattr__(self, "r_on", val.non_negative(o, "r_on", self.r_on, "ohm",
                                                          fix="0 means an ideal switch"))
        object.__setattr__(self, "g_leak", val.non_negative(o, "g_leak", self.g_leak, "S",
                                                            fix="0 means perfect cut-off"))
        _memristor_k(o, self.memristor)

    @property
    def is_linear(self):
        return isinstance(self.memristor, Ohmic)

    def effective_conductance(self, g, gate=True):
        """I / V [S] with an ohmic memristor: g in series with 1/r_on (on) or g_leak (off)."""
        if not self.is_linear:
            return super().effective_conductance(g, gate)
        g_on = np.inf if self.r_on == 0 else 1.0 / self.r_on
        on = np.asarray(gate, dtype=bool)
        return np.where(on, _series_np(g, g_on), _series_np(g, self.g_leak))

    def packed(self):
        k_m = _memristor_k("OneTransistorOneResistor", self.memristor)
        g_t = math.inf if self.r_on == 0.0 else 1.0 / self.r_on
        return (self.code, np.array([k_m, g_t, self.g_leak, float(kernels.SELECTOR_OHMIC)]),
                np.zeros((1, 1)))

    @property
    def v_range(self):
        return self.memristor.v_range


@dataclasses.dataclass(frozen=True)
class SwitchedResistor(DeviceModel):
    """The paper's computation-crossbar cell: a fixed resistor behind a transistor switch.

    gate = 1: ``I = g V`` (ideal switch); gate = 0: the resistor in series with the switch's
    leakage, ``I = g g_leak / (g + g_leak) V``. Linear in both states.

    Parameters
    ----------
    g_leak : float
        Off-switch conductance [S], >= 0 (0 = perfect cut-off).
    """

    g_leak: float = 0.0

    code = kernels.SWITCHED_RESISTOR
    is_linear = True
    has_switch = True

    def __post_init__(self):
        object.__setattr__(self, "g_leak", val.non_negative(
            "SwitchedResistor", "g_leak", self.g_leak, "S", fix="0 means perfect cut-off"))

    def packed(self):
        return self.code, np.array([self.g_leak]), np.zeros((1, 1))

    def effective_conductance(self, g, gate=True):
        """I / V [S]: g when on, g in series with g_leak when off."""
        on = np.asarray(gate, dtype=bool)
        return np.where(on, np.asarray(g, np.float64), _series_np(g, self.g_leak))


# ---------------------------------------------------------------------------------------------
# tabulated measurements


def _as_curve(owner, s, v, i):
    v = np.asarray(v, dtype=np.float64)
    i = np.asarray(i, dtype=np.float64)
    if v.ndim != 1 or i.shape != v.shape:
        raise ValidationError(
            f"{owner}: state {s} has {v.size} voltages and {i.size} currents; give equally long "
            f"1-D lists"
        )
    if v.size < 2:
        raise ValidationError(f"{owner}: state {s} has {v.size} point(s); give at least 2")
    for name, arr in (("voltage", v), ("current", i)):
        bad = ~np.isfinite(arr)
        if bad.any():
            n = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{owner}: state {s} {name}[{n}] = {arr[n]!r} is not finite; remove the point"
            )
    dv = np.diff(v)
    if (dv <= 0).any():
        n = int(np.flatnonzero(dv <= 0)[0])
        raise ValidationError(
            f"{owner}: state {s} voltages are not strictly increasing at index {n} "
            f"({v[n]!r} V then {v[n + 1]!r} V); sort the table by voltage and drop duplicates"
        )
    di = np.diff(i)
    if (di < 0).any():
        n = int(np.flatnonzero(di < 0)[0])
        raise ValidationError(
            f"{owner}: state {s} current falls from {i[n]!r} A at {v[n]!r} V to {i[n + 1]!r} A "
            f"at {v[n + 1]!r} V; the solver needs a monotone non-decreasing I-V (smooth the "
            f"measurement or drop the point)"
        )
    zero = np.flatnonzero(v == 0.0)
    if zero.size == 0 or i[zero[0]] != 0.0:
        raise ValidationError(
            f"{owner}: state {s} needs the point (0 V, 0 A) (a cell carries no current at 0 V); "
            f"add it, or subtract the measured offset current from the state's currents"
        )
    return v, i


@dataclasses.dataclass(frozen=True)
class Tabulated(DeviceModel):
    """Measured I-V curves, one per programmed state, interpolated monotonically (PCHIP).

    Each state's points are joined by the Fritsch-Carlson piecewise-cubic Hermite interpolant
    (slopes from ``scipy.interpolate.PchipInterpolator`` at construction; the cubic is evaluated
    in the kernel): it passes through every table point exactly, has a continuous derivative and
    is monotone because the data are.

    **State selection.** Each state s is labelled by its small-signal conductance ``g_s``
    (its PCHIP slope at 0 V). A cell with conductance g between two states ``g_a <= g <= g_b``
    gets the blend ``I = (1 - t) I_a(V) + t I_b(V)``, ``t = (g - g_a) / (g_b - g_a)``, whose slope
    at 0 V is exactly g; below the lowest (above the highest) state the nearest state's curve is
    scaled by ``g / g_s``. Both rules keep I(0) = 0 and monotonicity, and are continuous in g.

    **Out of range.** ``v_range`` is the voltage interval every state was measured over. Outside
    it the kernel returns NaN (the solver reports non-finite device currents as an error;
    ``check_voltage`` raises a ValidationError) unless ``extrapolate=True``, which continues each
    curve linearly with its end slope (still C1 and monotone).

    Parameters
    ----------
    voltages : sequence of sequences of float
        Per state, strictly increasing voltages [V]; each must include 0 V.
    currents : sequence of sequences of float
        Per state, the currents [A] at those voltages, non-decreasing, 0 A at 0 V.
    extrapolate : bool
        Continue linearly outside the measured range instead of returning NaN.
    """

    voltages: tuple
    currents: tuple
    extrapolate: bool = False

    code = kernels.TABULATED

    def __post_init__(self):
        owner = "Tabulated"
        from scipy.interpolate import PchipInterpolator

        if isinstance(self.voltages, np.ndarray) and self.voltages.ndim == 1:
            raise ValidationError(f"{owner}: voltages must be a list of per-state lists; wrap a "
                                  f"single state's voltages in a list")
        n_states = len(self.voltages)
        if n_states == 0 or len(self.currents) != n_states:
            raise ValidationError(
                f"{owner}: got {n_states} voltage lists and {len(self.currents)} current lists; "
                f"give one of each per state (at least one state)"
            )
        curves = [_as_curve(owner, s, v, i) for s, (v, i) in
                  enumerate(zip(self.voltages, self.currents))]
        object.__setattr__(self, "voltages", tuple(tuple(float(x) for x in v) for v, _ in curves))
        object.__setattr__(self, "currents", tuple(tuple(float(x) for x in i) for _, i in curves))
        object.__setattr__(self, "extrapolate", bool(self.extrapolate))
        slopes = []
        g_states = []
        for s, (v, i) in enumerate(curves):
            d = PchipInterpolator(v, i).derivative()(v)
            d = np.maximum(d, 0.0)  # exact zeros can come out as -0.0 or -1e-30 round-off
            g0 = float(d[np.flatnonzero(v == 0.0)[0]])
            if not g0 > 0.0:
                raise ValidationError(
                    f"{owner}: state {s} has zero slope at 0 V, so no conductance labels it; "
                    f"the points next to 0 V must carry nonzero current of the voltage's sign"
                )
            slopes.append(d)
            g_states.append(g0)
        order = np.argsort(g_states, kind="stable")
        g_sorted = np.asarray(g_states)[order]
        if (np.diff(g_sorted) <= 0).any():
            n = int(np.flatnonzero(np.diff(g_sorted) <= 0)[0])
            raise ValidationError(
                f"{owner}: states {int(order[n])} and {int(order[n + 1])} have the same "
                f"small-signal conductance {g_sorted[n]!r} S; merge or drop one"
            )
        n_max = max(v.size for v, _ in curves)
        table = np.full((3 * n_states, n_max), np.nan)
        counts = []
        for row, s in enumerate(order):
            v, i = curves[s]
            table[3 * row, : v.size] = v
            table[3 * row + 1, : v.size] = i
            table[3 * row + 2, : v.size] = slopes[s]
            counts.append(v.size)
        params = np.concatenate(([n_states, 1.0 if self.extrapolate else 0.0], g_sorted, counts))
        table.setflags(write=False)
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_params", params.astype(np.float64))
        lo = max(v[0] for v, _ in curves)
        hi = min(v[-1] for v, _ in curves)
        object.__setattr__(self, "_range", (float(lo), float(hi)))

    def packed(self):
        return self.code, self._params.copy(), np.ascontiguousarray(self._table)

    @property
    def state_conductance(self):
        """Small-signal conductance at 0 V of each state [S], ascending."""
        n = int(self._params[0])
        return self._params[2: 2 + n].copy()

    @property
    def v_range(self):
        if self.extrapolate:
            return (-math.inf, math.inf)
        return self._range

    @classmethod
    def from_csv(cls, path, *, extrapolate=False):
        """Read ``state,voltage_V,current_A`` rows (``#`` lines are comments).

        ``state`` is any label; rows of one state need not be contiguous but are kept in order.
        Header names are matched case-insensitively: ``state``; ``voltage``/``voltage_V``/``V``;
        ``current``/``current_A``/``I``.
        """
        path = os.fspath(path)
        try:
            with open(path, newline="") as fh:
                lines = [ln for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
            rows = list(csv.reader(lines))
        except OSError as exc:
            raise ValidationError(f"cannot read I-V table {path!r}: {exc}") from None
        if not rows:
            raise ValidationError(f"{path}: no rows; expected a header state,voltage_V,current_A")
        header = [h.strip().lower() for h in rows[0]]
        aliases = {"state": ("state",), "v": ("voltage", "voltage_v", "v"),
                   "i": ("current", "current_a", "i")}
        cols = {}
        for key, names in aliases.items():
            hit = [n for n, h in enumerate(header) if h in names]
            if not hit:
                raise ValidationError(
                    f"{path}: header {rows[0]} lacks a {'/'.join(names)} column; expected "
                    f"state,voltage_V,current_A"
                )
            cols[key] = hit[0]
        states = {}
        for line_no, r in enumerate(rows[1:], start=2):
            try:
                v = float(r[cols["v"]])
                i = float(r[cols["i"]])
            except (ValueError, IndexError):
                raise ValidationError(f"{path}: data row {line_no} {r} is not state,V,I") from None
            vs, is_ = states.setdefault(r[cols["state"]].strip(), ([], []))
            vs.append(v)
            is_.append(i)
        return cls(voltages=[s[0] for s in states.values()],
                   currents=[s[1] for s in states.values()], extrapolate=extrapolate)

    @classmethod
    def from_model(cls, model, g_states, voltages, *, extrapolate=False):
        """Tabulate another model at states ``g_states`` [S] and ``voltages`` [V] (0 included)."""
        v = np.asarray(voltages, dtype=np.float64)
        return cls(voltages=[v] * len(g_states),
                   currents=[model.current(v, g) for g in g_states], extrapolate=extrapolate)


def example_csv_path():
    """Path of the example I-V table shipped in ``circuitxbar/devices/data``."""
    return os.path.join(os.path.dirname(__file__), "data", "taox_example_iv.csv")
