"""``sdeprop losses [CONFIG]``: the energy-loss rates at a point, process by process, and the local
propagation horizon (:mod:`sdeprop.horizon`) — a table on stdout and a PNG."""

from __future__ import annotations

import argparse
import math

import numpy as np

from . import args as common

DEFAULT_CONFIG = {"species": {"name": "electron"}, "losses": {"model": "galactic"}}
"""The configuration used without a CONFIG argument: electrons, ``losses.model = 'galactic'``."""


def _source_energy(text):
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a positive energy in GeV, or inf")
    return v


def add_parser(subparsers):
    f = subparsers.add_parser(
        "losses",
        help="energy-loss rates of each process at a point (table and PNG), and the local propagation "
        "horizon",
        description="Loss rates b = -dE/dt of each process at a point, with the loss time E/b; with "
        "--horizon also the local propagation horizon λ∥, λ⊥ (sdeprop/horizon.py). Without "
        "CONFIG: electrons with losses.model = 'galactic' and all other keys at their defaults.",
    )
    f.add_argument(
        "config", nargs="?", help="run configuration (TOML); default: electrons, losses.model = 'galactic'"
    )
    f.add_argument(
        "--at",
        metavar="x,y,z",
        help="the point [kpc] (default galaxy.sun_position_kpc; write --at=-8.3,0,0 when x is negative)",
    )
    f.add_argument("--species", choices=("electron", "positron", "proton"), help="override species.name")
    f.add_argument(
        "--energy-range",
        metavar="EMIN,EMAX",
        help="kinetic energies of the figure [GeV] (default energy.min_GeV,energy.max_GeV)",
    )
    f.add_argument(
        "--energies",
        metavar="E1,E2,...",
        help="energies of the printed table [GeV] (default: the powers of ten in the range)",
    )
    common.add_set_option(
        f, common.SET_HELP + "; e.g. --set diffusion.epsilon=0.3 --set 'field={model=\"uf23\"}'"
    )
    f.add_argument(
        "--horizon",
        action="store_true",
        help="also the local horizon λ∥, λ⊥, λ_z (a third panel and table columns)",
    )
    f.add_argument(
        "--source-energy",
        type=_source_energy,
        metavar="ES",
        help="source energy E_s of the horizon [GeV], or inf (default energy.max_GeV)",
    )
    f.add_argument(
        "--kernel-table",
        action="store_true",
        help="also the total as the kernel's interpolation table gives it (builds the table: "
        "a second or two)",
    )
    f.add_argument("--points", type=int, default=121, help="energies on the figure's curves (default 121)")
    common.add_output_option(f, "PNG path (default losses.png)")
    return f


def _config(args):
    """The configuration file (or :data:`DEFAULT_CONFIG`), then --species, then each --set."""
    from ..config import read_toml

    data = dict(DEFAULT_CONFIG) if args.config is None else read_toml(args.config)
    if args.species is not None:
        data["species"] = {**data.get("species", {}), "name": args.species}
    return common.config_with_settings(data, args.set, origin=args.config)


def main(args):
    from ..errors import ConfigError
    from ..horizon import (
        decade_energies,
        local_environment,
        local_loss_rates,
        loss_table,
        validate_position,
    )
    from ..plotting import plot_losses

    cfg = _config(args)
    pos = validate_position(
        cfg, common.numbers(args.at, 3, "--at") if args.at is not None else cfg.galaxy.sun_position_kpc
    )
    if args.energy_range is not None:
        emin, emax = common.numbers(args.energy_range, 2, "--energy-range")
    else:
        emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    if not (0.0 < emin < emax):
        raise ValueError(f"--energy-range {emin:g},{emax:g}: needs 0 < EMIN < EMAX [GeV]")
    if args.energies is not None:
        table_e = np.array(common.numbers(args.energies, None, "--energies"))
        if np.any(table_e <= 0):
            raise ValueError(f"--energies '{args.energies}' must be positive [GeV]")
    else:
        table_e = decade_energies(emin, emax)
    if not 2 <= args.points <= 100000:
        raise ValueError(f"--points {args.points}: must be between 2 and 100000")
    if not local_loss_rates(cfg, pos, np.array([emin])):
        if cfg.losses.model == "none":
            raise ConfigError(
                "the configuration has losses.model = 'none': nothing to show "
                "(add --set losses.model=galactic, or quadratic)"
            )
        raise ConfigError(
            f"losses.model = 'galactic' has no active process for {cfg.species.name} here "
            "(protons: the default switches them off when energy.min_GeV ≥ 10); name them, "
            "e.g. "
            '--set \'losses.processes=["coulomb_ionisation","pion_production"]\''
        )
    es = (cfg.energy.max_GeV if args.source_energy is None else args.source_energy) if args.horizon else None
    env = local_environment(cfg, pos)
    curves = loss_table(
        cfg,
        pos,
        np.logspace(math.log10(emin), math.log10(emax), args.points),
        horizon=args.horizon,
        source_energy_GeV=es,
    )
    rows = loss_table(
        cfg,
        pos,
        table_e,
        horizon=args.horizon,
        source_energy_GeV=es,
        kernel_table=args.kernel_table,
        kernel_range_GeV=(emin, emax),
    )

    for line in _describe(cfg, pos, env):
        print(line)
    if rows.horizon is not None:
        print(_horizon_line(cfg, rows.horizon, curves.horizon))
    for line in _table(rows):
        print(line)
    png = plot_losses(
        curves,
        args.output or "losses.png",
        _title(cfg, pos, env),
        kernel_points=rows if args.kernel_table else None,
        halo_height_kpc=cfg.galaxy.halo_height_kpc if args.horizon else None,
    )
    print(f"wrote {png}")


# --------------------------------------------------------------------------- text
def _fmt_pos(p, fmt=".4g"):
    return "(" + ", ".join(format(float(v) + 0.0, fmt) for v in p) + ")"  # + 0.0: no "-0"


def _describe(cfg, pos, env):
    """Header lines: the point, the losses, the field, gas and radiation there."""
    from ..models.loss_processes import U_B_EV_CM3_PER_UG2

    lc = cfg.losses
    lines = [
        f"{cfg.species.name} at (x, y, z) = {_fmt_pos(pos)} kpc: "
        f"R = {math.hypot(pos[0], pos[1]):.4g} kpc, "
        f"|z| = {abs(pos[2]):.4g} kpc (halo: R < {cfg.galaxy.radius_max_kpc:g}, "
        f"|z| < {cfg.galaxy.halo_height_kpc:g})"
    ]
    if lc.model == "quadratic":
        lines.append(
            f"  losses.model = 'quadratic': b = b0 E², b0 = {lc.b0_per_GeV_per_s:.4g} GeV⁻¹ s⁻¹, "
            "the same everywhere"
        )
        return lines
    lines.append(
        f"  losses.model = 'galactic': {', '.join(env['processes'])}"
        + (f"; Klein–Nishina '{lc.klein_nishina}'" if "inverse_compton" in env["processes"] else "")
    )
    lines.append(
        f"  field '{cfg.field.model}': B = {_fmt_pos(env['B_reg_uG'], '.3g')} μG, "
        f"|B| = {env['B_reg_abs_uG']:.3g} μG; "
        f"turbulence '{cfg.turbulence.model}': δB_rms = {env['dB_rms_uG']:.3g} μG"
    )
    if "synchrotron" in env["processes"]:
        src = "losses.magnetic_field_uG" if lc.magnetic_field_uG is not None else "|B|² + δB_rms²"
        lines.append(
            f"  synchrotron: B² = {env['B2_sync_uG2']:.4g} μG² ({src}), "
            f"U_B = {env['B2_sync_uG2'] * U_B_EV_CM3_PER_UG2:.3g} eV cm⁻³"
        )
    lines.append(
        f"  gas: n_HI = {env['n_HI']:.3g}, n_H2 = {env['n_H2']:.3g} (molecules), "
        f"n_HII = {env['n_HII']:.3g}, n_He = {env['n_He']:.3g} cm⁻³"
    )
    comps = ", ".join(f"{t:.4g} K: {u:.3g}" for t, u in env["U_rad_components"])
    lines.append(f"  radiation ('{lc.isrf.model}'): U = {env['U_rad_eV_cm3']:.3g} eV cm⁻³ ({comps})")
    return lines


def _horizon_line(cfg, h, h_curves):
    """What the horizon columns are: E_s, the diffusion model, b̂ and the quadrature error."""
    d = h.direction
    bdir = "undefined (B = 0: λ∥ = λ⊥)" if not np.all(np.isfinite(d)) else _fmt_pos(d, ".3f")
    dc = cfg.diffusion
    es = "∞" if math.isinf(h.source_energy_GeV) else format(h.source_energy_GeV, ".4g") + " GeV"
    error = max(h.relative_error, h_curves.relative_error)
    line = (
        f"  horizon λ_i² = 4 ∫_E^E_s D_i/b dE' with the losses held at their values here (local, "
        f"infinite medium): E_s = {es}, diffusion '{dc.form}' (D0 = {dc.D0_cm2_per_s:.3g} cm²/s, "
        f"ε = {dc.epsilon:g}), field direction b̂ = {bdir}; quadrature error ≈ {error:.1g}"
    )
    if math.isinf(h.source_energy_GeV):
        line += f", tail above {h.cut_GeV:.2g} GeV (∝ E^-{h.tail_slope:.3g}): {h.tail_fraction:.1e} of λ²"
    return line


def _table(t):
    """The rows of a :class:`sdeprop.horizon.LossTable` as aligned text lines (with a header)."""
    names = list(t.rates_GeV_per_s)
    kernel, h = t.kernel_total_GeV_per_s, t.horizon
    cols = ["E [GeV]"] + names + ["total [GeV/s]", "E/b [Myr]"]
    if kernel is not None:
        cols += ["kernel table", "table/direct-1"]
    if h is not None:
        cols += ["λ∥ [kpc]", "λ⊥ [kpc]", "λ_z [kpc]"]
    widths = [max(len(c), 11) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for i, e in enumerate(t.energy_GeV):
        total = t.total_GeV_per_s[i]
        row = [f"{e:.4g}"] + [f"{t.rates_GeV_per_s[n][i]:.4e}" for n in names] + [f"{total:.4e}"]
        row.append(f"{t.loss_time_Myr[i]:.4g}" if total > 0 else "inf")
        if kernel is not None:
            row += [f"{kernel[i]:.4e}", f"{kernel[i] / total - 1:+.2e}" if total > 0 else "-"]
        if h is not None:
            for lam in (h.lambda_par_kpc, h.lambda_perp_kpc, h.lambda_z_kpc):
                row.append("-" if not np.isfinite(lam[i]) else f"{lam[i]:.4g}")
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return lines


def _title(cfg, pos, env):
    """The figure's title: the point and what the losses there depend on."""
    lc = cfg.losses
    head = f"{cfg.species.name} at (x, y, z) = {_fmt_pos(pos)} kpc"
    if lc.model == "quadratic":
        return head + f"\nb = b0 E², b0 = {lc.b0_per_GeV_per_s:.3g} GeV⁻¹ s⁻¹"
    parts = []
    if "synchrotron" in env["processes"]:
        parts.append(
            f"B² = {env['B2_sync_uG2']:.3g} μG² (|B_reg| = {env['B_reg_abs_uG']:.2g}, "
            f"δB_rms = {env['dB_rms_uG']:.2g} μG)"
        )
    else:
        parts.append(f"|B_reg| = {env['B_reg_abs_uG']:.2g} μG")
    parts.append(f"n_HI = {env['n_HI']:.2g}, n_H2 = {env['n_H2']:.2g}, n_HII = {env['n_HII']:.2g} cm⁻³")
    parts.append(f"U_rad = {env['U_rad_eV_cm3']:.3g} eV cm⁻³")
    return head + f"   [field '{cfg.field.model}', turbulence '{cfg.turbulence.model}']\n" + ";  ".join(parts)
