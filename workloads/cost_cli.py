"""``circuitxbar cost``: the architecture cost study, printed, stored (HDF5) and plotted.

The HDF5 file is self-describing: ``schema_version`` and ``format`` on the root, the full
configuration (cost parameters and component library) as JSON in ``config_json``, units and a
description on every dataset. It is written to a temporary file beside the target and moved
into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
import pathlib
import textwrap

import numpy as np

from circuitxbar.errors import ResultFileError, ValidationError
from circuitxbar.h5io import atomic_write, write_dataset
from circuitxbar.workloads.components import (
    DAC_LAWS,
    DEFAULT_LIBRARY,
    load_components,
    read_override_file,
)
from circuitxbar.workloads.cost import (
    DEFAULT_PARAMS,
    DEVIATION_TOLERANCE,
    REFERENCE_POINTS,
    CostParams,
    run_cost_study,
)

#: 2: the stored ``dac`` component carries its resolution laws and capacitor constants
#: (version 1 files scaled every DAC by doubling and lack those fields)
SCHEMA_VERSION = 2
FORMAT = "circuitxbar.cost_study"
DEFAULT_OUT = "cost_study.h5"
#: the sequence length of every figure the paper gives
PAPER_SEQ_LEN = 256


# ------------------------------------------------------------------------------------------
# HDF5
# ------------------------------------------------------------------------------------------
def write_cost_study(study, path):
    """Store a :class:`~circuitxbar.workloads.cost.CostStudy` in HDF5 at ``path``."""
    import h5py

    from circuitxbar import __version__

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["circuitxbar_version"] = __version__
            f.attrs["description"] = (
                "Area, energy and latency of BERT on memristor-crossbar accelerators beside the "
                "figures of Wang et al., TPAMI 2024 (arXiv 2410.15977); 32 nm"
            )
            f.attrs["seq_len"] = study.seq_len
            f.attrs["paper_seq_len"] = PAPER_SEQ_LEN
            f.attrs["deviation_tolerance"] = DEVIATION_TOLERANCE
            f.attrs["config_json"] = json.dumps(study.config_dict(), sort_keys=True)

            g = f.create_group("figures")
            g.attrs["description"] = "our figures beside the paper's, one row per figure"
            figs = study.figures
            write_dataset(g, "key", [x.key for x in figs], "", "figure identifier (JSON key)")
            write_dataset(g, "description", [x.description for x in figs], "", "what the figure is")
            write_dataset(g, "ours", [x.ours for x in figs], "see unit", "our value")
            write_dataset(g, "paper", [x.paper for x in figs], "see unit", "the paper's value")
            write_dataset(g, "unit", [x.unit for x in figs], "", "unit of ours and paper")
            write_dataset(g, "deviation", [x.deviation for x in figs], "1", "ours / paper - 1")
            write_dataset(g, "flagged", [x.flagged for x in figs], "",
                     f"|deviation| > {DEVIATION_TOLERANCE}")
            write_dataset(g, "source", [x.source for x in figs], "", "where the paper gives it")
            write_dataset(g, "note", [x.note for x in figs], "",
                     "the assumption behind our value; the reason when flagged")

            g = f.create_group("designs")
            g.attrs["description"] = "cost breakdowns by Fig. 12 category, per model/design"
            for label, d in zip(study.design_labels, study.designs):
                h = g.create_group(label)
                h.attrs["architecture"] = d.architecture
                h.attrs["model"] = d.model
                h.attrs["seq_len"] = d.seq_len
                write_dataset(h, "latency_s", d.latency_s, "s", "one inference")
                write_dataset(h, "categories", list(d.area_mm2), "", "Fig. 12 categories")
                write_dataset(h, "area_mm2", list(d.area_mm2.values()), "mm^2", "area per category")
                write_dataset(h, "energy_j", list(d.energy_j.values()), "J",
                         "dynamic energy per inference per category")
                write_dataset(h, "count_names", list(d.counts), "", "names of count_values")
                write_dataset(h, "count_values", list(d.counts.values()), "see count_names",
                         "sizes behind the totals (units in the names)")

            g = f.create_group("curves")
            g.attrs["description"] = "ours over column duplication d_c (Fig. 13)"
            for c in study.curves:
                h = g.create_group(c.model)
                write_dataset(h, "d_c", c.d_c, "1", "column pairs per row segment")
                write_dataset(h, "latency_s", c.latency_s, "s", "one inference")
                write_dataset(h, "area_mm2", c.area_mm2, "mm^2", "rho_r = 6.6e8 /mm^2")
                write_dataset(h, "area_ideal_mm2", c.area_ideal_mm2, "mm^2", "rho_r = inf")
                write_dataset(h, "energy_j", c.energy_j, "J", "one inference")

            b = study.base
            g = f.create_group("base_search")
            g.attrs["description"] = "encoding base search (Table 7, Fig. 11)"
            g.attrs["model"] = b.model
            g.attrs["d_c"] = b.d_c
            g.attrs["best_s"] = b.best_s
            write_dataset(g, "s", b.s, "1", "S: 2S resistors per digit")
            write_dataset(g, "base", b.base, "1", "balanced base 2^(S+1) - 1")
            write_dataset(g, "cycles", b.cycles, "1", "digits per INT8 activation")
            write_dataset(g, "compute_area_mm2", b.compute_area_mm2, "mm^2",
                          "computation crossbars")
            write_dataset(g, "compute_energy_j", b.compute_energy_j, "J", "computation crossbars")
            write_dataset(g, "compute_latency_s", b.compute_latency_s, "s", "compute time only")
            write_dataset(g, "compute_adp_mm2_s", b.compute_adp_mm2_s, "mm^2 s", "area-delay")
            write_dataset(g, "total_area_mm2", b.total_area_mm2, "mm^2", "whole design")
            write_dataset(g, "total_energy_j", b.total_energy_j, "J", "whole design")
            write_dataset(g, "latency_s", b.latency_s, "s", "whole design")

            g = f.create_group("latency_bounds")
            g.attrs["description"] = "Eq. (8) latency lower bound (Table 11)"
            write_dataset(g, "model", [x.model for x in study.bounds], "", "model")
            write_dataset(g, "activation_s", [x.activation_s for x in study.bounds], "s",
                     "alpha_a S_a b_a / B_a")
            write_dataset(g, "weight_s", [x.weight_s for x in study.bounds], "s", "N_w b_w / B_w")
            write_dataset(g, "bound_s", [x.bound_s for x in study.bounds], "s", "the max of both")

            g = f.create_group("reference_points")
            g.attrs["description"] = REFERENCE_POINTS[0].source
            write_dataset(g, "name", [r.name for r in REFERENCE_POINTS], "", "device")
            write_dataset(g, "energy_j", [r.energy_j for r in REFERENCE_POINTS], "J", "BERT-Large")
            write_dataset(g, "adp_mm2_s", [r.adp_mm2_s for r in REFERENCE_POINTS], "mm^2 s",
                     "BERT-Large")

            g = f.create_group("sensitivity")
            g.attrs["description"] = "what-ifs quoted in the reasons (units in the names)"
            for k, v in study.sensitivity.items():
                g.attrs[k] = v

    atomic_write(path, write)


def read_cost_study(path):
    """The figures and configuration of a stored study, as plain Python objects.

    Returns ``{"schema_version", "seq_len", "config", "figures": {key: {...}},
    "latency_bounds": {...}}``; raises ResultFileError for a missing, foreign or newer file.
    """
    import h5py

    path = str(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"cannot open cost study {path!r}: {exc}") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise ResultFileError(
                f"{path!r} is not a circuitxbar cost study (format "
                f"{f.attrs.get('format')!r}); write one with `circuitxbar cost --out`"
            )
        version = int(f.attrs.get("schema_version", -1))
        if version != SCHEMA_VERSION:
            raise ResultFileError(
                f"{path!r} has schema_version {version}; this circuitxbar reads "
                f"{SCHEMA_VERSION}; upgrade circuitxbar or rerun `circuitxbar cost`"
            )
        try:
            g = f["figures"]
            keys = [k.decode() if isinstance(k, bytes) else k for k in g["key"][()]]
            text = {}
            for name in ("description", "unit", "source", "note"):
                text[name] = [x.decode() if isinstance(x, bytes) else x for x in g[name][()]]
            figures = {
                k: {"ours": float(g["ours"][i]), "paper": float(g["paper"][i]),
                    "deviation": float(g["deviation"][i]), "flagged": bool(g["flagged"][i]),
                    **{n: text[n][i] for n in text}}
                for i, k in enumerate(keys)
            }
            lb = f["latency_bounds"]
            bounds = {
                (m.decode() if isinstance(m, bytes) else m): {
                    "activation_s": float(lb["activation_s"][i]),
                    "weight_s": float(lb["weight_s"][i])}
                for i, m in enumerate(lb["model"][()])
            }
            config = json.loads(f.attrs["config_json"])
            seq_len = int(f.attrs["seq_len"])
        except KeyError as exc:
            raise ResultFileError(f"{path!r} lacks {exc}; the file is damaged, rerun it") from None
    return {"schema_version": version, "seq_len": seq_len, "config": config,
            "figures": figures, "latency_bounds": bounds}


# ------------------------------------------------------------------------------------------
# plot (matplotlib is optional)
# ------------------------------------------------------------------------------------------
def plot_cost_study(study, path):
    """Area against latency, energy in brackets, in the style of the paper's Fig. 13 (PNG)."""
    try:
        from matplotlib.figure import Figure as MplFigure
    except ImportError:
        raise ValidationError(
            "--plot needs matplotlib, which is an optional extra; install it with "
            "`pip install circuitxbar[plot]` (or drop --plot)"
        ) from None
    fig = MplFigure(figsize=(11, 4.6), constrained_layout=True)
    axes = fig.subplots(1, len(study.curves))
    marks = {"mb": ("s", "MB"), "sb": ("^", "SB"), "isaac": ("D", "ISAAC-like")}
    for ax, curve in zip(np.atleast_1d(axes), study.curves):
        ms = curve.latency_s * 1e3
        ax.plot(ms, curve.area_mm2, "-", color="C0", label=r"ours, $\rho_r$ = 6.6e8/mm$^2$")
        ax.plot(ms, curve.area_ideal_mm2, "--", color="C0", alpha=0.6,
                label=r"ours, $\rho_r$ = $\infty$")
        for k in np.linspace(0, len(ms) - 1, 4).astype(int):
            ax.annotate(f"({curve.energy_j[k]*1e3:.3g})", (ms[k], curve.area_mm2[k]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7, color="C0")
        for label, d in zip(study.design_labels, study.designs):
            model, name = label.split("/")
            if model != curve.model:
                continue
            if name in marks:
                m, text = marks[name]
                ax.plot(d.latency_s * 1e3, d.total_area_mm2, m, color="C3")
                ax.annotate(f"{text} ({d.total_energy_j*1e3:.3g})",
                            (d.latency_s * 1e3, d.total_area_mm2), textcoords="offset points",
                            xytext=(5, -3), fontsize=7)
            elif name == "ours_adp_optimal":
                ax.plot(d.latency_s * 1e3, d.total_area_mm2, "o", color="C0")
                ax.annotate(f"min ADP {d.adp_mm2_s:.3g} mm$^2$s", (d.latency_s * 1e3,
                            d.total_area_mm2), textcoords="offset points", xytext=(5, 6),
                            fontsize=7)
        bound = [b for b in study.bounds if b.model == curve.model][0]
        ax.axvline(bound.bound_s * 1e3, color="0.5", ls=":", lw=1, label="Eq. (8) bound")
        if curve.model == "bert-large":
            xs = np.geomspace(ms.min() / 3, ms.max() * 3, 50)
            for r, style in zip(REFERENCE_POINTS, ("-.", ":")):
                ax.plot(xs, r.adp_mm2_s / (xs * 1e-3), style, color="0.35", lw=1,
                        label=f"{r.name} ADP {r.adp_mm2_s} mm$^2$s (paper)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(0.3, 2e3)
        ax.set_xlabel("latency [ms]")
        ax.set_ylabel("area [mm$^2$]  (energy in mJ)")
        ax.set_title(f"{curve.model}, {curve.seq_len} tokens, 32 nm")
        ax.grid(True, which="both", alpha=0.2)
        ax.legend(fontsize=7, loc="upper right")

    path = pathlib.Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))


# ------------------------------------------------------------------------------------------
# text
# ------------------------------------------------------------------------------------------
def format_study(study):
    """The human-readable report ``circuitxbar cost`` prints."""
    lines = [f"circuitxbar cost: BERT at {study.seq_len} tokens, 32 nm; ours beside Wang et al., "
             f"TPAMI 2024 (arXiv 2410.15977)"]
    if study.seq_len != PAPER_SEQ_LEN:
        lines.append(f"note: the paper's figures are for {PAPER_SEQ_LEN} tokens; deviations at "
                     f"{study.seq_len} tokens compare different workloads")
    lines.append("")
    lines.append(f"{'figure':<60}{'ours':>11}{'paper':>11}  {'unit':<7}{'dev':>7}")
    for f in study.figures:
        mark = " *" if f.flagged else ""
        lines.append(f"{f.description[:59]:<60}{f.ours:>11.4g}{f.paper:>11.4g}  {f.unit:<7}"
                     f"{f.deviation:>+7.0%}{mark}")
    lines += ["", f"* differs from the paper by more than {DEVIATION_TOLERANCE:.0%}; why:"]
    for f in study.deviations:
        lines += textwrap.wrap(f"{f.key}: {f.note}", width=100, initial_indent="  - ",
                               subsequent_indent="    ")
    lines += ["", "designs (area mm^2 | energy mJ | latency ms | ADP mm^2 s | detail)"]
    for label, d in zip(study.design_labels, study.designs):
        c = d.counts
        detail = (f"d_c {c['d_c']:.4g}, {c['computation_crossbars']:.4g} computation + "
                  f"{c['dense_crossbars']:.0f} dense crossbars" if "d_c" in c
                  else f"{c['crossbars']:.0f} crossbars of {c['bits_per_cell']:.0f} bit/cell")
        lines.append(f"  {label:<28}{d.total_area_mm2:>9.4g}{d.total_energy_j*1e3:>9.4g}"
                     f"{d.latency_s*1e3:>9.4g}{d.adp_mm2_s:>10.4g}  {detail}")
    b = study.base
    lines += ["", f"encoding base search ({b.model}, d_c {b.d_c:.4g}; compute array only)",
              "  S     base  cycles  S*cyc  area mm^2  energy mJ  latency ms  ADP rel. S=2"]
    adp = b.compute_adp_mm2_s
    for i in range(len(b.s)):
        lines.append(f"  {b.s[i]:<6}{b.base[i]:<6}{b.cycles[i]:>6}{b.scale_cycle_product[i]:>7}"
                     f"{b.compute_area_mm2[i]:>11.4g}{b.compute_energy_j[i]*1e3:>11.4g}"
                     f"{b.compute_latency_s[i]*1e3:>12.4g}{adp[i]/adp[1]:>13.3f}")
    lines.append(f"  chosen: S = {b.best_s}, base {2 ** (b.best_s + 1) - 1}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------
def _parse_param(text):
    if "=" not in text:
        raise ValidationError(f"--param {text!r} must look like KEY=VALUE, e.g. mb_bits_per_cell=2")
    key, value = text.split("=", 1)
    try:
        number = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(f"--param {key}={value!r}: the value must be a number") from None
    return key.strip(), number


def _study_from_args(args):
    library = DEFAULT_LIBRARY
    overrides = {}
    if args.components:
        library = load_components(args.components)
        params_table = read_override_file(args.components).get("params", {})
        if not isinstance(params_table, dict):
            raise ValidationError(f"'params' in {args.components!r} must be a table")
        overrides.update(params_table)
    dac_laws = {field: law for field, law in (("energy_law", args.dac_energy_law),
                                              ("area_law", args.dac_area_law)) if law}
    if dac_laws:
        library = library.with_overrides({"dac": dac_laws})
    overrides.update(dict(_parse_param(p) for p in args.param or ()))
    params = CostParams.from_dict({**DEFAULT_PARAMS.to_dict(), **overrides})
    return run_cost_study(args.seq_len, params, library)


def run(args):
    """Entry point of ``circuitxbar cost``."""
    if args.seq_len < 1:
        raise ValidationError(f"--seq-len {args.seq_len} must be a positive number of tokens")
    study = _study_from_args(args)
    if args.out:
        write_cost_study(study, args.out)
    if args.plot:
        plot_cost_study(study, args.plot)
    if args.json:
        print(json.dumps(study.to_json_dict(), indent=1, sort_keys=False))
    else:
        print(format_study(study))
        if args.out:
            print(f"\nwritten {args.out}")
        if args.plot:
            print(f"plotted {args.plot}")
    return 0


def add_parser(subparsers):
    """Register ``circuitxbar cost``."""
    p = subparsers.add_parser(
        "cost",
        help="area, energy and latency study beside the paper's figures",
        description="Compute the architecture-level area, energy and latency of BERT-Base and "
                    "BERT-Large on the paper's design, MB, SB and ISAAC-like crossbars, the "
                    "latency bound of Eq. (8) and the encoding-base search; print them beside "
                    "the paper's figures and store them in HDF5.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="FILE.h5",
                   help=f"HDF5 file to write (default {DEFAULT_OUT}; '' to skip)")
    p.add_argument("--no-out", dest="out", action="store_const", const="",
                   help="do not write the HDF5 file")
    p.add_argument("--plot", metavar="FILE.png", help="also draw area against latency (Fig. 13)")
    p.add_argument("--seq-len", type=int, default=256, help="tokens (default 256, the paper's)")
    p.add_argument("--components", metavar="FILE",
                   help="JSON/TOML overrides: tables named after components, optional 'params'")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="override one cost parameter (repeatable), e.g. mb_bits_per_cell=2")
    p.add_argument("--dac-energy-law", choices=DAC_LAWS,
                   help="DAC energy against resolution: two_term (row drive + capacitor array, "
                        "the default) or doubling (ISAAC's 1-bit DAC x 2 per bit)")
    p.add_argument("--dac-area-law", choices=DAC_LAWS,
                   help="DAC area against resolution: two_term (driver + capacitor array, the "
                        "default) or doubling")
    p.set_defaults(func=run)
    return p
