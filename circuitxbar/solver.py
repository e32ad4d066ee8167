"""Public solver API: :func:`solve` and :func:`transfer_matrix`.

Checking, unit conversion and defaults live here; the compiled kernels in ``_kernels`` take
plain arrays. See circuitxbar/README.md for the circuit conventions and the method.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time

import numba
import numpy as np

from circuitxbar import _background
from circuitxbar import _kernels as K
from circuitxbar._config import kernel_input
from circuitxbar._native import addresses
from circuitxbar import _transfer
from circuitxbar.crossbar import END_NAMES, Crossbar, require_crossbar
from circuitxbar.errors import ConvergenceError, ValidationError

#: default relative tolerance of the CG residual. Measured against SuperLU from 128x128 to
#: 512x512 (N^2 r G up to 65): i_out within 4e-13 relative. 1e-12 would save about one
#: iteration but lets the KCL mismatch of extreme on/off ratios (1e6) pass 1e-9.
DEFAULT_RTOL = 1e-13
#: default bound on the relative KCL mismatch checked on every returned solution
DEFAULT_KCL_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class SolverInfo:
    """Diagnostics of one call to :func:`solve`.

    Attributes
    ----------
    method : str
        Algorithm used.
    iterations : np.ndarray of int, shape (batch,)
        CG iterations per input (summed over Newton steps for nonlinear devices).
    newton_steps : np.ndarray of int, shape (batch,)
        Newton steps per input (0 for linear devices).
    chord_steps : np.ndarray of int, shape (batch,)
        Of those, the steps that kept the previous step's factorised lines (chord steps: taken
        once the devices' conductances have settled to within 1 %; 0 for linear devices).
    residual : np.ndarray, shape (batch,)
        Final relative CG residual ||F(x) - x||_M / ||x||_M (dimensionless).
    kcl_residual : np.ndarray, shape (batch,)
        Largest Kirchhoff-current-law mismatch on any wire segment or terminal, recomputed from
        the returned voltages, relative to the largest branch current (dimensionless). Only
        the part beyond what float64 node voltages can resolve counts: on a segment of
        conductance w, 8 eps V w, V the largest source voltage (or the line's largest node
        voltage if larger). 0 means the mismatch is all rounding.
    tolerance : float
        The CG tolerance asked for.
    seconds : float
        Wall time of the call [s].
    """

    method: str
    iterations: np.ndarray
    newton_steps: np.ndarray
    chord_steps: np.ndarray
    residual: np.ndarray
    kcl_residual: np.ndarray
    tolerance: float
    seconds: float


@dataclasses.dataclass(frozen=True)
class SolveResult:
    """DC solution of a crossbar for one input vector or a batch.

    Shapes have a leading batch axis when ``v_in`` had one. Currents at terminals flow from the
    array into the terminal (a driving source shows a negative current).

    Attributes
    ----------
    i_out : np.ndarray, (C,) or (batch, C)
        Current into each output terminal [A] (columns' sense terminals by default).
    v_row, v_col : np.ndarray, (R, C) or (batch, R, C), or None
        Row-wire and column-wire node voltages at every cross-point [V] (None when
        ``keep_nodes=False``).
    i_device : np.ndarray or None
        Device currents, row node -> column node [A].
    i_row_left, i_row_right : np.ndarray, (R,) or (batch, R)
        Current from the array into each row end's terminal [A] (0 where open).
    i_col_top, i_col_bottom : np.ndarray, (C,) or (batch, C)
        Current from the array into each column end's terminal [A].
    power_device, power_row_wire, power_col_wire, power_terminal : np.ndarray, () or (batch,)
        Power dissipated in the devices, row wires, column wires, and terminal series
        resistances (source and sense) [W].
    power_source : np.ndarray, () or (batch,)
        Power delivered by all voltage sources, inputs and biases [W]; equals the sum of the
        four dissipations (energy conservation).
    info : SolverInfo
    """

    i_out: np.ndarray
    v_row: np.ndarray | None
    v_col: np.ndarray | None
    i_device: np.ndarray | None
    i_row_left: np.ndarray
    i_row_right: np.ndarray
    i_col_top: np.ndarray
    i_col_bottom: np.ndarray
    power_device: np.ndarray
    power_row_wire: np.ndarray
    power_col_wire: np.ndarray
    power_terminal: np.ndarray
    power_source: np.ndarray
    info: SolverInfo

    @property
    def power_total(self):
        """Total dissipated power [W]."""
        return self.power_device + self.power_row_wire + self.power_col_wire + self.power_terminal


def _terminal_conductance(r):
    with np.errstate(divide="ignore"):
        return np.where(r == 0.0, np.inf, 1.0 / r)


def _check_no_shorts(xbar: Crossbar):
    """Two ideal ends joined by zero resistance would short two sources together."""
    n_rows, n_cols = xbar.shape
    pairs = (("row", xbar.r_source, xbar.r_row_right, xbar.r_row, n_cols),
             ("col", xbar.r_col_top, xbar.r_sense, xbar.r_col, n_rows))
    for kind, r_a, r_b, r_wire, length in pairs:
        bad = (r_a == 0) & (r_b == 0) & ((r_wire == 0) | (length == 1))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                f"{kind} {k} has ideal (0 ohm) terminals at both ends joined by zero resistance, "
                f"which shorts two voltage sources; give one end a series resistance or open it"
            )


@dataclasses.dataclass(frozen=True, eq=False)
class _Prepared:
    """Arrays the kernels need for one crossbar (factorised once, reused for every input)."""

    g: np.ndarray
    row_c: tuple
    col_c: tuple
    term_g: tuple  # left, right, top, bottom terminal conductances [S]
    bias: tuple  # left, right, top, bottom source voltages [V]
    input_code: int


def _terminals(xbar: Crossbar):
    """Checked terminals in kernel form: conductances [S] (inf ideal, 0 open) and source
    voltages [V] of the four end sets, in END_NAMES order."""
    _check_no_shorts(xbar)
    term_g = tuple(_terminal_conductance(xbar.end_resistance(e)) for e in END_NAMES)
    bias = tuple(kernel_input(xbar.end_voltage(e)) for e in END_NAMES)
    return term_g, bias


def _prepare(xbar: Crossbar) -> _Prepared:
    """Factorised chains of a linear crossbar, computed once and kept on the (immutable)
    Crossbar: every later solve or transfer matrix of the same array reuses it."""
    cached = xbar.__dict__.get("_prepared")
    if cached is not None:
        return cached
    n_rows, n_cols = xbar.shape
    g_cells = np.ascontiguousarray(
        xbar.device.effective_conductance(xbar.conductance, xbar.gate), dtype=np.float64
    )
    term_g, bias = _terminals(xbar)
    row_c, col_c, scratch = K._alloc_factors.py_func(n_rows, n_cols)
    K._factor_all(g_cells, xbar.r_row, xbar.r_col, *term_g, row_c, col_c, scratch)
    prep = _Prepared(
        g=g_cells, row_c=row_c, col_c=col_c, term_g=term_g, bias=bias,
        input_code=END_NAMES.index(xbar.input_end),
    )
    object.__setattr__(xbar, "_prepared", prep)
    return prep


def _as_batch(xbar: Crossbar, v_in):
    v = np.asarray(v_in, dtype=np.float64)
    single = v.ndim == 1
    if single:
        v = v[None, :]
    if v.ndim != 2 or v.shape[1] != xbar.n_inputs:
        raise ValidationError(
            f"v_in must have shape ({xbar.n_inputs},) or (batch, {xbar.n_inputs}) for this "
            f"{xbar.shape[0]}x{xbar.shape[1]} crossbar driven at {xbar.input_end}; got "
            f"shape {np.shape(v_in)}"
        )
    if not np.isfinite(v).all():
        b, k = np.argwhere(~np.isfinite(v))[0]
        raise ValidationError(f"v_in[{b}, {k}] = {v[b, k]!r} V is not finite")
    return kernel_input(v), single


def _default_max_iter(xbar):
    # CG needs about 3 + 1.5 sqrt(N^2 r G) iterations; allow a wide margin before giving up
    return int(200 + 20 * np.sqrt(xbar.ir_drop_number()) + 2 * max(xbar.shape))


def solve(
    crossbar: Crossbar,
    v_in,
    *,
    rtol: float = DEFAULT_RTOL,
    kcl_tol: float = DEFAULT_KCL_TOL,
    max_iter: int | None = None,
    keep_nodes: bool = True,
    newton_tol: float = 1e-11,
    max_newton: int = 50,
    method: str = "auto",
    newton_start: str = "auto",
) -> SolveResult:
    """DC solution of a crossbar with wire and terminal resistance for one or many inputs.

    Parameters
    ----------
    crossbar : Crossbar
        The circuit.
    v_in : array_like, (n_in,) or (batch, n_in)
        Source voltages of the input end set [V] (rows' left ends by default).
    rtol : float
        Relative tolerance of the conjugate-gradient residual (dimensionless).
    kcl_tol : float
        Largest relative Kirchhoff mismatch accepted on the returned solution; beyond it
        :class:`~circuitxbar.errors.ConvergenceError` is raised. A loose ``rtol`` loosens it
        to ``100 * rtol`` (the mismatch measured is a few times the CG residual).
    max_iter : int, optional
        CG iteration limit per solve (default grows with the array's IR-drop number).
    keep_nodes : bool
        Return node voltages and device currents (memory: 3 x batch x R x C doubles).
    newton_tol : float
        Nonlinear devices: Newton stops when no node moves by more than newton_tol times the
        largest source voltage (dimensionless).
    max_newton : int
        Nonlinear devices: Newton step limit; beyond it ConvergenceError is raised.
    newton_start : {"auto", "sweep", "solve"}
        Nonlinear devices: where Newton starts. ``"solve"``: the devices linearised at zero
        bias, that network solved by CG to 1e-2 of its starting residual; ``"sweep"``: the same
        network's line-Schur map applied twice from zero, no CG (cheaper, rougher; Newton's
        first step absorbs the difference on arrays of moderate IR drop); ``"auto"``: the
        sweep up to an IR-drop number (:meth:`Crossbar.ir_drop_number`) of 16, else the solve.
        Every start reaches the same solution within ``newton_tol``.
    method : {"auto", "cg", "factorize"}
        Linear devices: ``"cg"`` solves each input iteratively; ``"factorize"`` builds this
        array's nested-dissection factor (:func:`circuitxbar.factorize`) for this call and
        back-substitutes every input; ``"auto"`` factorises for batches of at least
        ``FACTORIZE_MIN_BATCH`` inputs on arrays of at most ``FACTORIZE_MAX_CELLS`` cells
        where the method applies, and takes CG otherwise. Nonlinear devices always take
        Newton's method ("factorize" is refused).

    Returns
    -------
    SolveResult

    See also
    --------
    circuitxbar.factorize : keep the factor for later calls on the same array (each input then
        costs the back substitution only: 25x SuperLU's triangular solve at 256 x 256).
    """
    require_crossbar(crossbar)
    if not (0 < rtol < 1):
        raise ValidationError(f"rtol={rtol!r} must lie in (0, 1), e.g. 1e-13")
    if not (0 < kcl_tol < 1):
        raise ValidationError(f"kcl_tol={kcl_tol!r} must lie in (0, 1), e.g. 1e-9")
    v, single = _as_batch(crossbar, v_in)
    max_iter = _default_max_iter(crossbar) if max_iter is None else int(max_iter)
    if max_iter < 1:
        raise ValidationError(f"max_iter={max_iter} must be >= 1")
    if method not in SOLVE_METHODS:
        raise ValidationError(f"method={method!r} is not one of {SOLVE_METHODS}")
    if newton_start not in NEWTON_STARTS:
        raise ValidationError(f"newton_start={newton_start!r} is not one of {NEWTON_STARTS}")
    if method == "factorize" or (method == "auto" and _factorize_pays(crossbar, v.shape[0])):
        from circuitxbar.factorization import factorize

        if not crossbar.is_linear:
            raise ValidationError(
                f"method='factorize' needs a linear device model; {type(crossbar.device).__name__}"
                f" is nonlinear: use method='auto' (Newton's method)")
        return factorize(crossbar).solve(v[0] if single else v, kcl_tol=kcl_tol,
                                         keep_nodes=keep_nodes)
    t0 = time.perf_counter()
    if crossbar.is_linear:
        out = _solve_linear(crossbar, v, rtol, max_iter, keep_nodes)
        method = "pcg-line-schur"
    else:
        from circuitxbar._newton import solve_nonlinear

        if not (0 < newton_tol < 1) or max_newton < 1:
            raise ValidationError(
                f"newton_tol={newton_tol!r} must lie in (0, 1) and max_newton={max_newton!r} "
                f"must be >= 1")
        out = solve_nonlinear(crossbar, v, rtol, max_iter, keep_nodes, newton_tol=newton_tol,
                              max_newton=max_newton, newton_start=newton_start)
        method = "newton-pcg-line-schur"
    seconds = time.perf_counter() - t0
    info = SolverInfo(method=method, iterations=out["iters"], newton_steps=out["newton"],
                      chord_steps=out["chord"],
                      residual=out["resid"], kcl_residual=out["kcl"], tolerance=rtol,
                      seconds=seconds)
    # Newton's inner solves stop early by design (inexact Newton); its solution is judged by
    # the KCL mismatch of the true nonlinear currents alone
    _check_converged(out, rtol, kcl_tol, max_iter, check_cg=crossbar.is_linear)
    return _package(crossbar, out, info, single)


#: solve methods; see solve
SOLVE_METHODS = ("auto", "cg", "factorize")
#: Newton's starts, solve(newton_start=...): _newton.sweep_start chooses for "auto"
NEWTON_STARTS = ("auto", "sweep", "solve")
#: "auto" factorises a linear array for a batch of at least this many inputs: building the
#: factor costs 65-100 iterative solves (64x64 to 512x512) and then each input a quarter to a
#: half of one, so the two break even near 90-200 inputs; from 256 on the factor pays at every
#: size measured (128 x 128: 0.18 against 0.21 ms per input)
FACTORIZE_MIN_BATCH = 256
#: ... on arrays of at most this many cells: the factor's record peaks at 240 MB for 512 x 512
#: while it is built (1 GB at 1024 x 1024, where the iterative solve needs 359 MB)
FACTORIZE_MAX_CELLS = 512 * 512


def _factorize_pays(xbar, n_batch):
    return (xbar.is_linear and n_batch >= FACTORIZE_MIN_BATCH
            and xbar.conductance.size <= FACTORIZE_MAX_CELLS
            and _transfer.applicable(xbar) is None)


def _check_converged(out, rtol, kcl_tol, max_iter, check_cg=True):
    kcl_tol = max(kcl_tol, 100.0 * rtol)
    bad_cg = (out["resid"] > max(rtol, 1e-15) * 10) & check_cg
    bad_kcl = ~(out["kcl"] <= kcl_tol)
    bad = bad_cg | bad_kcl | out.get("failed", np.zeros_like(bad_cg))
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        raise ConvergenceError(
            f"input {b}: solver stopped after {int(out['iters'][b])} iterations with relative "
            f"residual {out['resid'][b]:.3g} (asked {rtol:.3g}) and KCL mismatch "
            f"{out['kcl'][b]:.3g} (allowed {kcl_tol:.3g}); raise max_iter (now {max_iter}), "
            f"loosen rtol, or check for extreme conductance or wire values",
            residual=float(out["resid"][b]), iterations=int(out["iters"][b]), tolerance=rtol,
        )


def _alloc_outputs(xbar, n_batch, keep_nodes):
    n_rows, n_cols = xbar.shape
    node_shape = (n_batch, n_rows, n_cols) if keep_nodes else (0, n_rows, n_cols)
    return dict(
        vr=np.zeros(node_shape), vc=np.zeros(node_shape), idev=np.zeros(node_shape),
        t_left=np.zeros((n_batch, n_rows)), t_right=np.zeros((n_batch, n_rows)),
        t_top=np.zeros((n_batch, n_cols)), t_bottom=np.zeros((n_batch, n_cols)),
        powers=np.zeros((n_batch, 5)), iters=np.zeros(n_batch, np.int64),
        resid=np.zeros(n_batch), kcl=np.zeros(n_batch), newton=np.zeros(n_batch, np.int64),
        chord=np.zeros(n_batch, np.int64),
    )


#: below this many node-inputs (batch x R x C) a batch runs on the calling thread: handing
#: work to the pool costs tens of microseconds, more than a small solve
_MIN_PARALLEL_WORK = 200_000
_pool_lock = threading.Lock()
_pool = None


def _executor(n_threads):
    """One process-wide thread pool, created on first use (a fresh pool per call costs about
    half a millisecond, more than a small array's whole solve)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n_threads:
            _pool = concurrent.futures.ThreadPoolExecutor(n_threads,
                                                          thread_name_prefix="circuitxbar")
        return _pool


#: per-thread state: ``serial`` is set on pool workers that already run one task each (many
#: arrays at a time), so that nothing they call hands work to the same pool and waits on it
_local = threading.local()


def _serial():
    return getattr(_local, "serial", False)


def _batch_threads(n_batch, work_per_item):
    """Threads for a batch: one per core, at most one per item, one for a small batch."""
    if n_batch * work_per_item < _MIN_PARALLEL_WORK or _serial():
        return 1
    return max(1, min(n_batch, num_threads()))


def run_shared(kernel, n_batch, args, work_per_item=1):
    """Call ``kernel(*args(counter))`` once per thread, all with the same counter (an int64
    array holding 0): each kernel takes the batch's next input with _intrinsics._take_next
    until the counter passes the batch, so a thread that runs slower (a shared or throttled
    core) takes fewer inputs instead of holding the batch up. For items that cost
    milliseconds: an atomic operation each."""
    n_threads = _batch_threads(n_batch, work_per_item)
    counter = np.zeros(1, np.int64)
    if n_threads == 1:
        kernel(*args(counter))
        return
    pool = _executor(n_threads)
    for fut in [pool.submit(kernel, *args(counter)) for _ in range(n_threads)]:
        fut.result()


def run_chunked(kernel, n_batch, args, work_per_item=1):
    """Call ``kernel(*args(start, stop))`` on contiguous chunks of the batch, one per
    thread. The kernels are compiled with nogil, so the threads run in parallel."""
    n_threads = _batch_threads(n_batch, work_per_item)
    if n_threads == 1:
        kernel(*args(0, n_batch))
        return
    bounds = [(c * n_batch // n_threads, (c + 1) * n_batch // n_threads) for c in range(n_threads)]
    pool = _executor(n_threads)
    for fut in [pool.submit(kernel, *args(lo, hi)) for lo, hi in bounds]:
        fut.result()


def num_threads():
    """Threads used for batches: NUMBA_NUM_THREADS if set, else every core."""
    return numba.config.NUMBA_NUM_THREADS


def _solve_linear(xbar, v, rtol, max_iter, keep_nodes):
    _background.before("linear")
    prep = _prepare(xbar)
    v = kernel_input(v)  # (the transfer matrix's CG columns, np.eye, come here directly)
    # scalars as Python float and int too: a NumPy float32 or int32 is another Numba type
    rtol, max_iter = float(rtol), int(max_iter)
    o = _alloc_outputs(xbar, v.shape[0], keep_nodes)
    outs = (o["vr"], o["vc"], o["idev"], o["t_left"], o["t_right"], o["t_top"], o["t_bottom"],
            o["powers"], o["iters"], o["resid"], o["kcl"])
    n_batch = v.shape[0]
    shared = addresses(K.LINEAR_SHARED)
    run_shared(
        K._solve_linear_chunk, n_batch,
        lambda counter: (prep.g, prep.row_c, prep.col_c, xbar.r_row, xbar.r_col, *prep.term_g,
                         *prep.bias, prep.input_code, v, rtol, max_iter, counter, n_batch,
                         *outs, shared),
        work_per_item=xbar.conductance.size,
    )
    return o


def _end_currents(o, end):
    """The (batch, n) terminal currents of one end set from the kernels' outputs."""
    return {"row_left": o["t_left"], "row_right": o["t_right"],
            "col_top": o["t_top"], "col_bottom": o["t_bottom"]}[end]


def _package(xbar, o, info, single):
    keep = o["vr"].shape[0] > 0
    pick = (lambda a: a[0]) if single else (lambda a: a)
    nodes = (lambda a: pick(a) if keep else None)
    p = o["powers"]
    return SolveResult(
        i_out=pick(_end_currents(o, xbar.output_end)),
        v_row=nodes(o["vr"]), v_col=nodes(o["vc"]), i_device=nodes(o["idev"]),
        i_row_left=pick(o["t_left"]), i_row_right=pick(o["t_right"]),
        i_col_top=pick(o["t_top"]), i_col_bottom=pick(o["t_bottom"]),
        power_device=pick(p[:, 0]), power_row_wire=pick(p[:, 1]), power_col_wire=pick(p[:, 2]),
        power_terminal=pick(p[:, 3]), power_source=pick(p[:, 4]), info=info,
    )


#: transfer_matrix methods: "auto" (direct where it applies, checked; CG otherwise or when
#: the check fails), "direct" (checked; raises if it cannot be used or fails), "cg"
TRANSFER_METHODS = ("auto", "direct", "cg")


def transfer_matrix(crossbar: Crossbar, *, method: str = "auto", rtol: float = DEFAULT_RTOL,
                    kcl_tol: float = DEFAULT_KCL_TOL, max_iter: int | None = None,
                    seed: int = 0) -> np.ndarray:
    """Effective conductance matrix T [S], shape (n_out, n_in), with ``i_out = T @ v_in``.

    Exact for linear devices, every wire and terminal resistance included: after it, any
    number of inputs costs one matrix product. The array must carry no bias voltage on its
    non-input ends (the response would then be affine, not linear).

    Parameters
    ----------
    method : {"auto", "direct", "cg"}
        ``"direct"``: nested-dissection Kron reduction of the array onto its ends (about
        62 N^3 flops, mostly BLAS; needs R, C >= 2 and every wire segment > 0 ohm).
        ``"cg"``: one conjugate-gradient solve per input (or per output, whichever side is
        smaller, by reciprocity). ``"auto"``: direct where it applies and is the faster
        (both sides >= 24 cells, neither over 32 times the other), else CG.
        A direct T is always checked against one full CG solve of a random input: its
        prediction must agree within ``kcl_tol`` of the largest output current. If not,
        ``"auto"`` falls back to CG and ``"direct"`` raises ConvergenceError.
    rtol, kcl_tol, max_iter
        As in :func:`solve`, for the CG solves (and the check).
    seed : int
        Seed of the check's random input.
    """
    require_crossbar(crossbar)
    if method not in TRANSFER_METHODS:
        raise ValidationError(f"method={method!r} is not one of {TRANSFER_METHODS}")
    if not crossbar.is_linear:
        raise ValidationError(
            f"transfer_matrix needs a linear device model; {type(crossbar.device).__name__} is "
            f"nonlinear, so i_out depends on v_in nonlinearly: use solve(crossbar, v_in) instead"
        )
    if crossbar.has_bias:
        raise ValidationError(
            "this crossbar holds nonzero bias voltages on non-input ends, so i_out = T v_in + "
            "offset is affine; set those v_* to 0 for transfer_matrix or use solve()"
        )
    max_iter = _default_max_iter(crossbar) if max_iter is None else int(max_iter)
    if method != "cg":
        why_not = _transfer.applicable(crossbar)
        if why_not is not None and method == "direct":
            raise ValidationError(f"method='direct' cannot be used for this crossbar: {why_not}; "
                                  f"use method='cg' or 'auto'")
        if why_not is None and (method == "direct" or _direct_is_faster(crossbar.shape)):
            t = _direct_checked(crossbar, method, rtol, kcl_tol, max_iter, seed)
            if t is not None:
                return t
    return _transfer_matrix_cg(crossbar, rtol, kcl_tol, max_iter)


def transfer_matrices(crossbars, *, method: str = "auto", rtol: float = DEFAULT_RTOL,
                      kcl_tol: float = DEFAULT_KCL_TOL, max_iter: int | None = None,
                      seed: int = 0) -> list:
    """Transfer matrices of many arrays: ``[transfer_matrix(x, ...) for x in crossbars]``,
    with one array per thread at a time.

    For a study's thousands of arrays this is the throughput path: ``transfer_matrix`` splits
    one array over the cores, which leaves a core idle while the halves are merged; whole
    arrays side by side keep both busy (128x128 on 2 cores: 5.4 ms per array against 5.6 ms
    one at a time; bench/README.md). Arguments as in :func:`transfer_matrix`; an error
    carries a note naming the array's index in the list.
    """
    crossbars = list(crossbars)
    kw = dict(method=method, rtol=rtol, kcl_tol=kcl_tol, max_iter=max_iter, seed=seed)

    def one(index):
        before = _serial()
        _local.serial = True
        try:
            return transfer_matrix(crossbars[index], **kw)
        except Exception as err:
            err.add_note(f"(while computing the transfer matrix of crossbars[{index}])")
            raise
        finally:
            _local.serial = before

    n_threads = min(num_threads(), len(crossbars))
    if n_threads <= 1 or _serial():
        return [one(k) for k in range(len(crossbars))]
    # one BLAS thread for the whole batch: per-array limits would give BLAS its threads back
    # while another array is still inside its own
    with _transfer.single_threaded_blas():
        return list(_executor(n_threads).map(one, range(len(crossbars))))


def _direct_is_faster(shape):
    """Where "auto" picks the direct method: measured on 2 cores, CG wins on narrow arrays
    (few solves by reciprocity: 1024x24 15 ms against 20 ms, 16x16 0.2 against 0.6 ms) and
    the direct method everywhere else (256x24 2.6 against 5.6 ms, 128x128 8 against 28 ms)."""
    short, long = min(shape), max(shape)
    return short >= 24 and long <= 32 * short


def _direct_checked(xbar, method, rtol, kcl_tol, max_iter, seed):
    """Direct T, or None (auto only) when it fails its check against a full solve."""
    _background.before("transfer")
    prep = _prepare(xbar)
    output_code = END_NAMES.index(xbar.output_end)
    executor = _executor(num_threads()) if num_threads() > 1 and not _serial() else None
    v = np.random.default_rng(seed).standard_normal(xbar.n_inputs)

    def check_solve():
        return solve(xbar, v, rtol=rtol, kcl_tol=kcl_tol, max_iter=max_iter,
                     keep_nodes=False).i_out

    # the check's solve runs on the pool thread after the smaller half (_transfer.boundary_matrix)
    try:
        t, side = _transfer.transfer_matrix_direct(
            prep.g, xbar.r_row, xbar.r_col, prep.term_g, prep.input_code, output_code,
            executor, beside=check_solve)
    except np.linalg.LinAlgError:
        err = np.inf  # a block broke down: there is no T to check, so no check solve either
    else:
        finite = bool(np.isfinite(t).all())
        ref = side.result()
        scale = float(np.abs(ref).max())
        err = float(np.abs(t @ v - ref).max()) / scale if finite and scale > 0 else (
            0.0 if finite else np.inf)
    if err <= kcl_tol:
        return np.ascontiguousarray(t)
    if method == "direct":
        raise ConvergenceError(
            f"direct transfer matrix disagrees with a full solve by {err:.3g} of the largest "
            f"output current (allowed {kcl_tol:.3g}); use method='cg' for this array",
            residual=err, iterations=0, tolerance=kcl_tol)
    return None


def _transfer_matrix_cg(crossbar, rtol, kcl_tol, max_iter):
    """One CG solve per input (per output when that side is smaller)."""
    # Reciprocity: a linear resistive network has a symmetric short-circuit admittance matrix,
    # so driving the outputs and reading the inputs gives T transposed. Solve the smaller side.
    reverse = crossbar.n_outputs < crossbar.n_inputs
    xbar = crossbar
    if reverse:
        kw = {f.name: getattr(crossbar, f.name) for f in dataclasses.fields(crossbar)}
        kw["input_end"], kw["output_end"] = crossbar.output_end, crossbar.input_end
        xbar = Crossbar(**kw)
    out = _solve_linear(xbar, np.eye(xbar.n_inputs), rtol, max_iter, keep_nodes=False)
    _check_converged(out, rtol, kcl_tol, max_iter)
    t = _end_currents(out, xbar.output_end)  # (n_solved, n_read)
    return np.ascontiguousarray(t if reverse else t.T)
