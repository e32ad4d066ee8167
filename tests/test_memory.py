"""The process keeps the memory the kernels free (circuitxbar._memory): a second round of the
same allocations reuses mapped pages instead of faulting in fresh ones."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

from circuitxbar import _memory

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the setting is glibc's mallopt")

PAGE = 4096
ROUND_BYTES = 16 << 20  # 16 arrays of 1 MB: freed together, more than glibc's own trim threshold


def _faults_per_round(rounds=5):
    import resource

    def one_round():
        arrays = [np.empty(ROUND_BYTES // 16 // 8) for _ in range(16)]
        for a in arrays:
            a.fill(1.0)  # touch every page
        del arrays

    one_round()  # the first round maps its pages
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        one_round()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / rounds


@glibc
def test_freed_workspace_is_reused_without_page_faults():
    if _memory.SWITCHED_OFF:
        pytest.skip("switched off by CIRCUITXBAR_MALLOC_TUNING=0")
    assert _memory.IN_EFFECT
    # without the setting each round faults in all of its 4096 pages again
    assert _faults_per_round() < 0.05 * ROUND_BYTES / PAGE


@glibc
def test_the_setting_can_be_switched_off():
    code = ("import circuitxbar, circuitxbar._memory as m; "
            "print(m.IN_EFFECT, m.SWITCHED_OFF)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env=dict(os.environ, CIRCUITXBAR_MALLOC_TUNING="0")).stdout
    assert out.split() == ["False", "True"]
