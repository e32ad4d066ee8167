"""The validated, immutable description of one resistive crossbar circuit.

Circuit conventions (also in circuitxbar/README.md):

* R rows x C columns. Cross-point (i, j) has a node on row wire i and a node on column wire j,
  joined by a device; positive device current flows row -> column.
* A row wire segment of ``r_row[i]`` ohm joins (i, j) and (i, j+1); a column segment of
  ``r_col[j]`` ohm joins (i, j) and (i+1, j). Zero wire resistance merges a line into one node.
* Every line has two ends: rows ``left`` (at j = 0) and ``right`` (j = C-1), columns ``top``
  (i = 0) and ``bottom`` (i = R-1). Each end is either open (resistance ``inf``) or tied to a
  voltage source through a series resistance (``0`` = ideal). One end set is the *input*: its
  source voltages are the ``v_in`` given to :func:`circuitxbar.solve`; the others hold the fixed
  bias voltages given here. The *output* ``i_out`` is the current flowing from the array into the
  terminals of the output end set.
* Default: rows driven at the left through ``r_source``, columns sensed at the bottom into a
  virtual ground through ``r_sense``, the other ends open.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from circuitxbar.errors import ValidationError

END_NAMES = ("row_left", "row_right", "col_top", "col_bottom")
OPEN = math.inf


def _as_line_array(value, n, name, *, allow_inf):
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValidationError(
            f"{name} must be a scalar or an array of shape ({n},), one value per line; "
            f"got shape {arr.shape}"
        )
    if np.isnan(arr).any():
        k = int(np.flatnonzero(np.isnan(arr))[0])
        raise ValidationError(f"{name}[{k}] is NaN; give a finite value in ohm or volt")
    if not allow_inf and np.isinf(arr).any():
        k = int(np.flatnonzero(np.isinf(arr))[0])
        raise ValidationError(f"{name}[{k}] = {arr[k]} is infinite; give a finite value")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _resistance(value, n, name, *, allow_open):
    arr = _as_line_array(value, n, name, allow_inf=allow_open)
    if (arr < 0).any():
        k = int(np.flatnonzero(arr < 0)[0])
        raise ValidationError(
            f"{name}[{k}] = {arr[k]!r} ohm is negative; resistances must be >= 0 "
            f"(0 = ideal connection{', inf = open end' if allow_open else ''})"
        )
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Crossbar:
    """A resistive crossbar: cell conductances, wire and terminal resistances, device model.

    Parameters
    ----------
    conductance : array_like, shape (R, C)
        Programmed state of every cell [S]: the small-signal conductance at 0 V of its device.
        Zero is allowed (an absent or fully-off cell).
    r_row, r_col : float or array_like of shape (R,) / (C,)
        Resistance of one wire segment between neighbouring cross-points, per row / column [ohm].
    r_source : float or array_like (R,)
        Series resistance of each row's left-end terminal [ohm] (0 = ideal, inf = open).
    r_sense : float or array_like (C,)
        Series resistance of each column's bottom-end terminal [ohm] (0 = ideal, inf = open).
    r_row_right, r_col_top : float or array_like
        Resistances of the other two ends [ohm]; open (inf) by default.
    v_row_left, v_row_right, v_col_top, v_col_bottom : float or array_like
        Source voltages of each end set [V]; the input end set's are replaced by ``v_in``.
    input_end, output_end : str
        Which end set takes ``v_in`` and which one ``i_out`` is read at; one of
        ``row_left``, ``row_right``, ``col_top``, ``col_bottom``.
    device : circuitxbar.devices.DeviceModel, optional
        The cells' read I-V model; ohmic (``I = G V``) by default.
    gate : array_like of bool, shape (R, C), optional
        State of each cell's access switch (1T1R transistor, computation-crossbar switch);
        all on by default. Only device models with a switch accept cells that are off.
    """

    conductance: np.ndarray
    r_row: np.ndarray
    r_col: np.ndarray
    r_source: np.ndarray
    r_sense: np.ndarray
    r_row_right: np.ndarray
    r_col_top: np.ndarray
    v_row_left: np.ndarray
    v_row_right: np.ndarray
    v_col_top: np.ndarray
    v_col_bottom: np.ndarray
    input_end: str
    output_end: str
    device: object
    gate: np.ndarray

    def __init__(
        self,
        conductance,
        r_row,
        r_col,
        r_source=0.0,
        r_sense=0.0,
        *,
        r_row_right=OPEN,
        r_col_top=OPEN,
        v_row_left=0.0,
        v_row_right=0.0,
        v_col_top=0.0,
        v_col_bottom=0.0,
        input_end="row_left",
        output_end="col_bottom",
        device=None,
        gate=None,
    ):
        g = np.asarray(conductance, dtype=np.float64)
        if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
            raise ValidationError(
                f"conductance must be a 2-D array of shape (rows, columns) with at least one "
                f"cell; got shape {g.shape}"
            )
        bad = ~np.isfinite(g)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValidationError(
                f"conductance[{i}, {j}] = {g[i, j]!r} is not finite; give every cell a finite "
                f"conductance in siemens"
            )
        if (g < 0).any():
            i, j = np.argwhere(g < 0)[0]
            raise ValidationError(
                f"conductance[{i}, {j}] = {g[i, j]!r} S is negative; a cell's conductance must be "
                f">= 0 (use a differential pair of columns for signed weights)"
            )
        g = np.ascontiguousarray(g).copy()
        g.setflags(write=False)
        n_rows, n_cols = g.shape
        for name in (input_end, output_end):
            if name not in END_NAMES:
                raise ValidationError(
                    f"unknown line end {name!r}; valid ends are {', '.join(END_NAMES)}"
                )
        set_ = object.__setattr__
        set_(self, "conductance", g)
        set_(self, "r_row", _resistance(r_row, n_rows, "r_row", allow_open=False))
        set_(self, "r_col", _resistance(r_col, n_cols, "r_col", allow_open=False))
        set_(self, "r_source", _resistance(r_source, n_rows, "r_source", allow_open=True))
        set_(self, "r_sense", _resistance(r_sense, n_cols, "r_sense", allow_open=True))
        set_(self, "r_row_right", _resistance(r_row_right, n_rows, "r_row_right", allow_open=True))
        set_(self, "r_col_top", _resistance(r_col_top, n_cols, "r_col_top", allow_open=True))
        for name, n in (("v_row_left", n_rows), ("v_row_right", n_rows), ("v_col_top", n_cols),
                        ("v_col_bottom", n_cols)):
            set_(self, name, _as_line_array(locals()[name], n, name, allow_inf=False))
        set_(self, "input_end", input_end)
        set_(self, "output_end", output_end)
        if np.isinf(self.end_resistance(input_end)).all():
            raise ValidationError(
                f"input_end={input_end!r} is open on every line, so v_in would drive nothing; "
                f"give its terminal resistances finite values"
            )
        if device is None:
            from circuitxbar.devices import Ohmic

            device = Ohmic()
        if not hasattr(device, "packed"):
            raise ValidationError(
                f"device={device!r} is not a circuitxbar device model; use one from "
                f"circuitxbar.devices (e.g. Ohmic(), Sinh(k=...), preset(name))"
            )
        set_(self, "device", device)
        if gate is None:
            gate_arr = np.ones((n_rows, n_cols), dtype=bool)
        else:
            gate_arr = np.asarray(gate)
            if gate_arr.shape != g.shape:
                raise ValidationError(
                    f"gate must have the conductance's shape {g.shape}; got {gate_arr.shape}"
                )
            gate_arr = gate_arr.astype(bool)
            if not gate_arr.all() and not getattr(device, "has_switch", False):
                raise ValidationError(
                    f"gate turns {int((~gate_arr).sum())} cells off, but device "
                    f"{type(device).__name__} has no access switch; use a model with one "
                    f"(OneTransistorOneResistor, SwitchedResistor) or set those conductances to 0"
                )
        gate_arr = np.ascontiguousarray(gate_arr).copy()
        gate_arr.setflags(write=False)
        set_(self, "gate", gate_arr)
        self._warn_if_dubious()

    # -- derived quantities ---------------------------------------------------------------
    @property
    def shape(self):
        """(rows, columns)."""
        return self.conductance.shape

    @property
    def n_inputs(self):
        """Number of input lines (length of ``v_in``)."""
        return self.shape[0] if self.input_end.startswith("row") else self.shape[1]

    @property
    def n_outputs(self):
        """Number of output lines (length of ``i_out``)."""
        return self.shape[0] if self.output_end.startswith("row") else self.shape[1]

    def end_resistance(self, end):
        """Terminal resistances [ohm] of one end set (``inf`` = open)."""
        return {
            "row_left": self.r_source,
            "row_right": self.r_row_right,
            "col_top": self.r_col_top,
            "col_bottom": self.r_sense,
        }[end]

    def end_voltage(self, end):
        """Fixed source voltages [V] of one end set (ignored for the input end)."""
        return getattr(self, "v_" + end)

    @property
    def is_linear(self):
        """True when the device model is linear, so ``transfer_matrix`` applies."""
        return bool(self.device.is_linear)

    @property
    def has_bias(self):
        """True if any non-input end that is connected carries a nonzero source voltage."""
        for end in END_NAMES:
            if end == self.input_end:
                continue
            connected = np.isfinite(self.end_resistance(end))
            if np.any(self.end_voltage(end)[connected] != 0.0):
                return True
        return False

    def ir_drop_number(self):
        """The dimensionless ``N^2 * r_wire * G`` that sets IR-drop error and solver difficulty.

        Returns the larger of the row and column values, each computed with the line length,
        the largest segment resistance and the largest cell conductance.
        """
        n_rows, n_cols = self.shape
        g_max = float(self.conductance.max())
        return max(n_cols**2 * float(self.r_row.max()), n_rows**2 * float(self.r_col.max())) * g_max

    def _warn_if_dubious(self):
        x = self.ir_drop_number()
        if x > 1e4:
            warnings.warn(
                f"N^2 * r_wire * G = {x:.3g}: the wires dominate the cells so strongly that the "
                f"outputs carry almost no information about the weights; check the units of "
                f"r_row/r_col [ohm] and conductance [S]",
                stacklevel=3,
            )

    def with_conductance(self, conductance):
        """A copy with new cell conductances and everything else unchanged."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kw["conductance"] = conductance
        return Crossbar(**kw)

    def __repr__(self):
        n_rows, n_cols = self.shape
        return (
            f"Crossbar({n_rows}x{n_cols}, r_row<={self.r_row.max():.3g} ohm, "
            f"r_col<={self.r_col.max():.3g} ohm, input={self.input_end}, "
            f"output={self.output_end}, device={type(self.device).__name__})"
        )


def require_crossbar(obj) -> Crossbar:
    """obj, when it is a Crossbar; else the ValidationError every entry point gives."""
    if not isinstance(obj, Crossbar):
        raise ValidationError(f"crossbar must be a circuitxbar.Crossbar, got "
                              f"{type(obj).__name__}")
    return obj
