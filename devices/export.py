"""I-V families of a device: compute, write to a self-describing HDF5 file, plot to PNG."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from circuitxbar.devices import _validate as val
from circuitxbar.errors import ValidationError
from circuitxbar.h5io import atomic_write, write_dataset

#: version of the HDF5 layout written by ``write_iv_hdf5``
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class IVFamily:
    """One I-V curve per conductance level.

    Attributes
    ----------
    voltage : ndarray (N,)
        Cell voltage [V].
    conductance : ndarray (L,)
        Programmed state of each curve [S].
    current : ndarray (L, N)
        Cell current [A].
    differential_conductance : ndarray (L, N)
        dI/dV [S].
    """

    voltage: np.ndarray
    conductance: np.ndarray
    current: np.ndarray
    differential_conductance: np.ndarray


def iv_family(spec, *, v_max=None, points=201, n_levels=None):
    """I-V family of a DeviceSpec over ``[-v_max, v_max]`` [V] (default: 1 V, or the model's
    range if narrower), one curve per level (``n_levels``, default the spec's), gate on."""
    lo, hi = spec.iv.v_range
    limit = min(-lo, hi)
    if v_max is None:
        v_max = min(1.0, limit)
    v_max = val.positive("iv_family", "v_max", v_max, "V")
    if v_max > limit:
        raise ValidationError(
            f"iv_family: v_max = {v_max} V exceeds the {type(spec.iv).__name__} model's range "
            f"[{lo:g}, {hi:g}] V; choose v_max <= {limit:g}"
        )
    points = val.integer("iv_family", "points", points, low=3)
    v = np.linspace(-v_max, v_max, points)
    g = spec.levels(n_levels)
    cur, slope = spec.iv.current_and_slope(v[None, :], g[:, None], 1.0)
    return IVFamily(v, g, cur, slope)


def write_iv_hdf5(path, family, spec):
    """Write ``family`` and the spec's JSON to ``path`` atomically (temp file + os.replace)."""
    import h5py

    from circuitxbar import __version__

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["kind"] = "device_iv_family"
            f.attrs["description"] = (
                f"I-V family of device preset {spec.name!r}: one curve per conductance level, "
                f"access switch on. {spec.description}"
            )
            f.attrs["preset"] = spec.name
            f.attrs["device_json"] = spec.to_json()
            f.attrs["model_json"] = spec.iv.to_json()
            f.attrs["created_by"] = f"circuitxbar {__version__}"
            for name, data, unit, desc in (
                ("voltage", family.voltage, "V", "voltage across the cell, row minus column"),
                ("conductance", family.conductance, "S",
                 "programmed state of each curve (small-signal conductance at 0 V)"),
                ("current", family.current, "A", "cell current, row -> column; [level, voltage]"),
                ("differential_conductance", family.differential_conductance, "S",
                 "dI/dV; [level, voltage]"),
            ):
                write_dataset(f, name, np.asarray(data, np.float64), unit, desc)

    atomic_write(os.fspath(path), write)
    return path


def plot_iv_family(family, path, *, title=""):
    """I-V and dI/dV curves to a PNG (needs the optional matplotlib extra)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ValidationError(
            "plotting needs matplotlib: pip install circuitxbar[plot]"
        ) from None
    fig = Figure(figsize=(9, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_i, ax_d = fig.subplots(1, 2)
    for k, g in enumerate(family.conductance):
        label = f"G = {g * 1e6:.3g} uS"
        ax_i.plot(family.voltage, family.current[k] * 1e6, label=label)
        ax_d.plot(family.voltage, family.differential_conductance[k] * 1e6, label=label)
    ax_i.set_xlabel("cell voltage [V]")
    ax_i.set_ylabel("current [uA]")
    ax_d.set_xlabel("cell voltage [V]")
    ax_d.set_ylabel("dI/dV [uS]")
    for ax in (ax_i, ax_d):
        ax.grid(alpha=0.3)
        ax.locator_params(axis="x", nbins=5)
    ax_i.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=120)
    return os.fspath(path)
