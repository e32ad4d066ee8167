"""Argument checks shared by the device dataclasses: each error names the value, unit and fix."""

from __future__ import annotations

import math
import numbers

import numpy as np

from circuitxbar.errors import ValidationError


def real(owner, name, value, unit, *, fix=""):
    """``value`` as a finite float, else ValidationError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValidationError(
                f"{owner}: {name} = {value!r} is not a number; give a real value in {unit}"
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise ValidationError(
            f"{owner}: {name} = {value!r} is not finite; give a finite value in {unit}"
            + (f" ({fix})" if fix else "")
        )
    return value


def positive(owner, name, value, unit, *, fix=""):
    value = real(owner, name, value, unit, fix=fix)
    if value <= 0.0:
        raise ValidationError(
            f"{owner}: {name} = {value!r} {unit} must be > 0" + (f"; {fix}" if fix else "")
        )
    return value


def non_negative(owner, name, value, unit, *, fix=""):
    value = real(owner, name, value, unit, fix=fix)
    if value < 0.0:
        raise ValidationError(
            f"{owner}: {name} = {value!r} {unit} is negative; it must be >= 0"
            + (f" ({fix})" if fix else "")
        )
    return value


def fraction(owner, name, value, *, upper=1.0, fix=""):
    value = real(owner, name, value, "(fraction)", fix=fix)
    if not 0.0 <= value <= upper:
        raise ValidationError(
            f"{owner}: {name} = {value!r} must lie in [0, {upper:g}]" + (f"; {fix}" if fix else "")
        )
    return value


def integer(owner, name, value, *, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float)) or (
        isinstance(value, float) and not value.is_integer()
    ):
        raise ValidationError(f"{owner}: {name} = {value!r} must be an integer")
    value = int(value)
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValidationError(f"{owner}: {name} = {value} must be {rng}")
    return value


def choice(owner, name, value, options):
    if value not in options:
        raise ValidationError(
            f"{owner}: {name} = {value!r} is not one of {', '.join(map(repr, options))}"
        )
    return value


def as_rng(rng):
    """A numpy Generator from a Generator or an int seed. None is refused: every random draw in
    circuitxbar is seeded so that a study can be repeated."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValidationError(
        f"rng = {rng!r}: pass a numpy Generator (np.random.default_rng(seed)) or an int seed; "
        f"circuitxbar never draws unseeded random numbers"
    )


def conductance_array(name, g):
    """Finite, non-negative float64 array of conductances [S]."""
    arr = np.asarray(g, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValidationError(f"{name}{list(idx)} = {arr[idx]!r} is not finite; give conductances "
                              f"in siemens")
    if (arr < 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr < 0)[0])
        raise ValidationError(f"{name}{list(idx)} = {arr[idx]!r} S is negative; conductances "
                              f"must be >= 0")
    return arr
