"""The figure of a spectral fit (:class:`sdeprop.fitting.FitResult`): the data and the model
weighted by x^2.7 over the residuals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..checkpoint import atomic_output

if TYPE_CHECKING:
    from ..fitting import FitResult


def plot_fit(fit: FitResult, path, weight_index: float = 2.7) -> Path:
    """Write a PNG: x^2.7-weighted data and model (and the unmodulated LIS when φ > 0) over
    the residuals (data − model)/σ.  Points outside the fit range are drawn open and grey."""
    import matplotlib.pyplot as plt

    a = weight_index
    fig, (ax, axr) = plt.subplots(
        2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, constrained_layout=True
    )
    xu = fit.x_unit
    sym = "R" if fit.data_variable == "rigidity" else "T"
    ds = fit.dataset
    if ds is not None and fit.selected is not None and (~fit.selected).any():
        out = ~fit.selected
        xo = ds.x[out]
        ax.errorbar(
            xo,
            xo**a * ds.value[out],
            yerr=xo**a * ds.error[out],
            fmt="o",
            mfc="none",
            color="0.6",
            ms=3,
            capsize=0,
            label="not fitted",
        )
    ax.errorbar(
        fit.x,
        fit.x**a * fit.data,
        yerr=fit.x**a * fit.data_error,
        fmt="o",
        ms=3,
        color="k",
        capsize=0,
        label=fit.data_name,
    )
    ax.plot(
        fit.curve_x,
        fit.curve_x**a * fit.curve_flux,
        color="C3",
        label=f"model ({fit.spectrum}, φ = {fit.parameters['phi_GV']:.3g} GV)",
    )
    band = fit.x**a * fit.model
    ax.fill_between(
        fit.x,
        band - fit.x**a * fit.model_error,
        band + fit.x**a * fit.model_error,
        color="C3",
        alpha=0.25,
        lw=0,
        label="model bin averages ± MC 1σ",
    )
    if fit.parameters["phi_GV"] > 0:
        ax.plot(fit.curve_x, fit.curve_x**a * fit.curve_lis, color="C0", ls="--", label="unmodulated (LIS)")
    ylabel = f"{sym}$^{{{a:g}}}$ J  [m$^{{-2}}$ s$^{{-1}}$ sr$^{{-1}}$ {xu}$^{{{a - 1:g}}}$]"
    ax.set(
        xscale="log",
        yscale="log",
        ylabel=ylabel,
        title=f"χ²/ndf = {fit.chi2:.1f}/{fit.ndf}  (p = {fit.p_value:.2g}), tally '{fit.tally}'",
    )
    ax.legend(fontsize=8)
    axr.axhspan(-2, 2, color="0.92")
    axr.axhspan(-1, 1, color="0.82")
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(fit.x, fit.residuals, "o", ms=3, color="k")
    lim = max(3.0, float(np.nanmax(np.abs(fit.residuals))) * 1.1) if len(fit.residuals) else 3.0
    axr.set(
        xscale="log",
        ylim=(-lim, lim),
        ylabel="(data − model)/σ",
        xlabel="rigidity R [GV]" if fit.data_variable == "rigidity" else "kinetic energy T [GeV]",
    )
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=110, format=Path(path).suffix[1:] or "png")
    plt.close(fig)
    return path


def plot_joint_fit(fit, path, weight_index: float = 3.0) -> Path:
    """Write a PNG of a joint fit (:class:`sdeprop.fitting.JointFitResult`): one column per table, the data
    and the model (fluxes weighted by x^weight_index, fractions as they are) over the residuals
    (data − model)/sqrt(σ_data² + σ_MC²)."""
    import matplotlib.pyplot as plt

    n = len(fit.tables)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(4.6 * n, 5.2),
        sharex="col",
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        constrained_layout=True,
    )
    for k, t in enumerate(fit.tables):
        ax, axr = axes[0, k], axes[1, k]
        x = t["x"]
        w = np.ones_like(x) if t["observable"] == "positron_fraction" else x**weight_index
        ax.errorbar(x, w * t["value"], yerr=w * t["error"], fmt="o", ms=3, capsize=2, label="data")
        ax.plot(x, w * t["model"], "-", color="C3", label="model")
        ax.fill_between(
            x,
            w * (t["model"] - t["model_error"]),
            w * (t["model"] + t["model_error"]),
            color="C3",
            alpha=0.25,
            lw=0,
        )
        ax.set(
            xscale="log",
            yscale="linear" if t["observable"] == "positron_fraction" else "log",
        )
        ax.set_title(
            f"{t['name']}\n{t['observable'].replace('_', ' ')}; {t['phi']}; χ² {t['chi2']:.1f}", fontsize=8
        )
        if t["observable"] != "positron_fraction":
            ax.set_ylabel(f"x^{weight_index:g} × value")
        total = np.sqrt(t["error"] ** 2 + t["model_error"] ** 2)
        axr.plot(x, (t["value"] - t["model"]) / total, "o", ms=3)
        axr.axhline(0.0, color="k", lw=0.8)
        axr.set(xscale="log", xlabel="x [GV or GeV]", ylabel="residual [σ]")
        ax.legend(fontsize=8)
    fig.suptitle(f"joint fit: χ²/ndf = {fit.chi2:.1f}/{fit.ndf}")
    path = Path(path)
    with atomic_output(path) as tmp:  # a failed write leaves no half-written figure
        fig.savefig(tmp, dpi=100, format=path.suffix[1:] or "png")
    plt.close(fig)
    return path
