"""A linear crossbar factorised once, then solved for any number of inputs.

``factorize(crossbar)`` runs the nested-dissection reduction of the transfer matrix
(``_reduce``) and keeps, at every step, what recovering the eliminated nodes needs: for a leaf
or a small merge the convex weights of each eliminated node's voltage over the nodes left
when it went (GTH elimination), for a large merge X = -Y_ss^-1 Y_sb. ``Factorization.solve``
then sets the array's end-node voltages from the terminals and sweeps the steps parents first:
per input that is about 40 R C multiply-adds, done for a whole batch at once, instead of one
CG solve (8 iterations of about 50 R C) per input. The factor is the analogue of SuperLU's
LU factors: built once per array, then every input costs a back substitution only.

Every solution is checked as the iterative one is: the Kirchhoff mismatch at every wire node
and terminal, recomputed from the returned voltages, must be within ``kcl_tol``.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import scipy.linalg

from circuitxbar import _background
from circuitxbar import _direct
from circuitxbar import _reduce as R
from circuitxbar import _transfer
from circuitxbar.crossbar import END_NAMES, Crossbar, require_crossbar
from circuitxbar.errors import ConvergenceError, ValidationError
from circuitxbar.solver import (DEFAULT_KCL_TOL, SolverInfo, _alloc_outputs, _as_batch,
                                _package, _prepare, run_chunked)


class Factorization:
    """A linear crossbar's nested-dissection factor; see :func:`factorize`.

    Attributes
    ----------
    crossbar : Crossbar
    seconds : float
        Wall time of the factorisation [s].
    nbytes : int
        Memory the factor holds [bytes] (32 MB at 256 x 256; the solve's reused workspaces,
        about 40 MB per thread there, come on top).
    """

    def __init__(self, crossbar: Crossbar):
        require_crossbar(crossbar)
        if not crossbar.is_linear:
            raise ValidationError(
                f"factorize needs a linear device model; {type(crossbar.device).__name__} is "
                f"nonlinear: use solve(crossbar, v_in), whose Newton steps refactor as they go")
        why_not = _transfer.applicable(crossbar)
        if why_not is not None:
            raise ValidationError(f"factorize cannot be used for this crossbar: {why_not}; "
                                  f"use solve(crossbar, v_in)")
        _background.before("factorised")
        t0 = time.perf_counter()
        self.crossbar = crossbar
        self._lock = threading.Lock()
        self._spare = []  # solve workspaces, reused across calls
        prep = _prepare(crossbar)
        self._prep = prep
        n_rows, n_cols = crossbar.shape
        output_code = END_NAMES.index(crossbar.output_end)
        keep = _transfer.ports(prep.term_g, prep.input_code, output_code)
        # the reduction, recording every step (dense: about twice the compressed size)
        n_ops, n_ids, n_coef = R.plan_sizes(0, n_rows, 0, n_cols, n_rows, n_cols, keep)
        kind, op_n, op_nb, id_off, coef_off = (np.zeros(n_ops, np.int64) for _ in range(5))
        ids = np.zeros(n_ids, np.int64)
        coef = np.zeros(n_coef)
        pos = np.zeros(3, np.int64)
        with _transfer.single_threaded_blas():
            y = R.factor_block(prep.g, 1.0 / crossbar.r_row, 1.0 / crossbar.r_col, 0, n_rows, 0,
                               n_cols, keep, kind, op_n, op_nb, id_off, coef_off, ids, coef, pos,
                               R.shared())
        if not (pos == [n_ops, n_ids, n_coef]).all():  # the plan and the recursion disagree
            raise AssertionError(f"factor steps {pos} against the plan {n_ops, n_ids, n_coef}")
        # the solve's voltage array holds nodes tile by tile (R.tile_position)
        self._position = R.tile_position(n_rows, n_cols)
        self._steps = (kind, op_n, op_nb, id_off, self._position[ids],
                       *R.compress(kind, op_n, op_nb, coef_off, coef))
        del coef
        self._top_ids = self._position[R.block_ids(0, n_rows, 0, n_cols, n_rows, n_cols, keep)]
        # the top boundary: the kept end sets, in order; pinned (ideal) and free nodes
        self._kept, gt, self._pinned, self._free = _transfer.end_terminals(prep.term_g, keep)
        self._gt = gt
        self._y_top = y = R.full_laplacian(y)
        if self._free.size:
            f = self._free
            try:
                self._lu = scipy.linalg.lu_factor(y[np.ix_(f, f)] + np.diag(gt[f]),
                                                  check_finite=True)
            except (np.linalg.LinAlgError, ValueError) as err:
                raise ConvergenceError(
                    f"the array's end nodes have no path to any source ({err}); check for open "
                    f"ends and zero conductances", residual=float("inf"), iterations=0,
                    tolerance=0.0) from err
        self.seconds = time.perf_counter() - t0
        self.nbytes = int(sum(a.nbytes for a in self._steps))

    def _top_voltages(self, v):
        """(n_top, B) voltages of the top boundary's nodes for the batch v (B, n_in)."""
        prep = self._prep
        src = np.concatenate([
            (v.T if k == prep.input_code else np.repeat(prep.bias[k][:, None], v.shape[0], 1))
            for k in self._kept])
        u = src.copy()
        f = self._free
        if f.size:
            p = np.flatnonzero(self._pinned)
            rhs = self._gt[f, None] * src[f] - self._y_top[np.ix_(f, p)] @ src[p]
            u[f] = scipy.linalg.lu_solve(self._lu, rhs)
        return np.ascontiguousarray(u)

    def solve(self, v_in, *, kcl_tol: float = DEFAULT_KCL_TOL, keep_nodes: bool = True):
        """DC solution for one input vector or a batch, as :func:`circuitxbar.solve` returns
        it (``info.method`` is ``"direct-nested-dissection"``, ``info.iterations`` 0).

        Raises ConvergenceError when a solution's Kirchhoff mismatch exceeds ``kcl_tol``
        (not seen in testing; :func:`circuitxbar.solve` is the iterative alternative).
        """
        if not (0 < kcl_tol < 1):
            raise ValidationError(f"kcl_tol={kcl_tol!r} must lie in (0, 1), e.g. 1e-9")
        xbar = self.crossbar
        prep = self._prep
        v, single = _as_batch(xbar, v_in)
        t0 = time.perf_counter()
        u_top = self._top_voltages(v)
        o = _alloc_outputs(xbar, v.shape[0], keep_nodes)
        n_nodes = 2 * xbar.conductance.size

        def args(lo, hi):
            # one workspace per concurrent chunk, kept across calls (see _direct.alloc_workspace)
            with self._lock:
                ws = self._spare.pop() if self._spare else _direct.alloc_workspace(n_nodes)
            taken.append(ws)
            return (self._steps, self._top_ids, self._position, u_top, ws, prep.g, xbar.r_row,
                    xbar.r_col, *prep.term_g, *prep.bias, prep.input_code, v, lo, hi, o["vr"],
                    o["vc"], o["idev"], o["t_left"], o["t_right"], o["t_top"], o["t_bottom"],
                    o["powers"], o["kcl"])

        taken = []
        try:
            with _transfer.single_threaded_blas():  # small products on each of our threads
                run_chunked(_direct.solve_chunk, v.shape[0], args,
                            work_per_item=xbar.conductance.size)
        finally:
            with self._lock:
                self._spare.extend(taken)
        info = SolverInfo(method="direct-nested-dissection", iterations=o["iters"],
                          newton_steps=o["newton"], chord_steps=o["chord"], residual=o["resid"],
                          kcl_residual=o["kcl"], tolerance=0.0,
                          seconds=time.perf_counter() - t0)
        bad = ~(o["kcl"] <= kcl_tol)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            kcl = o["kcl"][b]
            what = f"{kcl:.3g}" if np.isfinite(kcl) else "not finite (a NaN or infinite voltage)"
            raise ConvergenceError(
                f"input {b}: the factorised solve's KCL mismatch is {what} (allowed "
                f"{kcl_tol:.3g}); solve this array with circuitxbar.solve (iterative) instead",
                residual=float(o["kcl"][b]), iterations=0, tolerance=kcl_tol)
        return _package(xbar, o, info, single)


def factorize(crossbar: Crossbar) -> Factorization:
    """Factorise a linear crossbar once for many solves: ``factorize(x).solve(v)`` returns what
    ``solve(x, v)`` does, at a fraction of the per-input cost for large batches (the factor
    costs about three transfer matrices; at 256 x 256 it holds 32 MB, and each thread that solves
    keeps about 40 MB of workspace for the next call).

    Needs a linear device model, at least 2 rows and 2 columns, and every wire segment > 0 ohm
    (zero-resistance lines merge nodes; :func:`circuitxbar.solve` handles them). While it is
    built the factor's uncompressed record peaks at 55 MB for 256 x 256, 240 MB for 512 x 512
    and 1 GB for 1024 x 1024 (growing like N^2 log N)."""
    return Factorization(crossbar)
