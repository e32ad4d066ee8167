"""``circuitxbar demo``: the embedded default job until the BERT-Large study lands.

Solves a seeded random array with real wire resistance and prints how far its outputs are from
the ideal ``G^T v`` (the IR-drop error) and where the power goes.
"""

from __future__ import annotations

import time

import numpy as np

#: a first call slower than this [s] compiled rather than loaded: the demo names precompile
COMPILE_HINT_S = 2.0


def add_parser(subparsers):
    p = subparsers.add_parser("demo", help="solve a 256x256 array and print its IR-drop error")
    p.add_argument("--size", type=int, default=256, help="rows = columns (default 256)")
    p.add_argument("--r-wire", type=float, default=1.0, help="wire segment resistance [ohm]")
    p.add_argument("--g-min", type=float, default=1e-6, help="lowest cell conductance [S]")
    p.add_argument("--g-max", type=float, default=5e-5, help="highest cell conductance [S]")
    p.add_argument("--v-read", type=float, default=0.2, help="largest input voltage [V]")
    p.add_argument("--batch", type=int, default=16, help="number of random input vectors")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args):
    import circuitxbar as cx
    from circuitxbar.solver import DEFAULT_KCL_TOL

    rng = np.random.default_rng(args.seed)
    n = args.size
    g = rng.uniform(args.g_min, args.g_max, (n, n))
    xbar = cx.Crossbar(g, r_row=args.r_wire, r_col=args.r_wire)
    v = rng.uniform(0.0, args.v_read, (args.batch, n))
    t0 = time.perf_counter()
    cx.solve(xbar, v[:1])  # first call compiles (or loads the cached kernels)
    t1 = time.perf_counter()
    res = cx.solve(xbar, v, keep_nodes=False)
    t2 = time.perf_counter()
    ideal = v @ g
    err = np.abs(res.i_out - ideal) / np.abs(ideal).max(axis=1, keepdims=True)
    print(f"circuitxbar demo: {n}x{n} crossbar, cells {args.g_min:g}..{args.g_max:g} S, "
          f"wire segments {args.r_wire:g} ohm, {args.batch} random inputs up to {args.v_read:g} V")
    print(f"  IR-drop number N^2 r G_max      {xbar.ir_drop_number():.3g}")
    print(f"  IR-drop error of i_out vs G^T v  mean {err.mean():.3%}, worst {err.max():.3%} "
          f"(of the largest output)")
    print(f"  output loss sum(i_out)/sum(ideal) {res.i_out.sum() / ideal.sum():.4f}")
    tot = res.power_total.mean()
    print(f"  power per input                  {tot * 1e3:.4g} mW: devices "
          f"{res.power_device.mean() / tot:.1%}, row wires {res.power_row_wire.mean() / tot:.1%}, "
          f"column wires {res.power_col_wire.mean() / tot:.1%}")
    print(f"  energy balance |P_src - P_diss|/P_src  "
          f"{np.abs(res.power_source - res.power_total).max() / res.power_source.max():.1e}")
    print(f"  solver: {res.info.method}, {res.info.iterations.mean():.1f} CG iterations, "
          f"KCL mismatch beyond float64 rounding <= {res.info.kcl_residual.max():.1e} "
          f"(allowed {DEFAULT_KCL_TOL:g})")
    print(f"  time: first call {t1 - t0:.2f} s (compile or cache load), then "
          f"{(t2 - t1) / args.batch * 1e3:.2f} ms per input")
    if t1 - t0 > COMPILE_HINT_S:
        print("  (that call compiled the linear solver; `circuitxbar precompile` compiles every "
              "path, in parallel, into the disk cache once)")
    return 0
