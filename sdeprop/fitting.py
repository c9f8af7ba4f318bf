"""Fitting injection-spectrum parameters to a measured cosmic-ray spectrum.

A stored run is reweighted (``Tally.reweight``, DESIGN.md §4) to a trial injection spectrum,
turned into the intensity at the Sun, modulated by the force-field approximation and compared
with a measured flux table; ``scipy.optimize.least_squares`` adjusts the spectral parameters,
the source rate and, optionally, the modulation potential φ.  See docs/fitting.md.

Units: data axes in GV (rigidity tables) or GeV (kinetic-energy tables); fluxes in
m⁻² s⁻¹ sr⁻¹ GV⁻¹ or m⁻² s⁻¹ sr⁻¹ GeV⁻¹ (the unit of the table's axis); model densities in
kpc⁻³ GeV⁻¹; the normalisation is the total source rate in particles/Myr between the run's
injection limits ``energy.min_GeV`` and ``energy.max_GeV``, fitted as its log10.

Public names: :func:`load_data`, :func:`available_data`, :class:`DataSet`,
:func:`flux_from_density`, :func:`force_field`, :func:`fit_spectrum`, :class:`FitResult`,
:func:`predict_flux`, :func:`plot_fit`, :data:`FAMILIES`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .models.diffusion import SPECIES
from .spectra import PowerLaw, PowerLawCutoff, SmoothBrokenPowerLaw, Spectrum
from .units import KPC_CM


C_M_PER_S = 299792458.0
"""Speed of light [m/s] (exact, SI definition)."""
_KPC_M = KPC_CM * 1e-2
"""One kiloparsec in m (from units.KPC_CM)."""

DATA_DIR = Path(__file__).resolve().parent / "data"
"""Folder of the bundled tables (package data; see data/README.md)."""

# species of each bundled table: a fit of a run of another species is refused
_BUNDLED_SPECIES = {
    "ams02_proton_physrep2021": "proton",
    "ams02_proton_prl2015": "proton",
    "dampe_proton_2019": "proton",
    "calet_proton_2019": "proton",
    "ams02_electron_flux_physrep2021": "electron",
    "ams02_positron_flux_physrep2021": "positron",
}

FAMILIES = {
    "power_law": ("index",),
    "power_law_cutoff": ("index", "cutoff"),
    "broken_power_law": ("index_low", "index_high", "break_value", "smoothness"),
}
"""Spectral families (spectra.py) and their shape parameters; every fit adds
``log10_rate_per_Myr`` and ``phi_GV``."""

COMMON = ("log10_rate_per_Myr", "phi_GV")
_LOG_FITTED = ("break_value", "cutoff")      # fitted internally as log10, reported linearly
_FIXED_BY_DEFAULT = ("smoothness",)           # poorly constrained; free with free=["smoothness"]
_DEFAULT_BOUNDS = {
    "index": (0.0, 6.0), "index_low": (0.0, 6.0), "index_high": (0.0, 6.0),
    "cutoff": (1e-2, 1e10), "smoothness": (0.01, 2.0), "phi_GV": (0.0, 3.0),
    "log10_rate_per_Myr": (-np.inf, np.inf),
}
_DEFAULT_PHI_GV = 0.6
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)
_MODULATION_LIMIT_GeV = 20.0


# ============================================================================ data tables
@dataclass
class DataSet:
    """A measured flux table.

    ``variable`` is ``"rigidity"`` (axis in GV, flux per GV) or ``"kinetic_energy"`` (axis in
    GeV, flux per GeV); fluxes in m⁻² s⁻¹ sr⁻¹ per axis unit.  ``stat`` and ``sys`` are the
    means of the lower and upper 1σ errors; ``error`` = sqrt(stat² + sys²).
    """

    name: str
    path: Path
    variable: str
    x_lo: np.ndarray
    x_hi: np.ndarray
    value: np.ndarray
    stat: np.ndarray
    sys: np.ndarray
    header: str = ""
    species: str | None = None

    @property
    def x(self) -> np.ndarray:
        """Representative axis value of each row: the geometric mean of the bin edges [GV or GeV]."""
        return np.sqrt(self.x_lo * self.x_hi)

    @property
    def error(self) -> np.ndarray:
        """Total 1σ error sqrt(stat² + sys²), same unit as ``value``."""
        return np.hypot(self.stat, self.sys)

    @property
    def x_unit(self) -> str:
        return "GV" if self.variable == "rigidity" else "GeV"

    @property
    def flux_unit(self) -> str:
        return f"m^-2 s^-1 sr^-1 {self.x_unit}^-1"

    def __len__(self) -> int:
        return len(self.value)


_EDGE = re.compile(r"^(R|E|Ek)_(lo|hi)_(GV|GeV)$")


def available_data() -> list[str]:
    """Short names of the bundled tables (sdeprop/data/*.csv)."""
    return sorted(p.stem for p in DATA_DIR.glob("*.csv"))


def load_data(name_or_path) -> DataSet:
    """Read a flux table by bundled short name (``"ams02_proton_physrep2021"``) or by path.

    Format: a ``#`` comment block (kept as ``header``), one CSV header line, then rows with
    bin edges ``R_lo_GV, R_hi_GV`` (rigidity) or ``E_lo_GeV, E_hi_GeV`` / ``Ek_lo_GeV, Ek_hi_GeV``
    (kinetic energy), optionally a mean-energy column (ignored), the flux ``value`` or ``flux``
    in m⁻² s⁻¹ sr⁻¹ per axis unit, and ``stat_lo, stat_hi, sys_lo, sys_hi`` (absolute 1σ).
    Raises ValueError with the file and row on anything else.
    """
    if isinstance(name_or_path, DataSet):
        return name_or_path
    text = str(name_or_path)
    path = Path(text)
    short = text[:-4] if text.endswith(".csv") else text
    if not path.is_file():
        if "/" in text or short not in available_data():
            raise ValueError(f"no data table '{text}': not a file and not a bundled table "
                             f"(bundled: {', '.join(available_data())})")
        path = DATA_DIR / f"{short}.csv"
        name, species = short, _BUNDLED_SPECIES.get(short)
    else:
        name = path.stem
        species = _BUNDLED_SPECIES.get(name) if path.resolve().parent == DATA_DIR else None
    header, rows, columns = [], [], None
    with open(path, newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                if columns is None:
                    header.append(line.rstrip("\n"))
                continue
            cells = next(csv.reader([s]))
            if columns is None:
                columns = [c.strip() for c in cells]
                continue
            if len(cells) != len(columns):
                raise ValueError(f"{path}: line {lineno} has {len(cells)} fields, the header has {len(columns)}")
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                raise ValueError(f"{path}: line {lineno} holds a non-numeric field: {s!r}") from None
    if columns is None or not rows:
        raise ValueError(f"{path}: no column header or no data rows")
    htxt = "\n".join(header)
    if re.search(r"cm\^-2|TeV\^-1|GeV/n|per nucleon", htxt):
        raise ValueError(f"{path}: only fluxes in m^-2 s^-1 sr^-1 per GV or per GeV of total kinetic energy are supported")
    m_lo, m_hi = _EDGE.match(columns[0]), _EDGE.match(columns[1]) if len(columns) > 1 else None
    if not (m_lo and m_hi and m_lo.group(2) == "lo" and m_hi.group(2) == "hi" and m_lo.group(1) == m_hi.group(1)
            and (m_lo.group(1) == "R") == (m_lo.group(3) == "GV")):
        raise ValueError(f"{path}: the first two columns must be bin edges R_lo_GV,R_hi_GV or E_lo_GeV,E_hi_GeV "
                         f"or Ek_lo_GeV,Ek_hi_GeV (found {','.join(columns[:2])})")
    variable = "rigidity" if m_lo.group(1) == "R" else "kinetic_energy"
    flux_col = [c for c in ("value", "flux") if c in columns]
    needed = ["stat_lo", "stat_hi", "sys_lo", "sys_hi"]
    missing = [c for c in needed if c not in columns] + ([] if flux_col else ["value (or flux)"])
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (found {','.join(columns)})")
    a = np.asarray(rows, dtype=float)
    col = {c: a[:, i] for i, c in enumerate(columns)}
    lo, hi, val = col[columns[0]], col[columns[1]], col[flux_col[0]]
    errs = [col[c] for c in needed]
    bad = ~(np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi >= lo) & np.isfinite(val) & (val > 0))
    for e in errs:
        bad |= ~(np.isfinite(e) & (e >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{path}: data row {i + 1} is invalid (edges must be positive and increasing, "
                         f"flux positive, errors non-negative): {rows[i]}")
    return DataSet(name=name, path=path, variable=variable, x_lo=lo, x_hi=hi, value=val,
                   stat=0.5 * (errs[0] + errs[1]), sys=0.5 * (errs[2] + errs[3]), header=htxt, species=species)


# ============================================================================ physics
def flux_from_density(density_per_kpc3_per_GeV, kinetic_GeV, mass_GeV):
    """Intensity J = β c n / (4π) [m⁻² s⁻¹ sr⁻¹ GeV⁻¹] of an isotropic density n [kpc⁻³ GeV⁻¹].

    Source: PHYSICS.md §6 (J_p = β c N_p / 4π for an isotropic distribution); β from the
    kinetic energy T [GeV] and rest mass m [GeV]: β = sqrt(T(T + 2m))/(T + m).
    """
    T = np.asarray(kinetic_GeV, dtype=float)
    beta = np.sqrt(T * (T + 2.0 * mass_GeV)) / (T + mass_GeV)
    return beta * C_M_PER_S * np.asarray(density_per_kpc3_per_GeV, dtype=float) / (4.0 * math.pi * _KPC_M**3)


def kinetic_from_rigidity(rigidity_GV, mass_GeV, charge):
    """Kinetic energy T = sqrt((|Z| R)² + m²) − m [GeV] of rigidity R [GV] (p = |Z| R in GeV/c)."""
    p = abs(charge) * np.asarray(rigidity_GV, dtype=float)
    return np.sqrt(p * p + mass_GeV * mass_GeV) - mass_GeV


def dT_dR(kinetic_GeV, mass_GeV, charge):
    """dT/dR = |Z| β [GeV/GV]: converts a flux per GeV into a flux per GV (spectra.py, dR/dT = 1/(β|Z|))."""
    T = np.asarray(kinetic_GeV, dtype=float)
    return abs(charge) * np.sqrt(T * (T + 2.0 * mass_GeV)) / (T + mass_GeV)


def force_field(lis, kinetic_GeV, phi_GV, mass_GeV, charge):
    """Force-field modulated intensity at Earth [unit of ``lis``, per GeV of kinetic energy].

    J⊕(T) = J_LIS(T + Φ) T(T + 2m) / [(T + Φ)(T + Φ + 2m)],  Φ = |Z| e φ (A = 1 here),
    Gleeson & Axford 1968, ApJ 154, 1011; PHYSICS.md §8.6.  ``lis`` is a callable J_LIS(T)
    per GeV; T [GeV], φ [GV], m [GeV].
    """
    T = np.asarray(kinetic_GeV, dtype=float)
    Phi = abs(charge) * float(phi_GV)
    Tl = T + Phi
    return np.asarray(lis(Tl), dtype=float) * T * (T + 2.0 * mass_GeV) / (Tl * (Tl + 2.0 * mass_GeV))


def _interp_weights(xq, xn):
    """Index i and fraction f of piecewise-linear interpolation in ln x: value = (1 − f) y[i] + f y[i+1].

    The end segments are extrapolated (f < 0 or f > 1)."""
    lx = np.log(xn)
    lq = np.log(np.asarray(xq, dtype=float))
    i = np.clip(np.searchsorted(lx, lq) - 1, 0, len(lx) - 2)
    return i, (lq - lx[i]) / (lx[i + 1] - lx[i])


def _loglog(xq, xn, yn):
    """Piecewise power-law interpolation of positive yn(xn); the end segments are extrapolated."""
    i, f = _interp_weights(xq, xn)
    ly = np.log(yn)
    return np.exp((1.0 - f) * ly[i] + f * ly[i + 1])


def make_spectrum(family: str, params: dict, variable: str) -> Spectrum:
    """The spectra.py shape of a family (power_law, power_law_cutoff, broken_power_law) for ``params``."""
    if family == "power_law":
        return PowerLaw(params["index"], variable)
    if family == "power_law_cutoff":
        return PowerLawCutoff(params["index"], params["cutoff"], variable)
    if family == "broken_power_law":
        return SmoothBrokenPowerLaw(params["index_low"], params["index_high"], params["break_value"],
                                    params["smoothness"], variable)
    raise ValueError(f"unknown spectrum '{family}' for fitting (allowed: {', '.join(FAMILIES)})")


# ============================================================================ the model
class _Model:
    """Model fluxes at the data for one run, tally and spectral family."""

    def __init__(self, result, tally: str, family: str, variable: str):
        self.result, self.tally, self.family, self.variable = result, tally, family, variable
        t = result.tallies[tally]
        self.mass, self.charge = SPECIES[t.species]

    def lis_nodes(self, params: dict):
        """(T [GeV], J_LIS [m⁻² s⁻¹ sr⁻¹ GeV⁻¹], relative MC error) at the tally's non-empty energy-bin centres."""
        spec = make_spectrum(self.family, params, self.variable)
        e, n, dn = self.result.local_spectrum(spec, self.tally)
        ok = n > 0
        rate = 10.0 ** params["log10_rate_per_Myr"]
        return e[ok], flux_from_density(n[ok] * rate, e[ok], self.mass), dn[ok] / n[ok]

    def flux(self, x, params: dict, data_variable: str, nodes=None, phi_GV=None):
        """Modulated model flux at axis values x [GV or GeV], per axis unit; and the interpolation matrix
        W (len(x), nodes) with δJ/J = W @ (δn/n) for independent relative errors δn/n of the nodes."""
        T_n, J_n, _ = nodes if nodes is not None else self.lis_nodes(params)
        x = np.asarray(x, dtype=float)
        T = kinetic_from_rigidity(x, self.mass, self.charge) if data_variable == "rigidity" else x
        phi = params["phi_GV"] if phi_GV is None else phi_GV
        J = force_field(lambda E: _loglog(E, T_n, J_n), T, phi, self.mass, self.charge)
        if data_variable == "rigidity":
            J = J * dT_dR(T, self.mass, self.charge)
        i, f = _interp_weights(T + abs(self.charge) * phi, T_n)
        W = np.zeros((x.size, len(T_n)))
        rows = np.arange(x.size)
        W[rows, i] = 1.0 - f
        W[rows, i + 1] += f
        return J, W

    def binned(self, params: dict, lo, hi, data_variable: str):
        """Model over the data bins and the covariance of its Monte Carlo error.

        Each bin is averaged, (1/(hi − lo)) ∫ J dx, with 8 Gauss–Legendre nodes in ln x (rows with
        hi = lo are evaluated at x).  The relative errors of the tally's energy bins are taken as
        independent (exact without losses, where a history scores in one energy bin only) and
        propagated linearly through the log–log interpolation and the bin average, so data points
        that share tally bins get correlated model errors.
        """
        nodes = self.lis_nodes(params)
        a, b = np.log(lo), np.log(hi)
        half = 0.5 * (b - a)
        xs = np.exp(0.5 * (a + b)[:, None] + half[:, None] * _GL_X[None, :])
        J, W = self.flux(xs.ravel(), params, data_variable, nodes)
        c = (half[:, None] * _GL_W[None, :]) * J.reshape(xs.shape) * xs    # contributions to ∫ J dx
        width = hi - lo
        isbin = width > 0
        csum = c.sum(axis=1)
        model = np.where(isbin, csum / np.where(isbin, width, 1.0), 0.0)
        frac = c / np.where(csum > 0, csum, 1.0)[:, None]
        A = np.einsum("iq,iqk->ik", frac, W.reshape(xs.shape + (W.shape[1],)))
        if not isbin.all():
            Jp, Wp = self.flux(lo[~isbin], params, data_variable, nodes)
            model[~isbin], A[~isbin] = Jp, Wp
        M = model[:, None] * A * nodes[2][None, :]
        return model, M @ M.T


def predict_flux(result, parameters: dict, x_lo, x_hi, data_variable: str = "rigidity",
                 spectrum: str = "broken_power_law", tally: str | None = None, variable: str | None = None):
    """Model flux averaged over bins [x_lo, x_hi] (GV for ``data_variable="rigidity"``, else GeV of
    kinetic energy) for the parameters ``parameters`` (all of ``FAMILIES[spectrum]`` plus
    log10_rate_per_Myr and phi_GV), in m⁻² s⁻¹ sr⁻¹ per GV or GeV, with the covariance of its
    Monte Carlo error.  The same model as :func:`fit_spectrum`.
    """
    from .io import load_result
    from .result import Result

    if not isinstance(result, Result):
        result = load_result(result)
    if spectrum not in FAMILIES:
        raise ValueError(f"unknown spectrum '{spectrum}' for fitting (allowed: {', '.join(FAMILIES)})")
    if data_variable not in ("rigidity", "kinetic_energy"):
        raise ValueError(f"data_variable must be 'rigidity' or 'kinetic_energy', not {data_variable!r}")
    names = FAMILIES[spectrum] + COMMON
    _check_names(parameters, names, "parameters", spectrum)
    missing = [k for k in names if k not in parameters]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)} of {spectrum}")
    tally = _select_tally(result, tally)
    model = _Model(result, tally, spectrum, variable or result.config.spectrum.variable)
    lo, hi = np.atleast_1d(np.asarray(x_lo, dtype=float)), np.atleast_1d(np.asarray(x_hi, dtype=float))
    return model.binned({k: float(v) for k, v in parameters.items()}, lo, hi, data_variable)


# ============================================================================ fit
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
        return "GV" if self.data_variable == "rigidity" else "GeV"

    @property
    def flux_unit(self) -> str:
        return f"m^-2 s^-1 sr^-1 {self.x_unit}^-1"

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
        lines = [f"fit of '{self.data_name}' ({len(self.x)} points, {self.x_lo.min():.4g}-{self.x_hi.max():.4g} {self.x_unit}) "
                 f"with tally '{self.tally}' ({self.species}); spectrum {self.spectrum} in {self.variable}"]
        width = max(len(k) for k in self.parameters)
        for k, v in self.parameters.items():
            if k in self.free:
                lines.append(f"  {k:<{width}} = {_value_with_error(v, self.errors[k])}")
            else:
                lines.append(f"  {k:<{width}} = {v:.6g} (fixed)")
        lines.append(f"  source rate {self.rate_per_Myr:.4g} particles/Myr between {lo:.4g} and {hi:.4g} GeV")
        lines.append(f"  chi2/ndf = {self.chi2:.2f}/{self.ndf} = {self.chi2 / max(self.ndf, 1):.3f}, p-value {self.p_value:.3g}")
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


def _select_tally(result, tally):
    if tally is not None:
        if tally not in result.tallies:
            raise ValueError(f"no tally named '{tally}' (available: {', '.join(result.tallies)})")
        return tally
    for kind in ("sphere", "cylindrical", "cartesian"):
        names = [n for n, t in result.tallies.items() if t.kind == kind]
        if names:
            return names[0]
    raise ValueError("the result has no tally to fit")


def _check_names(mapping, allowed, what, family):
    for k in mapping:
        if k not in allowed:
            raise ValueError(f"unknown parameter '{k}' in {what} (parameters of {family}: {', '.join(allowed)})")


def fit_spectrum(result, data, tally: str | None = None, spectrum: str = "broken_power_law", *,
                 variable: str | None = None, phi: float | None = None, fit_phi: bool = False,
                 fix: dict | None = None, free=(), bounds: dict | None = None, start: dict | None = None,
                 energy_range=None, errors: str = "total", model_error: bool = True) -> FitResult:
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
        average, see ``_Model.binned``) is added to the diagonal data covariance, and χ² is
        rᵀ(C_data + C_model)⁻¹r.  Switch off only when the data share the run's fluctuations
        (synthetic data made from the same run).

    The model at a data bin is the bin average of the force-field modulated (Gleeson & Axford
    1968) intensity J = β c n/(4π) (PHYSICS.md §6, §8.6), with n the reweighted density at the
    Sun interpolated log–log between the tally's energy-bin centres (end segments extrapolated,
    which is used only within Φ of the last centre); per GV for rigidity tables (dT/dR = β|Z|).
    Data errors are taken as uncorrelated between bins (the tables give no correlation of the
    systematics, so χ² tends to fall below ndf when systematics dominate).  Uncertainties come
    from the Jacobian J of the whitened residuals at the minimum, cov = (JᵀJ)⁻¹, not rescaled by
    χ²/ndf.
    """
    from scipy import linalg, optimize, stats

    from .io import load_result
    from .result import Result

    if not isinstance(result, Result):
        result = load_result(result)
    ds = load_data(data)
    if spectrum not in FAMILIES:
        raise ValueError(f"unknown spectrum '{spectrum}' for fitting (allowed: {', '.join(FAMILIES)})")
    if errors not in ("total", "stat"):
        raise ValueError(f"errors must be 'total' or 'stat', not {errors!r}")
    tally = _select_tally(result, tally)
    t = result.tallies[tally]
    species = t.species
    if ds.species is not None and ds.species != species:
        raise ValueError(f"data '{ds.name}' are {ds.species} data but the run is for {species}")
    cfg = result.config
    variable = variable or cfg.spectrum.variable
    if variable not in ("kinetic_energy", "momentum", "rigidity"):
        raise ValueError(f"unknown spectral variable {variable!r} (allowed: kinetic_energy, momentum, rigidity)")
    names = FAMILIES[spectrum] + COMMON
    fix, bounds, start = dict(fix or {}), dict(bounds or {}), dict(start or {})
    for what, mapping in (("fix", fix), ("bounds", bounds), ("start", start), ("free", {k: 0 for k in free})):
        _check_names(mapping, names, what, spectrum)
    if "phi_GV" in fix and (fit_phi or phi is not None):
        raise ValueError("phi_GV is given twice: use either fix={'phi_GV': ...} or phi=/fit_phi")
    for what, mapping in (("fix", fix), ("start", start)):
        for k, v in mapping.items():
            try:
                mapping[k] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"{what}: {k} = {v!r} is not a number") from None
            if not math.isfinite(mapping[k]) or (k in _LOG_FITTED + ("smoothness",) and mapping[k] <= 0):
                raise ValueError(f"{what}: {k} = {v} must be finite" + (" and positive" if k in _LOG_FITTED + ("smoothness",) else ""))
    if "phi_GV" in free:
        fit_phi = True
    phi_given = phi if phi is not None else fix.get("phi_GV")
    if phi_given is not None and not (0.0 <= float(phi_given) <= 5.0):
        raise ValueError(f"phi = {phi_given} GV is outside 0-5 GV")
    model = _Model(result, tally, spectrum, variable)
    mass, charge = model.mass, model.charge
    notes = []

    # ---- start values: the run's spectrum when it is of the same family, else the schema defaults
    from .config import SpectrumSection

    src = cfg.spectrum if cfg.spectrum.type == spectrum else SpectrumSection()
    p0 = {k: float(getattr(src, k)) for k in FAMILIES[spectrum]}
    p0["log10_rate_per_Myr"] = math.log10(cfg.spectrum.rate_per_Myr)
    p0["phi_GV"] = (phi if phi is not None else _DEFAULT_PHI_GV) if fit_phi else (phi or 0.0)
    p0.update({k: float(v) for k, v in start.items()})
    p0.update({k: float(v) for k, v in fix.items()})
    free_names = [k for k in names if k not in fix and (k not in _FIXED_BY_DEFAULT or k in free)
                  and (k != "phi_GV" or fit_phi)]

    # ---- data selection
    T_n, _, _ = model.lis_nodes(p0)
    if len(T_n) < 2:
        raise ValueError(f"tally '{tally}' has fewer than two non-empty energy bins at the Sun; run more particles")
    n_empty = len(t.centers("E_GeV")) - len(T_n)
    if n_empty:
        notes.append(f"{n_empty} empty energy bin(s) of tally '{tally}' skipped in the interpolation")
    T_data = kinetic_from_rigidity(ds.x, mass, charge) if ds.variable == "rigidity" else ds.x
    inside = (T_data >= T_n[0] * (1 - 1e-9)) & (T_data <= T_n[-1] * (1 + 1e-9))
    sel = inside.copy()
    if energy_range is not None:
        lo_r, hi_r = (float(v) for v in energy_range)
        if not (0 < lo_r < hi_r):
            raise ValueError(f"range {lo_r},{hi_r} must be positive and increasing ({ds.x_unit})")
        want = (ds.x >= lo_r) & (ds.x <= hi_r)
        if (want & ~inside).any():
            notes.append(f"{int((want & ~inside).sum())} point(s) in the requested range lie outside the tally's "
                         f"energy-bin centres ({T_n[0]:.3g}-{T_n[-1]:.3g} GeV) and were left out")
        sel &= want
    err_all = ds.error if errors == "total" else ds.stat
    if (err_all[sel] <= 0).any():
        raise ValueError(f"data '{ds.name}' have zero {errors} errors in the fit range; use errors='total'")
    if not sel.any():
        raise ValueError(f"no data point of '{ds.name}' ({ds.x_lo.min():.3g}-{ds.x_hi.max():.3g} {ds.x_unit}) lies in the "
                         f"fit range and inside the tally's energy-bin centres ({T_n[0]:.3g}-{T_n[-1]:.3g} GeV)")
    lo, hi, d, sd = ds.x_lo[sel], ds.x_hi[sel], ds.value[sel], err_all[sel]
    T_sel = T_data[sel]
    if not fit_phi and p0["phi_GV"] == 0.0 and T_sel.min() < _MODULATION_LIMIT_GeV:
        notes.append(f"data below {_MODULATION_LIMIT_GeV:g} GeV fitted without solar modulation (phi = 0); use phi= or fit_phi")
    if fit_phi and T_sel.min() > _MODULATION_LIMIT_GeV:
        notes.append(f"phi is poorly constrained: no data below {_MODULATION_LIMIT_GeV:g} GeV in the fit range")
    ndf = len(d) - len(free_names)
    if ndf <= 0:
        raise ValueError(f"{len(d)} data points cannot constrain {len(free_names)} free parameters")

    # ---- bounds (physical), internal transform (log10 for break_value and cutoff)
    x_var = {"kinetic_energy": T_sel}.get(variable)
    if x_var is None:
        p_sel = np.sqrt(T_sel * (T_sel + 2 * mass))
        x_var = p_sel if variable == "momentum" else p_sel / abs(charge)
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

    def to_int(k, v):
        return math.log10(v) if k in _LOG_FITTED else v

    def to_phys(k, u):
        return 10.0 ** u if k in _LOG_FITTED else u

    def params_of(u):
        p = dict(p0)
        for k, ui in zip(free_names, u):
            p[k] = to_phys(k, ui)
        return p

    def residuals(u):
        """Whitened residuals L⁻¹(d − m), L L^T = diag(σ_data²) + C_model: χ² = their sum of squares."""
        m, cm = model.binned(params_of(u), lo, hi, ds.variable)
        if not model_error:
            return (d - m) / sd
        L = linalg.cholesky(cm + np.diag(sd * sd), lower=True)
        return linalg.solve_triangular(L, d - m, lower=True)

    # best normalisation for the start shape (linear in the rate, ignoring the model error)
    if "log10_rate_per_Myr" in free_names and "log10_rate_per_Myr" not in start:
        m1, _ = model.binned({**p0, "log10_rate_per_Myr": 0.0}, lo, hi, ds.variable)
        w = 1.0 / sd**2
        amp = np.sum(w * d * m1) / np.sum(w * m1 * m1)
        if amp > 0 and np.isfinite(amp):
            p0["log10_rate_per_Myr"] = math.log10(amp)

    u0 = np.array([to_int(k, p0[k]) for k in free_names])
    lb = np.array([to_int(k, bnd[k][0]) for k in free_names])
    ub = np.array([to_int(k, bnd[k][1]) for k in free_names])
    span = np.where(np.isfinite(ub - lb), ub - lb, 1.0)
    u0 = np.clip(u0, lb + 1e-6 * span, ub - 1e-6 * span)
    if len(free_names):
        sol = optimize.least_squares(residuals, u0, bounds=(lb, ub), method="trf", jac="3-point", x_scale="jac",
                                     xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=2000)
        u, jac, ok, msg, nfev = sol.x, sol.jac, bool(sol.success), sol.message, int(sol.nfev)
        res_vec = sol.fun
    else:
        u, jac, ok, msg, nfev = u0, np.zeros((len(d), 0)), True, "no free parameters", 1
        res_vec = residuals(u0)
    # covariance of the internal parameters from the Jacobian (pseudo-inverse, as in curve_fit)
    cov_int = np.zeros((len(free_names), len(free_names)))
    if len(free_names):
        _, s, vt = np.linalg.svd(jac, full_matrices=False)
        tiny = np.finfo(float).eps * max(jac.shape) * (s[0] if s.size else 0.0)
        if (s <= tiny).any():
            notes.append("the Jacobian is singular at the minimum: some parameters are not constrained (errors set to inf)")
            cov_int[:] = np.inf
        else:
            cov_int = (vt.T / s**2) @ vt
    scale = np.array([to_phys(k, ui) * math.log(10.0) if k in _LOG_FITTED else 1.0 for k, ui in zip(free_names, u)])
    cov = cov_int * np.outer(scale, scale)
    best = params_of(u)
    errs = {k: float("nan") for k in names}
    for i, k in enumerate(free_names):
        errs[k] = float(math.sqrt(cov[i, i])) if np.isfinite(cov[i, i]) else float("inf")
        tol = 1e-4 * (span[i] if np.isfinite(ub[i] - lb[i]) else 1.0)
        if u[i] - lb[i] < tol or ub[i] - u[i] < tol:
            notes.append(f"{k} = {best[k]:.4g} is at its bound {bnd[k]}; its error is not meaningful")
    if not ok:
        notes.append(f"the minimiser did not converge: {msg}")
    chi2 = float(np.sum(res_vec**2))
    m, cm = model.binned(best, lo, hi, ds.variable)
    sm = np.sqrt(np.diag(cm)) if model_error else np.zeros_like(m)
    grid = np.geomspace(lo.min(), hi.max(), 200)
    nodes = model.lis_nodes(best)
    curve, _ = model.flux(grid, best, ds.variable, nodes)
    curve_lis, _ = model.flux(grid, best, ds.variable, nodes, phi_GV=0.0)
    return FitResult(
        spectrum=spectrum, variable=variable, species=species, tally=tally, data_name=ds.name,
        data_variable=ds.variable, parameters={k: float(best[k]) for k in names}, errors=errs,
        free=list(free_names), covariance=cov, chi2=chi2, ndf=int(ndf), p_value=float(stats.chi2.sf(chi2, ndf)),
        x=np.sqrt(lo * hi), x_lo=lo, x_hi=hi, data=d, data_error=sd, model=m,
        model_error=sm, model_covariance=cm if model_error else np.zeros_like(cm), residuals=(d - m) / np.sqrt(sd**2 + sm**2),
        curve_x=grid, curve_flux=curve, curve_lis=curve_lis, dataset=ds, selected=sel, notes=notes,
        success=ok, message=str(msg), nfev=nfev,
        injection_range_GeV=(float(cfg.energy.min_GeV), float(cfg.energy.max_GeV)),
    )


# ============================================================================ figure
def plot_fit(fit: FitResult, path, weight_index: float = 2.7) -> Path:
    """Write a PNG: x^2.7-weighted data and model (and the unmodulated LIS when φ > 0) over
    the residuals (data − model)/σ.  Points outside the fit range are drawn open and grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = weight_index
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]},
                                  constrained_layout=True)
    xu = fit.x_unit
    sym = "R" if fit.data_variable == "rigidity" else "T"
    ds = fit.dataset
    if ds is not None and fit.selected is not None and (~fit.selected).any():
        out = ~fit.selected
        xo = ds.x[out]
        ax.errorbar(xo, xo**a * ds.value[out], yerr=xo**a * ds.error[out], fmt="o", mfc="none", color="0.6", ms=3,
                    capsize=0, label="not fitted")
    ax.errorbar(fit.x, fit.x**a * fit.data, yerr=fit.x**a * fit.data_error, fmt="o", ms=3, color="k", capsize=0,
                label=fit.data_name)
    ax.plot(fit.curve_x, fit.curve_x**a * fit.curve_flux, color="C3",
            label=f"model ({fit.spectrum}, φ = {fit.parameters['phi_GV']:.3g} GV)")
    band = fit.x**a * fit.model
    ax.fill_between(fit.x, band - fit.x**a * fit.model_error, band + fit.x**a * fit.model_error, color="C3", alpha=0.25,
                    lw=0, label="model bin averages ± MC 1σ")
    if fit.parameters["phi_GV"] > 0:
        ax.plot(fit.curve_x, fit.curve_x**a * fit.curve_lis, color="C0", ls="--", label="unmodulated (LIS)")
    ax.set(xscale="log", yscale="log", ylabel=f"{sym}$^{{{a:g}}}$ J  [m$^{{-2}}$ s$^{{-1}}$ sr$^{{-1}}$ {xu}$^{{{a - 1:g}}}$]",
           title=f"χ²/ndf = {fit.chi2:.1f}/{fit.ndf}  (p = {fit.p_value:.2g}), tally '{fit.tally}'")
    ax.legend(fontsize=8)
    axr.axhspan(-2, 2, color="0.92")
    axr.axhspan(-1, 1, color="0.82")
    axr.axhline(0, color="k", lw=0.8)
    axr.plot(fit.x, fit.residuals, "o", ms=3, color="k")
    lim = max(3.0, float(np.nanmax(np.abs(fit.residuals))) * 1.1) if len(fit.residuals) else 3.0
    axr.set(xscale="log", ylim=(-lim, lim), ylabel="(data − model)/σ",
            xlabel="rigidity R [GV]" if fit.data_variable == "rigidity" else "kinetic energy T [GeV]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
