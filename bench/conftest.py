"""Benchmark set-up: sizes (quick by default, full on request), the shared circuits, and a
closing table of ratios against the references measured in the same run.

    python -m pytest bench                      # quick: small sizes, a few rounds
    python -m pytest bench --full               # every size in the issues' targets
    CIRCUITXBAR_BENCH_FULL=1 python -m pytest bench
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from circuitxbar._background import SWITCH as BACKGROUND_SWITCH  # noqa: E402

# no background compile worker in the benchmark process (circuitxbar/_background.py): with a
# cold cache (after any kernel source changed) it would compile beside the first benchmarks and
# slow them. The switch is read at the first solver call, so setting it after the import is in
# time. First-call compile is measured in fresh processes of its own
# (test_bench_process_limits.py), the installed default among them.
os.environ[BACKGROUND_SWITCH] = "0"

#: (case, size) -> {"impl": seconds per unit of work}; filled by the benchmarks
RESULTS = {}
#: lines for the run's summary, below the table (see note)
NOTES = []


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="benchmark every size (slow: minutes), not just the quick ones")


def full_run(config):
    return config.getoption("--full") or os.environ.get("CIRCUITXBAR_BENCH_FULL", "") == "1"


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        quick, full = getattr(metafunc.module, "SIZES", ((64, 128), (64, 128, 256, 512)))
        metafunc.parametrize("size", full if full_run(metafunc.config) else quick)


def record(case, size, impl, seconds, unit="input"):
    RESULTS.setdefault((case, size, unit), {})[impl] = seconds


def note(line):
    """A line for the run's summary, below the table (a figure's spread, say)."""
    NOTES.append(line)


#: seconds of untimed calls before every timed benchmark. The steady state a study runs in has
#: both cores busy; on this 2-core VM a core that sat idle (while a single-threaded reference
#: ran, say) runs two-thread kernels 1.5-3x slower for its first ~0.1 s back: the 128x128
#: transfer matrix right after SuperLU took 9-17 ms for 8-10 calls, then 5-7 ms. One warm-up
#: call (5 ms) left most of an 11-round benchmark (70 ms) inside that window.
WARM_UP_S = 0.3


def steady(benchmark, fn, *, args=(), kwargs=None, rounds):
    """benchmark.pedantic(fn, ...) one call per round, after one untimed call (it compiles the
    kernels and allocates the workspaces) and then WARM_UP_S more of untimed calls (a first
    call that compiled would otherwise use up the window on one core). Returns fn's result."""
    kwargs = kwargs or {}
    fn(*args, **kwargs)
    end = time.perf_counter() + WARM_UP_S
    while time.perf_counter() < end:
        fn(*args, **kwargs)
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=rounds, iterations=1)


def median_seconds(benchmark):
    return benchmark.stats.stats.median


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    out = os.environ.get("CIRCUITXBAR_BENCH_RESULTS")
    if out:  # for bench/report.py
        import json

        rows = [{"case": c, "size": s, "unit": u, "seconds": impls}
                for (c, s, u), impls in sorted(RESULTS.items())]
        with open(out, "w") as fh:
            json.dump({"rows": rows, "notes": NOTES}, fh, indent=1)
    tr = terminalreporter
    tr.section("circuitxbar against its references (median, same run)")
    tr.write_line(f"{'case':34s} {'size':>5s} {'unit':>8s} {'circuitxbar':>13s} "
                  f"{'reference':>13s} {'ratio':>9s}  reference")
    for (case, size, unit), impls in sorted(RESULTS.items()):
        ours = impls.get("circuitxbar")
        for ref_name, ref in impls.items():
            if ref_name == "circuitxbar":
                continue
            ratio = f"{ref / ours:8.1f}x" if ours else "-"
            tr.write_line(f"{case:34s} {size:5d} {unit:>8s} {fmt(ours, unit):>13s} "
                          f"{fmt(ref, unit):>13s} "
                          f"{ratio:>9s}  {ref_name}")
    for line in NOTES:
        tr.write_line(line)


def fmt(value, unit="s"):
    """A time [s], or a size when unit is "MB"."""
    if value is None:
        return "-"
    if unit == "MB":
        return f"{value:.0f} MB"
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def bench_crossbar(n, *, r_wire=1.0, g_lo=1e-5, g_hi=1e-4, seed=0, **kw):
    """The issues' benchmark circuit: n x n, cells uniform in [g_lo, g_hi] S, r_wire segments."""
    import circuitxbar as cx

    rng = np.random.default_rng(seed)
    return cx.Crossbar(rng.uniform(g_lo, g_hi, (n, n)), r_wire, r_wire, **kw)
