"""Analytic solutions for electrons with b = b0 E² in an infinite homogeneous medium (test oracles).

The Syrovatskii (1959, Sov. Astron. 3, 22) solution of

    ∂n/∂t = D(E) ∇²n + ∂/∂E [b(E) n] + Q,     b(E) = b0 E²,   D(E) = D0 (E/E_ref)^δ

as restated in docs/physics.md §8.5 (docs/design.md §7).  A particle injected with energy E_s at t = 0
has E(t) = E_s/(1 + b0 E_s t) (docs/physics.md §3.3) and, once it has cooled to E, a Gaussian
position with variance λ²/2 per coordinate, where

    λ²(E, E_s) = 4 ∫_E^{E_s} D(E')/b(E') dE'                       (the "propagation length")

so the spatial kernel is exp(−r²/λ²)/(π λ²)^{3/2}, normalised to 1 over all space.  From it:

* burst of spectrum Q(E_s) [GeV⁻¹] at t = 0 (Atoyan, Aharonian & Völk 1995, PRD 52, 3265,
  for b ∝ E²): n = Q(E_s) (E_s/E)² exp(−r²/λ²)/(π λ²)^{3/2} with E_s = E/(1 − b0 E t);
* continuous point source Q(E_s) [GeV⁻¹ Myr⁻¹]: n = (1/b(E)) ∫_E^{E_max} Q(E_s) exp(−r²/λ²)/(π λ²)^{3/2} dE_s;
* spatially uniform source: n = (1/b(E)) ∫_E^{E_max} Q dE_s.

Units are in the argument names: kpc, GeV, Myr, D in kpc²/Myr, b0 in GeV⁻¹ Myr⁻¹; densities
come out per kpc³ per GeV (per the unit of Q).  Energies are whatever energy the loss law is
written in (the engine uses the kinetic energy; for electrons above 1 GeV the difference from
the total energy or the rigidity is below 5·10⁻⁴).  Everything is vectorised with numpy
broadcasting over positions and energies; the spectrum Q is a vectorised callable.

``sphere_radius_kpc`` (where offered) turns a point value at distance r into the average over a
ball of that radius centred at distance r from the source, the quantity a sphere tally
measures.  It uses the closed form of the Gaussian kernel's ball average
(:func:`gaussian_kernel_sphere_average_per_kpc3`).  The ``*_region_average`` functions take
any kernel average instead, e.g. over a ring cell of a cylindrical tally centred on the source
(:func:`gaussian_kernel_ring_average_per_kpc3`); :func:`energy_bin_average` averages over a
log energy bin as a tally does.  Used by tests/physics/test_syrovatskii.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf, erfc

__all__ = [
    "syrovatskii_lambda2_kpc2",
    "syrovatskii_source_energy_GeV",
    "gaussian_kernel_per_kpc3",
    "gaussian_kernel_sphere_average_per_kpc3",
    "gaussian_kernel_anisotropic_per_kpc3",
    "gaussian_kernel_ring_average_per_kpc3",
    "syrovatskii_burst_density",
    "syrovatskii_burst_region_average",
    "syrovatskii_steady_density",
    "syrovatskii_steady_region_average",
    "uniform_source_density",
    "energy_bin_average",
]

_SQRT_PI = math.sqrt(math.pi)
_BALL_NODES = 24


def _gauss_legendre(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def _integral_factor(delta: float, log_ratio):
    """∫_0^L e^{(δ−1)u} du = expm1((δ−1)L)/(δ−1), and L itself for δ = 1 (L = ln(E_s/E) ≥ 0)."""
    k = float(delta) - 1.0
    L = np.asarray(log_ratio, dtype=float)
    if k == 0.0:
        return L
    with np.errstate(over="ignore"):
        return np.expm1(k * L) / k


def syrovatskii_lambda2_kpc2(E_GeV, Es_GeV, D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr):
    """Propagation length λ² = 4 ∫_E^{E_s} D/b dE' [kpc²] for D = D0 (E/E_ref)^δ, b = b0 E².

    docs/physics.md §8.5 (Syrovatskii 1959):
    λ² = [4 D0 E_ref^{−δ}/(b0 (1 − δ))] (E^{δ−1} − E_s^{δ−1}) for δ ≠ 1 and
    λ² = [4 D0/(b0 E_ref)] ln(E_s/E) for δ = 1.  Evaluated as
    (4 D0 E_ref^{−δ}/b0) E^{δ−1} expm1((δ−1) ln(E_s/E))/(δ−1), which has no cancellation for
    E_s → E.  E_s = ∞ is allowed (finite for δ < 1).  Requires E_s ≥ E (NaN otherwise).
    """
    E = np.asarray(E_GeV, dtype=float)
    Es = np.asarray(Es_GeV, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = _lambda2_from_log_ratio(
            E, np.log(Es / E), D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr
        )
    return np.where(Es >= E, out, np.nan)


def _lambda2_from_log_ratio(E, L, D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr):
    """λ² from E and L = ln(E_s/E) (lets callers pass L without rounding, e.g. −log1p(−b0 E t))."""
    amp = 4.0 * D0_kpc2_per_Myr * float(E_ref_GeV) ** (-float(delta)) / b0_per_GeV_per_Myr
    return amp * np.asarray(E, dtype=float) ** (float(delta) - 1.0) * _integral_factor(delta, L)


def syrovatskii_source_energy_GeV(E_GeV, lambda2_kpc2, D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr):
    """Inverse of :func:`syrovatskii_lambda2_kpc2`: the source energy E_s whose λ²(E, E_s) is
    ``lambda2_kpc2``.

    ln(E_s/E) = log1p((δ−1) λ² E^{1−δ} b0 E_ref^δ/(4 D0))/(δ−1) (λ² b0 E_ref/(4 D0) for δ = 1);
    returns ∞ where λ² ≥ λ²(E, ∞) (δ < 1).  docs/physics.md §8.5.
    """
    E = np.asarray(E_GeV, dtype=float)
    v = np.asarray(lambda2_kpc2, dtype=float)
    k = float(delta) - 1.0
    amp = 4.0 * D0_kpc2_per_Myr * float(E_ref_GeV) ** (-float(delta)) / b0_per_GeV_per_Myr
    y = v / (amp * E**k)  # = expm1(k L)/k
    if k == 0.0:
        return E * np.exp(y)
    arg = k * y
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        L = np.where(arg > -1.0, np.log1p(np.maximum(arg, -1.0 + 1e-300)) / k, np.inf)
        return E * np.exp(L)


def gaussian_kernel_per_kpc3(r_kpc, lambda2_kpc2):
    """Point kernel exp(−r²/λ²)/(π λ²)^{3/2} [kpc⁻³] (docs/physics.md §8.5); integrates to 1 over space."""
    r = np.asarray(r_kpc, dtype=float)
    v = np.asarray(lambda2_kpc2, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(-r * r / v) / (math.pi * v) ** 1.5


def gaussian_kernel_sphere_average_per_kpc3(d_kpc, a_kpc, lambda2_kpc2):
    """Average of the kernel exp(−|x|²/λ²)/(π λ²)^{3/2} over a ball of radius a centred at distance d [kpc⁻³].

    Closed form (derived for this module; the shell average of a radial function
    G(|x|) over a sphere of radius ρ at distance d is (1/(2dρ)) ∫_{|d−ρ|}^{d+ρ} G(s) s ds,
    which for the Gaussian integrates in exp, and the radial integral over ρ ∈ [0, a] in erf):
    the probability mass of the ball is

        P = ½ [erf((a + d)/λ) + erf((a − d)/λ)] + (λ/(2√π d)) [e^{−(a+d)²/λ²} − e^{−(a−d)²/λ²}],

    and the average is P/(4π a³/3).  For d → 0 it tends to the χ₃ CDF,
    P = erf(a/λ) − (2a/(√π λ)) e^{−a²/λ²}.  Evaluated with erfc for d > a and expm1 for the
    exponential bracket.  For small balls (a < λ/10) the two terms cancel to O((a/λ)³), so there
    the equivalent positive form P = (4/(√π λ³)) ∫_0^a ρ² e^{−(d−ρ)²/λ²} (1 − e^{−4dρ/λ²})/(4dρ/λ²) dρ
    is integrated with 24-node Gauss–Legendre (a smooth, nearly polynomial integrand there).
    Relative accuracy ~1e-12 (tests/test_analytic.py).  λ → 0 gives 3/(4π a³) inside the
    ball (d < a), 0 outside.
    """
    d = np.abs(np.asarray(d_kpc, dtype=float))
    a = np.asarray(a_kpc, dtype=float)
    v = np.asarray(lambda2_kpc2, dtype=float)
    d, a, v = np.broadcast_arrays(d, a, v)
    if np.any(a <= 0):
        raise ValueError("the sphere radius must be positive")
    lam = np.sqrt(np.maximum(v, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # erf part, written with erfc where the ball lies outside the origin
        inside = 0.5 * (erf((a + d) / lam) + erf((a - d) / lam))
        outside = 0.5 * (erfc((d - a) / lam) - erfc((d + a) / lam))
        p_erf = np.where(d > a, outside, inside)
        # exponential bracket: e^{−(a−d)²/λ²} expm1(−4ad/λ²) λ/(2√π d), limit −(2a/(√πλ)) e^{−a²/λ²} at d = 0
        d_safe = np.where(d > 0, d, 1.0)
        x = 4.0 * a * d / (lam * lam)
        p_exp = np.where(
            d > 0,
            np.exp(-(((a - d) / lam) ** 2)) * np.expm1(-x) * lam / (2.0 * _SQRT_PI * d_safe),
            -2.0 * a / (_SQRT_PI * lam) * np.exp(-((a / lam) ** 2)),
        )
        p = np.array(np.clip(p_erf + p_exp, 0.0, 1.0), dtype=float, ndmin=0)
    # small balls (a < λ/10): the two terms above cancel to ~(a/λ)³; integrate the positive radial
    # form P = (4/(√π λ³)) ∫_0^a ρ² e^{−(d−ρ)²/λ²} h(4dρ/λ²) dρ, h(x) = (1 − e^{−x})/x, instead
    small = a < 0.1 * lam
    if np.any(small):
        ds, as_, ls = d[small][:, None], a[small][:, None], lam[small][:, None]
        gx, gw = _gauss_legendre(_BALL_NODES)
        rho = 0.5 * as_ * (gx + 1.0)
        x = 4.0 * ds * rho / (ls * ls)
        with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
            h = np.where(x > 1e-8, -np.expm1(-x) / np.where(x > 1e-8, x, 1.0), 1.0 - 0.5 * x)
            integrand = rho * rho * np.exp(-(((ds - rho) / ls) ** 2)) * h
        p[small] = 4.0 / (_SQRT_PI * ls[:, 0] ** 3) * 0.5 * as_[:, 0] * (integrand @ gw)
    return p / (4.0 / 3.0 * math.pi * a**3)


def gaussian_kernel_anisotropic_per_kpc3(x_par_kpc, x_perp_kpc, lambda_par2_kpc2, lambda_perp2_kpc2):
    """Anisotropic kernel exp(−x∥²/λ∥² − x⊥²/λ⊥²)/(π^{3/2} λ∥ λ⊥²) [kpc⁻³] (docs/physics.md §8.5, 6th bullet).

    x∥ is the coordinate along the (uniform) field direction, x⊥ the distance from the field line
    through the source; λ∥² = 4∫D∥/b dE, λ⊥² = 4∫D⊥/b dE (use :func:`syrovatskii_lambda2_kpc2`
    with D0 and δ of each component).  Normalised to 1 over all space.
    """
    xp = np.asarray(x_par_kpc, dtype=float)
    xq = np.asarray(x_perp_kpc, dtype=float)
    lp = np.asarray(lambda_par2_kpc2, dtype=float)
    lq = np.asarray(lambda_perp2_kpc2, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(-xp * xp / lp - xq * xq / lq) / (math.pi**1.5 * np.sqrt(lp) * lq)


def gaussian_kernel_ring_average_per_kpc3(R_lo_kpc, R_hi_kpc, z_lo_kpc, z_hi_kpc, lambda2_kpc2):
    """Average of the kernel exp(−|x|²/λ²)/(π λ²)^{3/2} over the ring cell R_lo ≤ R < R_hi, z_lo ≤ z < z_hi
    [kpc⁻³].

    The source sits on the axis R = 0 at z = 0 (a cell of a cylindrical tally centred on the
    source).  The kernel factorises into exp(−R²/λ²)/(π λ²) × exp(−z²/λ²)/(√π λ), so the cell's
    probability mass is closed-form (derived for this module):

        P = [e^{−R_lo²/λ²} − e^{−R_hi²/λ²}] × ½ [erf(z_hi/λ) − erf(z_lo/λ)],

    divided by the cell volume π (R_hi² − R_lo²)(z_hi − z_lo).
    """
    R1 = np.asarray(R_lo_kpc, dtype=float)
    R2 = np.asarray(R_hi_kpc, dtype=float)
    z1 = np.asarray(z_lo_kpc, dtype=float)
    z2 = np.asarray(z_hi_kpc, dtype=float)
    v = np.maximum(np.asarray(lambda2_kpc2, dtype=float), 1e-300)
    lam = np.sqrt(v)
    with np.errstate(under="ignore", over="ignore", divide="ignore"):
        # radial mass e^{−R1²/v} (1 − e^{−(R2² − R1²)/v}) without cancellation
        radial = -np.exp(-R1 * R1 / v) * np.expm1(-(R2 * R2 - R1 * R1) / v)
        # vertical mass: erfc differences on the side away from z = 0
        both_pos = z1 >= 0
        both_neg = z2 <= 0
        vertical = np.where(
            both_pos,
            0.5 * (erfc(z1 / lam) - erfc(z2 / lam)),
            np.where(
                both_neg, 0.5 * (erfc(-z2 / lam) - erfc(-z1 / lam)), 0.5 * (erf(z2 / lam) - erf(z1 / lam))
            ),
        )
    return radial * vertical / (math.pi * (R2 * R2 - R1 * R1) * (z2 - z1))


def _point_or_sphere(r_kpc, sphere_radius_kpc):
    """The kernel-average callable for a point at distance r, or a ball of radius a centred there."""
    r = np.asarray(r_kpc, dtype=float)
    if sphere_radius_kpc is None:
        return lambda v: gaussian_kernel_per_kpc3(r[..., None], v)
    return lambda v: gaussian_kernel_sphere_average_per_kpc3(r[..., None], sphere_radius_kpc, v)


def syrovatskii_burst_region_average(
    kernel_average: Callable, E_GeV, t_Myr, Q: Callable, D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr
):
    """Burst density [kpc⁻³ GeV⁻¹] with the spatial kernel replaced by ``kernel_average(λ²)``.

    n = Q(E_s) (E_s/E)² K̄(λ²(E, E_s)), E_s = E/(1 − b0 E t), and 0 for E ≥ 1/(b0 t)
    (docs/physics.md §8.5; Syrovatskii 1959; Atoyan, Aharonian & Völk 1995, PRD 52, 3265).
    ``kernel_average`` maps an array of λ² [kpc²] (shape (..., 1), ... the shape of E) to the
    kernel exp(−r²/λ²)/(π λ²)^{3/2} averaged over the region of interest [kpc⁻³], e.g.
    ``lambda v: gaussian_kernel_ring_average_per_kpc3(0, 1, -0.5, 0.5, v)``.  t must be > 0.
    """
    E = np.asarray(E_GeV, dtype=float)
    t = np.asarray(t_Myr, dtype=float)
    if np.any(t <= 0):
        raise ValueError("the burst solution needs t > 0 (at t = 0 it is a delta function)")
    x = b0_per_GeV_per_Myr * E * t
    ok = x < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        L = np.where(
            ok, -np.log1p(-np.where(ok, x, 0.5)), math.log(2.0)
        )  # ln(E_s/E), no rounding for small b0 E t
        Es = E * np.exp(L)
        lam2 = _lambda2_from_log_ratio(E, L, D0_kpc2_per_Myr, E_ref_GeV, delta, b0_per_GeV_per_Myr)
        kern = np.asarray(kernel_average(lam2[..., None]), dtype=float)[..., 0]
        out = np.asarray(Q(Es), dtype=float) * (Es / E) ** 2 * kern
    return np.where(ok, out, 0.0)


def syrovatskii_burst_density(
    r_kpc,
    E_GeV,
    t_Myr,
    Q: Callable,
    D0_kpc2_per_Myr,
    E_ref_GeV,
    delta,
    b0_per_GeV_per_Myr,
    sphere_radius_kpc=None,
):
    """Density [kpc⁻³ GeV⁻¹] at time t after a point burst at t = 0 with source spectrum Q(E_s) [GeV⁻¹].

    n(r, E, t) = Q(E_s) (E_s/E)² exp(−r²/λ²)/(π λ²)^{3/2},  E_s = E/(1 − b0 E t),  λ² = λ²(E, E_s),
    and n = 0 for E ≥ 1/(b0 t) (docs/physics.md §8.5; Syrovatskii 1959; Atoyan, Aharonian & Völk 1995,
    PRD 52, 3265).  (E_s/E)² = dE_s/dE maps the source spectrum to the cooled one, so the
    density integrates over space to Q(E_s) dE_s/dE.  Q must return 0 outside the injected range.
    With ``sphere_radius_kpc`` the kernel is averaged over a ball of that radius centred at
    distance r (:func:`gaussian_kernel_sphere_average_per_kpc3`).  t must be > 0.
    """
    r, E = np.broadcast_arrays(np.asarray(r_kpc, dtype=float), np.asarray(E_GeV, dtype=float))
    return syrovatskii_burst_region_average(
        _point_or_sphere(r, sphere_radius_kpc),
        E,
        t_Myr,
        Q,
        D0_kpc2_per_Myr,
        E_ref_GeV,
        delta,
        b0_per_GeV_per_Myr,
    )


# steady-state quadrature: piece A in y = ln λ² (64 panels), piece B in ln E_s (24 panels), 12 nodes each
_STEADY_PANELS_A = 64
_STEADY_PANELS_B = 24
_STEADY_NODES = 12
_STEADY_LOW = 1e-14  # lower limit of λ² in units of the region's length scale squared
_STEADY_INF_SPAN = 60.0  # E_max = ∞: piece B runs over ln E_s ∈ [ln E_s,split, ln E_s,split + 60]


def _panel_nodes(panels: int, nodes: int):
    """Composite Gauss–Legendre nodes and weights on [0, 1]."""
    gx, gw = _gauss_legendre(nodes)
    edges = np.linspace(0.0, 1.0, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    u = (0.5 * (edges[:-1, None] + edges[1:, None]) + half * gx[None, :]).ravel()
    return u, (half * gw[None, :]).ravel()


def syrovatskii_steady_region_average(
    kernel_average: Callable,
    length_kpc,
    E_GeV,
    Q: Callable,
    E_max_GeV,
    D0_kpc2_per_Myr,
    E_ref_GeV,
    delta,
    b0_per_GeV_per_Myr,
):
    """Steady density [kpc⁻³ GeV⁻¹] of a continuous point source, kernel averaged by ``kernel_average(λ²)``.

    n = (1/b(E)) ∫_E^{E_max} Q(E_s) K̄(λ²(E, E_s)) dE_s   (docs/physics.md §8.5, Syrovatskii 1959), with
    b = b0 E², Q [GeV⁻¹ Myr⁻¹] and K̄ the kernel exp(−r²/λ²)/(π λ²)^{3/2} averaged over the
    region of interest: ``kernel_average`` maps λ² [kpc²] of shape (..., M) (... the shape of E) to
    kpc⁻³.  ``length_kpc`` (broadcast with E) is the region's size or distance from the source,
    the scale below which λ² contributes nothing new (a point at distance r: r; a ball: max(d, a)).

    Quadrature, split at λ²_s = λ²(E, E_max)/2 (source energy E_s,split):

    * λ² < λ²_s in the variable y = ln λ² over [ln(10⁻¹⁴ length²), ln λ²_s], using
      dE_s = b(E_s)/(4 D(E_s)) dλ² and the exact inverse E_s(λ²)
      (:func:`syrovatskii_source_energy_GeV`).  In y the integrand λ² Q (dE_s/dλ²) K̄ is smooth and
      vanishes like λ² (or faster) at small λ², so the r → 0 / E_s → E singularity of the point
      kernel costs no accuracy; the piece below the lower limit is added as a constant
      extrapolation (< 10⁻¹⁴ relative);
    * E_s > E_s,split in ln E_s, where K̄ is smooth in E_s (λ² ≥ λ²_s) and Q E_s is smooth (this
      avoids the end-point behaviour (λ²_∞ − λ²)^p of the λ² variable near E_max ≫ E).

    64 + 24 panels × 12 Gauss–Legendre nodes.  Accuracy: relative error < 10⁻⁸ against adaptive
    quadrature in E_s (tests/test_analytic.py; typically 10⁻¹²).  E_max = ∞ is allowed for δ < 1:
    the second piece is then cut at E_s = e⁶⁰ E_s,split, a relative error ~e^{−60(γ−1)} for
    Q ∝ E^{−γ}.  Q must be smooth on [E, E_max] (the injection limits enter through E_max, and
    E ≥ E_min).
    """
    E = np.asarray(E_GeV, dtype=float)
    length, E = np.broadcast_arrays(np.asarray(length_kpc, dtype=float), E)
    scale2 = length * length
    if np.any(scale2 <= 0):
        raise ValueError("length_kpc must be positive (a point-source density diverges at r = 0)")
    finite = bool(np.isfinite(E_max_GeV))
    if not finite and delta >= 1:
        raise ValueError("E_max = ∞ needs δ < 1 (λ² diverges otherwise)")
    D0, b0 = D0_kpc2_per_Myr, b0_per_GeV_per_Myr
    live = E < E_max_GeV
    vmax = syrovatskii_lambda2_kpc2(E, np.maximum(E_max_GeV, E), D0, E_ref_GeV, delta, b0)
    vsplit = 0.5 * np.where(live, vmax, scale2)
    # piece A: y = ln λ² ∈ [lo, ln λ²_s]
    lo = np.log(np.minimum(_STEADY_LOW * scale2, 1e-6 * vsplit))
    hi = np.log(vsplit)
    u, wu = _panel_nodes(_STEADY_PANELS_A, _STEADY_NODES)
    span = (hi - lo)[..., None]
    y = lo[..., None] + span * u
    v = np.exp(y)
    Es = syrovatskii_source_energy_GeV(E[..., None], v, D0, E_ref_GeV, delta, b0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        dEs_dv = b0 * Es * Es / (4.0 * D0 * (Es / E_ref_GeV) ** delta)
        f = np.asarray(Q(Es), dtype=float) * dEs_dv * np.asarray(kernel_average(v), dtype=float) * v
    piece_a = span[..., 0] * (f @ wu)
    # ∫_0^{v_lo} F dv ≈ F(v_1) v_lo, with f = F v at the first node v_1
    piece_a = piece_a + f[..., 0] * np.exp(lo - y[..., 0])
    # piece B: x = ln E_s ∈ [ln E_s,split, ln E_max]
    es_split = syrovatskii_source_energy_GeV(E, vsplit, D0, E_ref_GeV, delta, b0)
    xa = np.log(es_split)
    xb = np.log(np.maximum(E_max_GeV, es_split)) if finite else xa + _STEADY_INF_SPAN
    u, wu = _panel_nodes(_STEADY_PANELS_B, _STEADY_NODES)
    span = (xb - xa)[..., None]
    Es = np.exp(xa[..., None] + span * u)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        lam2 = _lambda2_from_log_ratio(E[..., None], np.log(Es / E[..., None]), D0, E_ref_GeV, delta, b0)
        g = np.asarray(Q(Es), dtype=float) * Es * np.asarray(kernel_average(lam2), dtype=float)
    piece_b = span[..., 0] * (g @ wu)
    return np.where(live, (piece_a + piece_b) / (b0 * E * E), 0.0)


def syrovatskii_steady_density(
    r_kpc,
    E_GeV,
    Q: Callable,
    E_max_GeV,
    D0_kpc2_per_Myr,
    E_ref_GeV,
    delta,
    b0_per_GeV_per_Myr,
    sphere_radius_kpc=None,
):
    """Steady density [kpc⁻³ GeV⁻¹] of a continuous point source with spectrum Q(E_s) [GeV⁻¹ Myr⁻¹].

    n(r, E) = (1/b(E)) ∫_E^{E_max} Q(E_s) exp(−r²/λ²)/(π λ²)^{3/2} dE_s   (docs/physics.md §8.5,
    Syrovatskii 1959), b = b0 E², λ² = λ²(E, E_s) of :func:`syrovatskii_lambda2_kpc2`; E_max is
    the top of the injected range (∞ allowed for δ < 1).  With ``sphere_radius_kpc`` = a the
    kernel is averaged over a ball of radius a centred at distance r (what a sphere tally
    measures; :func:`gaussian_kernel_sphere_average_per_kpc3`).  The point value diverges like
    1/r at r = 0 and is refused there; the ball average is finite.  Quadrature and accuracy
    (relative error < 10⁻⁸): :func:`syrovatskii_steady_region_average`.
    """
    r, E = np.broadcast_arrays(np.asarray(r_kpc, dtype=float), np.asarray(E_GeV, dtype=float))
    length = r if sphere_radius_kpc is None else np.maximum(r, sphere_radius_kpc)
    return syrovatskii_steady_region_average(
        _point_or_sphere(r, sphere_radius_kpc),
        length,
        E,
        Q,
        E_max_GeV,
        D0_kpc2_per_Myr,
        E_ref_GeV,
        delta,
        b0_per_GeV_per_Myr,
    )


def uniform_source_density(E_GeV, Q: Callable, E_max_GeV, b: Callable):
    """Density n(E) = (1/b(E)) ∫_E^{E_max} Q(E_s) dE_s of a spatially uniform source (docs/physics.md §8.5).

    Q(E_s) [GeV⁻¹ Myr⁻¹ kpc⁻³] and b(E) = −dE/dt [GeV Myr⁻¹] are vectorised callables; the result
    is per kpc³ per GeV.  Valid for any loss law b (the energy-space continuity equation in
    steady state).  The integral uses 24 panels × 12 Gauss–Legendre nodes in ln E_s over
    [ln E, ln E_max]; E_max = ∞ is cut at E_s = e⁶⁰ E (relative error ~e^{−60(γ−1)} for
    Q ∝ E^{−γ}).  Q must be smooth on the interval.  For b = b0 E² and Q ∝ E^{−γ} with
    E_max = ∞ this is n ∝ E^{−(γ+1)}.
    """
    E = np.asarray(E_GeV, dtype=float)
    lo = np.log(E)
    hi = np.log(np.maximum(E_max_GeV, E)) if np.isfinite(E_max_GeV) else lo + _STEADY_INF_SPAN
    u, wu = _panel_nodes(_STEADY_PANELS_B, _STEADY_NODES)
    span = (hi - lo)[..., None]
    Es = np.exp(lo[..., None] + span * u)
    with np.errstate(under="ignore"):
        integral = span[..., 0] * ((np.asarray(Q(Es), dtype=float) * Es) @ wu)
    return integral / np.asarray(b(E), dtype=float)


def energy_bin_average(func: Callable, E_lo_GeV, E_hi_GeV, nodes: int = 32, support_GeV=None):
    """(1/(E_hi − E_lo)) ∫_{E_lo}^{E_hi} f(E) dE with Gauss–Legendre in ln E: the average a tally bin sees.

    ``func`` takes an array of energies of shape (..., nodes) (the bins along the leading axes,
    broadcast from E_lo, E_hi) and returns values of the same or a broadcastable shape.
    ``support_GeV`` = (lo, hi) clips the integration range (the function is taken as 0
    outside it, e.g. above the burst cut-off E_max/(1 + b0 E_max t)) while the average still
    divides by the full bin width.
    """
    lo = np.asarray(E_lo_GeV, dtype=float)
    hi = np.asarray(E_hi_GeV, dtype=float)
    a, b = lo, hi
    if support_GeV is not None:
        a = np.clip(lo, support_GeV[0], support_GeV[1])
        b = np.clip(hi, support_GeV[0], support_GeV[1])
    gx, gw = _gauss_legendre(nodes)
    la, lb = np.log(a), np.log(b)
    half = 0.5 * (lb - la)
    E = np.exp(0.5 * (la + lb)[..., None] + half[..., None] * gx)
    vals = np.asarray(func(E), dtype=float) * E
    return half * (vals @ gw) / (hi - lo)
