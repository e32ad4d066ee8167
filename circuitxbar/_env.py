"""The ``CIRCUITXBAR_*`` on/off switches: every one listed here, read one way.

A switch is unset (or empty) for its default, else one of 1/true/yes/on or 0/false/no/off, in
any case, surrounding spaces ignored. Anything else is an error that names the variable, the
value and what it accepts: a mistyped switch would otherwise be silently read as its default.
"""

import os

from circuitxbar.errors import ValidationError

#: name -> (default, what it switches on): the switches that tune compile time and memory
SWITCHES = {
    "CIRCUITXBAR_NO_CACHE": (False, "no disk cache of compiled kernels (a read-only install)"),
    "CIRCUITXBAR_COMPILE_GC": (False, "Python's garbage collector keeps running while kernels "
                                      "compile"),
    "CIRCUITXBAR_LINK_ONLY": (True, "inner kernels compiled link-only"),
    "CIRCUITXBAR_LOOP_UNROLL": (False, "LLVM's loop unrolling (Numba's default pipeline)"),
    "CIRCUITXBAR_MALLOC_TUNING": (True, "freed memory kept mapped in the process (glibc)"),
    "CIRCUITXBAR_BACKGROUND_COMPILE": (True, "a worker process compiles the solver paths not "
                                             "called yet, on a cold disk cache"),
}
ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


def switch(name):
    """Whether switch ``name`` (a key of SWITCHES) is on, read from the environment now."""
    default, what = SWITCHES[name]
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if not value:
        return default
    if value in ON:
        return True
    if value in OFF:
        return False
    raise ValidationError(
        f"environment variable {name}={raw!r} is not an on/off value: set it to one of "
        f"{'/'.join(ON)} (on: {what}) or {'/'.join(OFF)}, or unset it for the default "
        f"({'on' if default else 'off'})")


def check_all():
    """Read every switch once (at import), so a mistyped one fails there, by name."""
    for name in SWITCHES:
        switch(name)
