"""Figure of the energy losses at one point: loss time, b/E² and the local propagation horizon."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..checkpoint import atomic_output
from ..units import MYR_S


def plot_losses(
    table, path, title: str = "", kernel_points=None, halo_height_kpc: float | None = None
) -> Path:
    """Write a PNG of a :class:`sdeprop.horizon.LossTable`: the loss time E/b [Myr] and b/E²
    [GeV⁻¹ s⁻¹] against E, one line per process and the total; if the table has a horizon, a
    third panel with λ∥, λ⊥ and λ_z (and the halo height ``halo_height_kpc`` if given).
    ``kernel_points``, a LossTable with ``kernel_total_GeV_per_s``, adds the kernel table's total
    as markers.  Returns the path."""
    import matplotlib.pyplot as plt

    e = table.energy_GeV
    total = table.total_GeV_per_s
    horizon = table.horizon
    n = 3 if horizon is not None else 2
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.6), constrained_layout=True)
    for name, b in list(table.rates_GeV_per_s.items()) + [("total", total)]:
        style = dict(color="k", lw=2.2) if name == "total" else dict(lw=1.4)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(b > 0, e / b / MYR_S, np.nan)
            q = np.where(b > 0, b / e**2, np.nan)
        axes[0].plot(e, t, label=name, **style)
        axes[1].plot(e, q, label=name, **style)
    if kernel_points is not None:
        ke, kb = kernel_points.energy_GeV, kernel_points.kernel_total_GeV_per_s
        axes[1].plot(ke, kb / ke**2, "o", mfc="none", color="tab:red", ms=5, label="total, kernel table")
        axes[0].plot(ke, ke / kb / MYR_S, "o", mfc="none", color="tab:red", ms=5, label="total, kernel table")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="kinetic energy E [GeV]",
        ylabel="loss time E/b [Myr]",
        title="energy-loss time",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="kinetic energy E [GeV]",
        ylabel=r"b/E$^2$ [GeV$^{-1}$ s$^{-1}$]",
        title="loss coefficient b/E²",
    )
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
        _horizon_panel(axes[2], horizon, halo_height_kpc)
    fig.suptitle(title, fontsize=10)
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path


def _horizon_panel(ax, h, halo_height_kpc):
    """λ∥, λ⊥ and λ_z [kpc] of a :class:`sdeprop.horizon.HorizonResult` against E."""
    es = "∞" if math.isinf(h.source_energy_GeV) else f"{h.source_energy_GeV:.3g} GeV"
    ax.plot(h.energy_GeV, h.lambda_par_kpc, lw=2, label=r"$\lambda_\parallel$ (along $\hat b$)")
    ax.plot(h.energy_GeV, h.lambda_perp_kpc, lw=2, label=r"$\lambda_\perp$")
    ax.plot(h.energy_GeV, h.lambda_z_kpc, "--", lw=1.2, label=r"$\lambda_z$ (vertical)")
    if halo_height_kpc:
        ax.axhline(
            halo_height_kpc, color="grey", ls=":", lw=1, label=f"halo height H = {halo_height_kpc:g} kpc"
        )
    d = h.direction
    if np.all(np.isfinite(d)):
        bdir = "b̂ = (" + ", ".join(format(float(v) + 0.0, ".2f") for v in d) + ")"  # + 0.0: no "-0"
    else:
        bdir = "b̂ undefined (B = 0)"
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="kinetic energy E [GeV]",
        ylabel="λ [kpc]",
        title=f"local horizon, E_s = {es}\n{bdir}",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
