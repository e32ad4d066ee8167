"""Direct transfer matrix: the array's boundary matrix (``_reduce``), then its terminals.

Private; ``solver.transfer_matrix`` chooses between this and one CG solve per input.
"""

from __future__ import annotations

import concurrent.futures
import threading

import numpy as np

from circuitxbar import _reduce as R

#: below this many cross-points one thread does the whole reduction (handing the halves to
#: the pool costs more than they take)
_MIN_PARALLEL_CELLS = 4096


def applicable(xbar) -> str | None:
    """None when the direct method applies to this (linear, unbiased) array, else why not."""
    n_rows, n_cols = xbar.shape
    if n_rows < 2 or n_cols < 2:
        return "it needs at least 2 rows and 2 columns"
    if not (np.all(xbar.r_row > 0) and np.all(xbar.r_col > 0)):
        return "it needs every wire segment's resistance > 0 (zero-resistance lines merge nodes)"
    return None


def ports(term_g, input_code, output_code):
    """Which end sets stay on the boundary (left, right, top, bottom): the input and output
    sets, and any set with a terminal that is not open. An all-open set is eliminated early."""
    return np.array([k in (input_code, output_code) or bool(np.any(term_g[k] > 0))
                     for k in range(4)])


def end_terminals(term_g, keep):
    """The kept end sets (in order) and, for their nodes in the boundary matrix's order: the
    terminal conductances, which are pinned (ideal terminals: u = v) and which are free."""
    kept = [k for k in range(4) if keep[k]]
    gt = np.concatenate([term_g[k] for k in kept])
    pinned = np.isinf(gt)
    return kept, gt, pinned, np.flatnonzero(~pinned)


_controller = None
_controller_lock = threading.Lock()


def single_threaded_blas():
    """Context holding BLAS to one thread. The reduction makes thousands of mid-sized BLAS
    calls, two threads of ours at a time: OpenBLAS's own threads only add synchronisation
    (measured: 256x256 transfer matrix 136 ms with them, 61 ms without, on 2 cores)."""
    global _controller
    import threadpoolctl

    with _controller_lock:
        if _controller is None:  # after NumPy and SciPy loaded their BLAS
            _controller = threadpoolctl.ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def boundary_matrix(g, r_row, r_col, keep, executor=None, beside=None):
    """Laplacian (n_b, n_b) of the whole array at its kept end nodes, ordered left rows, right
    rows, top columns, bottom columns (kept sets only), in _reduce's LOWER convention.
    executor: a pool that reduces the second half of the array beside the first (the kernels
    release the GIL), then runs beside (a callable, if given): the second half is the smaller
    one (its far edges are usually open, so its boundary is shorter), and the check's solve
    runs on there while this thread merges the halves, off the critical path (128x128 on the
    AMD machine, both threads busy: halves 5.0-5.8 and 4.2-5.8 ms, the check 1.0-1.3 ms, the
    merge 0.7 ms).

    Returns (Laplacian, a Future of what beside returns, None without beside)."""
    n_rows, n_cols = g.shape
    wr = 1.0 / r_row
    wc = 1.0 / r_col
    none = np.empty((0, 0))
    if executor is None or n_rows * n_cols < _MIN_PARALLEL_CELLS:
        y = R.reduce_block(g, wr, wc, 0, n_rows, 0, n_cols, keep, none, none)
        side = concurrent.futures.Future()
        side.set_result(beside() if beside is not None else None)
        return y, side
    _rows, first, second = R.halves(0, n_rows, 0, n_cols)
    second_half = concurrent.futures.Future()

    def second_then_beside():
        try:
            second_half.set_result(R.reduce_block(g, wr, wc, *second, keep, none, none))
        except BaseException as exc:
            second_half.set_exception(exc)
            raise
        return beside() if beside is not None else None

    # one half on the pool, the other on this thread (which would otherwise only wait)
    side = executor.submit(second_then_beside)
    ya = R.reduce_block(g, wr, wc, *first, keep, none, none)
    yb = second_half.result()
    return R.reduce_block(g, wr, wc, 0, n_rows, 0, n_cols, keep, ya, yb), side


def transfer_matrix_direct(g, r_row, r_col, term_g, input_code, output_code, executor=None,
                           beside=None):
    """(T, side): T (n_out, n_in) [S] of a linear array with unbiased ends, i_out = T v_in,
    currents from the array into the output terminals; side the Future of beside's result,
    as in boundary_matrix (the caller's check runs there, after the smaller half).

    With the boundary matrix Y, the end-node voltages u and the source voltages v: nodes behind
    ideal terminals are pinned (u = v); the others satisfy (Y_FF + G_F) u_F = G_F v_F - Y_FP v_P.
    The current from the array into any terminal is then -(Y u) at its node.
    """
    with single_threaded_blas():
        return _transfer_matrix_direct(g, r_row, r_col, term_g, input_code, output_code,
                                       executor, beside)


def _transfer_matrix_direct(g, r_row, r_col, term_g, input_code, output_code, executor,
                            beside):
    n_rows, n_cols = g.shape
    sizes = (n_rows, n_rows, n_cols, n_cols)
    keep = ports(term_g, input_code, output_code)
    y, side = boundary_matrix(g, r_row, r_col, keep, executor, beside)
    kept, gt, pinned, free = end_terminals(term_g, keep)
    offset = dict(zip(kept, np.cumsum([0] + [sizes[k] for k in kept])[:-1]))
    inputs = offset[input_code] + np.arange(sizes[input_code])
    outputs = offset[output_code] + np.arange(sizes[output_code])
    # the unit input k sets source voltage 1 at node inputs[k]: v is a selection, so products
    # with it are column picks
    in_pinned = pinned[inputs]
    if in_pinned.all() and not free.size and input_code != output_code:
        # the common case: one block of the lower triangle (each end set is a contiguous range)
        return np.ascontiguousarray(-R.lower_block(y, outputs, inputs)), side
    y = R.full_laplacian(y)
    t = np.zeros((outputs.size, inputs.size))
    t[:, in_pinned] = -y[outputs[0]:outputs[-1] + 1][:, inputs[in_pinned]]
    if free.size:
        # (Y_FF + G_F) u_F = G_F v_F - Y_FP v_P, one column per input
        rhs = np.zeros((free.size, inputs.size))
        position = np.full(gt.size, -1)
        position[free] = np.arange(free.size)
        k_free = np.flatnonzero(~in_pinned)
        rhs[position[inputs[k_free]], k_free] = gt[inputs[k_free]]
        rhs[:, in_pinned] -= y[np.ix_(free, inputs[in_pinned])]
        u_free = np.linalg.solve(y[np.ix_(free, free)] + np.diag(gt[free]), rhs)
        t -= y[np.ix_(outputs, free)] @ u_free
    return t, side
