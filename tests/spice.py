"""ngspice as an independent reference: write the crossbar as a netlist, run ``ngspice -b``.

Shares no code with ``circuitxbar/`` or ``tests/reference.py``: it reads only the
:class:`circuitxbar.Crossbar` description, and writes the device I-V as SPICE elements from the
model's parameters (it does not call the model's own ``current``).

Netlist (conventions of ``circuitxbar/crossbar.py``)
----------------------------------------------------
* Row node of cross-point (i, j) is ``r{i}_{j}``, column node ``c{i}_{j}``. A zero-resistance
  line is one node (``r{i}`` / ``c{j}``): merged by naming, no tiny resistors.
* Wire segments are resistors. A connected end is a voltage source ``V<end><k>`` whose ``+`` node
  faces the array: in series with its terminal resistor, or directly on the line node when ideal
  (0 ohm). SPICE reports a source's current as flowing into its ``+`` node, so ``i(V...)`` is
  exactly "current from the array into the terminal" -- the source doubles as the sense element.
  Open ends emit nothing.
* Cells (zero-conductance ones are skipped): ``Ohmic`` -> resistor; ``Sinh`` -> B-source
  ``I = G*sinh(k*V)/k`` (the exact curve: the kernel's linear continuation beyond k|V| = 50 is not
  modelled); ``OneSelectorOneResistor`` -> internal node ``m{i}_{j}``, memristor (resistor or sinh
  B-source) from the row node to it and the selector B-source (``i0*sinh(u/v0)`` or the smoothed
  threshold curve) from it to the column node; ``OneTransistorOneResistor`` -> memristor in series
  with a resistor ``r_on`` (gate on) or ``1/g_leak`` (gate off; cell omitted when g_leak = 0);
  ``SwitchedResistor`` -> resistor, in series with ``1/g_leak`` when off. ``Tabulated`` is not
  supported. Every constant inside a B-source expression is split into a sum of two numbers of 11
  significant digits, because ngspice reprints expression constants with 11 digits (a silent
  ~5e-12 relative error otherwise).
* Lines with no conducting path to any connected end (floating) are left out of the netlist,
  which SPICE would reject as singular; their voltages and currents are reported as 0.

Results are read from ngspice's binary raw file (float64, full precision).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np

NGSPICE = shutil.which("ngspice")
SPICE_AVAILABLE = NGSPICE is not None

END_NAMES = ("row_left", "row_right", "col_top", "col_bottom")
_END_TAG = {"row_left": "rl", "row_right": "rr", "col_top": "ct", "col_bottom": "cb"}

#: Tight Newton tolerances, so ngspice's answer is limited by rounding, not by its convergence test.
SPICE_OPTIONS = ".options reltol=1e-9 vntol=1e-12 abstol=1e-15"


class SpiceError(RuntimeError):
    """ngspice failed, timed out, or wrote no usable result."""


def require_ngspice():
    """Skip the calling test when ngspice is not installed."""
    if not SPICE_AVAILABLE:
        import pytest

        pytest.skip("ngspice not installed: apt-get install ngspice")


@dataclasses.dataclass(frozen=True)
class SpiceResult:
    """ngspice's operating point for one input vector. Units: [A], [V], [s]."""

    i_out: np.ndarray  #: (n_out,) current from the array into the output terminals [A]
    i_row_left: np.ndarray  #: (R,) current from the array into each terminal [A]; 0 if open
    i_row_right: np.ndarray  #: (R,) [A]
    i_col_top: np.ndarray  #: (C,) [A]
    i_col_bottom: np.ndarray  #: (C,) [A]
    v_row: np.ndarray  #: (R, C) row node voltages [V] (0 on floating lines)
    v_col: np.ndarray  #: (R, C) column node voltages [V]
    elapsed: float  #: wall-clock time of the ngspice run [s]
    netlist: str  #: the netlist that was simulated

    def terminal_current(self, end):
        """Current from the array into the terminals of one end set [A]."""
        return getattr(self, "i_" + end)


# --------------------------------------------------------------------------------------------
# number formatting
# --------------------------------------------------------------------------------------------


def _num(x):
    """A float written for a SPICE element value, round-trip exact."""
    x = float(x)
    if not np.isfinite(x):
        raise ValueError(f"cannot write {x!r} into a netlist")
    return repr(x)


def _split_const(x):
    """``(hi, lo)``: x rounded to 11 significant digits, and the remainder (hi + lo == x)."""
    x = float(x)
    hi = float(f"{x:.10e}")
    return hi, x - hi


def _expr_const(x):
    """A constant for a B-source expression, safe against ngspice's 11-digit reprinting.

    Written as ``(hi+lo)`` with ``hi`` = x rounded to 11 significant digits and ``lo`` the
    remainder, each of which survives the reprinting (lo's own 11 digits reach ~1e-22 * x).
    """
    hi, lo = _split_const(x)
    if lo == 0.0:
        return f"{hi:.10e}"
    return f"({hi:.10e}{'+' if lo > 0 else '-'}{abs(lo):.10e})"


# --------------------------------------------------------------------------------------------
# netlist
# --------------------------------------------------------------------------------------------


def _memristor_lines(name, a, b, g, memristor):
    """A memristor of state g [S] between nodes a and b: Ohmic (or None) -> resistor,
    Sinh -> B-source."""
    kind = "Ohmic" if memristor is None else type(memristor).__name__
    if kind == "Ohmic":
        return [f"R{name} {a} {b} {_num(1.0 / g)}"]
    if kind == "Sinh":
        k = _expr_const(memristor.k)
        return [f"B{name} {a} {b} I = {_expr_const(g)}*sinh({k}*(V({a})-V({b})))/{k}"]
    raise NotImplementedError(f"spice.py has no SPICE element for memristor model {kind}")


def _selector_lines(name, a, b, selector):
    """A two-terminal selector between nodes a and b as a B-source."""
    kind = type(selector).__name__
    u = f"(V({a})-V({b}))"
    if kind == "ExponentialSelector":
        return [f"B{name} {a} {b} I = {_expr_const(selector.i0)}*sinh({u}/"
                f"{_expr_const(selector.v0)})"]
    if kind == "ThresholdSelector":
        w = _expr_const(selector.width)
        v_th = _expr_const(selector.v_th)

        def softplus(x):  # overflow-free log(1 + e^x)
            return f"(max({x},0)+ln(1+exp(-abs({x}))))"

        return [f"B{name} {a} {b} I = {_expr_const(selector.g_off)}*{u}+"
                f"{_expr_const(selector.g_on)}*{w}*({softplus(f'({u}-{v_th})/{w}')}-"
                f"{softplus(f'(-{u}-{v_th})/{w}')})"]
    raise NotImplementedError(f"spice.py has no SPICE element for selector {kind}")


def _cell_elements(crossbar):
    """Per-cell element writer and a (R, C) mask of the cells that are written (that conduct).

    Returns ``(conducts, write)``; ``write(name, node_row, node_col, i, j)`` gives the netlist
    lines of cell (i, j). Series cells (1S1R, 1T1R, an off switched resistor) get an internal
    node ``m{i}_{j}`` between the memristor (row side) and the selector / transistor (column
    side), solved by SPICE itself -- not the model's own series solve.
    """
    device = crossbar.device
    g = np.asarray(crossbar.conductance, dtype=np.float64)
    gate = np.asarray(crossbar.gate, dtype=bool)
    kind = type(device).__name__
    g_pos = g > 0.0

    if kind in ("Ohmic", "Sinh"):
        def write(name, a, b, i, j):
            return _memristor_lines(name, a, b, g[i, j], device)

        return g_pos, write

    if kind == "OneSelectorOneResistor":
        def write(name, a, b, i, j):
            m = "m" + name[1:]
            return (_memristor_lines(name, a, m, g[i, j], device.memristor)
                    + _selector_lines("s" + name, m, b, device.selector))

        return g_pos, write

    if kind in ("OneTransistorOneResistor", "SwitchedResistor"):
        if kind == "SwitchedResistor":
            memristor, r_on = None, 0.0  # None: an ohmic resistor
        else:
            memristor, r_on = device.memristor, device.r_on
        g_leak = device.g_leak
        conducts = g_pos & (gate | (g_leak > 0.0))

        def write(name, a, b, i, j):
            r_switch = r_on if gate[i, j] else 1.0 / g_leak
            if r_switch == 0.0:
                return _memristor_lines(name, a, b, g[i, j], memristor)
            m = "m" + name[1:]
            return (_memristor_lines(name, a, m, g[i, j], memristor)
                    + [f"Rs{name} {m} {b} {_num(r_switch)}"])

        return conducts, write

    raise NotImplementedError(
        f"spice.py has no SPICE element for device model {kind} (Tabulated PCHIP curves are not "
        f"written as SPICE elements); add one to _cell_elements"
    )


def _floating_lines(crossbar, conducts):
    """(rows floating, columns floating): lines with no conducting path to a connected end."""
    n_rows, n_cols = crossbar.shape
    row_src = np.isfinite(crossbar.r_source) | np.isfinite(crossbar.r_row_right)
    col_src = np.isfinite(crossbar.r_col_top) | np.isfinite(crossbar.r_sense)
    row_reach, col_reach = row_src.copy(), col_src.copy()
    while True:  # breadth-first over lines: a cell that conducts joins its row and column
        new_col = col_reach | (conducts & row_reach[:, None]).any(axis=0)
        new_row = row_reach | (conducts & new_col[None, :]).any(axis=1)
        if (new_row == row_reach).all() and (new_col == col_reach).all():
            break
        row_reach, col_reach = new_row, new_col
    return ~row_reach, ~col_reach


def build_netlist(crossbar, v_in, v_start=None):
    """Netlist text and the bookkeeping needed to read the results back.

    ``v_start = (v_row, v_col)``, each (R, C) [V], becomes a ``.nodeset`` starting point.
    """
    n_rows, n_cols = crossbar.shape
    v_in = np.asarray(v_in, dtype=np.float64)
    if v_in.shape != (crossbar.n_inputs,):
        raise ValueError(f"spice_solve takes one input vector of shape ({crossbar.n_inputs},); "
                         f"got {v_in.shape}")
    conducts, write_cell = _cell_elements(crossbar)
    row_float, col_float = _floating_lines(crossbar, conducts)

    def row_node(i, j):
        return f"r{i}" if crossbar.r_row[i] == 0.0 else f"r{i}_{j}"

    def col_node(i, j):
        return f"c{j}" if crossbar.r_col[j] == 0.0 else f"c{i}_{j}"

    lines = [f"* circuitxbar crossbar {n_rows}x{n_cols} (tests/spice.py)"]
    for i in range(n_rows):
        if row_float[i] or crossbar.r_row[i] == 0.0:
            continue
        for j in range(n_cols - 1):
            lines.append(f"Rr{i}_{j} {row_node(i, j)} {row_node(i, j + 1)} "
                         f"{_num(crossbar.r_row[i])}")
    for j in range(n_cols):
        if col_float[j] or crossbar.r_col[j] == 0.0:
            continue
        for i in range(n_rows - 1):
            lines.append(f"Rc{i}_{j} {col_node(i, j)} {col_node(i + 1, j)} "
                         f"{_num(crossbar.r_col[j])}")
    for i in range(n_rows):
        for j in range(n_cols):
            if conducts[i, j] and not row_float[i] and not col_float[j]:
                lines += write_cell(f"d{i}_{j}", row_node(i, j), col_node(i, j), i, j)

    end_node = {
        "row_left": lambda k: row_node(k, 0),
        "row_right": lambda k: row_node(k, n_cols - 1),
        "col_top": lambda k: col_node(0, k),
        "col_bottom": lambda k: col_node(n_rows - 1, k),
    }
    sources = {}  # end -> list of (line index, source name)
    ideal_on = {}
    for end in END_NAMES:
        resistance = crossbar.end_resistance(end)
        volts = v_in if end == crossbar.input_end else crossbar.end_voltage(end)
        sources[end] = []
        for k, r in enumerate(resistance):
            if not np.isfinite(r):
                continue
            node = end_node[end](k)
            name = f"V{_END_TAG[end]}{k}"
            if r == 0.0:
                if node in ideal_on:
                    raise ValueError(
                        f"ideal terminals {ideal_on[node]} and {end}[{k}] sit on the same node "
                        f"{node}: a loop of voltage sources; give one a series resistance")
                ideal_on[node] = f"{end}[{k}]"
                lines.append(f"{name} {node} 0 DC {_num(volts[k])}")
            else:
                mid = f"t{_END_TAG[end]}{k}"
                lines.append(f"Rt{_END_TAG[end]}{k} {node} {mid} {_num(r)}")
                lines.append(f"{name} {mid} 0 DC {_num(volts[k])}")
            sources[end].append((k, name.lower()))

    if v_start is not None:
        v_row0, v_col0 = (np.asarray(a, dtype=np.float64) for a in v_start)
        seen = set()
        for i in range(n_rows):
            for j in range(n_cols):
                for node, value, floating in ((row_node(i, j), v_row0[i, j], row_float[i]),
                                              (col_node(i, j), v_col0[i, j], col_float[j])):
                    if not floating and node not in seen:
                        seen.add(node)
                        lines.append(f".nodeset V({node})={_num(value)}")
        # internal nodes of series cells: start from the model's own split (a start only)
        if any(ln.startswith(("Bsd", "Rsd")) for ln in lines) and hasattr(
                crossbar.device, "memristor_voltage"):
            w = crossbar.device.memristor_voltage(v_row0 - v_col0, crossbar.conductance)
            w = np.broadcast_to(w, (n_rows, n_cols))
            for i in range(n_rows):
                for j in range(n_cols):
                    if conducts[i, j] and not row_float[i] and not col_float[j]:
                        lines.append(f".nodeset V(m{i}_{j})={_num(v_row0[i, j] - w[i, j])}")
    lines += [SPICE_OPTIONS, ".op", ".end", ""]
    book = dict(sources=sources, row_node=row_node, col_node=col_node,
                row_float=row_float, col_float=col_float)
    return "\n".join(lines), book


# --------------------------------------------------------------------------------------------
# running and reading
# --------------------------------------------------------------------------------------------


def _read_raw(path):
    """{lower-case vector name: value} from an ngspice raw file of one operating point."""
    with open(path, "rb") as f:
        data = f.read()
    for marker, binary in ((b"Binary:\n", True), (b"Values:\n", False)):
        at = data.find(marker)
        if at >= 0:
            break
    else:
        raise SpiceError(f"{path}: no Binary:/Values: section in the raw file")
    header = data[:at].decode("ascii", errors="replace").splitlines()
    n_vars = int(next(h for h in header if h.startswith("No. Variables:")).split(":")[1])
    n_points = int(next(h for h in header if h.startswith("No. Points:")).split(":")[1])
    if n_points != 1:
        raise SpiceError(f"{path}: expected one operating point, found {n_points}")
    start = next(k for k, h in enumerate(header) if h.startswith("Variables:")) + 1
    names = [header[start + k].split()[1].lower() for k in range(n_vars)]
    body = data[at + len(marker):]
    if binary:
        values = np.frombuffer(body[: 8 * n_vars], dtype="<f8")
    else:
        tokens = body.decode().split()  # point index, then one value per variable
        values = np.array([float(t) for t in tokens[1 : 1 + n_vars]])
    if len(values) != n_vars:
        raise SpiceError(f"{path}: {len(values)} values for {n_vars} variables")
    return dict(zip(names, values.astype(np.float64)))


def _log_tail(text, n=40):
    return "\n".join(text.splitlines()[-n:])


def spice_solve(crossbar, v_in, *, v_start=None, timeout=600.0, keep_dir=None):
    """Operating point of the crossbar for one input vector ``v_in`` (n_in,) [V], by ngspice.

    Parameters
    ----------
    v_start : (v_row, v_col), optional
        Starting point for ngspice's Newton (``.nodeset``), e.g. a reference solution; needed for
        strongly nonlinear arrays where sinh overflows from ngspice's own start.
    timeout : float
        Seconds before the ngspice run is killed [s].
    keep_dir : str, optional
        Write the netlist, log and raw file there (and keep them) instead of a temporary dir.
    """
    if not SPICE_AVAILABLE:
        raise SpiceError("ngspice not installed: apt-get install ngspice")
    netlist, book = build_netlist(crossbar, v_in, v_start)
    n_rows, n_cols = crossbar.shape
    with tempfile.TemporaryDirectory(prefix="circuitxbar-spice-") as tmp:
        work = keep_dir or tmp
        os.makedirs(work, exist_ok=True)
        cir = os.path.join(work, "crossbar.cir")
        raw = os.path.join(work, "crossbar.raw")
        with open(cir, "w") as f:
            f.write(netlist)
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([NGSPICE, "-b", "-r", raw, cir], cwd=work, capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"")
            out = out.decode(errors="replace") if isinstance(out, bytes) else out
            raise SpiceError(f"ngspice timed out after {timeout} s on a {n_rows}x{n_cols} "
                             f"crossbar; log tail:\n{_log_tail(out)}") from None
        elapsed = time.perf_counter() - t0
        log = proc.stdout + proc.stderr
        with open(os.path.join(work, "ngspice.log"), "w") as f:
            f.write(log)
        failed = proc.returncode != 0 or not os.path.exists(raw)
        bad_words = ("singular matrix", "no convergence", "error:", "fatal")
        if failed or any(w in log.lower() for w in bad_words):
            raise SpiceError(f"ngspice failed (exit {proc.returncode}) on a {n_rows}x{n_cols} "
                             f"crossbar; log tail:\n{_log_tail(log)}")
        values = _read_raw(raw)

    currents = {}
    for end in END_NAMES:
        n = n_rows if end.startswith("row") else n_cols
        arr = np.zeros(n)
        for k, name in book["sources"][end]:
            arr[k] = values[f"i({name})"]
        currents[end] = arr
    v_row = np.zeros((n_rows, n_cols))
    v_col = np.zeros((n_rows, n_cols))
    for i in range(n_rows):
        for j in range(n_cols):
            if not book["row_float"][i]:
                v_row[i, j] = values[f"v({book['row_node'](i, j)})"]
            if not book["col_float"][j]:
                v_col[i, j] = values[f"v({book['col_node'](i, j)})"]
    return SpiceResult(
        i_out=currents[crossbar.output_end].copy(),
        i_row_left=currents["row_left"], i_row_right=currents["row_right"],
        i_col_top=currents["col_top"], i_col_bottom=currents["col_bottom"],
        v_row=v_row, v_col=v_col, elapsed=elapsed, netlist=netlist,
    )
