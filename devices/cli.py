"""``circuitxbar device PRESET``: write a preset's I-V family to HDF5, optionally plot it."""

from __future__ import annotations

from circuitxbar.errors import ValidationError


def add_parser(subparsers):
    p = subparsers.add_parser(
        "device",
        help="I-V family of a device preset to HDF5 (and PNG with --plot)",
        description="Compute one I-V curve per conductance level of a device preset, write them "
                    "to HDF5 (units, description and the preset's JSON inside) and optionally "
                    "plot them.",
    )
    p.add_argument("preset", nargs="?", help="preset name (see --list)")
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--out", help="HDF5 output path (default device_<preset>.h5)")
    p.add_argument("--plot", metavar="PNG", help="also plot the family to this PNG "
                                                 "(needs circuitxbar[plot])")
    p.add_argument("--v-max", type=float, default=None,
                   help="sweep -V_MAX..V_MAX [V] (default 1 V or the model's range)")
    p.add_argument("--points", type=int, default=201, help="voltages per curve (default 201)")
    p.add_argument("--levels", type=int, default=None,
                   help="number of conductance levels (default: the preset's levels per cell)")
    p.set_defaults(func=run)
    return p


def run(args):
    from circuitxbar.devices.export import iv_family, plot_iv_family, write_iv_hdf5
    from circuitxbar.devices.presets import preset, preset_names

    if args.list:
        for name in preset_names():
            print(f"{name:16s} {preset(name).description}")
        return 0
    if args.preset is None:
        raise ValidationError(
            f"give a preset name; valid presets are {', '.join(preset_names())}"
        )
    spec = preset(args.preset)
    family = iv_family(spec, v_max=args.v_max, points=args.points, n_levels=args.levels)
    out = args.out or f"device_{spec.name}.h5"
    if args.plot:  # plot first: a missing matplotlib should fail before any file is written
        plot_iv_family(family, args.plot, title=f"{spec.name}: {type(spec.iv).__name__}")
    write_iv_hdf5(out, family, spec)
    g = family.conductance
    v = family.voltage
    print(f"device preset {spec.name}: {spec.description}")
    print(f"  model        {spec.iv.to_json()}")
    print(f"  window       {spec.g_min * 1e6:.4g} .. {spec.g_max * 1e6:.4g} uS "
          f"(on/off {spec.on_off_ratio:.4g}), {g.size} levels, read at {spec.v_read} V")
    print(f"  I at +{v[-1]:.3g} V  " + ", ".join(f"{x * 1e6:.4g}" for x in family.current[:, -1])
          + " uA")
    print(f"  wrote        {out}" + (f" and {args.plot}" if args.plot else ""))
    return 0
