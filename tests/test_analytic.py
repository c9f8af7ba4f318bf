"""Unit tests of the analytic Syrovatskii oracles (sdeprop.analytic, docs/physics.md §8.5).

The oracles are checked against things they were not built from:

* the worked number of docs/physics.md §8.5 (λ ≈ 2.9 kpc), recomputed from the constants of the
  docs/physics.md §0.1, and λ² = 4∫D/b dE' by adaptive quadrature (δ < 1, δ = 1, δ > 1);
* normalisation: the kernels integrate to 1; the steady solution integrates over all space to
  (1/b)∫Q dE_s (= the uniform-source solution); the burst integrates to Q(E_s) dE_s/dE;
* the closed-form ball and ring averages against brute-force numerical averages;
* the steady-state quadrature against adaptive quadrature in E_s, and against the time
  integral of the burst solution (two independent routes to the same density);
* the loss-free limit of the burst (a Gaussian with variance 2 D t per coordinate).

These are deterministic numerical checks; tolerances are set by the quadrature accuracy stated
in each docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from sdeprop import analytic as A

# docs/physics.md §0.1 constants (independent of sdeprop.units)
KPC_CM = 3.0857e21
MYR_S = 3.1558e13

# the worked example of docs/physics.md §8.5 in internal units
D0 = 1e28 * MYR_S / KPC_CM**2  # kpc²/Myr at E_ref = 1 GeV
B0 = 1e-16 * MYR_S  # GeV⁻¹ Myr⁻¹
DELTA = 0.5
E_REF = 1.0
PARAMS = (D0, E_REF, DELTA, B0)


def power_law(index, lo=0.0, hi=np.inf):
    """Q(E) = E^-index on [lo, hi], 0 outside."""

    def q(e):
        e = np.asarray(e, dtype=float)
        return np.where((e >= lo) & (e <= hi), e**-index, 0.0)

    return q


def test_worked_number_of_physics_md():
    """D0 = 1e28 cm²/s at 1 GeV, δ = 0.5, b0 = 1e-16 GeV⁻¹ s⁻¹, E = 100 GeV, E_s → ∞: λ² = 8e43 cm², λ ≈ 2.9
    kpc."""
    lam2 = A.syrovatskii_lambda2_kpc2(100.0, np.inf, *PARAMS)
    assert lam2 * KPC_CM**2 == pytest.approx(8e43, rel=1e-12)
    assert math.sqrt(lam2) == pytest.approx(2.9, abs=0.005)


@pytest.mark.parametrize("delta", [0.0, 1.0 / 3.0, 0.5, 1.0, 1.5])
def test_lambda2_is_four_times_integral_of_D_over_b(delta):
    """λ² = 4∫_E^{E_s} D/b dE' (adaptive quadrature), including the log form at δ = 1; additivity; inverse."""
    E, Es = 7.0, np.array([7.0, 7.0 * (1 + 1e-9), 20.0, 300.0, 5e4])
    got = A.syrovatskii_lambda2_kpc2(E, Es, D0, 3.0, delta, B0)
    ref = [
        4 * integrate.quad(lambda e: D0 * (e / 3.0) ** delta / (B0 * e * e), E, s, epsrel=1e-13, epsabs=0)[0]
        for s in Es
    ]
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=0)
    # additive along the cooling path
    mid = 55.0
    np.testing.assert_allclose(
        A.syrovatskii_lambda2_kpc2(E, 300.0, D0, 3.0, delta, B0),
        A.syrovatskii_lambda2_kpc2(E, mid, D0, 3.0, delta, B0)
        + A.syrovatskii_lambda2_kpc2(mid, 300.0, D0, 3.0, delta, B0),
        rtol=1e-13,
    )
    # the inverse E_s(λ²) round-trips
    back = A.syrovatskii_source_energy_GeV(E, got[1:], D0, 3.0, delta, B0)
    np.testing.assert_allclose(back, Es[1:], rtol=1e-9)


def test_lambda2_limits():
    """E_s → ∞ is finite for δ < 1 and matches the closed form; δ = 1 ± 1e-7 approach the log form; E_s < E
    is NaN."""
    lam_inf = A.syrovatskii_lambda2_kpc2(10.0, np.inf, *PARAMS)
    assert lam_inf == pytest.approx(4 * D0 / (B0 * (1 - DELTA)) * 10.0 ** (DELTA - 1), rel=1e-14)
    assert np.isinf(A.syrovatskii_lambda2_kpc2(10.0, np.inf, D0, 1.0, 1.2, B0))
    log_form = A.syrovatskii_lambda2_kpc2(10.0, 400.0, D0, 2.0, 1.0, B0)
    assert log_form == pytest.approx(4 * D0 / (B0 * 2.0) * math.log(40.0), rel=1e-14)
    for d in (1 - 1e-7, 1 + 1e-7):
        assert A.syrovatskii_lambda2_kpc2(10.0, 400.0, D0, 2.0, d, B0) == pytest.approx(log_form, rel=1e-6)
    assert np.isnan(A.syrovatskii_lambda2_kpc2(10.0, 9.0, *PARAMS))
    assert np.isinf(A.syrovatskii_source_energy_GeV(10.0, 1.01 * lam_inf, *PARAMS))


def test_kernels_are_normalised():
    """The isotropic, anisotropic and ring-cell kernels each integrate to 1 over all space."""
    lam2 = 2.3
    iso = integrate.quad(lambda r: 4 * math.pi * r * r * A.gaussian_kernel_per_kpc3(r, lam2), 0, np.inf)[0]
    assert iso == pytest.approx(1.0, rel=1e-10)
    lp, lq = 3.0, 0.2
    aniso = integrate.dblquad(
        lambda xq, xp: 2 * math.pi * xq * A.gaussian_kernel_anisotropic_per_kpc3(xp, xq, lp, lq),
        -np.inf,
        np.inf,
        0,
        np.inf,
    )[0]
    assert aniso == pytest.approx(1.0, rel=1e-8)
    # equal λ: the anisotropic kernel is the isotropic one
    x, y = np.array([0.0, 0.5, 2.0]), np.array([0.3, 1.0, 0.0])
    np.testing.assert_allclose(
        A.gaussian_kernel_anisotropic_per_kpc3(x, y, lam2, lam2),
        A.gaussian_kernel_per_kpc3(np.hypot(x, y), lam2),
        rtol=1e-14,
    )
    # rings tiling R < 40, |z| < 40 carry all the mass
    R = np.linspace(0, 40, 81)
    z = np.linspace(-40, 40, 9)
    R1, R2, Z1, Z2 = R[:-1, None], R[1:, None], z[None, :-1], z[None, 1:]
    vol = math.pi * (R2**2 - R1**2) * (Z2 - Z1)
    mass = np.sum(A.gaussian_kernel_ring_average_per_kpc3(R1, R2, Z1, Z2, lam2) * vol)
    assert mass == pytest.approx(1.0, rel=1e-12)


def _ball_average_brute_force(d, a, lam2, n=200):
    """Ball average by Gauss–Legendre in (ρ, μ) about the ball's centre (ρ ∈ [0, a], μ = cos θ)."""
    x, w = np.polynomial.legendre.leggauss(n)
    rho = 0.5 * a * (x + 1)
    wr = 0.5 * a * w
    mu, wm = x, w
    s = np.sqrt(np.maximum(d * d + rho[:, None] ** 2 + 2 * d * rho[:, None] * mu[None, :], 0.0))
    val = A.gaussian_kernel_per_kpc3(s, lam2)
    total = 2 * math.pi * np.sum(wr[:, None] * wm[None, :] * rho[:, None] ** 2 * val)
    return total / (4 / 3 * math.pi * a**3)


@pytest.mark.parametrize(
    "d,a,lam2",
    [
        (0.0, 0.5, 1.0),
        (0.2, 0.5, 1.0),
        (0.5, 0.5, 0.3),
        (2.0, 0.5, 1.0),
        (2.0, 1.0, 0.05),
        (0.3, 1.0, 0.01),
        (1e-7, 0.4, 0.8),
        (5.0, 2.0, 30.0),
        (1.0, 1e-4, 0.9),
        (0.0, 1e-4, 0.9),
        (3.0, 0.1, 0.2),
        (0.0, 0.09, 1.0),
        (2.5, 0.05, 0.6),
        (4.0, 1e-6, 1.0),
        (0.05, 0.04, 0.25),
        (1.0, 0.3, 1e-3),
    ],
)
def test_sphere_average_against_brute_force(d, a, lam2):
    """Closed form (erf/exp, or the positive radial integral for a < λ/10) = numerical average over the
    ball."""
    got = A.gaussian_kernel_sphere_average_per_kpc3(d, a, lam2)
    ref = _ball_average_brute_force(d, a, lam2)
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_sphere_average_limits():
    """λ → 0: 3/(4πa³) inside the ball, 0 outside; d = 0 is the χ₃ CDF; huge ball: mass 1."""
    a = 0.7
    inside = A.gaussian_kernel_sphere_average_per_kpc3([0.0, 0.3], a, 1e-8)
    np.testing.assert_allclose(inside, 3 / (4 * math.pi * a**3), rtol=1e-12)
    assert A.gaussian_kernel_sphere_average_per_kpc3(1.0, a, 1e-8) == 0.0
    from scipy import stats

    lam2 = 0.9
    p = A.gaussian_kernel_sphere_average_per_kpc3(0.0, a, lam2) * 4 / 3 * math.pi * a**3
    assert p == pytest.approx(stats.chi(3).cdf(a * math.sqrt(2 / lam2)), rel=1e-13)
    big = 1e3
    assert A.gaussian_kernel_sphere_average_per_kpc3(
        2.0, big, lam2
    ) * 4 / 3 * math.pi * big**3 == pytest.approx(1.0, rel=1e-13)


@pytest.mark.parametrize(
    "cell", [(0.0, 1.0, -0.5, 0.5), (1.0, 2.0, -0.5, 0.5), (2.5, 3.0, 0.2, 1.0), (0.5, 4.0, -3.0, -1.0)]
)
def test_ring_average_against_brute_force(cell):
    """Closed form = 2D quadrature of 2πR K(√(R² + z²)) over the cell."""
    R1, R2, z1, z2 = cell
    lam2 = 1.7
    ref = integrate.dblquad(
        lambda z, R: 2 * math.pi * R * A.gaussian_kernel_per_kpc3(math.hypot(R, z), lam2),
        R1,
        R2,
        z1,
        z2,
        epsabs=0,
        epsrel=1e-12,
    )[0]
    ref /= math.pi * (R2**2 - R1**2) * (z2 - z1)
    assert A.gaussian_kernel_ring_average_per_kpc3(R1, R2, z1, z2, lam2) == pytest.approx(ref, rel=1e-10)


def _steady_adaptive(r, E, Q, e_max, params, a=None):
    """(1/b(E)) ∫ Q K dE_s by adaptive quadrature in E_s (scipy.quad), break points near E_s = E."""
    d0, e_ref, delta, b0 = params

    def f(es):
        lam2 = A.syrovatskii_lambda2_kpc2(E, es, d0, e_ref, delta, b0)
        k = (
            A.gaussian_kernel_per_kpc3(r, lam2)
            if a is None
            else A.gaussian_kernel_sphere_average_per_kpc3(r, a, lam2)
        )
        return float(Q(es) * k)

    pts = [p for p in (E * 1.0001, E * 1.01, E * 1.1, E * 2) if p < e_max]
    return integrate.quad(f, E, e_max, points=pts, limit=1000, epsabs=0, epsrel=1e-12)[0] / (b0 * E * E)


@pytest.mark.parametrize("delta,e_max", [(0.5, 1000.0), (1.0 / 3.0, 1e4), (1.0, 1000.0), (1.4, 500.0)])
@pytest.mark.parametrize("r,a", [(1.0, None), (0.3, None), (4.0, None), (0.0, 0.5), (0.4, 0.5), (2.0, 0.5)])
def test_steady_quadrature_against_adaptive(delta, e_max, r, a):
    """The λ²-space Gauss–Legendre quadrature agrees with adaptive quadrature in E_s to < 1e-8 (stated
    accuracy)."""
    params = (D0, E_REF, delta, B0)
    Q = power_law(2.2, 1.0, e_max)
    for E in (10.0, 100.0, 0.9 * e_max):
        got = A.syrovatskii_steady_density(r, E, Q, e_max, *params, sphere_radius_kpc=a)
        ref = _steady_adaptive(r, E, Q, e_max, params, a)
        assert got == pytest.approx(ref, rel=1e-8), (E, got, ref)


def test_steady_infinite_e_max():
    """E_max = ∞ (δ < 1) converges to the large-finite-E_max value."""
    Q = power_law(2.5)
    inf = A.syrovatskii_steady_density(1.0, 30.0, Q, np.inf, *PARAMS)
    fin = A.syrovatskii_steady_density(1.0, 30.0, Q, 1e9, *PARAMS)
    assert inf == pytest.approx(fin, rel=1e-8)
    with pytest.raises(ValueError):
        A.syrovatskii_steady_density(1.0, 30.0, Q, np.inf, D0, 1.0, 1.0, B0)
    with pytest.raises(ValueError):
        A.syrovatskii_steady_density(0.0, 30.0, Q, 1e3, *PARAMS)


def test_steady_state_normalisation():
    """∫ n d³x = (1/b(E)) ∫_E^{E_max} Q dE_s = uniform_source_density: by a huge ball and by radial
    quadrature."""
    e_max = 2000.0
    Q = power_law(2.0, 5.0, e_max)
    b = lambda e: B0 * np.asarray(e) ** 2
    for E in (10.0, 150.0):
        total = A.uniform_source_density(E, Q, e_max, b)
        exact = (1 / E - 1 / e_max) / (B0 * E * E)  # ∫ E_s^-2 = 1/E − 1/E_max
        assert total == pytest.approx(exact, rel=1e-12)
        big = 1e4
        ball = (
            A.syrovatskii_steady_density(0.0, E, Q, e_max, *PARAMS, sphere_radius_kpc=big)
            * 4
            / 3
            * math.pi
            * big**3
        )
        assert ball == pytest.approx(exact, rel=1e-9)
        radial = integrate.quad(
            lambda r: 4 * math.pi * r * r * A.syrovatskii_steady_density(r, E, Q, e_max, *PARAMS),
            0,
            np.inf,
            epsrel=1e-10,
            limit=400,
        )[0]
        assert radial == pytest.approx(exact, rel=1e-7)


def test_uniform_source_power_law():
    """Q ∝ E^-γ, E_max = ∞: n = E^{1−γ}/((γ − 1) b0 E²) ∝ E^{−(γ+1)} (docs/physics.md §8.5, 5th bullet)."""
    b = lambda e: B0 * np.asarray(e) ** 2
    E = np.array([1.0, 10.0, 300.0])
    for gamma in (2.0, 2.7):
        got = A.uniform_source_density(E, power_law(gamma), np.inf, b)
        np.testing.assert_allclose(got, E ** (1 - gamma) / ((gamma - 1) * B0 * E**2), rtol=1e-12)
    assert A.uniform_source_density(500.0, power_law(2.0), 400.0, b) == 0.0


def test_burst_normalisation_and_cutoff():
    """∫ n d³x = Q(E_s) (E_s/E)²; n = 0 for E ≥ 1/(b0 t) and above the cooled injection limit."""
    Q = power_law(2.0, 1.0, 1000.0)
    t = 2.0
    E = np.array([5.0, 40.0, 120.0])
    Es = E / (1 - B0 * E * t)
    expect = Es**-2 * (Es / E) ** 2
    big = 1e3
    ball = (
        A.syrovatskii_burst_density(0.0, E, t, Q, *PARAMS, sphere_radius_kpc=big) * 4 / 3 * math.pi * big**3
    )
    np.testing.assert_allclose(ball, expect, rtol=1e-13)
    for e, x in zip(E, expect):
        radial = integrate.quad(
            lambda r: 4 * math.pi * r * r * A.syrovatskii_burst_density(r, e, t, Q, *PARAMS), 0, np.inf
        )[0]
        assert radial == pytest.approx(x, rel=1e-9)
    e_cut = 1 / (B0 * t)
    top = 1000.0 / (1 + B0 * 1000.0 * t)  # the cooled E_max
    assert np.all(A.syrovatskii_burst_density(0.5, [e_cut, 1.01 * e_cut, 1.001 * top], t, Q, *PARAMS) == 0.0)
    assert A.syrovatskii_burst_density(0.5, 0.999 * top, t, Q, *PARAMS) > 0.0


def test_burst_loss_free_limit():
    """b0 → 0: n → Q(E) exp(−r²/(4Dt))/(4πDt)^{3/2} (docs/physics.md §8.1)."""
    b0 = 1e-12
    t, E = 3.0, 50.0
    Q = power_law(2.0)
    D = D0 * E**DELTA
    r = np.array([0.0, 0.5, 2.0])
    got = A.syrovatskii_burst_density(r, E, t, Q, D0, 1.0, DELTA, b0)
    np.testing.assert_allclose(
        got, E**-2 * np.exp(-r * r / (4 * D * t)) / (4 * math.pi * D * t) ** 1.5, rtol=1e-7
    )


@pytest.mark.parametrize("r,a", [(1.2, None), (0.0, 0.5)])
def test_steady_is_time_integral_of_burst(r, a):
    """n_steady(r, E) = ∫_0^∞ n_burst(r, E, t) dt for the same Q (a continuous source is a sum of bursts)."""
    e_max = 800.0
    Q = power_law(2.3, 1.0, e_max)
    for E in (12.0, 200.0):
        t_top = (1 / E - 1 / e_max) / B0  # beyond this, E_s > E_max
        f = lambda t: float(A.syrovatskii_burst_density(r, E, t, Q, *PARAMS, sphere_radius_kpc=a))
        pts = [t_top * x for x in (1e-4, 1e-3, 1e-2, 0.1, 0.5)]
        burst = integrate.quad(f, 0, t_top, points=pts, limit=1000, epsabs=0, epsrel=1e-11)[0]
        steady = A.syrovatskii_steady_density(r, E, Q, e_max, *PARAMS, sphere_radius_kpc=a)
        assert steady == pytest.approx(burst, rel=1e-8)


def test_region_average_wrappers_agree():
    """The sphere wrappers equal the region-average cores with the ball kernel passed explicitly."""
    Q = power_law(2.0, 10.0, 1000.0)
    E = np.array([15.0, 60.0])
    kern = lambda v: A.gaussian_kernel_sphere_average_per_kpc3(1.5, 0.5, v)
    np.testing.assert_allclose(
        A.syrovatskii_steady_region_average(kern, 1.5, E, Q, 1000.0, *PARAMS),
        A.syrovatskii_steady_density(1.5, E, Q, 1000.0, *PARAMS, sphere_radius_kpc=0.5),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        A.syrovatskii_burst_region_average(kern, E, 1.0, Q, *PARAMS),
        A.syrovatskii_burst_density(1.5, E, 1.0, Q, *PARAMS, sphere_radius_kpc=0.5),
        rtol=1e-14,
    )


def test_energy_bin_average():
    """Bin average of E^-3 over log bins, and with the support clipped."""
    lo, hi = np.array([1.0, 10.0]), np.array([10.0, 100.0])
    got = A.energy_bin_average(lambda e: e**-3.0, lo, hi)
    np.testing.assert_allclose(got, (lo**-2 - hi**-2) / 2 / (hi - lo), rtol=1e-12)
    clipped = A.energy_bin_average(lambda e: e**-3.0, lo, hi, support_GeV=(0.0, 30.0))
    np.testing.assert_allclose(clipped, [(1 - 0.01) / 2 / 9, (10.0**-2 - 30.0**-2) / 2 / 90], rtol=1e-12)
