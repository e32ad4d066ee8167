"""What several test files need to watch the kernels: read-only inputs, and Numba's compile
events as a listener registered after circuitxbar's own sees them."""

import numpy as np
from numba.core import event


def read_only(a):
    """A read-only copy of ``a`` (writability is part of a Numba array type)."""
    a = np.array(a)
    a.flags.writeable = False
    return a


def compile_events(call, record):
    """Run ``call()`` and return ``record(event)`` for every compile that starts meanwhile, in
    order; a compile that fails is recorded all the same."""
    seen = []

    class Probe(event.Listener):
        def on_start(self, ev):
            seen.append(record(ev))

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Probe()):
        call()
    return seen
