"""Keep the memory the kernels free inside the process (glibc), so the next call reuses pages
that are already mapped instead of faulting in fresh ones.

Why: glibc serves every allocation of 128 KB or more (its starting mmap threshold) with fresh
pages from the operating system and trims freed memory back to it, so each call of a kernel
pays a page fault per 4 KB of the workspace it allocates, every time. Measured on a 2-core AMD
EPYC virtual machine: 26 fresh 512 KB arrays allocated and written cost 5.4 ms, the same arrays
reused 0.17 ms; a Newton chunk's fixed cost per call at 256 x 256 was 6.2 ms (0.5 ms with this
setting); 128 x 128 transfer matrix median 5.3-6.3 -> 4.6-4.7 ms, ``factorize`` at 256 x 256
87-90 -> 63-71 ms (3 alternating processes each).

What it sets, for the whole process (mallopt): blocks up to MMAP_THRESHOLD come from the heap
(glibc's own dynamic threshold stops at the same 32 MB), and freed memory stays mapped until
TRIM_THRESHOLD of it has piled up at a heap's top. The cost: up to that much freed memory per
heap stays in the process's resident size instead of going back to the system. Switched off
with ``CIRCUITXBAR_MALLOC_TUNING=0`` (set before circuitxbar is imported); a no-op where the C
library has no mallopt (macOS, Windows) or refuses the values.
"""

import ctypes

from circuitxbar._env import switch

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
#: largest block served from the heap rather than by its own mmap [bytes]
MMAP_THRESHOLD = 32 << 20
#: freed memory at a heap's top kept mapped before any is returned to the system [bytes]
TRIM_THRESHOLD = 256 << 20

SWITCHED_OFF = not switch("CIRCUITXBAR_MALLOC_TUNING")


def keep_freed_memory():
    """Apply the setting (see the module docstring). Returns whether it is in effect."""
    if SWITCHED_OFF:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1


#: whether the setting is in effect in this process (set at import, circuitxbar/__init__.py)
IN_EFFECT = False
