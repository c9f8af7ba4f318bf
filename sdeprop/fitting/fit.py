"""The fit: injection-spectrum parameters, the source rate and, optionally, the force-field
potential φ adjusted by ``scipy.optimize.least_squares`` so that the flux model
(:mod:`sdeprop.fitting.model`) matches a measured table (:mod:`sdeprop.fitting.data`), with
the parameter errors from the Jacobian at the minimum (:func:`fit_spectrum`, :class:`FitResult`).
See docs/fitting.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, stats

from ..config import SpectrumSection
from ..spectra import Spectrum
from .data import DataSet, axis_unit, flux_unit, load_data
from .model import (
    COMMON,
    FAMILIES,
    FluxModel,
    as_result,
    check_parameter_names,
    kinetic_from_rigidity,
    make_spectrum,
    select_tally,
)

_LOG_FITTED = ("break_value", "cutoff")  # fitted internally as log10, reported linearly
_FIXED_BY_DEFAULT = ("smoothness",)  # poorly constrained; free with free=["smoothness"]
_DEFAULT_BOUNDS = {
    "index": (0.0, 6.0),
    "index_low": (0.0, 6.0),
    "index_high": (0.0, 6.0),
    "cutoff": (1e-2, 1e10),
    "smoothness": (0.01, 2.0),
    "phi_GV": (0.0, 3.0),
    "log10_rate_per_Myr": (-np.inf, np.inf),
}
_DEFAULT_PHI_GV = 0.6
_MODULATION_LIMIT_GeV = 20.0


# ============================================================================ result
@dataclass
class FitResult:
    """Outcome of :func:`fit_spectrum`.

    ``parameters``: all parameters (fixed ones included) in physical units (break_value and
    cutoff in units of ``variable``: GV, GeV/c or GeV; phi_GV in GV; log10_rate_per_Myr = log10 of
    the total source rate [particles/Myr] between the run's injection limits).  ``errors``: 1σ from
    the covariance (nan for fixed parameters).  ``covariance``: over ``free``, in that order.
    Arrays ``x`` .. ``residuals`` cover the fitted points; ``x`` in ``x_unit``, fluxes in ``flux_unit``;
    ``model_error`` = sqrt(diag(``model_covariance``)), the model's Monte Carlo error;
    ``residuals`` = (data − model)/sqrt(data_error² + model_error²) per point (χ² also uses the
    off-diagonal model covariance, so it is not exactly the sum of their squares).
    """

    spectrum: str
    variable: str
    species: str
    tally: str
    data_name: str
    data_variable: str
    parameters: dict
    errors: dict
    free: list
    covariance: np.ndarray
    chi2: float
    ndf: int
    p_value: float
    x: np.ndarray
    x_lo: np.ndarray
    x_hi: np.ndarray
    data: np.ndarray
    data_error: np.ndarray
    model: np.ndarray
    model_error: np.ndarray
    model_covariance: np.ndarray
    residuals: np.ndarray
    curve_x: np.ndarray
    curve_flux: np.ndarray
    curve_lis: np.ndarray
    dataset: DataSet | None = None
    selected: np.ndarray | None = None
    notes: list = field(default_factory=list)
    success: bool = True
    message: str = ""
    nfev: int = 0
    injection_range_GeV: tuple = (np.nan, np.nan)

    @property
    def x_unit(self) -> str:
        return axis_unit(self.data_variable)

    @property
    def flux_unit(self) -> str:
        return flux_unit(self.data_variable)

    @property
    def rate_per_Myr(self) -> float:
        """Fitted total source rate [particles/Myr] between the injection limits."""
        return 10.0 ** self.parameters["log10_rate_per_Myr"]

    def spectrum_object(self) -> Spectrum:
        """The fitted injection shape (normalise with ``rate_per_Myr`` in ``Tally.reweight``)."""
        return make_spectrum(self.spectrum, self.parameters, self.variable)

    def summary(self) -> str:
        """Several lines: parameters ± errors, χ²/ndf and p-value."""
        lo, hi = self.injection_range_GeV
        lines = [
            f"fit of '{self.data_name}' ({len(self.x)} points, "
            f"{self.x_lo.min():.4g}-{self.x_hi.max():.4g} {self.x_unit}) with tally '{self.tally}' "
            f"({self.species}); spectrum {self.spectrum} in {self.variable}"
        ]
        width = max(len(k) for k in self.parameters)
        for k, v in self.parameters.items():
            if k in self.free:
                lines.append(f"  {k:<{width}} = {_value_with_error(v, self.errors[k])}")
            else:
                lines.append(f"  {k:<{width}} = {v:.6g} (fixed)")
        lines.append(f"  source rate {self.rate_per_Myr:.4g} particles/Myr between {lo:.4g} and {hi:.4g} GeV")
        lines.append(
            f"  chi2/ndf = {self.chi2:.2f}/{self.ndf} = {self.chi2 / max(self.ndf, 1):.3f}, "
            f"p-value {self.p_value:.3g}"
        )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _value_with_error(v, e) -> str:
    """'v ± e' with e to two significant digits and v to the same decimal place."""
    if not (np.isfinite(e) and 0 < e < abs(v)):
        return f"{v:.4g} ± {e:.2g}"
    if abs(v) >= 1e6 or e >= 1e6:
        return f"{v:.4e} ± {e:.2g}"
    d = max(0, 1 - math.floor(math.log10(e)))
    return f"{v:.{d}f} ± {e:.{d}f}"


# ============================================================================ the steps of a fit
def _checked_options(names, spectrum: str, fix, free, bounds, start, phi, fit_phi: bool):
    """Fresh dicts fix, bounds, start (the values of fix and start as floats) and whether φ is
    fitted; ValueError for unknown names, non-numbers, φ given twice or outside 0-5 GV."""
    fix, bounds, start = dict(fix or {}), dict(bounds or {}), dict(start or {})
    for what, mapping in (("fix", fix), ("bounds", bounds), ("start", start), ("free", {k: 0 for k in free})):
        check_parameter_names(mapping, names, what, spectrum)
    if "phi_GV" in fix and (fit_phi or phi is not None):
        raise ValueError("phi_GV is given twice: use either fix={'phi_GV': ...} or phi=/fit_phi")
    positive = _LOG_FITTED + ("smoothness",)
    for what, mapping in (("fix", fix), ("start", start)):
        for k, v in mapping.items():
            try:
                mapping[k] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: {k} = {v!r} is not a number") from None
            if not math.isfinite(mapping[k]) or (k in positive and mapping[k] <= 0):
                raise ValueError(
                    f"{what}: {k} = {v} must be finite" + (" and positive" if k in positive else "")
                )
    if "phi_GV" in free:
        fit_phi = True
    phi_given = phi if phi is not None else fix.get("phi_GV")
    if phi_given is not None and not (0.0 <= float(phi_given) <= 5.0):
        raise ValueError(f"phi = {phi_given} GV is outside 0-5 GV")
    return fix, bounds, start, fit_phi


def _start_values(cfg, spectrum: str, names, phi, fit_phi: bool, fix: dict, free, start: dict):
    """(start value of every parameter, names of the free ones): the run's spectrum when it is of
    the same family, else the schema defaults; the run's rate; φ = ``phi`` (0.6 GV when fitted
    without a start, else 0); then ``start`` and ``fix`` on top."""
    src = cfg.spectrum if cfg.spectrum.type == spectrum else SpectrumSection()
    p0 = {k: float(getattr(src, k)) for k in FAMILIES[spectrum]}
    p0["log10_rate_per_Myr"] = math.log10(cfg.spectrum.rate_per_Myr)
    p0["phi_GV"] = (phi if phi is not None else _DEFAULT_PHI_GV) if fit_phi else (phi or 0.0)
    p0.update({k: float(v) for k, v in start.items()})
    p0.update({k: float(v) for k, v in fix.items()})
    free_names = [
        k
        for k in names
        if k not in fix and (k not in _FIXED_BY_DEFAULT or k in free) and (k != "phi_GV" or fit_phi)
    ]
    return p0, free_names


@dataclass
class _Points:
    """The data points fitted: ``selected`` (mask over the table's rows), their bin edges
    [GV or GeV], fluxes and 1σ errors [per axis unit], and kinetic energies [GeV]."""

    selected: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    value: np.ndarray
    error: np.ndarray
    kinetic_GeV: np.ndarray


def _select_points(
    model: FluxModel,
    ds: DataSet,
    n_tally_bins: int,
    p0: dict,
    fit_phi: bool,
    energy_range,
    errors: str,
    notes: list,
) -> _Points:
    """The rows of ``ds`` inside the tally's non-empty energy-bin centres and ``energy_range``
    (the data's axis unit); notes on empty bins, points left out and the modulation."""
    tally = model.tally
    T_n, _, _ = model.lis_nodes(p0)
    if len(T_n) < 2:
        raise ValueError(
            f"tally '{tally}' has fewer than two non-empty energy bins at the Sun; run more particles"
        )
    n_empty = n_tally_bins - len(T_n)
    if n_empty:
        notes.append(f"{n_empty} empty energy bin(s) of tally '{tally}' skipped in the interpolation")
    T_data = kinetic_from_rigidity(ds.x, model.mass, model.charge) if ds.variable == "rigidity" else ds.x
    inside = (T_data >= T_n[0] * (1 - 1e-9)) & (T_data <= T_n[-1] * (1 + 1e-9))
    sel = inside.copy()
    if energy_range is not None:
        lo_r, hi_r = (float(v) for v in energy_range)
        if not (0 < lo_r < hi_r):
            raise ValueError(f"range {lo_r},{hi_r} must be positive and increasing ({ds.x_unit})")
        want = (ds.x >= lo_r) & (ds.x <= hi_r)
        if (want & ~inside).any():
            notes.append(
                f"{int((want & ~inside).sum())} point(s) in the requested range lie outside the "
                f"tally's energy-bin centres ({T_n[0]:.3g}-{T_n[-1]:.3g} GeV) and were left out"
            )
        sel &= want
    err_all = ds.error if errors == "total" else ds.stat
    if (err_all[sel] <= 0).any():
        raise ValueError(f"data '{ds.name}' have zero {errors} errors in the fit range; use errors='total'")
    if not sel.any():
        raise ValueError(
            f"no data point of '{ds.name}' "
            f"({ds.x_lo.min():.3g}-{ds.x_hi.max():.3g} {ds.x_unit}) lies in the fit range and "
            "inside the tally's energy-bin centres "
            f"({T_n[0]:.3g}-{T_n[-1]:.3g} GeV)"
        )
    pts = _Points(sel, ds.x_lo[sel], ds.x_hi[sel], ds.value[sel], err_all[sel], T_data[sel])
    if not fit_phi and p0["phi_GV"] == 0.0 and pts.kinetic_GeV.min() < _MODULATION_LIMIT_GeV:
        notes.append(
            f"data below {_MODULATION_LIMIT_GeV:g} GeV fitted without solar modulation (phi = 0); "
            "use phi= or fit_phi"
        )
    if fit_phi and pts.kinetic_GeV.min() > _MODULATION_LIMIT_GeV:
        notes.append(
            f"phi is poorly constrained: no data below {_MODULATION_LIMIT_GeV:g} GeV in the fit range"
        )
    return pts


def _bounds(
    variable: str, pts: _Points, model: FluxModel, bounds: dict, free_names, p0: dict, start: dict
) -> dict:
    """{name: (lo, hi)} in physical units: the defaults, break_value within the fitted points'
    range of ``variable``, then ``bounds``; start values of free parameters outside their bounds
    are moved inside (``p0`` is updated), or refused when given in ``start``."""
    T_sel = pts.kinetic_GeV
    x_var = {"kinetic_energy": T_sel}.get(variable)
    if x_var is None:
        p_sel = np.sqrt(T_sel * (T_sel + 2 * model.mass))
        x_var = p_sel if variable == "momentum" else p_sel / abs(model.charge)
    bnd = dict(_DEFAULT_BOUNDS)
    bnd["break_value"] = (float(x_var.min()), float(x_var.max()))
    for k, v in bounds.items():
        b0, b1 = (float(v[0]), float(v[1]))
        if not b0 < b1:
            raise ValueError(f"bounds of {k} must be increasing, got {b0}, {b1}")
        if k in _LOG_FITTED and b0 <= 0:
            raise ValueError(f"bounds of {k} must be positive, got {b0}, {b1}")
        bnd[k] = (b0, b1)
    for k in free_names:
        b0, b1 = bnd[k]
        if not (b0 <= p0[k] <= b1):
            if k in start:
                raise ValueError(f"start value {k} = {p0[k]} lies outside its bounds [{b0}, {b1}]")
            p0[k] = float(np.clip(p0[k], b0, b1)) if np.isfinite(b0) and np.isfinite(b1) else p0[k]
            if k in _LOG_FITTED:
                p0[k] = math.sqrt(b0 * b1)
    return bnd


def _start_rate(model: FluxModel, p0: dict, pts: _Points, data_variable: str):
    """Set p0's log10_rate_per_Myr to the best normalisation of the start shape (linear in the
    rate; the model error ignored)."""
    m1, _ = model.binned({**p0, "log10_rate_per_Myr": 0.0}, pts.lo, pts.hi, data_variable)
    w = 1.0 / pts.error**2
    amp = np.sum(w * pts.value * m1) / np.sum(w * m1 * m1)
    if amp > 0 and np.isfinite(amp):
        p0["log10_rate_per_Myr"] = math.log10(amp)


def _to_internal(k, v):
    return math.log10(v) if k in _LOG_FITTED else v


def _to_physical(k, u):
    return 10.0**u if k in _LOG_FITTED else u


class _FreeParameters:
    """The free parameters as the minimiser sees them (log10 of break_value and cutoff, the others
    as they are) with their bounds; the fixed ones are taken from ``base``."""

    def __init__(self, base: dict, names, bnd: dict):
        self.base, self.names = base, list(names)
        self.lower = np.array([_to_internal(k, bnd[k][0]) for k in self.names])
        self.upper = np.array([_to_internal(k, bnd[k][1]) for k in self.names])
        self.span = np.where(np.isfinite(self.upper - self.lower), self.upper - self.lower, 1.0)

    def start(self) -> np.ndarray:
        u0 = np.array([_to_internal(k, self.base[k]) for k in self.names])
        return np.clip(u0, self.lower + 1e-6 * self.span, self.upper - 1e-6 * self.span)

    def physical(self, u) -> dict:
        """All parameters in physical units for the internal values ``u`` of the free ones."""
        p = dict(self.base)
        for k, ui in zip(self.names, u):
            p[k] = _to_physical(k, ui)
        return p

    def covariance(self, cov_internal, u) -> np.ndarray:
        """The covariance of the physical parameters from that of the internal ones (linearised)."""
        scale = np.array(
            [
                _to_physical(k, ui) * math.log(10.0) if k in _LOG_FITTED else 1.0
                for k, ui in zip(self.names, u)
            ]
        )
        return cov_internal * np.outer(scale, scale)


def _residual_function(
    model: FluxModel, params: _FreeParameters, pts: _Points, data_variable: str, model_error: bool
):
    """residuals(u) of the minimiser for the internal values u of the free parameters."""

    def residuals(u):
        """Whitened residuals L⁻¹(d − m), L L^T = diag(σ_data²) + C_model: χ² = their sum of squares."""
        m, cm = model.binned(params.physical(u), pts.lo, pts.hi, data_variable)
        if not model_error:
            return (pts.value - m) / pts.error
        L = linalg.cholesky(cm + np.diag(pts.error * pts.error), lower=True)
        return linalg.solve_triangular(L, pts.value - m, lower=True)

    return residuals


def _minimise(residuals, params: _FreeParameters, n_points: int):
    """(u, Jacobian, converged, message, evaluations, residual vector) at the minimum."""
    u0 = params.start()
    if not params.names:
        return u0, np.zeros((n_points, 0)), True, "no free parameters", 1, residuals(u0)
    sol = optimize.least_squares(
        residuals,
        u0,
        bounds=(params.lower, params.upper),
        method="trf",
        jac="3-point",
        x_scale="jac",
        xtol=1e-10,
        ftol=1e-10,
        gtol=1e-10,
        max_nfev=2000,
    )
    return sol.x, sol.jac, bool(sol.success), sol.message, int(sol.nfev), sol.fun


def _internal_covariance(jac, n_free: int, notes: list) -> np.ndarray:
    """(JᵀJ)⁻¹ of the internal parameters by the pseudo-inverse (as in curve_fit); inf when J is singular."""
    cov = np.zeros((n_free, n_free))
    if n_free:
        _, s, vt = np.linalg.svd(jac, full_matrices=False)
        tiny = np.finfo(float).eps * max(jac.shape) * (s[0] if s.size else 0.0)
        if (s <= tiny).any():
            notes.append(
                "the Jacobian is singular at the minimum: some parameters are not constrained "
                "(errors set to inf)"
            )
            cov[:] = np.inf
        else:
            cov = (vt.T / s**2) @ vt
    return cov


def _errors(names, params: _FreeParameters, u, cov, best: dict, bnd: dict, notes: list) -> dict:
    """1σ errors of every parameter (nan for fixed ones, inf when unconstrained); notes on
    parameters at a bound."""
    errs = {k: float("nan") for k in names}
    lb, ub, span = params.lower, params.upper, params.span
    for i, k in enumerate(params.names):
        errs[k] = float(math.sqrt(cov[i, i])) if np.isfinite(cov[i, i]) else float("inf")
        tol = 1e-4 * (span[i] if np.isfinite(ub[i] - lb[i]) else 1.0)
        if u[i] - lb[i] < tol or ub[i] - u[i] < tol:
            notes.append(f"{k} = {best[k]:.4g} is at its bound {bnd[k]}; its error is not meaningful")
    return errs


# ============================================================================ the fit
def fit_spectrum(
    result,
    data,
    tally: str | None = None,
    spectrum: str = "broken_power_law",
    *,
    variable: str | None = None,
    phi: float | None = None,
    fit_phi: bool = False,
    fix: dict | None = None,
    free=(),
    bounds: dict | None = None,
    start: dict | None = None,
    energy_range=None,
    errors: str = "total",
    model_error: bool = True,
) -> FitResult:
    """Fit an injection spectrum and source rate (and optionally φ) to a measured flux.

    Parameters
    ----------
    result : Result or path of a result file.
    data : DataSet, bundled short name or path of a table (:func:`load_data`).
    tally : tally giving the density at the Sun (default: a sphere tally, else the cylindrical or
        cartesian cell holding the Sun, as ``Result.local_spectrum``).
    spectrum : ``"power_law"``, ``"power_law_cutoff"`` or ``"broken_power_law"`` (spectra.py).
    variable : spectral variable of the injection shape (default: the run's ``[spectrum].variable``).
    phi, fit_phi : force-field potential φ [GV]: fixed at ``phi`` (default 0, no modulation), or
        free when ``fit_phi`` (``phi`` then is the start, default 0.6 GV).
    fix : {name: value} of parameters held fixed; ``free``: names fixed by default to free
        (``smoothness``).  ``bounds``: {name: (lo, hi)}; ``start``: {name: value}.
    energy_range : (lo, hi) in the data's axis unit (GV or GeV); default: all points whose kinetic
        energy lies between the lowest and highest non-empty energy-bin centres of the tally.
    errors : ``"total"`` (sqrt(stat² + sys²), the means of the lo/hi errors) or ``"stat"``.
    model_error : include the model's Monte Carlo error: its covariance between the data points
        (tally energy bins independent, propagated through the log–log interpolation and the bin
        average, see ``FluxModel.binned``) is added to the diagonal data covariance, and χ² is
        rᵀ(C_data + C_model)⁻¹r.  Switch off only when the data share the run's fluctuations
        (synthetic data made from the same run).

    The model at a data bin is the bin average of the force-field modulated (Gleeson & Axford
    1968) intensity J = β c n/(4π) (docs/physics.md §6, §8.6), with n the reweighted density at the
    Sun interpolated log–log between the tally's energy-bin centres (end segments extrapolated,
    which is used only within Φ of the last centre); per GV for rigidity tables (dT/dR = β|Z|).
    Data errors are taken as uncorrelated between bins (the tables give no correlation of the
    systematics, so χ² tends to fall below ndf when systematics dominate).  Uncertainties come
    from the Jacobian J of the whitened residuals at the minimum, cov = (JᵀJ)⁻¹, not rescaled by
    χ²/ndf.
    """
    result = as_result(result)
    ds = load_data(data)
    if spectrum not in FAMILIES:
        raise ValueError(f"unknown spectrum '{spectrum}' for fitting (allowed: {', '.join(FAMILIES)})")
    if errors not in ("total", "stat"):
        raise ValueError(f"errors must be 'total' or 'stat', not {errors!r}")
    tally = select_tally(result, tally)
    species = result.tallies[tally].species
    if ds.observable != "flux":
        raise ValueError(
            f"data '{ds.name}' measure the {ds.observable.replace('_', ' ')}, which needs electrons and "
            "positrons together; fit_spectrum fits the flux of one species"
        )
    if ds.species is not None and ds.species != species:
        raise ValueError(f"data '{ds.name}' are {ds.species} data but the run is for {species}")
    cfg = result.config
    variable = variable or cfg.spectrum.variable
    if variable not in ("kinetic_energy", "momentum", "rigidity"):
        raise ValueError(
            f"unknown spectral variable {variable!r} (allowed: kinetic_energy, momentum, rigidity)"
        )
    names = FAMILIES[spectrum] + COMMON
    fix, bounds, start, fit_phi = _checked_options(names, spectrum, fix, free, bounds, start, phi, fit_phi)
    model = FluxModel(result, tally, spectrum, variable)
    notes = []
    p0, free_names = _start_values(cfg, spectrum, names, phi, fit_phi, fix, free, start)
    n_tally_bins = len(result.tallies[tally].centers("E_GeV"))
    pts = _select_points(model, ds, n_tally_bins, p0, fit_phi, energy_range, errors, notes)
    ndf = len(pts.value) - len(free_names)
    if ndf <= 0:
        raise ValueError(f"{len(pts.value)} data points cannot constrain {len(free_names)} free parameters")
    bnd = _bounds(variable, pts, model, bounds, free_names, p0, start)
    if "log10_rate_per_Myr" in free_names and "log10_rate_per_Myr" not in start:
        _start_rate(model, p0, pts, ds.variable)

    params = _FreeParameters(p0, free_names, bnd)
    residuals = _residual_function(model, params, pts, ds.variable, model_error)
    u, jac, ok, msg, nfev, res_vec = _minimise(residuals, params, len(pts.value))
    cov = params.covariance(_internal_covariance(jac, len(free_names), notes), u)
    best = params.physical(u)
    errs = _errors(names, params, u, cov, best, bnd, notes)
    if not ok:
        notes.append(f"the minimiser did not converge: {msg}")
    return _fit_result(
        model,
        ds,
        pts,
        best,
        names,
        errs,
        params.names,
        cov,
        float(np.sum(res_vec**2)),
        ndf,
        model_error,
        notes,
        ok,
        msg,
        nfev,
        cfg,
    )


def _fit_result(
    model: FluxModel,
    ds: DataSet,
    pts: _Points,
    best: dict,
    names,
    errs: dict,
    free_names,
    cov,
    chi2: float,
    ndf: int,
    model_error: bool,
    notes: list,
    ok: bool,
    msg,
    nfev: int,
    cfg,
) -> FitResult:
    """The :class:`FitResult`: the model and its error at the fitted points, and the curves."""
    lo, hi, d, sd = pts.lo, pts.hi, pts.value, pts.error
    m, cm = model.binned(best, lo, hi, ds.variable)
    sm = np.sqrt(np.diag(cm)) if model_error else np.zeros_like(m)
    grid = np.geomspace(lo.min(), hi.max(), 200)
    nodes = model.lis_nodes(best)
    curve, _ = model.flux(grid, best, ds.variable, nodes)
    curve_lis, _ = model.flux(grid, best, ds.variable, nodes, phi_GV=0.0)
    return FitResult(
        spectrum=model.family,
        variable=model.variable,
        species=model.result.tallies[model.tally].species,
        tally=model.tally,
        data_name=ds.name,
        data_variable=ds.variable,
        parameters={k: float(best[k]) for k in names},
        errors=errs,
        free=list(free_names),
        covariance=cov,
        chi2=chi2,
        ndf=int(ndf),
        p_value=float(stats.chi2.sf(chi2, ndf)),
        x=np.sqrt(lo * hi),
        x_lo=lo,
        x_hi=hi,
        data=d,
        data_error=sd,
        model=m,
        model_error=sm,
        model_covariance=cm if model_error else np.zeros_like(cm),
        residuals=(d - m) / np.sqrt(sd**2 + sm**2),
        curve_x=grid,
        curve_flux=curve,
        curve_lis=curve_lis,
        dataset=ds,
        selected=pts.selected,
        notes=notes,
        success=ok,
        message=str(msg),
        nfev=nfev,
        injection_range_GeV=(float(cfg.energy.min_GeV), float(cfg.energy.max_GeV)),
    )
