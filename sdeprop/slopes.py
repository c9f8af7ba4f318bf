"""The local spectral index α of a density, n ∝ E^-α in an energy window, per spatial cell.

Cerri, Gaggero, Vittino, Evoli & Grasso 2017 (JCAP 10, 019) show how anisotropic diffusion hardens
the proton spectrum toward the Galactic centre by the local index α(R) (and α(R, z)) of the
proton density fitted over an energy window; :func:`spectral_index` gives that index for an SDE
result (a cylindrical, cartesian or sphere tally, or the backward observer) and for a grid-solver
answer (docs/slopes.md).

The fit, per cell: weighted least squares of y_i = ln n_i against x_i = ln E_i over the energy bins
lying wholly inside the window (the observer: its energies inside it), with σ(y_i) = σ_i/n_i
(first order in the relative error) and weights w_i = (n_i/σ_i)².  With S = Σw, Δ = S Σwx² − (Σwx)²
the slope is b = (S Σwxy − Σwx Σwy)/Δ, α = −b, σ_α = √(S/Δ) and χ² = Σ w (y − a − b x)² with
dof = (bins − 2).  Bin averaging: a tally bin holds (1/ΔE)∫n dE, not n at a point.  For
n = A E^-α that is A g_i(α) with g_i the bin mean of E^-α; E_i is the geometric bin centre and the
fit subtracts c_i(α) = ln g_i(α) + α ln E_i (iterated to convergence), so a pure power law gives
its index exactly in any bins.  For log-uniform bins (every tally's) c_i is the same in every
bin and changes nothing: the plain fit on the log centres is then exact for a power law.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: relative tolerance on a bin edge lying on the window's boundary
EDGE_RTOL = 1e-9
#: iterations of the bin-average correction (log-uniform bins need none)
MAX_ITERATIONS = 50


@dataclass
class SpectralIndex:
    """α ± σ per spatial cell of a density fitted as n ∝ E^-α over ``window_GeV``.

    ``alpha``, ``sigma``, ``chi2``, ``max_residual`` (largest |ln n − fit| in the window, a measure of
    curvature when no errors are known) and ``density_at_pivot`` (the fitted n at ``pivot_GeV``, the
    weighted mean of ln E) have the shape of the cells: () for a sphere or the observer, (n_R,) for a
    cylindrical tally averaged over ``z_range_kpc``, (n_R, n_z) per cell, and likewise (x, y[, z]) for
    a cartesian tally.  ``axes`` holds the edges of those cells' axes.  NaN marks a cell left without
    a fit (``empty="nan"``); ``sigma`` and ``chi2`` are NaN where the input had no uncertainties.
    """

    alpha: np.ndarray
    sigma: np.ndarray
    chi2: np.ndarray
    dof: int
    max_residual: np.ndarray
    density_at_pivot: np.ndarray
    pivot_GeV: np.ndarray
    window_GeV: tuple[float, float]
    energies_GeV: np.ndarray
    """The energies fitted: geometric centres of the bins inside the window, or the observer's points."""
    energy_edges_GeV: np.ndarray | None
    """Edges of the bins fitted (None for the observer's points)."""
    axes: dict[str, np.ndarray]
    kind: str
    source: str = ""
    """What was fitted: tally name and spectrum, or the grid answer."""
    z_range_kpc: tuple[float, float] | None = None
    """The z span actually averaged (edges of the z bins used), None when not averaged over z."""
    notes: list[str] = field(default_factory=list)
    density: np.ndarray | None = None
    """The densities fitted, shape (cells..., bins in the window)."""
    uncertainty: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.alpha)

    def centres(self, axis: str) -> np.ndarray:
        """Centres of a cell axis (arithmetic)."""
        e = self.axes[axis]
        return 0.5 * (e[1:] + e[:-1])

    def rows(self) -> list[dict]:
        """One dict per cell: the cell's axis ranges, α, σ, χ², dof."""
        out = []
        names = list(self.axes)
        for idx in np.ndindex(self.shape):
            row = {}
            for k, name in zip(idx, names):
                e = self.axes[name]
                row[f"{name.removesuffix('_kpc')}_lo_kpc"] = float(e[k])
                row[f"{name.removesuffix('_kpc')}_hi_kpc"] = float(e[k + 1])
            row.update(
                alpha=float(self.alpha[idx]),
                sigma=float(self.sigma[idx]),
                chi2=float(self.chi2[idx]),
                dof=self.dof,
                max_residual=float(self.max_residual[idx]),
            )
            out.append(row)
        return out

    def table(self) -> str:
        """The cells as a fixed-width text table (what ``sdeprop slope`` prints)."""
        rows = self.rows()
        keys = [k for k in rows[0] if k.endswith("_kpc")]
        head = [k.replace("_lo_kpc", " lo").replace("_hi_kpc", " hi") for k in keys]
        lines = ["  ".join(f"{h:>8}" for h in head + ["alpha", "sigma", "chi2"]) + "  dof"]
        for row in rows:
            cells = [f"{row[k]:8.3g}" for k in keys]
            cells += [f"{row['alpha']:8.4f}", f"{row['sigma']:8.4f}", f"{row['chi2']:8.3g}"]
            lines.append("  ".join(cells) + f"  {row['dof']:3d}")
        return "\n".join(lines)

    def write_csv(self, path) -> Path:
        """Write :meth:`rows` as CSV (atomically); returns the path."""
        from .checkpoint import atomic_output

        path = Path(path)
        rows = self.rows()
        with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
            f.write(
                f"# spectral index n ∝ E^-alpha over {self.window_GeV[0]:g}-{self.window_GeV[1]:g} GeV; "
                f"{self.source}; energies {', '.join(f'{e:.4g}' for e in self.energies_GeV)} GeV\n"
            )
            if self.z_range_kpc is not None:
                f.write(f"# averaged over z = {self.z_range_kpc[0]:g}..{self.z_range_kpc[1]:g} kpc\n")
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return path


# ----------------------------------------------------------------------------- the fit
def log_bin_mean(alpha, lo, hi) -> np.ndarray:
    """ln of the mean of E^-α over the bin [lo, hi] (both > 0): ln[(hi^(1−α) − lo^(1−α))/((1−α)(hi − lo))]."""
    alpha = np.asarray(alpha, dtype=float)[..., None]
    lr = np.log(hi / lo)
    s = (1.0 - alpha) * lr
    small = np.abs(s) < 1e-8
    ratio = np.where(
        small, lr * (1.0 + 0.5 * s), np.expm1(np.where(small, 1.0, s)) / np.where(small, 1.0, 1 - alpha)
    )
    return (1.0 - alpha) * np.log(lo) + np.log(ratio) - np.log(hi - lo)


def fit_power_law(energies, density, uncertainty=None, edges=None):
    """Weighted least-squares fit of ln n = a − α ln E over the last axis (module docstring).

    ``energies`` (K,), ``density`` (..., K) > 0, ``uncertainty`` (..., K) > 0 or None (equal weights;
    σ and χ² NaN).  ``edges`` (K + 1,), when given, makes the fit correct for bin averaging.
    Returns (α, σ_α, χ², a, x̄, max |residual|), each shaped like ``density`` less its last axis;
    x̄ = Σ w ln E / Σ w is the pivot where a − α x̄ is uncorrelated with α.
    """
    x = np.log(np.asarray(energies, dtype=float))
    y = np.log(np.asarray(density, dtype=float))
    if uncertainty is None:
        w = np.ones_like(y)
    else:
        w = (np.asarray(density, dtype=float) / np.asarray(uncertainty, dtype=float)) ** 2
    S = w.sum(-1)
    Sx = (w * x).sum(-1)
    Sxx = (w * x * x).sum(-1)
    D = S * Sxx - Sx * Sx
    xbar = Sx / S

    def solve(yy):
        Sy = (w * yy).sum(-1)
        Sxy = (w * x * yy).sum(-1)
        b = (S * Sxy - Sx * Sy) / D
        return b, (Sy - b * Sx) / S

    b, a = solve(y)
    if edges is not None:
        lo, hi = np.asarray(edges[:-1], float), np.asarray(edges[1:], float)
        for _ in range(MAX_ITERATIONS):
            corr = log_bin_mean(-b, lo, hi) - b[..., None] * x  # c_i(α) = ln g_i(α) + α x_i with α = −b
            b_new, a = solve(y - corr)
            done = np.all(np.abs(b_new - b) < 1e-13)
            b = b_new
            if done:
                break
        y = y - (log_bin_mean(-b, lo, hi) - b[..., None] * x)
    resid = y - a[..., None] - b[..., None] * x
    chi2 = (w * resid**2).sum(-1)
    sigma = np.sqrt(S / D)
    if uncertainty is None:
        sigma = np.full_like(b, np.nan)
        chi2 = np.full_like(b, np.nan)
    return -b, sigma, chi2, a, xbar, np.abs(resid).max(-1)


# ----------------------------------------------------------------------------- inputs
@dataclass
class _Input:
    """A density on cells × energies, whatever it came from."""

    density: np.ndarray  # (cells..., E)
    uncertainty: np.ndarray | None
    axes: dict[str, np.ndarray]  # spatial edges, in the order of the density's axes
    energies: np.ndarray  # centres (bins) or points
    edges_E: np.ndarray | None  # None: points
    kind: str
    source: str


def _kind_of(axes: dict) -> str:
    keys = set(axes)
    if keys == {"R_kpc", "z_kpc"}:
        return "cylindrical"
    if keys == {"x_kpc", "y_kpc", "z_kpc"}:
        return "cartesian"
    if not keys:
        return "sphere"
    raise ValueError(
        f"cannot tell the geometry from the spatial axes {sorted(keys)}: expected R_kpc, z_kpc "
        "(cylindrical), x_kpc, y_kpc, z_kpc (cartesian) or none (one cell)"
    )


def _from_arrays(density, uncertainty, edges: dict, source: str) -> _Input:
    if edges is None or "E_GeV" not in edges:
        raise ValueError(
            "a bare density array needs edges={'R_kpc': ..., 'z_kpc': ..., 'E_GeV': ...} (the tally's "
            "edges; E_GeV may be the energies themselves for point values)"
        )
    axes = {k: np.asarray(v, float) for k, v in edges.items() if k.endswith("_kpc")}
    order = [k for k in ("R_kpc", "x_kpc", "y_kpc", "z_kpc") if k in axes]
    axes = {k: axes[k] for k in order}
    kind = _kind_of(axes)
    dens = np.asarray(density, float)
    eE = np.asarray(edges["E_GeV"], float)
    shape = tuple(len(e) - 1 for e in axes.values())
    if dens.shape[:-1] != shape or dens.shape[-1] not in (len(eE), len(eE) - 1):
        raise ValueError(
            f"the density has shape {dens.shape}, but the edges give cells {shape} and "
            f"{len(eE) - 1} energy bins ({len(eE)} edges) or {len(eE)} energy points"
        )
    if dens.shape[-1] == len(eE):
        energies, edges_E = eE, None
    else:
        energies, edges_E = np.sqrt(eE[1:] * eE[:-1]), eE
    unc = None if uncertainty is None else np.asarray(uncertainty, float)
    if unc is not None and unc.shape != dens.shape:
        raise ValueError(f"the uncertainty has shape {unc.shape}, the density {dens.shape}")
    return _Input(dens, unc, axes, energies, edges_E, kind, source)


def _choose_tally(result, name: str | None):
    tallies = result.tallies
    if name is not None:
        if name not in tallies:
            raise ValueError(
                f"no tally '{name}' in the result; it has {', '.join(sorted(tallies)) or 'none'}"
            )
        return tallies[name]
    for kind in ("cylindrical", "cartesian", "observer", "sphere"):
        for t in tallies.values():
            if t.kind == kind:
                return t
    raise ValueError("the result has no tally")


def _from_tally(t, spectrum) -> _Input:
    from .spectra import describe_spectrum

    d = t.reweight(spectrum, t.rate_per_Myr) if spectrum is not None else t._default_density()
    which = describe_spectrum(spectrum if spectrum is not None else t.spectrum)
    source = f"tally '{t.name}' ({t.kind}), injection {which}"
    if t.kind == "observer":
        e = np.asarray(t.energies_GeV, float)
        return _Input(np.asarray(d.density), np.asarray(d.uncertainty), {}, e, None, "observer", source)
    axes = {k: np.asarray(v, float) for k, v in t.layout.spatial_axes.items()}
    eE = np.asarray(t.edges["E_GeV"], float)
    return _Input(
        np.asarray(d.density), np.asarray(d.uncertainty), axes, np.sqrt(eE[1:] * eE[:-1]), eE, t.kind, source
    )


def _from_npz(path: Path) -> _Input:
    """A crosscheck.npz (sdeprop crosscheck): the grid answer and σ_grid on the tally's cells."""
    with np.load(path) as f:
        if "grid" not in f.files:
            raise ValueError(
                f"'{path}' holds no grid answer (expected the crosscheck.npz of sdeprop crosscheck)"
            )
        edges = {k.removeprefix("edges_"): f[k] for k in f.files if k.startswith("edges_")}
        grid = f["grid"]
        err = f["grid_err"] if "grid_err" in f.files else None
    edges = {k: v for k, v in edges.items() if k == "E_GeV" or k.endswith("_kpc")}
    return _from_arrays(grid, err, edges, f"grid answer of '{path}' (σ_grid as the error)")


def _as_input(obj, tally, spectrum, edges, uncertainty) -> _Input:
    from .result import Density, ObserverTally, Result, Tally

    if isinstance(obj, (str, Path)):
        path = Path(obj)
        if path.suffix == ".npz":
            if not path.is_file():
                raise FileNotFoundError(f"'{path}' does not exist")
            return _from_npz(path)
        from .io import load_result

        obj = load_result(path)
    if isinstance(obj, Result):
        return _from_tally(_choose_tally(obj, tally), spectrum)
    if isinstance(obj, (Tally, ObserverTally)):
        return _from_tally(obj, spectrum)
    if spectrum is not None:
        raise ValueError("spectrum= reweights a result or a tally; a density or a grid answer is fixed")
    if tally is not None:
        raise ValueError("tally= picks a tally of a result; the input is not a result")
    if isinstance(obj, Density):
        return _from_arrays(
            obj.density,
            obj.uncertainty if uncertainty is None else uncertainty,
            obj.edges if edges is None else edges,
            "density",
        )
    if hasattr(obj, "grid") and hasattr(obj, "grid_err") and hasattr(obj, "edges"):  # CrosscheckReport
        return _from_arrays(
            obj.grid,
            obj.grid_err if uncertainty is None else uncertainty,
            obj.edges,
            f"grid answer of the crosscheck of tally '{obj.tally}' (σ_grid as the error)",
        )
    if isinstance(obj, dict) and "fine" in obj:  # crosscheck.grid_answer
        return _from_arrays(
            obj["fine"],
            obj.get("err") if uncertainty is None else uncertainty,
            edges,
            "grid answer (σ_grid as the error)",
        )
    if isinstance(obj, np.ndarray):
        return _from_arrays(obj, uncertainty, edges, "density array")
    raise TypeError(
        f"cannot take the spectral index of a {type(obj).__name__}: give a Result or its path, a Tally, an "
        "ObserverTally, a Density, a CrosscheckReport or grid_answer() dict, a crosscheck.npz, or an array "
        "with edges="
    )


# ----------------------------------------------------------------------------- selection
def _window_bins(inp: _Input, window) -> np.ndarray:
    lo, hi = (float(v) for v in window)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"the window {lo:g}..{hi:g} GeV must have 0 < low < high")
    tol = EDGE_RTOL
    if inp.edges_E is None:
        e = inp.energies
        inside = (e >= lo * (1 - tol)) & (e <= hi * (1 + tol))
        what = f"energies {', '.join(f'{v:.4g}' for v in e)} GeV"
    else:
        eE = inp.edges_E
        inside = (eE[:-1] >= lo * (1 - tol)) & (eE[1:] <= hi * (1 + tol))
        what = f"bin edges {', '.join(f'{v:.4g}' for v in eE)} GeV"
    if inside.sum() < 2:
        kind = "energy points" if inp.edges_E is None else "whole energy bins"
        raise ValueError(
            f"the window {lo:g}..{hi:g} GeV holds {int(inside.sum())} {kind} of {inp.source}; a slope needs "
            f"at least 2 (the {what})"
        )
    return np.flatnonzero(inside)


def _z_selection(axes: dict, z_range) -> tuple[np.ndarray, tuple[float, float]]:
    ez = axes["z_kpc"]
    zc = 0.5 * (ez[1:] + ez[:-1])
    if isinstance(z_range, str):
        if z_range != "plane":
            raise ValueError(f"z_range {z_range!r}: give (low, high) in kpc, 'plane' or None")
        if not ez[0] <= 0.0 <= ez[-1]:
            raise ValueError(
                f"z_range 'plane': z = 0 is outside the tally's z range {ez[0]:g}..{ez[-1]:g} kpc"
            )
        touch = (ez[:-1] <= 0.0) & (ez[1:] >= 0.0)  # the bin holding z = 0, or both bins meeting there
        use = np.flatnonzero(touch)
    else:
        lo, hi = (float(v) for v in z_range)
        if not lo < hi:
            raise ValueError(f"z_range {lo:g},{hi:g}: need low < high")
        use = np.flatnonzero((zc >= lo) & (zc <= hi))
        if not use.size:
            raise ValueError(
                f"no z bin has its centre in {lo:g}..{hi:g} kpc "
                f"(z bin centres {', '.join(f'{v:.3g}' for v in zc)})"
            )
    return use, (float(ez[use[0]]), float(ez[use[-1] + 1]))


def _average_z(inp: _Input, use: np.ndarray):
    """Volume-weighted mean over the z bins ``use`` (the last spatial axis); errors in quadrature."""
    dz = np.diff(inp.axes["z_kpc"])[use]
    wz = dz / dz.sum()  # a cell's volume is (area in the other axes) × Δz
    dens = np.tensordot(np.take(inp.density, use, axis=-2), wz, axes=([-2], [0]))
    unc = None
    if inp.uncertainty is not None:
        u = np.take(inp.uncertainty, use, axis=-2)
        unc = np.sqrt(np.tensordot(u**2, wz**2, axes=([-2], [0])))
    return dens, unc


def _cell_names(axes: dict, cells) -> str:
    out = []
    for idx in cells[:8]:
        parts = [
            f"{name.removesuffix('_kpc')} {axes[name][k]:.3g}..{axes[name][k + 1]:.3g}"
            for k, name in zip(idx, axes)
        ]
        out.append("(" + ", ".join(parts) + ")" if parts else "the one cell")
    more = f" and {len(cells) - 8} more" if len(cells) > 8 else ""
    return "; ".join(out) + more


# ----------------------------------------------------------------------------- the function
def spectral_index(
    result_or_tally,
    window_GeV=(10.0, 1000.0),
    tally: str | None = None,
    spectrum=None,
    *,
    z_range="plane",
    empty: str = "raise",
    edges: dict | None = None,
    uncertainty=None,
) -> SpectralIndex:
    """The local spectral index α of n(x, E) ∝ E^-α over ``window_GeV`` per spatial cell, with its 1σ
    from the density's uncertainties and the fit's χ² (module docstring: the fit and how bin averaging
    enters; docs/slopes.md).  The definition follows Cerri et al. 2017 (JCAP 10, 019), §4.

    result_or_tally: a ``Result`` or the path of a result file (``tally`` picks the tally; default the
        first cylindrical, else cartesian, observer, sphere), a ``Tally`` or ``ObserverTally``, a
        ``Density``, a crosscheck's grid answer (``CrosscheckReport``: its ``grid`` with ``grid_err``;
        a ``grid_answer()`` dict or a density array with ``edges=`` and optionally ``uncertainty=``;
        the path of a ``crosscheck.npz``).
    window_GeV: (low, high); the bins lying wholly inside it (the observer: its energies inside it).
    spectrum: a ``sdeprop.spectra`` spectrum to reweight a result or tally with (default: the configured one).
    z_range: cylindrical and cartesian tallies: 'plane' (the z bin holding z = 0, or the two meeting there),
        (low, high) [kpc] (the z bins whose centres lie inside), both averaged over z weighted by the bins'
        volumes, errors in quadrature; None: per cell.
    empty: 'raise' (a cell with n ≤ 0 or σ = 0 in the window is an error naming the cells) or 'nan'
        (such cells get NaN).
    """
    if empty not in ("raise", "nan"):
        raise ValueError(f"empty={empty!r}: 'raise' or 'nan'")
    inp = _as_input(result_or_tally, tally, spectrum, edges, uncertainty)
    bins = _window_bins(inp, window_GeV)
    notes = []
    z_used = None
    axes = dict(inp.axes)
    dens, unc = inp.density, inp.uncertainty
    if "z_kpc" in axes and z_range is not None:
        use, z_used = _z_selection(axes, z_range)
        dens, unc = _average_z(inp, use)
        axes.pop("z_kpc")
        notes.append(
            f"averaged over z = {z_used[0]:g}..{z_used[1]:g} kpc ({len(use)} z bins), weighted by volume; "
            "their errors added in quadrature as if independent"
        )
    dens = np.take(dens, bins, axis=-1)
    unc = None if unc is None else np.take(unc, bins, axis=-1)
    e_fit = inp.energies[bins]
    edges_fit = None if inp.edges_E is None else np.append(inp.edges_E[bins], inp.edges_E[bins[-1] + 1])
    bad = ~np.all(dens > 0, axis=-1)
    if unc is not None:
        bad |= ~np.all((unc > 0) & np.isfinite(unc), axis=-1)
    if bad.any() and empty == "raise":
        cells = [tuple(int(i) for i in c) for c in np.argwhere(bad)] if bad.ndim else [()]
        raise ValueError(
            f"{len(cells)} cell(s) of {inp.source} have a non-positive density (or a zero or non-finite "
            f"error) in {window_GeV[0]:g}..{window_GeV[1]:g} GeV, so ln n has no slope there: "
            f"{_cell_names(axes, cells)}. Narrow the window, average over z, run more particles, or pass "
            "empty='nan' (--skip-empty) to leave those cells out"
        )
    safe_d = np.where(bad[..., None], 1.0, dens)
    safe_u = None if unc is None else np.where(bad[..., None], 1.0, unc)
    alpha, sigma, chi2, a, xbar, resid = fit_power_law(e_fit, safe_d, safe_u, edges_fit)
    nan = np.where(bad, np.nan, 1.0)
    pivot = np.exp(xbar)
    at_pivot = np.exp(a - alpha * xbar) * nan  # the point value A E^-α (the bin mean is corrected out)
    if len(bins) == 2:
        notes.append("two energies: the line goes through both, χ² = 0 with no degree of freedom")
    return SpectralIndex(
        alpha=alpha * nan,
        sigma=sigma * nan,
        chi2=chi2 * nan,
        dof=len(bins) - 2,
        max_residual=resid * nan,
        density_at_pivot=at_pivot,
        pivot_GeV=pivot * nan,
        window_GeV=(float(window_GeV[0]), float(window_GeV[1])),
        energies_GeV=e_fit,
        energy_edges_GeV=edges_fit,
        axes=axes,
        kind=inp.kind,
        source=inp.source,
        z_range_kpc=z_used,
        notes=notes,
        density=dens,
        uncertainty=unc,
    )
