"""The flux model of a fit: a stored run reweighted (``Tally.reweight``, docs/design.md §4) to a trial
injection spectrum of one family, turned into the intensity at the Sun, modulated by the
force-field approximation and averaged over the data bins, with the covariance of its Monte
Carlo error (:class:`FluxModel`, :func:`predict_flux`).

Units: model densities in kpc⁻³ GeV⁻¹; intensities in m⁻² s⁻¹ sr⁻¹ per GeV of kinetic energy or
per GV of rigidity; the normalisation is the total source rate in particles/Myr between the
run's injection limits ``energy.min_GeV`` and ``energy.max_GeV``, as its log10.
"""

from __future__ import annotations

import math

import numpy as np

from ..io import load_result
from ..models.diffusion import SPECIES, kinetic_from_rigidity
from ..result import Result
from ..spectra import PowerLaw, PowerLawCutoff, SmoothBrokenPowerLaw, SmoothBrokenPowerLawCutoff, Spectrum
from ..units import KPC_CM

C_M_PER_S = 299792458.0
"""Speed of light [m/s] (exact, SI definition)."""
_KPC_M = KPC_CM * 1e-2
"""One kiloparsec in m (from units.KPC_CM)."""

FAMILIES = {
    "power_law": ("index",),
    "power_law_cutoff": ("index", "cutoff"),
    "broken_power_law": ("index_low", "index_high", "break_value", "smoothness"),
    "broken_power_law_cutoff": ("index_low", "index_high", "break_value", "smoothness", "cutoff"),
}
"""Spectral families (spectra.py) and their shape parameters; every fit adds
``log10_rate_per_Myr`` and ``phi_GV``."""

COMMON = ("log10_rate_per_Myr", "phi_GV")
_GL_X, _GL_W = np.polynomial.legendre.leggauss(8)


# ============================================================================ physics
def flux_from_density(density_per_kpc3_per_GeV, kinetic_GeV, mass_GeV):
    """Intensity J = β c n / (4π) [m⁻² s⁻¹ sr⁻¹ GeV⁻¹] of an isotropic density n [kpc⁻³ GeV⁻¹].

    Source: docs/physics.md §6 (J_p = β c N_p / 4π for an isotropic distribution); β from the
    kinetic energy T [GeV] and rest mass m [GeV]: β = sqrt(T(T + 2m))/(T + m).
    """
    T = np.asarray(kinetic_GeV, dtype=float)
    beta = np.sqrt(T * (T + 2.0 * mass_GeV)) / (T + mass_GeV)
    return beta * C_M_PER_S * np.asarray(density_per_kpc3_per_GeV, dtype=float) / (4.0 * math.pi * _KPC_M**3)


def dT_dR(kinetic_GeV, mass_GeV, charge):
    """dT/dR = |Z| β [GeV/GV]: converts a flux per GeV into a flux per GV (spectra.py, dR/dT = 1/(β|Z|))."""
    T = np.asarray(kinetic_GeV, dtype=float)
    return abs(charge) * np.sqrt(T * (T + 2.0 * mass_GeV)) / (T + mass_GeV)


def force_field(lis, kinetic_GeV, phi_GV, mass_GeV, charge):
    """Force-field modulated intensity at Earth [unit of ``lis``, per GeV of kinetic energy].

    J⊕(T) = J_LIS(T + Φ) T(T + 2m) / [(T + Φ)(T + Φ + 2m)],  Φ = |Z| e φ (A = 1 here),
    Gleeson & Axford 1968, ApJ 154, 1011; docs/physics.md §8.6.  ``lis`` is a callable J_LIS(T)
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
    """The spectra.py shape of a family (power_law, power_law_cutoff, broken_power_law,
    broken_power_law_cutoff) for ``params``."""
    if family == "power_law":
        return PowerLaw(params["index"], variable)
    if family == "power_law_cutoff":
        return PowerLawCutoff(params["index"], params["cutoff"], variable)
    if family == "broken_power_law":
        return SmoothBrokenPowerLaw(
            params["index_low"], params["index_high"], params["break_value"], params["smoothness"], variable
        )
    if family == "broken_power_law_cutoff":
        return SmoothBrokenPowerLawCutoff(
            params["index_low"],
            params["index_high"],
            params["break_value"],
            params["smoothness"],
            variable,
            params["cutoff"],
        )
    raise ValueError(f"unknown spectrum '{family}' for fitting (allowed: {', '.join(FAMILIES)})")


# ============================================================================ run, tally, parameters
def as_result(result) -> Result:
    """``result`` itself, or the result stored in the file ``result``."""
    return result if isinstance(result, Result) else load_result(result)


def select_tally(result, tally) -> str:
    """The name of the tally giving the density at the Sun: ``tally`` (checked), else the backward
    estimator's observer, else the first sphere tally, else the first cylindrical, else the first
    cartesian one."""
    if tally is not None:
        if tally not in result.tallies:
            raise ValueError(f"no tally named '{tally}' (available: {', '.join(result.tallies)})")
        return tally
    for kind in ("observer", "sphere", "cylindrical", "cartesian"):
        names = [n for n, t in result.tallies.items() if t.kind == kind]
        if names:
            return names[0]
    raise ValueError("the result has no tally to fit")


def check_parameter_names(mapping, allowed, what, family):
    """Raise ValueError for a key of ``mapping`` (the option ``what``) not among the ``allowed``
    parameters of ``family``."""
    for k in mapping:
        if k not in allowed:
            raise ValueError(
                f"unknown parameter '{k}' in {what} (parameters of {family}: {', '.join(allowed)})"
            )


# ============================================================================ the model
class FluxModel:
    """Model fluxes at the data for one run, tally and spectral family (``variable``: the injection
    shape's spectral variable)."""

    def __init__(
        self,
        result,
        tally: str,
        family: str,
        variable: str,
        spectrum: Spectrum | None = None,
        species: str | None = None,
    ):
        self.result, self.tally, self.family, self.variable = result, tally, family, variable
        self.spectrum = spectrum  # a fixed shape (only the rate is fitted) instead of the family's
        t = result.tallies[tally]
        self.mass, self.charge = SPECIES[species or t.species]
        self._ok = None

    def lis_nodes(self, params: dict):
        """(T [GeV], J_LIS [m⁻² s⁻¹ sr⁻¹ GeV⁻¹], relative MC error) at the tally's non-empty
        energy-bin centres."""
        spec = (
            self.spectrum if self.spectrum is not None else make_spectrum(self.family, params, self.variable)
        )
        e, n, dn = self.result.local_spectrum(spec, self.tally)
        ok = n > 0
        rate = 10.0 ** params["log10_rate_per_Myr"]
        self._ok = ok
        return e[ok], flux_from_density(n[ok] * rate, e[ok], self.mass), dn[ok] / n[ok]

    def node_correlation(self) -> np.ndarray:
        """Correlation of the relative Monte Carlo errors of the nodes of the last ``lis_nodes``: the
        identity for a forward tally at one point in space and for backward paths of their own per energy
        (independent histories per node without losses), all ones for shared backward paths (one set of
        paths serves every energy, docs/observer.md)."""
        ok = self._ok
        t = self.result.tallies[self.tally]
        k = int(ok.sum())
        if getattr(t.layout, "shared_paths", False):
            return np.ones((k, k))
        return np.eye(k)

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
        model, A, nodes = self.binned_jacobian(params, lo, hi, data_variable)
        M = A * nodes[2][None, :]
        return model, M @ self.node_correlation() @ M.T

    def binned_jacobian(self, params: dict, lo, hi, data_variable: str, phi_GV=None, nodes=None):
        """(model over the data bins, A, nodes): δmodel = A (δn/n) for relative changes δn/n of the nodes'
        densities (the interpolation and bin average, linearised), and the nodes (T, J, relative error)
        of ``lis_nodes`` (or those given); ``phi_GV`` overrides params['phi_GV']."""
        nodes = self.lis_nodes(params) if nodes is None else nodes
        a, b = np.log(lo), np.log(hi)
        half = 0.5 * (b - a)
        xs = np.exp(0.5 * (a + b)[:, None] + half[:, None] * _GL_X[None, :])
        J, W = self.flux(xs.ravel(), params, data_variable, nodes, phi_GV)
        c = (half[:, None] * _GL_W[None, :]) * J.reshape(xs.shape) * xs  # contributions to ∫ J dx
        width = hi - lo
        isbin = width > 0
        csum = c.sum(axis=1)
        model = np.where(isbin, csum / np.where(isbin, width, 1.0), 0.0)
        frac = c / np.where(csum > 0, csum, 1.0)[:, None]
        A = np.einsum("iq,iqk->ik", frac, W.reshape(xs.shape + (W.shape[1],)))
        if not isbin.all():
            Jp, Wp = self.flux(lo[~isbin], params, data_variable, nodes, phi_GV)
            model[~isbin], A[~isbin] = Jp, Wp
        return model, model[:, None] * A, nodes


def predict_flux(
    result,
    parameters: dict,
    x_lo,
    x_hi,
    data_variable: str = "rigidity",
    spectrum: str = "broken_power_law",
    tally: str | None = None,
    variable: str | None = None,
):
    """Model flux averaged over bins [x_lo, x_hi] (GV for ``data_variable="rigidity"``, else GeV of
    kinetic energy) for the parameters ``parameters`` (all of ``FAMILIES[spectrum]`` plus
    log10_rate_per_Myr and phi_GV), in m⁻² s⁻¹ sr⁻¹ per GV or GeV, with the covariance of its
    Monte Carlo error.  The same model as :func:`fit_spectrum`.
    """
    result = as_result(result)
    if spectrum not in FAMILIES:
        raise ValueError(f"unknown spectrum '{spectrum}' for fitting (allowed: {', '.join(FAMILIES)})")
    if data_variable not in ("rigidity", "kinetic_energy"):
        raise ValueError(f"data_variable must be 'rigidity' or 'kinetic_energy', not {data_variable!r}")
    names = FAMILIES[spectrum] + COMMON
    check_parameter_names(parameters, names, "parameters", spectrum)
    missing = [k for k in names if k not in parameters]
    if missing:
        raise ValueError(f"missing parameter(s) {', '.join(missing)} of {spectrum}")
    tally = select_tally(result, tally)
    model = FluxModel(result, tally, spectrum, variable or result.config.spectrum.variable)
    lo, hi = np.atleast_1d(np.asarray(x_lo, dtype=float)), np.atleast_1d(np.asarray(x_hi, dtype=float))
    return model.binned({k: float(v) for k, v in parameters.items()}, lo, hi, data_variable)
