"""``sdeprop run CONFIG``: a simulation from a TOML configuration, written to HDF5."""

from __future__ import annotations

from pathlib import Path

from . import args as common


def add_parser(subparsers):
    p = subparsers.add_parser("run", help="run a simulation from a TOML configuration")
    p.add_argument("config", help="run configuration (TOML)")
    common.add_output_option(p, "HDF5 output path (default: run.output)")
    common.add_run_size_options(p)
    common.add_set_option(p)
    p.add_argument("--plot", action="store_true", help="also write a PNG next to the output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run (also the default: finished batches are kept in OUTPUT.partial/)",
    )
    p.add_argument(
        "--restart", action="store_true", help="discard an interrupted run of this output and start afresh"
    )
    p.add_argument(
        "--batches",
        metavar="START:STOP",
        help="run only these batches of the plan (join the parts with 'sdeprop merge')",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the batches on this Dask cluster (overrides [parallel] scheduler)",
    )
    return p


def main(args):
    from ..engine import max_step_kpc, run
    from ..plotting import plot_result

    cfg = common.config_with_settings(args.config, args.set)
    out = Path(args.output) if args.output else cfg.output_path
    result = run(
        cfg,
        particles=args.particles,
        workers=args.workers,
        progress=False if args.quiet else None,
        output=out,
        batches=args.batches,
        scheduler=args.scheduler,
        restart=args.restart,
    )
    c, tm = result.counts, result.timings
    print(f"wrote {out}")
    if "above_source_energy" in c:  # the backward estimator (docs/observer.md)
        print(
            f"  backward paths {c['injected']}: escaped {c['escaped_z']} (|z|=H) + {c['escaped_R']} "
            f"(R=Rmax), climbed out of the source range {c['above_source_energy']}, alive at t_max "
            f"{c['alive_at_t_max']}, stopped by the step limit {c['max_steps_reached']}"
        )
    else:
        print(
            f"  injected {c['injected']}, escaped {c['escaped_z']} (|z|=H) + {c['escaped_R']} (R=Rmax), "
            f"alive at t_max {c['alive_at_t_max']}, stopped by the step limit {c['max_steps_reached']}, "
            f"below energy floor {c['below_energy_floor']}"
        )
    print(
        f"  {c['steps']:.3e} steps in {tm['wall_s']:.1f} s wall on {tm['workers']} worker(s): "
        f"{tm['steps_per_s_per_core']:.3g} steps/s/core"
    )
    md = result.metadata
    if "integrator" in md:
        cap = max_step_kpc(cfg)
        if cap is None:
            cap_text = "no cap"
        elif cfg.time.max_step_kpc is not None:
            cap_text = f"time.max_step_kpc = {cap:.3g} kpc"
        else:
            cap_text = f"capped at {cap:.3g} kpc, the field model's narrowest transition"
        print(
            f"  step: {md['integrator']} (numerics.integrator = {cfg.numerics.integrator!r}), parallel "
            f"displacement at most {md['max_parallel_step_kpc']:.3g} kpc per step "
            f"(step_fraction {cfg.time.step_fraction:g}; {cap_text})"
        )
    if args.plot:
        png = plot_result(result, out.with_suffix(".png"))
        print(f"wrote {png}")
