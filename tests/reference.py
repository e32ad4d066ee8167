"""Slow, obviously-correct reference solves of a crossbar: a SciPy sparse nodal analysis.

This module is the *independent* twin of the fast solver in ``circuitxbar/``: it reads nothing
from the package but the :class:`circuitxbar.Crossbar` description and the public NumPy methods of
its device model (``current``, ``differential_conductance``, ``is_linear``). Every choice below
favours being plainly right over being fast.

The network (conventions of ``circuitxbar/crossbar.py``)
--------------------------------------------------------
* ``2*R*C`` nodes: a row node and a column node at every cross-point ``(i, j)``, joined by the
  cell's device; positive device current flows row -> column.
* Row wire segment ``(i, j) -- (i, j+1)`` of ``r_row[i]`` [ohm]; column segment
  ``(i, j) -- (i+1, j)`` of ``r_col[j]`` [ohm].
* Four end sets: ``row_left`` at ``(i, 0)``, ``row_right`` at ``(i, C-1)``, ``col_top`` at
  ``(0, j)``, ``col_bottom`` at ``(R-1, j)``. An end is a voltage source in series with its
  terminal resistance: ``inf`` = open (contributes nothing), ``0`` = ideal. The input end set takes
  ``v_in``, the others their fixed bias voltages. Terminal currents are reported as the current
  flowing *from the array into the terminal* (0 for open ends).

How the special cases are handled
---------------------------------
* **Zero-resistance wires** merge nodes: a union-find over the ``2*R*C`` nodes joins the two ends
  of every 0-ohm segment, and the network is written over the merged nodes. No tiny resistances.
* **Ideal ends** (0 ohm) pin their node to the source voltage; pinned nodes are eliminated from the
  unknowns (their known voltages move to the right-hand side). No huge conductances. The current
  of an ideal terminal is recovered from Kirchhoff's current law at its node. Two ideal ends on one
  (merged) node -- a zero-resistance line with both ends ideal, or a 1-wide array with both ends
  of a line ideal -- leave the split of current between the sources undefined (or short two
  sources); that raises ``ValueError``.
* **Floating nodes**, those with no conducting path to any terminal (every end of their lines open
  and every cell on them non-conducting), would make the matrix singular. They are found by a
  connected-component search and given voltage 0; all their currents are 0 either way.
* **Gate**: the per-cell switch state is passed straight to the device model
  (``model.current(v, g, gate)``); a switched-off cell is whatever the model says it is.
* **Nonlinear devices**: damped Newton, factoring the sparse Jacobian (SuperLU) at every step.

Units: voltages [V], currents [A], conductances [S], resistances [ohm], powers [W].
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

END_NAMES = ("row_left", "row_right", "col_top", "col_bottom")

#: Newton stops once the KCL residual on the free nodes ||F||_inf <= NEWTON_TOL * (largest
#: per-node sum of |branch currents|), or, when ||F||_inf is already down at rounding level
#: (ROUNDING_FACTOR * eps * largest per-node sum of the |terms| the branch currents are computed
#: from, and the relative residual is at most ROUNDING_ACCEPT), once a further full Newton step
#: no longer halves it: with wires 1e4-1e6 times stiffer than the cells, rounding alone can
#: exceed 1e-13 (e.g. 0.1 ohm wires).
NEWTON_TOL = 1e-13
ROUNDING_FACTOR = 64.0
NEWTON_MAX_ITERATIONS = 100
#: The rounding-floor exit never accepts a relative residual above this.
ROUNDING_ACCEPT = 1e-10
#: Source-stepping fallback (ramp all sources from 0) when plain Newton fails.
SOURCE_STEPS = 16


class ReferenceConvergenceError(RuntimeError):
    """The reference Newton iteration stopped without meeting its tolerance."""

    def __init__(self, message, *, residual, iterations, tolerance):
        super().__init__(message)
        self.residual = float(residual)
        self.iterations = int(iterations)
        self.tolerance = float(tolerance)


@dataclasses.dataclass(frozen=True)
class ReferenceResult:
    """Everything the reference computes for one input vector or a batch of them.

    Arrays carry a leading batch axis when ``v_in`` was 2-D, none when it was 1-D.
    """

    i_out: np.ndarray  #: (..., n_out) current from the array into the output terminals [A]
    v_row: np.ndarray  #: (..., R, C) row node voltages [V]
    v_col: np.ndarray  #: (..., R, C) column node voltages [V]
    i_device: np.ndarray  #: (..., R, C) cell current, row -> column [A]
    i_row_left: np.ndarray  #: (..., R) current from the array into each terminal [A]; 0 if open
    i_row_right: np.ndarray  #: (..., R) [A]
    i_col_top: np.ndarray  #: (..., C) [A]
    i_col_bottom: np.ndarray  #: (..., C) [A]
    power_device: np.ndarray  #: (...,) total power dissipated in the cells [W]
    power_device_cell: np.ndarray  #: (..., R, C) power dissipated in each cell [W]
    power_row_wire: np.ndarray  #: (...,) total I^2 R in row wire segments [W]
    power_col_wire: np.ndarray  #: (...,) total I^2 R in column wire segments [W]
    power_terminal: np.ndarray  #: (...,) total I^2 R in terminal series resistances [W]
    power_source: np.ndarray  #: (...,) power delivered by all sources, input and bias [W]
    residual: np.ndarray  #: (...,) final relative KCL residual on free nodes (see NEWTON_TOL) [1]
    iterations: np.ndarray  #: (...,) Newton iterations (0 for a linear solve)

    def terminal_current(self, end):
        """Current from the array into the terminals of one end set [A]."""
        return getattr(self, "i_" + end)


# --------------------------------------------------------------------------------------------
# Network description over merged nodes
# --------------------------------------------------------------------------------------------


def _find(parent, k):
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


def _union(parent, a, b):
    ra, rb = _find(parent, a), _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


def _incidence(n_nodes, a, b=None):
    """Sparse (n_nodes, n_branches) incidence: +1 at the branch's from-node ``a``, -1 at ``b``."""
    n_br = len(a)
    cols = np.arange(n_br)
    if b is None:
        return sp.csr_matrix((np.ones(n_br), (a, cols)), shape=(n_nodes, n_br))
    rows = np.concatenate([a, b])
    vals = np.concatenate([np.ones(n_br), -np.ones(n_br)])
    return sp.csr_matrix((vals, (rows, np.concatenate([cols, cols]))), shape=(n_nodes, n_br))


class _Network:
    """The crossbar written as branches between merged nodes, plus node classification."""

    def __init__(self, crossbar):
        self.crossbar = crossbar
        n_rows, n_cols = crossbar.shape
        self.shape = (n_rows, n_cols)
        n_cells = n_rows * n_cols
        raw_row = np.arange(n_cells).reshape(n_rows, n_cols)
        raw_col = n_cells + raw_row

        # -- merge the ends of every zero-resistance wire segment (union-find) ----------------
        parent = list(range(2 * n_cells))
        for i in range(n_rows):
            if crossbar.r_row[i] == 0.0:
                for j in range(n_cols - 1):
                    _union(parent, raw_row[i, j], raw_row[i, j + 1])
        for j in range(n_cols):
            if crossbar.r_col[j] == 0.0:
                for i in range(n_rows - 1):
                    _union(parent, raw_col[i, j], raw_col[i + 1, j])
        roots = np.array([_find(parent, k) for k in range(2 * n_cells)])
        _, merged = np.unique(roots, return_inverse=True)
        self.n_nodes = int(merged.max()) + 1
        self.row_node = merged[raw_row]  # (R, C) merged node of each row cross-point
        self.col_node = merged[raw_col]

        # -- wire segments with nonzero resistance (zero ones are inside a merged node) -------
        def segments(nodes_a, nodes_b, resistance):
            keep = resistance > 0.0
            return nodes_a[keep].ravel(), nodes_b[keep].ravel(), 1.0 / resistance[keep].ravel()

        r_row_seg = np.broadcast_to(crossbar.r_row[:, None], (n_rows, max(n_cols - 1, 0)))
        r_col_seg = np.broadcast_to(crossbar.r_col[None, :], (max(n_rows - 1, 0), n_cols))
        self.row_seg = segments(self.row_node[:, :-1], self.row_node[:, 1:], r_row_seg)
        self.col_seg = segments(self.col_node[:-1, :], self.col_node[1:, :], r_col_seg)

        # -- terminals, in END_NAMES order: (R left, R right, C top, C bottom) ----------------
        end_nodes = {
            "row_left": self.row_node[:, 0],
            "row_right": self.row_node[:, -1],
            "col_top": self.col_node[0, :],
            "col_bottom": self.col_node[-1, :],
        }
        self.end_slices = {}
        start = 0
        nodes, resist = [], []
        for end in END_NAMES:
            n = len(end_nodes[end])
            self.end_slices[end] = slice(start, start + n)
            start += n
            nodes.append(end_nodes[end])
            resist.append(crossbar.end_resistance(end))
        self.n_terms = start
        self.term_node = np.concatenate(nodes)
        self.term_r = np.concatenate(resist)
        self.resistive = np.flatnonzero(np.isfinite(self.term_r) & (self.term_r > 0.0))
        self.ideal = np.flatnonzero(self.term_r == 0.0)
        self.term_g = 1.0 / self.term_r[self.resistive]

        pinned_nodes = self.term_node[self.ideal]
        uniq, counts = np.unique(pinned_nodes, return_counts=True)
        if (counts > 1).any():
            node = uniq[counts > 1][0]
            ends = [self._describe_term(t) for t in self.ideal if self.term_node[t] == node]
            raise ValueError(
                f"ideal (0 ohm) terminals {', '.join(ends)} sit on the same node (a "
                f"zero-resistance line, or a line one cell long): the current split between "
                f"them is undefined; give at least one of them a nonzero series resistance"
            )
        self.pinned = pinned_nodes  # merged node pinned by each ideal terminal (same order)

        # -- incidence matrices ----------------------------------------------------------------
        n = self.n_nodes
        self.inc_row = _incidence(n, self.row_seg[0], self.row_seg[1])
        self.inc_col = _incidence(n, self.col_seg[0], self.col_seg[1])
        self.inc_dev = _incidence(n, self.row_node.ravel(), self.col_node.ravel())
        self.inc_term = _incidence(n, self.term_node[self.resistive])
        # Laplacian of wires and terminal resistances (everything linear but the cells)
        self.lap_wire = (
            self.inc_row @ sp.diags(self.row_seg[2]) @ self.inc_row.T
            + self.inc_col @ sp.diags(self.col_seg[2]) @ self.inc_col.T
            + self.inc_term @ sp.diags(self.term_g) @ self.inc_term.T
        ).tocsr()

        # -- device -----------------------------------------------------------------------------
        self.device = crossbar.device
        self.linear = bool(self.device.is_linear)
        self.g = np.asarray(crossbar.conductance, dtype=np.float64)
        self.gate = np.asarray(crossbar.gate, dtype=bool)
        if self.linear:
            g_eff = np.broadcast_to(
                self.device.differential_conductance(np.zeros(self.shape), self.g, self.gate),
                self.shape,
            )
            self.g_eff = np.array(g_eff, dtype=np.float64)
            conducts = self.g_eff != 0.0
        else:
            self.g_eff = None
            conducts = self._nonlinear_cell_conducts()

        # -- floating nodes: no conducting path to any terminal --------------------------------
        edges_a = [self.row_seg[0], self.col_seg[0], self.row_node[conducts]]
        edges_b = [self.row_seg[1], self.col_seg[1], self.col_node[conducts]]
        source = n  # one extra graph node standing for every source
        connected_terms = np.flatnonzero(np.isfinite(self.term_r))
        edges_a.append(self.term_node[connected_terms])
        edges_b.append(np.full(len(connected_terms), source))
        a, b = np.concatenate(edges_a), np.concatenate(edges_b)
        graph = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(n + 1, n + 1))
        _, label = csgraph.connected_components(graph, directed=False)
        self.floating = np.flatnonzero(label[:n] != label[source])
        is_free = np.ones(n, dtype=bool)
        is_free[self.floating] = False
        is_free[self.pinned] = False
        self.free = np.flatnonzero(is_free)

    def _describe_term(self, t):
        for end, sl in self.end_slices.items():
            if sl.start <= t < sl.stop:
                return f"{end}[{t - sl.start}]"
        return str(t)

    def _nonlinear_cell_conducts(self):
        """Cells whose device carries current at some probe voltage (graph edges)."""
        conducts = np.zeros(self.shape, dtype=bool)
        for v in (0.0, 0.05, -0.05, 0.5, -0.5, 2.0, -2.0):
            vv = np.full(self.shape, v)
            i = np.broadcast_to(self.device.current(vv, self.g, self.gate), self.shape)
            d = np.broadcast_to(self.device.differential_conductance(vv, self.g, self.gate),
                                self.shape)
            conducts |= (i != 0.0) | (d != 0.0)
        return conducts

    # -- sources --------------------------------------------------------------------------------
    def source_voltages(self, v_in):
        """(batch, n_terms) source voltage of every terminal for a (batch, n_in) input [V]."""
        cb = self.crossbar
        batch = v_in.shape[0]
        parts = []
        for end in END_NAMES:
            if end == cb.input_end:
                parts.append(v_in)
            else:
                fixed = cb.end_voltage(end)
                parts.append(np.broadcast_to(fixed, (batch, len(fixed))))
        return np.concatenate(parts, axis=1).astype(np.float64)

    # -- currents -------------------------------------------------------------------------------
    def device_current(self, v):
        """(batch, R*C) cell currents and differential conductances for node voltages v."""
        vd = v[:, self.row_node.ravel()] - v[:, self.col_node.ravel()]
        if self.linear:
            g = np.broadcast_to(self.g_eff.ravel(), vd.shape)
            return g * vd, g
        shape = (v.shape[0],) + self.shape
        vd = vd.reshape(shape)
        with np.errstate(over="ignore", invalid="ignore"):  # trial Newton steps may overflow
            i = np.broadcast_to(self.device.current(vd, self.g, self.gate), shape)
            d = np.broadcast_to(self.device.differential_conductance(vd, self.g, self.gate),
                                shape)
        return i.reshape(v.shape[0], -1), d.reshape(v.shape[0], -1)

    def kcl(self, v, s):
        """Net current leaving every node through its branches, and a scale for it.

        Returns ``(F, scale_current, scale_rounding)``, each (batch, n_nodes) [A]: the KCL sum
        (resistive terminals included, ideal terminals not), the sum of |branch currents| at each
        node, and the sum of the magnitudes of the terms every branch current is computed from.
        """
        def branch(inc, seg):
            node_a, node_b, g = seg
            va, vb = v[:, node_a], v[:, node_b]
            i = g * (va - vb)
            return ((inc @ i.T).T, (abs(inc) @ abs(i).T).T,
                    (abs(inc) @ (g * (abs(va) + abs(vb))).T).T)

        f_r, c_r, r_r = branch(self.inc_row, self.row_seg)
        f_c, c_c, r_c = branch(self.inc_col, self.col_seg)
        i_dev, d_dev = self.device_current(v)
        vr, vc = v[:, self.row_node.ravel()], v[:, self.col_node.ravel()]
        f_d = (self.inc_dev @ i_dev.T).T
        c_d = (abs(self.inc_dev) @ abs(i_dev).T).T
        r_d = (abs(self.inc_dev) @ (abs(i_dev) + d_dev * (abs(vr) + abs(vc))).T).T
        vt, st = v[:, self.term_node[self.resistive]], s[:, self.resistive]
        i_t = self.term_g * (vt - st)
        f_t = (self.inc_term @ i_t.T).T
        c_t = (self.inc_term @ abs(i_t).T).T
        r_t = (self.inc_term @ (self.term_g * (abs(vt) + abs(st))).T).T
        return f_r + f_c + f_d + f_t, c_r + c_c + c_d + c_t, r_r + r_c + r_d + r_t

    def jacobian_free(self, d_dev):
        """Sparse Jacobian dF/dv restricted to the free nodes, for cell conductances d_dev."""
        full = self.lap_wire + self.inc_dev @ sp.diags(d_dev) @ self.inc_dev.T
        return full.tocsr()[self.free][:, self.free].tocsc()

    def relative_residual(self, v, s):
        """(batch,) KCL residual on the free nodes: ||F||_inf / ||sum of |branch currents| ||_inf.

        Also returns, as a second array, whether ||F||_inf is down at rounding level
        (ROUNDING_FACTOR * eps * the largest sum of |terms| the branch currents are computed from).
        """
        f, c, r = self.kcl(v, s)
        f, c, r = f[:, self.free], c[:, self.free], r[:, self.free]
        if f.shape[1] == 0:
            zero = np.zeros(v.shape[0])
            return zero, zero == 0.0
        num = np.abs(f).max(axis=1)
        den = c.max(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(num == 0.0, 0.0, num / den)
        at_rounding = num <= ROUNDING_FACTOR * np.finfo(float).eps * r.max(axis=1)
        return rel, at_rounding

    def full_voltages(self, v_free, s):
        """(batch, n_nodes) node voltages: free from the solve, pinned from sources, floating 0."""
        v = np.zeros((s.shape[0], self.n_nodes))
        v[:, self.free] = v_free
        v[:, self.pinned] = s[:, self.ideal]
        return v

    # -- everything reported -------------------------------------------------------------------
    def result(self, v, s, residual, iterations, squeeze):
        cb = self.crossbar
        n_rows, n_cols = self.shape
        batch = v.shape[0]
        f, _, _ = self.kcl(v, s)
        i_term = np.zeros((batch, self.n_terms))
        i_term[:, self.resistive] = (v[:, self.term_node[self.resistive]]
                                     - s[:, self.resistive]) * self.term_g
        # KCL at a pinned node: what leaves into the array and the resistive terminals comes in
        # through the ideal source, so the current from the array into that terminal is -F.
        i_term[:, self.ideal] = -f[:, self.pinned]
        v_row = v[:, self.row_node]
        v_col = v[:, self.col_node]
        i_dev = self.device_current(v)[0].reshape(batch, n_rows, n_cols)
        p_cell = i_dev * (v_row - v_col)

        def wire_power(seg):
            node_a, node_b, g = seg
            dv = v[:, node_a] - v[:, node_b]
            return (g * dv * dv).sum(axis=1)

        p_term = np.zeros(batch)
        if len(self.resistive):
            dv = v[:, self.term_node[self.resistive]] - s[:, self.resistive]
            p_term = (self.term_g * dv * dv).sum(axis=1)
        # a source drives -i_term into the array at its own voltage
        p_source = -(s * i_term).sum(axis=1)
        ends = {end: i_term[:, self.end_slices[end]] for end in END_NAMES}
        out = dict(
            i_out=ends[cb.output_end],
            v_row=v_row, v_col=v_col, i_device=i_dev,
            i_row_left=ends["row_left"], i_row_right=ends["row_right"],
            i_col_top=ends["col_top"], i_col_bottom=ends["col_bottom"],
            power_device=p_cell.sum(axis=(1, 2)), power_device_cell=p_cell,
            power_row_wire=wire_power(self.row_seg),
            power_col_wire=wire_power(self.col_seg),
            power_terminal=p_term, power_source=p_source,
            residual=np.asarray(residual, dtype=np.float64).reshape(batch),
            iterations=np.asarray(iterations, dtype=np.int64).reshape(batch),
        )
        if squeeze:
            out = {k: val[0] for k, val in out.items()}
        return ReferenceResult(**out)


def _as_batch(crossbar, v_in):
    v = np.asarray(v_in, dtype=np.float64)
    if v.ndim not in (1, 2) or v.shape[-1] != crossbar.n_inputs:
        raise ValueError(
            f"v_in must have shape ({crossbar.n_inputs},) or (batch, {crossbar.n_inputs}) for "
            f"input end {crossbar.input_end!r}; got {v.shape}"
        )
    if not np.isfinite(v).all():
        raise ValueError("v_in contains NaN or inf; give finite voltages [V]")
    return np.atleast_2d(v), v.ndim == 1


# --------------------------------------------------------------------------------------------
# Linear devices: one SuperLU factorisation, triangular solves per input
# --------------------------------------------------------------------------------------------


class ReferenceLinearSolver:
    """SuperLU reference for linear devices: assemble + factor in ``__init__``, solve per input.

    For benchmarks: ``factor()`` re-factors the already assembled matrix (time it alone),
    ``solve_voltages(v_in)`` is the per-input right-hand side + triangular solves only, and
    ``solve(v_in)`` adds all the post-processing of :class:`ReferenceResult`.
    """

    def __init__(self, crossbar):
        self.network = net = _Network(crossbar)
        if not net.linear:
            raise TypeError(
                f"{type(crossbar.device).__name__} is nonlinear; use reference_solve (Newton)"
            )
        self.crossbar = crossbar
        full = (net.lap_wire + net.inc_dev @ sp.diags(net.g_eff.ravel()) @ net.inc_dev.T).tocsr()
        self.matrix = full[net.free][:, net.free].tocsc()
        self._coupling = full[net.free][:, net.pinned].tocsr()  # free <- pinned
        # right-hand side from resistive terminals: b = B s
        b = sp.csr_matrix(
            (net.term_g, (net.term_node[net.resistive], net.resistive)),
            shape=(net.n_nodes, net.n_terms),
        )
        self._rhs_terms = b[net.free].tocsr()
        self.lu = None
        self.factor()

    def factor(self):
        """SuperLU factorisation of the free-node conductance matrix."""
        if self.matrix.shape[0] > 0:
            self.lu = spla.splu(self.matrix)
        return self

    def _rhs(self, s):
        net = self.network
        return (self._rhs_terms @ s.T) - self._coupling @ s[:, net.ideal].T

    def solve_voltages(self, v_in):
        """Free-node voltages, (n_free, batch) [V]: right-hand side + SuperLU triangular solves."""
        s = self.network.source_voltages(np.atleast_2d(np.asarray(v_in, dtype=np.float64)))
        rhs = self._rhs(s)
        if self.lu is None:
            return np.zeros((0, s.shape[0]))
        return self.lu.solve(np.ascontiguousarray(rhs))

    def solve(self, v_in):
        """Full :class:`ReferenceResult` for v_in of shape (n_in,) or (batch, n_in) [V]."""
        v_in, squeeze = _as_batch(self.crossbar, v_in)
        net = self.network
        s = net.source_voltages(v_in)
        v_free = self.solve_voltages(v_in).T
        v = net.full_voltages(v_free, s)
        res = net.relative_residual(v, s)[0]
        return net.result(v, s, res, np.zeros(v_in.shape[0]), squeeze)

    def transfer_matrix(self):
        """(n_out, n_in) [S]: the linear part of v_in -> i_out (bias sources set to 0).

        One factorisation (done) and n_in triangular solves, one per unit input.
        """
        cb = self.crossbar
        net = self.network
        n_in = cb.n_inputs
        s = np.zeros((n_in, net.n_terms))
        s[:, net.end_slices[cb.input_end]] = np.eye(n_in)
        v_free = (self.lu.solve(np.ascontiguousarray(self._rhs(s))).T if self.lu is not None
                  else np.zeros((n_in, 0)))
        v = net.full_voltages(v_free, s)
        return net.result(v, s, 0.0 * np.ones(n_in), np.zeros(n_in), False).i_out.T.copy()


def reference_transfer_matrix(crossbar):
    """(n_out, n_in) effective conductance matrix T [S] with i_out = T v_in + i_out(v_in=0)."""
    return ReferenceLinearSolver(crossbar).transfer_matrix()


# --------------------------------------------------------------------------------------------
# Any device: damped Newton, sparse Jacobian factored at every step
# --------------------------------------------------------------------------------------------


def _newton_step(jacobian, f, iteration, rel, tol):
    try:
        return spla.splu(jacobian).solve(f)
    except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
        raise ReferenceConvergenceError(
            f"reference Newton: Jacobian factorisation failed at iteration {iteration} ({exc}) "
            f"with relative residual {rel:.3g} (tolerance {tol:.1g})",
            residual=rel, iterations=iteration, tolerance=tol,
        ) from None


def _newton(net, s_one, tol, max_iterations, v_start=None):
    """Solve one input with damped Newton; returns (v (1, n_nodes), residual, iterations).

    Starts from ``v_start`` (1, n_nodes) when given, else from the linear network with every
    cell at its 0 V differential conductance.
    """
    s = s_one[None, :]
    n_free = len(net.free)

    def residual_vector(v):
        f, _, _ = net.kcl(v, s)
        return f[0, net.free]

    v = net.full_voltages(np.zeros((1, n_free)), s)
    if n_free == 0:
        return v, 0.0, 0
    if v_start is not None:
        v[0, net.free] = v_start[0, net.free]
    else:
        d0 = net.device_current(np.zeros((1, net.n_nodes)))[1][0]
        v_try = v.copy()
        v_try[0, net.free] -= _newton_step(net.jacobian_free(d0), residual_vector(v), 0, 1.0, tol)
        if np.isfinite(residual_vector(v_try)).all():
            v = v_try

    for iteration in range(max_iterations + 1):
        rel, at_rounding = net.relative_residual(v, s)
        rel = float(rel[0])
        if rel <= tol:
            return v, rel, iteration
        if iteration == max_iterations:
            break
        f = residual_vector(v)
        norm = np.linalg.norm(f)
        d = net.device_current(v)[1][0]
        step = _newton_step(net.jacobian_free(d), f, iteration, rel, tol)
        if at_rounding[0] and rel <= ROUNDING_ACCEPT:
            # at the rounding floor: go on only while a full step still halves the residual
            v_try = v.copy()
            v_try[0, net.free] -= step
            f_try = residual_vector(v_try)
            if np.isfinite(f_try).all() and np.linalg.norm(f_try) <= 0.5 * norm:
                v = v_try
                continue
            return v, rel, iteration
        t = 1.0
        while t > 2.0**-40:
            v_try = v.copy()
            v_try[0, net.free] -= t * step
            f_try = residual_vector(v_try)
            if np.isfinite(f_try).all() and np.linalg.norm(f_try) <= (1.0 - 1e-4 * t) * norm:
                break
            t *= 0.5
        else:
            raise ReferenceConvergenceError(
                f"reference Newton: line search failed at iteration {iteration} with relative "
                f"residual {rel:.3g} (tolerance {tol:.1g})",
                residual=rel, iterations=iteration, tolerance=tol,
            )
        v = v_try
    raise ReferenceConvergenceError(
        f"reference Newton did not reach relative residual {tol:.1g} in {max_iterations} "
        f"iterations (last {rel:.3g})",
        residual=rel, iterations=max_iterations, tolerance=tol,
    )


def _newton_with_source_stepping(net, s_one, tol, max_iterations, n_steps):
    """Plain damped Newton; if that fails, ramp every source from 0 to its value in n_steps."""
    try:
        return _newton(net, s_one, tol, max_iterations)
    except ReferenceConvergenceError as direct:
        if n_steps <= 1:
            raise
        v, total = None, 0
        try:
            for k in range(1, n_steps + 1):
                v, rel, its = _newton(net, s_one * (k / n_steps), tol, max_iterations, v)
                total += its
        except ReferenceConvergenceError as stepped:
            raise ReferenceConvergenceError(
                f"{direct}; source stepping in {n_steps} steps also failed at step {k}: "
                f"{stepped}", residual=direct.residual, iterations=direct.iterations,
                tolerance=tol,
            ) from None
        return v, rel, total


def reference_solve(crossbar, v_in, *, tol=NEWTON_TOL, max_iterations=NEWTON_MAX_ITERATIONS,
                    source_steps=SOURCE_STEPS):
    """Reference solution of the full nodal network.

    Parameters
    ----------
    crossbar : circuitxbar.Crossbar
    v_in : array_like, shape (n_in,) or (batch, n_in)
        Source voltages of the input end set [V].
    tol : float
        Newton tolerance on the relative KCL residual (nonlinear devices only), see NEWTON_TOL.
    max_iterations : int
        Newton iterations allowed per solve.
    source_steps : int
        If plain Newton fails, retry ramping all sources from 0 in this many steps (each a
        Newton solve from the previous one); 0 or 1 turns the fallback off.

    Returns
    -------
    ReferenceResult
        Linear devices: one SuperLU factorisation for the whole batch. Nonlinear devices: damped
        Newton per input, factoring the sparse Jacobian at every step; raises
        :class:`ReferenceConvergenceError` if it stalls.
    """
    v_in2, squeeze = _as_batch(crossbar, v_in)
    if crossbar.device.is_linear:
        return ReferenceLinearSolver(crossbar).solve(v_in)
    net = _Network(crossbar)
    s = net.source_voltages(v_in2)
    vs, res, its = [], [], []
    for b in range(s.shape[0]):
        v, r, k = _newton_with_source_stepping(net, s[b], tol, max_iterations, source_steps)
        vs.append(v[0])
        res.append(r)
        its.append(k)
    return net.result(np.array(vs), s, np.array(res), np.array(its), squeeze)
