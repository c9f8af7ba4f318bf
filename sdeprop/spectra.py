"""Injection spectra and the reweighting of stored tallies (docs/design.md §4).

A spectrum is dQ/dx for a variable x (kinetic energy T [GeV], momentum p [GeV/c] or
rigidity R [GV]); reweighting needs dQ/dT = dQ/dx · dx/dT with dp/dT = 1/β and
dR/dT = 1/(β|Z|).  Spectra are normalised so that the total source rate between the
injection limits E_min and E_max equals ``rate_per_Myr``.

Reweighting: pseudo-particles were drawn from a sampling density g(E0) (log-uniform by
default).  A particle of source energy E0 must carry the importance weight

    W(E0) = rate · S(E0) / (∫_{E_min}^{E_max} S dE · N · g(E0))

(docs/design.md §4: S(E0) E0 ln(E_max/E_min)/N for log-uniform sampling).  Tallies keep E0 only
binned, together with the first moment in v, the particle's position in its bin (tallies.py):
a cell holds Σc and Σc·v per source-energy bin, so the only weights the stored moments can apply
are lines w_j(v) = a_j + b_j v within bin j, and the density is Σ_j (a_j Σc + b_j Σcv)/(V ΔE).
(A log-linear weight exp(α + β v) would need Σc·exp(β v), which cannot be stored because β depends
on the spectrum chosen after the run.)  Its variance is
Σ_j (a_j² Σc² + 2 a_j b_j Σc²v + b_j² Σc²v²) − (Σ W c)²/N.

Which line.  The least-squares line of W in v under g,

    b_j = Cov_g(W, v)/Var_g(v),   a_j = E_g[W] − b_j E_g[v],

removes the bias a single bin-averaged weight (b_j = 0) would have from the covariance of W with
the tally content inside a bin (second order in the bin width, ~2 % for 10 bins over three
decades).  For a steep spectrum or a wide bin, W changes by a large factor across the bin and the
line crosses zero inside it; cells filled by particles from that end then come out negative,
which no density can be.  So the weight applied (:func:`positive_bin_weights`) is the least-squares
line among those that

* keep the bin's mean weight, a_j + b_j E_g[v] = E_g[W], so that a cell whose content does not
  vary across the bin is exact and bin-integrated rates stay unbiased, and
* are ≥ 0 over the bin's range of v (the bin clipped to the injection range, widened by
  POSITIVITY_MARGIN for rounding), so that every cell is a sum of non-negative contributions.

With the mean fixed, the mean squared error E_g[(W − w_j)²] is a parabola in the slope with its
minimum at the least-squares slope, and the slopes allowed by positivity form an interval around
0; the answer is the least-squares slope clipped to that interval, i.e. the line pivots about
(E_g[v], E_g[W]) until it touches zero at the end of the bin.  Where the least-squares line is
already non-negative it is applied unchanged (bit for bit), and the estimator stays linear in
the moments, so the variance formula above still holds.

How good the line is.  ``BinWeights.residual`` is ρ_j = sqrt(E_g[(W − w_j)²]) / E_g[W], the
relative rms residual of W about the applied weight.  Because the mean is exact, the bias of the
part of a cell that comes from bin j is E_g[(w_j − W) c] = Cov_g(w_j − W, c), and by Cauchy–Schwarz
it is at most ρ_j · CV_j(c) times E_g[W] E_g[c], CV_j(c) being the relative spread of the cell's
content c over the bin's source energies.  A bin counts as too coarse for the spectrum
(``BinWeights.coarse``) when its line had to be clamped — the bias then becomes first order in the
content's slope — or when ρ_j > RESIDUAL_LIMIT = 0.1.  Measured in the slab oracle (content ∝ 1/D,
D ∝ β R^0.5, bins over 1–10⁴ GeV): at ρ = 0.1 the bias is 0.03 % with 16 bins, 0.12 % with 8 and
0.4 % with 4 (a decade per bin), below the ~1 % statistical error of a typical run; the line of
a power law starts to clamp at ρ ≈ 0.16 (log-uniform sampling), and clamped bins are biased by
−0.7 % (8 bins, T^-3), −4.5 % (4 bins, T^-2.2) and −18 % (4 bins, T^-4), where the least-squares
line, negative at the top of each bin, had −0.2 %, −1 % and −3 %: positivity costs bias, which is
why such binning is reported.  ``Tally.reweight`` logs a warning naming the
tally, the number of coarse bins, the worst residual and the bin count that would do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, is_dataclass

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
class SmoothBrokenPowerLawCutoff(SmoothBrokenPowerLaw):
    """The smooth broken power law times exp(−x/cutoff): a two-slope source (e.g. pulsar-wind-nebula pairs,
    1.5 → 2.4 at a few hundred GeV) with a high-energy cutoff (docs/fitting.md)."""

    cutoff: float = 1.0e6

    def dq_dx(self, x):
        return super().dq_dx(x) * np.exp(-np.asarray(x) / self.cutoff)


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
    if t == "tabulated":
        return Tabulated(section.nodes, section.values, section.variable)
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
        if key in data:
            raise ConfigError(f"spectrum option '{key}' is given twice in '{text}'")
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


def _bin_quadrature(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr):
    """Quadrature of each source-energy bin clipped to the injection range (32 Gauss–Legendre nodes in
    ln E).

    Returns a dict: ``ok`` (bins that overlap the injection range), and for those bins ``w`` (node
    weights in ln E), ``v`` (node positions in units of the full bin's width in ln E, from its
    centre), ``g`` and ``s`` (sampling density and normalised source per unit ln E), ``P`` (the bin's
    sampling probability), ``scale`` = rate/(N P), ``v_lo``, ``v_hi`` (the clipped range of v).
    """
    edges = np.asarray(edges_GeV, dtype=float)
    total = spectrum.integral(sampler.emin, sampler.emax, mass_GeV, charge)[0]
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the spectrum integrates to zero or a non-finite value over the injection range")
    ln_lo, ln_hi = np.log(edges[:-1]), np.log(edges[1:])
    lo = np.log(np.clip(edges[:-1], sampler.emin, sampler.emax))
    hi = np.log(np.clip(edges[1:], sampler.emin, sampler.emax))
    # a bin that meets the injection range only in a sliver narrower than 1e-9 of its width (an edge that
    # equals E_min or E_max up to rounding) holds no sampling probability in floating point: left out
    ok = hi - lo > 1e-9 * (ln_hi - ln_lo)
    q = {"ok": ok}
    half = 0.5 * (hi[ok] - lo[ok])
    centre, width = 0.5 * (ln_lo[ok] + ln_hi[ok]), ln_hi[ok] - ln_lo[ok]
    x = 0.5 * (lo[ok] + hi[ok])[:, None] + half[:, None] * _GL_X[None, :]
    E = np.exp(x)
    q["w"] = half[:, None] * _GL_W[None, :]
    q["v"] = (x - centre[:, None]) / width[:, None]
    q["g"] = sampler.pdf(E) * E  # sampling density per unit ln E
    q["s"] = spectrum.dq_dT(E, mass_GeV, charge) * E / total  # normalised source per unit ln E
    if np.any(q["s"] < 0):
        at = E[q["s"] < 0][0]
        raise ValueError(
            f"the injection spectrum {describe_spectrum(spectrum)} is negative at E = {at:.4g} GeV; a source "
            "spectrum must be non-negative everywhere in the injection range"
        )
    q["P"] = np.sum(q["w"] * q["g"], axis=1)
    q["scale"] = rate_per_Myr / (n_injected * q["P"])
    q["v_lo"] = (lo[ok] - centre) / width
    q["v_hi"] = (hi[ok] - centre) / width
    return q


def _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr, quadrature=None):
    """E_g[W], E_g[W v], E_g[v], E_g[v²] per source-energy bin, under the sampling density g.

    Integrals run over each bin clipped to the injection range, with 32 Gauss–Legendre nodes in
    ln E; v is measured from the centre of the full bin in units of its width in ln E.  Bins
    outside the injection range get zeros.
    """
    q = (
        quadrature
        if quadrature is not None
        else _bin_quadrature(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)
    )
    ok = q["ok"]
    out = [np.zeros(ok.size) for _ in range(4)]
    if ok.any():
        w, v, g, s, P, scale = q["w"], q["v"], q["g"], q["s"], q["P"], q["scale"]
        out[0][ok] = scale * np.sum(w * s, axis=1)
        out[1][ok] = scale * np.sum(w * s * v, axis=1)
        out[2][ok] = np.sum(w * g * v, axis=1) / P
        out[3][ok] = np.sum(w * g * v * v, axis=1) / P
    return out


def _least_squares_line(moments):
    """(a_j, b_j) of the least-squares line of W in v under g, from the moments of ``_bin_moments``."""
    ew, ewv, ev, evv = moments
    var = evv - ev * ev
    safe = var > 1e-12
    b = np.where(safe, (ewv - ew * ev) / np.where(safe, var, 1.0), 0.0)
    return ew - b * ev, b


def bin_rates(spectrum: Spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr=1.0):
    """Bin-averaged rate r_j = E_g[W | bin j] [1/Myr] that one pseudo-particle of source-energy bin j
    represents."""
    return _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)[0]


def bin_weights(spectrum: Spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr=1.0):
    """Coefficients (a_j, b_j) [1/Myr] of the least-squares line a_j + b_j v of the weight within each
    source-energy bin, without the positivity constraint (module doc); the reweighting applies
    :func:`positive_bin_weights`, which equals this line wherever it is non-negative."""
    return _least_squares_line(
        _bin_moments(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)
    )


RESIDUAL_LIMIT = 0.1
"""Relative rms residual ρ_j of W about the applied weight above which a source-energy bin counts as
too coarse for the spectrum (module doc: the bias bound ρ_j · CV_j(c) and the measured biases)."""

POSITIVITY_MARGIN = 1e-9
"""The applied weight is kept ≥ 0 on the bin's range of v widened by this much (in bin widths) at each
end, so that rounding in a particle's stored v cannot put it where the weight is negative."""


@dataclass(frozen=True)
class BinWeights:
    """The weight a_j + b_j v [1/Myr] applied in each source-energy bin, and how well it represents W.

    ``clamped[j]``: the least-squares slope was reduced to keep the weight ≥ 0 over the bin;
    ``residual[j]``: ρ_j = sqrt(E_g[(W − a_j − b_j v)²]) / E_g[W], the relative rms residual of the
    importance weight about the applied one under the sampling density (0 where E_g[W] = 0);
    ``coarse``: clamped or ρ_j > RESIDUAL_LIMIT (module doc).
    """

    a: np.ndarray
    b: np.ndarray
    clamped: np.ndarray
    residual: np.ndarray

    @property
    def coarse(self) -> np.ndarray:
        return self.clamped | (self.residual > RESIDUAL_LIMIT)


def positive_bin_weights(
    spectrum: Spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr=1.0
) -> BinWeights:
    """The weight a_j + b_j v applied by the reweighting: the least-squares line of W under g among the
    lines that keep the bin's mean weight E_g[W] and stay ≥ 0 over the bin's (clipped) range of v
    (module doc), with its relative rms residual per bin."""
    q = _bin_quadrature(spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr)
    moments = _bin_moments(
        spectrum, edges_GeV, sampler, n_injected, mass_GeV, charge, rate_per_Myr, quadrature=q
    )
    a, b = _least_squares_line(moments)
    ok = q["ok"]
    clamped = np.zeros(ok.size, dtype=bool)
    residual = np.zeros(ok.size)
    if ok.any():
        mean, ev = moments[0][ok], moments[2][ok]
        # the line pivots about (E_g[v], E_g[W]); its slope may not make it negative at either end
        slope_min = -mean / (q["v_hi"] + POSITIVITY_MARGIN - ev)
        slope_max = mean / (ev - q["v_lo"] + POSITIVITY_MARGIN)
        b_ok = b[ok]
        clip = (b_ok < slope_min) | (b_ok > slope_max)
        if clip.any():
            b_new = np.clip(b_ok, slope_min, slope_max)
            a_ok = a[ok]
            a_ok[clip] = mean[clip] - b_new[clip] * ev[clip]
            b_ok = np.where(clip, b_new, b_ok)
            a[ok], b[ok] = a_ok, b_ok
            clamped[ok] = clip
        g, s = q["g"], q["s"]
        W = q["scale"][:, None] * q["P"][:, None] * np.divide(s, g, out=np.zeros_like(s), where=g > 0)
        applied = a[ok][:, None] + b[ok][:, None] * q["v"]
        p = q["w"] * g / q["P"][:, None]
        rms = np.sqrt(np.sum(p * (W - applied) ** 2, axis=1))
        residual[ok] = np.divide(rms, mean, out=np.zeros_like(rms), where=mean > 0)
    return BinWeights(a=a, b=b, clamped=clamped, residual=residual)


def describe_spectrum(spectrum) -> str:
    """A short readable name of a spectrum for messages."""
    if is_dataclass(spectrum):
        return repr(spectrum)
    return type(spectrum).__name__
