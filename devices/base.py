"""The contract every device model meets, so that the Numba solver can call it.

A model is a frozen dataclass. Besides its NumPy methods it *packs* itself into plain arrays,
``(code, params, table)``, which the compiled kernel ``circuitxbar.devices.kernels.cell_current``
dispatches on: no Python objects ever enter a kernel.

Per cell the solver passes the programmed state ``g`` [S] (the small-signal conductance at
0 V), the access-switch state ``gate`` (1.0 on, 0.0 off) and the voltage ``v`` [V] across the
cell (row node minus column node).

Guarantees of every model (validated on construction, tested in tests/test_devices.py):

* I(0) = 0 and dI/dV >= 0 for every state g >= 0 and gate: the curve is monotone
  non-decreasing, which the solver relies on for global convergence;
* ``is_linear`` is True only when I is exactly proportional to V; then
  ``effective_conductance(g, gate)`` is that exact ratio;
* inside ``v_range`` [V] the model is exact/calibrated; outside it a tabulated model returns NaN
  (``check_voltage`` turns that into a ValidationError on the Python side).

Every configuration dataclass here round-trips through ``to_dict``/``from_dict`` and
``to_json``/``from_json``; ``circuitxbar.devices.from_dict`` revives any of them by the name
stored under ``"model"`` (I-V models) or ``"type"`` (everything else).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from circuitxbar.errors import ValidationError

_REGISTRY = {}


def _plain(value):
    if isinstance(value, Serializable):
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(x) for x in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _revive(value):
    if isinstance(value, dict) and ("model" in value or "type" in value):
        return from_dict(value)
    if isinstance(value, list):
        return [_revive(x) for x in value]
    return value


def from_dict(d):
    """Rebuild any device configuration object from its ``to_dict()`` form."""
    if not isinstance(d, dict):
        raise ValidationError(f"from_dict takes a dict from to_dict(); got {type(d).__name__}")
    tag = d.get("model", d.get("type"))
    if tag not in _REGISTRY:
        raise ValidationError(
            f"unknown device class {tag!r} in dict; valid names are "
            f"{', '.join(sorted(_REGISTRY))}"
        )
    cls = _REGISTRY[tag]
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {k: v for k, v in d.items() if k not in ("model", "type")}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ValidationError(
            f"{tag}: unknown field(s) {', '.join(unknown)}; valid fields are "
            f"{', '.join(sorted(names))}"
        )
    return cls(**{k: _revive(v) for k, v in kwargs.items()})


class Serializable:
    """Mixin: JSON round-trip for frozen dataclasses; subclasses register by class name."""

    _tag_key = "type"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def to_dict(self):
        """JSON-ready dict with the class name; ``circuitxbar.devices.from_dict`` inverts it."""
        d = {self._tag_key: type(self).__name__}
        for f in dataclasses.fields(self):
            d[f.name] = _plain(getattr(self, f.name))
        return d

    def to_json(self, **kwargs):
        """``json.dumps(self.to_dict())``; extra keyword arguments go to ``json.dumps``."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, d):
        obj = from_dict(d)
        if not isinstance(obj, cls):
            raise ValidationError(f"dict describes a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    @classmethod
    def from_json(cls, text):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"not valid JSON: {exc}") from None
        return cls.from_dict(d)


class DeviceModel(Serializable):
    """Base class of the read I-V models. Subclasses are frozen dataclasses."""

    _tag_key = "model"
    #: integer dispatched on inside the kernel (see kernels.py)
    code: int = -1
    #: True when I is exactly proportional to V for every state and gate
    is_linear: bool = False
    #: True when the model has an access switch, so ``gate`` may turn cells off
    has_switch: bool = False

    def packed(self):
        """``(code, params, table)``: int, float64 1-D array, float64 2-D array."""
        return self.code, np.zeros(1), np.zeros((1, 1))

    @property
    def v_range(self):
        """(low, high) [V]: the voltages across a cell where the model is exact/calibrated."""
        return (-math.inf, math.inf)

    def check_voltage(self, v):
        """Raise ValidationError if any cell voltage ``v`` [V] lies outside ``v_range``."""
        lo, hi = self.v_range
        v = np.asarray(v, dtype=np.float64)
        bad = (v < lo) | (v > hi) | np.isnan(v)
        if bad.any():
            worst = float(v[bad].flat[np.argmax(np.abs(v[bad]))])
            raise ValidationError(
                f"{type(self).__name__}: cell voltage {worst!r} V lies outside the model's range "
                f"[{lo:g}, {hi:g}] V ({int(bad.sum())} cells); lower the input voltages, widen "
                f"the model's range (measure further, v_max) or allow extrapolation"
            )

    def current(self, v, g, gate=True):
        """Cell current I(V) [A] for voltage ``v`` [V] and state ``g`` [S] (NumPy, broadcast)."""
        from circuitxbar.devices.kernels import eval_many

        return eval_many(self, v, g, gate)[0]

    def differential_conductance(self, v, g, gate=True):
        """dI/dV [S] (NumPy, broadcast)."""
        from circuitxbar.devices.kernels import eval_many

        return eval_many(self, v, g, gate)[1]

    def current_and_slope(self, v, g, gate=True):
        """(I [A], dI/dV [S]) in one kernel pass (NumPy, broadcast)."""
        from circuitxbar.devices.kernels import eval_many

        return eval_many(self, v, g, gate)

    def effective_conductance(self, g, gate=True):
        """For linear models: the conductance I/V of each cell [S] (exact)."""
        if not self.is_linear:
            raise TypeError(f"{type(self).__name__} is nonlinear: it has no single conductance")
        return self.differential_conductance(0.0, g, gate)
