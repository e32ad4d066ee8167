"""Compilation flags for every Numba kernel, in one place (STYLE habit: never hard-coded).

fastmath stays off: the line solves rely on IEEE infinities for ideal terminals and
zero-resistance wires, and the solver promises 1e-9 agreement, which reassociation can break.
``cache=True`` keeps compiled kernels on disk next to the sources (``__pycache__``); set
``CIRCUITXBAR_NO_CACHE=1`` where that directory is read-only.
"""

import os

CACHE = os.environ.get("CIRCUITXBAR_NO_CACHE", "") not in ("1", "true", "yes")

#: options of every kernel. nogil: batches run one chunk per Python thread in parallel
#: (solver.run_chunked), which compiles far faster than ``parallel=True`` and ``prange``.
JIT = dict(nogil=True, cache=CACHE, fastmath=False, error_model="numpy")
