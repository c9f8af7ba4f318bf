"""``sdeprop losses``: the energy-loss rates at a point, process by process, and the local
propagation horizon (sdeprop/horizon.py) — a table on stdout and a PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

DEFAULT_CONFIG = {"species": {"name": "electron"}, "losses": {"model": "galactic"}}
"""The configuration used without a CONFIG argument: electrons, ``losses.model = 'galactic'``."""


# --------------------------------------------------------------------------- input
def _numbers(text, n, what):
    """``n`` comma-separated finite numbers from ``text`` (n = None: any count ≥ 1)."""
    try:
        vals = [float(c) for c in str(text).split(",")]
    except ValueError:
        vals = []
    if not vals or (n is not None and len(vals) != n) or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{what} '{text}' must be {n if n else 'one or more'} comma-separated number{'s' if n != 1 else ''}")
    return vals


def _set_key(data, item):
    """Apply one ``--set dotted.key=value`` to the configuration dict (value parsed as TOML, else a string)."""
    import tomllib

    from .config import ConfigError

    key, eq, raw = item.partition("=")
    key = key.strip()
    if not eq or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set '{item}' must be KEY=VALUE with a dotted key, e.g. diffusion.epsilon=0.3")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set '{item}': '{part}' is not a table of the configuration")
        node = nxt
    node[parts[-1]] = value


def build_losses_config(config_path=None, species=None, settings=()):
    """The validated configuration: the TOML file (or :data:`DEFAULT_CONFIG`), then ``species``,
    then each ``KEY=VALUE`` of ``settings``."""
    import copy

    from .config import load_config, read_toml

    data = copy.deepcopy(DEFAULT_CONFIG) if config_path is None else read_toml(config_path)
    if species is not None:
        data.setdefault("species", {})["name"] = species
    for item in settings or ():
        _set_key(data, item)
    return load_config(data)


# --------------------------------------------------------------------------- what the point looks like
def local_environment(cfg, position_kpc) -> dict:
    """Field, gas and radiation at the point, as the loss model sees them (for titles and headers)."""
    from .config import active_loss_processes
    from .models.field import evaluate_field
    from .models.gas import build_gas, evaluate_gas
    from .models.isrf import build_isrf, evaluate_isrf, isrf_n_components, isrf_temperature_K
    from .models.turbulence import evaluate_turbulence

    pt = np.asarray(position_kpc, dtype=float).reshape(1, 3)
    lc = cfg.losses
    B = evaluate_field(cfg.field, pt)[0][0]
    db = float(evaluate_turbulence(cfg.turbulence, pt)[0])
    env = {"B_reg_uG": B, "B_reg_abs_uG": float(np.linalg.norm(B)), "dB_rms_uG": db,
           "processes": active_loss_processes(cfg)}
    if lc.magnetic_field_uG is not None:
        env["B2_sync_uG2"] = lc.magnetic_field_uG**2
    else:
        env["B2_sync_uG2"] = float(B @ B) + db * db
    gas = evaluate_gas(build_gas(lc.gas.xco, xco_value=lc.gas.xco_value, scale_HI=lc.gas.scale_HI, scale_H2=lc.gas.scale_H2,
                                 scale_HII=lc.gas.scale_HII), pt)[0]
    env["n_HI"], env["n_H2"], env["n_HII"] = (float(v) for v in gas)
    env["n_He"] = lc.gas.helium_ratio * (env["n_HI"] + 2.0 * env["n_H2"])
    isrf = build_isrf(lc.isrf.model, components=lc.isrf.components, scale_lengths_kpc=lc.isrf.scale_lengths_kpc,
                      scale_heights_kpc=lc.isrf.scale_heights_kpc, R_sun_kpc=lc.isrf.R_sun_kpc, scale=lc.isrf.scale)
    u = evaluate_isrf(isrf, pt)[0]
    env["U_rad_components"] = [(float(isrf_temperature_K(isrf, i)), float(u[i])) for i in range(isrf_n_components(isrf))]
    env["U_rad_eV_cm3"] = float(np.sum(u))
    return env


def _fmt_pos(p, fmt=".4g"):
    return "(" + ", ".join(format(float(v) + 0.0, fmt) for v in p) + ")"  # + 0.0: no "-0"


def _describe(cfg, pos, env):
    """Header lines: the point, the losses, the field, gas and radiation there."""
    from .models.loss_processes import U_B_EV_CM3_PER_UG2

    lc = cfg.losses
    lines = [f"{cfg.species.name} at (x, y, z) = {_fmt_pos(pos)} kpc: R = {math.hypot(pos[0], pos[1]):.4g} kpc, "
             f"|z| = {abs(pos[2]):.4g} kpc (halo: R < {cfg.galaxy.radius_max_kpc:g}, |z| < {cfg.galaxy.halo_height_kpc:g})"]
    if lc.model == "quadratic":
        lines.append(f"  losses.model = 'quadratic': b = b0 E², b0 = {lc.b0_per_GeV_per_s:.4g} GeV⁻¹ s⁻¹, the same everywhere")
        return lines
    lines.append(f"  losses.model = 'galactic': {', '.join(env['processes'])}"
                 + (f"; Klein–Nishina '{lc.klein_nishina}'" if "inverse_compton" in env["processes"] else ""))
    field = (f"  field '{cfg.field.model}': B = {_fmt_pos(env['B_reg_uG'], '.3g')} μG, |B| = {env['B_reg_abs_uG']:.3g} μG; "
             f"turbulence '{cfg.turbulence.model}': δB_rms = {env['dB_rms_uG']:.3g} μG")
    lines.append(field)
    if "synchrotron" in env["processes"]:
        src = "losses.magnetic_field_uG" if lc.magnetic_field_uG is not None else "|B|² + δB_rms²"
        lines.append(f"  synchrotron: B² = {env['B2_sync_uG2']:.4g} μG² ({src}), U_B = {env['B2_sync_uG2'] * U_B_EV_CM3_PER_UG2:.3g} eV cm⁻³")
    lines.append(f"  gas: n_HI = {env['n_HI']:.3g}, n_H2 = {env['n_H2']:.3g} (molecules), n_HII = {env['n_HII']:.3g}, "
                 f"n_He = {env['n_He']:.3g} cm⁻³")
    comps = ", ".join(f"{t:.4g} K: {u:.3g}" for t, u in env["U_rad_components"])
    lines.append(f"  radiation ('{lc.isrf.model}'): U = {env['U_rad_eV_cm3']:.3g} eV cm⁻³ ({comps})")
    return lines


def _title(cfg, pos, env):
    lc = cfg.losses
    head = f"{cfg.species.name} at (x, y, z) = {_fmt_pos(pos)} kpc"
    if lc.model == "quadratic":
        return head + f"\nb = b0 E², b0 = {lc.b0_per_GeV_per_s:.3g} GeV⁻¹ s⁻¹"
    parts = []
    if "synchrotron" in env["processes"]:
        parts.append(f"B² = {env['B2_sync_uG2']:.3g} μG² (|B_reg| = {env['B_reg_abs_uG']:.2g}, δB_rms = {env['dB_rms_uG']:.2g} μG)")
    else:
        parts.append(f"|B_reg| = {env['B_reg_abs_uG']:.2g} μG")
    parts.append(f"n_HI = {env['n_HI']:.2g}, n_H2 = {env['n_H2']:.2g}, n_HII = {env['n_HII']:.2g} cm⁻³")
    parts.append(f"U_rad = {env['U_rad_eV_cm3']:.3g} eV cm⁻³")
    return head + f"   [field '{cfg.field.model}', turbulence '{cfg.turbulence.model}']\n" + ";  ".join(parts)


# --------------------------------------------------------------------------- figure
def losses_figure(path, energy_GeV, rates, title, horizon=None, kernel_total=None, halo_height_kpc=None):
    """PNG: loss time E/b [Myr] and b/E² [GeV⁻¹ s⁻¹] against E, one line per process and the total;
    with ``horizon`` (a :class:`sdeprop.horizon.HorizonResult` on the same energies) a third panel
    with λ∥, λ⊥ and λ_z."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .units import MYR_S

    e = np.asarray(energy_GeV, dtype=float)
    total = sum(rates.values(), np.zeros_like(e))
    n = 3 if horizon is not None else 2
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.6), constrained_layout=True)
    for name, b in list(rates.items()) + [("total", total)]:
        style = dict(color="k", lw=2.2) if name == "total" else dict(lw=1.4)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(b > 0, e / b / MYR_S, np.nan)
            q = np.where(b > 0, b / e**2, np.nan)
        axes[0].plot(e, t, label=name, **style)
        axes[1].plot(e, q, label=name, **style)
    if kernel_total is not None:
        ke, kb = kernel_total
        axes[1].plot(ke, kb / ke**2, "o", mfc="none", color="tab:red", ms=5, label="total, kernel table")
        axes[0].plot(ke, ke / kb / MYR_S, "o", mfc="none", color="tab:red", ms=5, label="total, kernel table")
    axes[0].set(xscale="log", yscale="log", xlabel="kinetic energy E [GeV]", ylabel="loss time E/b [Myr]",
                title="energy-loss time")
    axes[1].set(xscale="log", yscale="log", xlabel="kinetic energy E [GeV]", ylabel=r"b/E$^2$ [GeV$^{-1}$ s$^{-1}$]",
                title="loss coefficient b/E²")
    # y ranges follow the total: processes 10⁴ times weaker than it (or vanishing, like pion
    # production below threshold) would otherwise squash the curves that matter
    ok = total > 0
    if ok.any():
        t_tot, q_tot = e[ok] / total[ok] / MYR_S, total[ok] / e[ok] ** 2
        axes[0].set_ylim(0.3 * t_tot.min(), 1e4 * t_tot.max())
        axes[1].set_ylim(1e-4 * q_tot.min(), 3.0 * q_tot.max())
    for ax in axes[:2]:
        ax.grid(True, which="major", alpha=0.3)
    axes[0].legend(fontsize=8)
    if horizon is not None:
        h = horizon
        es = "∞" if math.isinf(h.source_energy_GeV) else f"{h.source_energy_GeV:.3g} GeV"
        ax = axes[2]
        ax.plot(h.energy_GeV, h.lambda_par_kpc, lw=2, label=r"$\lambda_\parallel$ (along $\hat b$)")
        ax.plot(h.energy_GeV, h.lambda_perp_kpc, lw=2, label=r"$\lambda_\perp$")
        ax.plot(h.energy_GeV, h.lambda_z_kpc, "--", lw=1.2, label=r"$\lambda_z$ (vertical)")
        if halo_height_kpc:
            ax.axhline(halo_height_kpc, color="grey", ls=":", lw=1, label=f"halo height H = {halo_height_kpc:g} kpc")
        d = h.direction
        bdir = "b̂ undefined (B = 0)" if not np.all(np.isfinite(d)) else f"b̂ = {_fmt_pos(d, '.2f')}"
        ax.set(xscale="log", yscale="log", xlabel="kinetic energy E [GeV]", ylabel="λ [kpc]",
               title=f"local horizon, E_s = {es}\n{bdir}")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- command
def _table(energies, rates, horizon=None, kernel=None):
    from .units import MYR_S

    names = list(rates)
    total = sum(rates.values(), np.zeros_like(energies))
    cols = ["E [GeV]"] + names + ["total [GeV/s]", "E/b [Myr]"]
    if kernel is not None:
        cols += ["kernel table", "table/direct-1"]
    if horizon is not None:
        cols += ["λ∥ [kpc]", "λ⊥ [kpc]", "λ_z [kpc]"]
    widths = [max(len(c), 11) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    for i, e in enumerate(energies):
        row = [f"{e:.4g}"] + [f"{rates[n][i]:.4e}" for n in names] + [f"{total[i]:.4e}"]
        row.append(f"{e / total[i] / MYR_S:.4g}" if total[i] > 0 else "inf")
        if kernel is not None:
            row += [f"{kernel[i]:.4e}", f"{kernel[i] / total[i] - 1:+.2e}" if total[i] > 0 else "-"]
        if horizon is not None:
            for lam in (horizon.lambda_par_kpc, horizon.lambda_perp_kpc, horizon.lambda_z_kpc):
                row.append("-" if not np.isfinite(lam[i]) else f"{lam[i]:.4g}")
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return lines


def _kernel_total(cfg, pos, energies, emin, emax):
    """The total as the kernel's interpolation table gives it (its energy range widened to the plot's)."""
    from .models.losses import kernel_loss_rate

    energy = cfg.energy.model_copy(update={"max_GeV": max(cfg.energy.max_GeV, emax)})
    kcfg = cfg.model_copy(update={"energy": energy})
    e = np.asarray(energies, dtype=float)
    return np.asarray(kernel_loss_rate(kcfg, np.tile(pos, (e.size, 1)), e, energy_floor_GeV=min(emin, float(e.min()))))


def cmd_losses(args):
    from .config import ConfigError
    from .horizon import local_loss_rates, propagation_horizon, validate_position

    cfg = build_losses_config(args.config, args.species, args.set)
    pos = validate_position(cfg, _numbers(args.at, 3, "--at") if args.at is not None else cfg.galaxy.sun_position_kpc)
    if args.energy_range is not None:
        emin, emax = _numbers(args.energy_range, 2, "--energy-range")
    else:
        emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    if not (0.0 < emin < emax):
        raise ValueError(f"--energy-range {emin:g},{emax:g}: needs 0 < EMIN < EMAX [GeV]")
    if args.energies is not None:
        table_e = np.array(_numbers(args.energies, None, "--energies"))
        if np.any(table_e <= 0):
            raise ValueError(f"--energies '{args.energies}' must be positive [GeV]")
    else:
        table_e = 10.0 ** np.arange(math.ceil(math.log10(emin) - 1e-9), math.floor(math.log10(emax) + 1e-9) + 1)
        if table_e.size < 2:
            table_e = np.array([emin, emax])
    if args.points < 2:
        raise ValueError("--points must be at least 2")
    if not local_loss_rates(cfg, pos, np.array([emin])):
        if cfg.losses.model == "none":
            raise ConfigError("the configuration has losses.model = 'none': nothing to show "
                              "(add --set losses.model=galactic, or quadratic)")
        raise ConfigError(f"losses.model = 'galactic' has no active process for {cfg.species.name} here (protons: the default "
                          "switches them off when energy.min_GeV ≥ 10); name them, e.g. "
                          "--set 'losses.processes=[\"coulomb_ionisation\",\"pion_production\"]'")
    es = None
    if args.horizon:
        es = cfg.energy.max_GeV if args.source_energy is None else args.source_energy
    env = local_environment(cfg, pos)
    grid = np.logspace(math.log10(emin), math.log10(emax), args.points)
    rates = local_loss_rates(cfg, pos, grid)
    table_rates = local_loss_rates(cfg, pos, table_e)
    horizon = table_horizon = None
    if args.horizon:
        horizon = propagation_horizon(cfg, pos, grid, es)
        table_horizon = propagation_horizon(cfg, pos, table_e, es)
    kernel = None
    if args.kernel_table:
        kernel = _kernel_total(cfg, pos, table_e, emin, emax)

    for line in _describe(cfg, pos, env):
        print(line)
    if horizon is not None:
        h = table_horizon
        d = h.direction
        bdir = "undefined (B = 0: λ∥ = λ⊥)" if not np.all(np.isfinite(d)) else _fmt_pos(d, ".3f")
        dc = cfg.diffusion
        print(f"  horizon λ_i² = 4 ∫_E^E_s D_i/b dE' with the losses held at their values here (local, infinite medium): "
              f"E_s = {'∞' if math.isinf(h.source_energy_GeV) else format(h.source_energy_GeV, '.4g') + ' GeV'}, "
              f"diffusion '{dc.form}' (D0 = {dc.D0_cm2_per_s:.3g} cm²/s, ε = {dc.epsilon:g}), field direction b̂ = {bdir}; "
              f"quadrature error ≈ {max(h.relative_error, horizon.relative_error):.1g}"
              + (f", tail above {h.cut_GeV:.2g} GeV (∝ E^-{h.tail_slope:.3g}): {h.tail_fraction:.1e} of λ²"
                 if math.isinf(h.source_energy_GeV) else ""))
    for line in _table(table_e, table_rates, table_horizon, kernel):
        print(line)
    kernel_points = (table_e, kernel) if kernel is not None else None
    out = args.output or "losses.png"
    png = losses_figure(out, grid, rates, _title(cfg, pos, env), horizon, kernel_points,
                        cfg.galaxy.halo_height_kpc if horizon is not None else None)
    print(f"wrote {png}")


def _source_energy(text):
    import argparse

    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be a positive energy in GeV, or inf")
    return v


def add_losses_command(sub):
    f = sub.add_parser("losses", help="energy-loss rates of each process at a point (table and PNG), and the local propagation horizon",
                       description="Loss rates b = -dE/dt of each process at a point, with the loss time E/b; with --horizon "
                                   "also the local propagation horizon λ∥, λ⊥ (sdeprop/horizon.py). Without CONFIG: electrons "
                                   "with losses.model = 'galactic' and all other keys at their defaults.")
    f.add_argument("config", nargs="?", help="run configuration (TOML); default: electrons, losses.model = 'galactic'")
    f.add_argument("--at", metavar="x,y,z", help="the point [kpc] (default galaxy.sun_position_kpc; write --at=-8.3,0,0 when x is negative)")
    f.add_argument("--species", choices=("electron", "positron", "proton"), help="override species.name")
    f.add_argument("--energy-range", metavar="EMIN,EMAX", help="kinetic energies of the figure [GeV] (default energy.min_GeV,energy.max_GeV)")
    f.add_argument("--energies", metavar="E1,E2,...", help="energies of the printed table [GeV] (default: the powers of ten in the range)")
    f.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="change a configuration key, dotted, value as TOML (repeatable), e.g. --set diffusion.epsilon=0.3 "
                        "--set 'field={model=\"uf23\"}'")
    f.add_argument("--horizon", action="store_true", help="also the local horizon λ∥, λ⊥, λ_z (a third panel and table columns)")
    f.add_argument("--source-energy", type=_source_energy, metavar="ES",
                   help="source energy E_s of the horizon [GeV], or inf (default energy.max_GeV)")
    f.add_argument("--kernel-table", action="store_true",
                   help="also the total as the kernel's interpolation table gives it (builds the table: a second or two)")
    f.add_argument("--points", type=int, default=121, help="energies on the figure's curves (default 121)")
    f.add_argument("-o", "--output", help="PNG path (default losses.png)")
    f.set_defaults(func=cmd_losses)
