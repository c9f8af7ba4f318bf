"""Injection spectra and the reweighting of stored tallies (docs/design.md §4).

A spectrum is dQ/dx for a variable x (kinetic energy T [GeV], momentum p [GeV/c] or
rigidity R [GV]); reweighting needs dQ/dT = dQ/dx · dx/dT with dp/dT = 1/β and
dR/dT = 1/(β|Z|).  Spectra are normalised so that the total source rate between the
injection limits E_min and E_max equals ``rate_per_Myr``.

Reweighting: pseudo-particles were drawn from a sampling density g(E0) (log-uniform by
default).  A particle of source energy E0 must carry the importance weight

    W(E0) = rate · S(E0) / (∫_{E_min}^{E_max} S dE · N · g(E0))

(docs/design.md §4: S(E0) E0 ln(E_max/E_min)/N for log-uniform sampling).  Tallies keep E0 only
binned, together with the first moment in v, the particle's position in its bin (tallies.py).
Within bin j the weight is therefore applied as its least-squares line in v under g,

    W ≈ a_j + b_j v,   b_j = Cov_g(W, v)/Var_g(v),   a_j = E_g[W] − b_j E_g[v],

so a density is Σ_j (a_j Σc + b_j Σcv)/(V ΔE).  A single bin-averaged weight (b_j = 0) would
be biased by the covariance of W with the tally content inside a bin, which is second order in
the bin width but reaches ~2 % for 10 bins over three decades; the linear term removes it to
the next order.  The variance is Σ_j (a_j² Σc² + 2 a_j b_j Σc²v + b_j² Σc²v²) − (Σ W c)²/N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .config import SpectrumSection, _format_validation_error
from .errors import ConfigError

_GL_X, _GL_W = np.polynomial.legendre.leggauss(32)


def _variable_and_jacobian(kinetic_GeV, variable, mass_GeV, charge):
    """x(T) and dx/dT for x in {kinetic_energy, momentum, rigidity}."""
    T = np.asarray(kinetic_GeV, dtype=float)
    if variable == "kinetic_energy":
        return T, np.ones_like(T)
    p = np.sqrt(T * (T + 2.0 * mass_GeV))
    inv_beta = (T + mass_GeV) / p
    if variable == "momentum":
        return p, inv_beta
    if variable == "rigidity":
        z = abs(charge)
        return p / z, inv_beta / z
    raise ValueError(f"unknown spectral variable {variable!r} (allowed: kinetic_energy, momentum, rigidity)")


class Spectrum:
    """Base class: ``dq_dx(x)`` is the unnormalised spectral shape in ``variable``."""

    variable = "kinetic_energy"

    def dq_dx(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def dq_dT(self, kinetic_GeV, mass_GeV, charge):
        """Unnormalised dQ/dT at kinetic energies T [GeV]."""
        x, jac = _variable_and_jacobian(kinetic_GeV, self.variable, mass_GeV, charge)
        return np.asarray(self.dq_dx(x), dtype=float) * jac

    def integral(self, lo_GeV, hi_GeV, mass_GeV, charge):
        """∫ dQ/dT dT over [lo, hi] for arrays of limits (Gauss–Legendre, 32 nodes in ln T)."""
        lo, hi = np.broadcast_arrays(
            np.atleast_1d(np.asarray(lo_GeV, dtype=float)), np.atleast_1d(np.asarray(hi_GeV, dtype=float))
        )
        out = np.zeros(lo.shape)
        ok = hi > lo
        if ok.any():
            a, b = np.log(lo[ok]), np.log(hi[ok])
            half = 0.5 * (b - a)
            lnT = 0.5 * (a + b)[:, None] + half[:, None] * _GL_X[None, :]
            T = np.exp(lnT)
            vals = self.dq_dT(T, mass_GeV, charge) * T
            out[ok] = half * (vals @ _GL_W)
        return out


@dataclass
class PowerLaw(Spectrum):
    """dQ/dx ∝ x^-index."""

    index: float
    variable: str = "rigidity"

    def dq_dx(self, x):
        return np.power(x, -self.index)


@dataclass
class PowerLawCutoff(Spectrum):
    """dQ/dx ∝ x^-index exp(−x/cutoff)."""

    index: float
    cutoff: float
    variable: str = "rigidity"

    def dq_dx(self, x):
        return np.power(x, -self.index) * np.exp(-np.asarray(x) / self.cutoff)


@dataclass
class SmoothBrokenPowerLaw(Spectrum):
    """dQ/dx ∝ (x/x_br)^-α1 [1 + (x/x_br)^(1/w)]^(−(α2 − α1) w) (docs/design.md §4, in momentum by default).

    Slope α1 well below the break, α2 well above, break width w.
    """

    index_low: float
    index_high: float
    break_value: float
    smoothness: float = 0.1
    variable: str = "momentum"

    def dq_dx(self, x):
        u = np.asarray(x) / self.break_value
        # written in logs to stay finite for small w
        lg = -self.index_low * np.log(u) - (
            self.index_high - self.index_low
        ) * self.smoothness * np.logaddexp(0.0, np.log(u) / self.smoothness)
        return np.exp(lg)


@dataclass
class LogUniform(Spectrum):
    """dQ/dT ∝ 1/T: the default sampling density itself (no reweighting)."""

    variable: str = "kinetic_energy"

    def dq_dx(self, x):
        return 1.0 / np.asarray(x)


class Tabulated(Spectrum):
    """A tabulated spectrum dQ/dx at nodes x (log–log interpolation, zero outside)."""

    def __init__(self, x, dq_dx, variable="kinetic_energy"):
        x = np.asarray(x, dtype=float)
        y = np.asarray(dq_dx, dtype=float)
        if x.ndim != 1 or x.size < 2 or np.any(np.diff(x) <= 0) or np.any(x <= 0):
            raise ValueError(
                "tabulated spectrum: x must be positive and strictly increasing (at least 2 nodes)"
            )
        if y.shape != x.shape or np.any(~np.isfinite(y)) or np.any(y < 0):
            raise ValueError("tabulated spectrum: values must be finite, non-negative and match x")
        self.x, self.y, self.variable = x, y, variable

    def dq_dx(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            ly = np.interp(np.log(x), np.log(self.x), np.log(self.y), left=-np.inf, right=-np.inf)
        return np.exp(ly)


class Function(Spectrum):
    """A user function f(x) = dQ/dx (vectorised over numpy arrays)."""

    def __init__(self, func: Callable, variable="kinetic_energy"):
        self.func, self.variable = func, variable

    def dq_dx(self, x):
        return self.func(x)


def spectrum_from_config(section) -> Spectrum:
    """The spectrum described by a [spectrum] section (or any object with the same attributes)."""
    t = section.type
    if t == "power_law":
        return PowerLaw(section.index, section.variable)
    if t == "power_law_cutoff":
        return PowerLawCutoff(section.index, section.cutoff, section.variable)
    if t == "broken_power_law":
        return SmoothBrokenPowerLaw(
            section.index_low, section.index_high, section.break_value, section.smoothness, section.variable
        )
    if t == "log_uniform":
        return LogUniform()
    raise ValueError(f"unknown spectrum type {t!r}")


def parse_spectrum(text: str) -> tuple[Spectrum, float]:
    """Parse the CLI form ``TYPE[:key=value,...]``, e.g. ``power_law:index=2.7,variable=rigidity``.

    Returns (spectrum, rate_per_Myr).  Keys are those of the [spectrum] configuration table.
    """
    kind, _, rest = text.partition(":")
    data: dict = {"type": kind.strip()}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise ConfigError(f"spectrum option '{item}' must be key=value")
        key, val = key.strip(), val.strip()
        try:
            data[key] = float(val)
        except ValueError:
            data[key] = val
    try:
        section = SpectrumSection.model_validate(data)
    except Exception as exc:
        msg = _format_validation_error(exc) if hasattr(exc, "errors") else str(exc)
        raise ConfigError(msg.replace("invalid configuration", "invalid spectrum")) from None
    return spectrum_from_config(section), section.rate_per_Myr


def _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr):
    """E_g[W], E_g[W v], E_g[v], E_g[v²] per source-energy bin, under the sampling density g.

    Integrals run over each bin clipped to the injection range, with 32 Gauss–Legendre nodes in
    ln E; v is measured from the centre of the full bin in units of its width in ln E.  Bins
    outside the injection range get zeros.
    """
    edges = np.asarray(edges_GeV, dtype=float)
    nb = len(edges) - 1
    total = spectrum.integral(sampler.emin, sampler.emax, mass_GeV, charge)[0]
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the spectrum integrates to zero or a non-finite value over the injection range")
    ln_lo, ln_hi = np.log(edges[:-1]), np.log(edges[1:])
    lo = np.log(np.clip(edges[:-1], sampler.emin, sampler.emax))
    hi = np.log(np.clip(edges[1:], sampler.emin, sampler.emax))
    out = [np.zeros(nb) for _ in range(4)]
    ok = hi > lo
    if ok.any():
        half = 0.5 * (hi[ok] - lo[ok])
        x = 0.5 * (lo[ok] + hi[ok])[:, None] + half[:, None] * _GL_X[None, :]
        E = np.exp(x)
        w = half[:, None] * _GL_W[None, :]
        v = (x - 0.5 * (ln_lo[ok] + ln_hi[ok])[:, None]) / (ln_hi[ok] - ln_lo[ok])[:, None]
        g = sampler.pdf(E) * E  # sampling density per unit ln E
        s = spectrum.dq_dT(E, mass_GeV, charge) * E / total  # normalised source per unit ln E
        P = np.sum(w * g, axis=1)
        scale = rate_per_Myr / (n_injected * P)
        out[0][ok] = scale * np.sum(w * s, axis=1)
        out[1][ok] = scale * np.sum(w * s * v, axis=1)
        out[2][ok] = np.sum(w * g * v, axis=1) / P
        out[3][ok] = np.sum(w * g * v * v, axis=1) / P
    return out


def bin_rates(spectrum: Spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr=1.0):
    """Bin-averaged rate r_j = E_g[W | bin j] [1/Myr] that one pseudo-particle of source-energy bin j
    represents."""
    return _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)[0]


def bin_weights(spectrum: Spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr=1.0):
    """Coefficients (a_j, b_j) [1/Myr] of the weight a_j + b_j v within each source-energy bin (module
    doc)."""
    ew, ewv, ev, evv = _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)
    var = evv - ev * ev
    safe = var > 1e-12
    b = np.where(safe, (ewv - ew * ev) / np.where(safe, var, 1.0), 0.0)
    return ew - b * ev, b
