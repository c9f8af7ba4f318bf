"""Injection spectra and the reweighting of stored tallies (DESIGN.md §4).

A spectrum is dQ/dx for a variable x (kinetic energy T [GeV], momentum p [GeV/c] or
rigidity R [GV]); reweighting needs dQ/dT = dQ/dx · dx/dT with dp/dT = 1/β and
dR/dT = 1/(β|Z|).  Spectra are normalised so that the total source rate between the
injection limits E_min and E_max equals ``rate_per_Myr``.

Reweighting: pseudo-particles were drawn from a sampling density g(E0) (log-uniform by
default).  A particle whose source energy lies in bin j of the E0 axis represents the rate

    r_j = rate · ∫_j S dE / ∫_{E_min}^{E_max} S dE / (N · P_j),     P_j = ∫_j g dE,

which for log-uniform sampling is DESIGN.md's S(E0) E0 ln(E_max/E_min)/N averaged over the
bin.  Densities are Σ_j r_j H_j / (V ΔE); their variance Σ_j r_j² H2_j − (Σ_j r_j H_j)²/N
follows from the per-history sums of squares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

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
        lo, hi = np.broadcast_arrays(np.atleast_1d(np.asarray(lo_GeV, dtype=float)), np.atleast_1d(np.asarray(hi_GeV, dtype=float)))
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
    """dQ/dx ∝ (x/x_br)^-α1 [1 + (x/x_br)^(1/w)]^(−(α2 − α1) w) (DESIGN.md §4, in momentum by default).

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
        lg = -self.index_low * np.log(u) - (self.index_high - self.index_low) * self.smoothness * np.logaddexp(0.0, np.log(u) / self.smoothness)
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
            raise ValueError("tabulated spectrum: x must be positive and strictly increasing (at least 2 nodes)")
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
        return SmoothBrokenPowerLaw(section.index_low, section.index_high, section.break_value, section.smoothness, section.variable)
    if t == "log_uniform":
        return LogUniform()
    raise ValueError(f"unknown spectrum type {t!r}")


def parse_spectrum(text: str) -> tuple[Spectrum, float]:
    """Parse the CLI form ``TYPE[:key=value,...]``, e.g. ``power_law:index=2.7,variable=rigidity``.

    Returns (spectrum, rate_per_Myr).  Keys are those of the [spectrum] configuration table.
    """
    from .config import ConfigError, SpectrumSection

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
        from .config import _format_validation_error

        msg = _format_validation_error(exc) if hasattr(exc, "errors") else str(exc)
        raise ConfigError(msg.replace("invalid configuration", "invalid spectrum")) from None
    return spectrum_from_config(section), section.rate_per_Myr


def bin_rates(spectrum: Spectrum, edges_GeV, emin_GeV, emax_GeV, bin_probability, n_injected, mass_GeV, charge, rate_per_Myr=1.0):
    """Rate r_j [1/Myr] that one pseudo-particle of source-energy bin j represents (see module doc)."""
    edges = np.asarray(edges_GeV, dtype=float)
    lo = np.clip(edges[:-1], emin_GeV, emax_GeV)
    hi = np.clip(edges[1:], emin_GeV, emax_GeV)
    total = spectrum.integral(emin_GeV, emax_GeV, mass_GeV, charge)[0]
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the spectrum integrates to zero or a non-finite value over the injection range")
    frac = spectrum.integral(lo, hi, mass_GeV, charge) / total
    prob = np.asarray(bin_probability, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prob > 0, rate_per_Myr * frac / (n_injected * prob), 0.0)
    return r
