"""Manufactured stationary solution with a spatially varying field direction (docs/design.md §7).

Set-up (after Cerri et al. 2017, appendix B, cases P2/P3: an axisymmetric (R, z) domain
whose field direction varies with R):

* halo |z| < H = 3 kpc, R < R_max = 8 kpc, free escape on all walls;
* ``cerri_toy`` field: B_R = 0, B_φ = B0 (1 − e^{−R/R0}), B_z = ε_B B0 e^{−R/R0} with
  B0 = 3 μG, R0 = 2 kpc, ε_B = 1, so b̂ is vertical on the axis and turns azimuthal
  outside (b_z² = 0.70 at R = 1 kpc, 0.25 at 2 kpc, 0.02 at 6 kpc);
* D∥, D⊥ uniform in space: delta_par = 0 and no β factor, so D∥ = D0 = 3e28 cm²/s at every
  energy, D⊥ = ε D∥ with ε = 0.1; one energy bin over 10–11 GeV.

Chosen density (vanishes on every wall)::

    ψ(R, z) = f(R) cos(kz),    f(R) = 1 − R²/R_max²,    k = π/(2H).

Source.  The flux is D∇ψ = D⊥∇ψ + (D∥ − D⊥) b̂ (b̂·∇ψ) with b̂·∇ψ = b_z ∂_zψ (b_R = 0 and
ψ does not depend on φ).  b̂ = B/sqrt(|B|² + B_f²) depends on R only and has no R
component, so ∇·b̂ = 0 and b̂·∇(b_z ∂_zψ) = b_z² ∂²_zψ.  Hence

    ∇·(D∇ψ) = D⊥ ∇²ψ + (D∥ − D⊥) b_z(R)² ∂²ψ/∂z²,
    ∇²ψ = −cos(kz) [4/R_max² + k² f(R)],   ∂²ψ/∂z² = −k² f(R) cos(kz),

and the source Q = −∇·(D∇ψ) separates into

    Q(R, z) = cos(kz) g(R),   g(R) = D⊥ (4/R_max² + k² f) + (D∥ − D⊥) b_z(R)² k² f,

positive everywhere inside the domain.  b_z² = B_z²/(B_φ² + B_z² + B_f²) includes the
field floor numerics.field_floor_uG exactly, so no approximation is made.
``test_source_term_is_minus_divergence_of_flux`` checks Q against finite differences of the
Cartesian flux built from the library's own field.

Expected answer.  For a total source rate of 1 per Myr, the source density is Q/Q_tot with
Q_tot = ∫ Q dV = (2/k) · 2π ∫₀^{R_max} R g(R) dR, and the steady-state density is
n = ψ/Q_tot [kpc⁻³].  A tally cell holds the cell average of ψ, which is analytic:
⟨f⟩ over R ∈ [a, b] with weight R, times ⟨cos kz⟩ over the z bin.

Without the Itô drift ∇·D = (D∥ − D⊥)(b̂·∇)b̂ = −(D∥ − D⊥) b_φ²/R R̂ the kernel solves
∂_i∂_j(D_ij n) instead, which carries particles outwards with speed (D∥ − D⊥) b_φ²/R; the
density near the axis then falls to ~1/3 of ψ/Q_tot and rises to ~2× near R_max
(measured: cell ratios 0.31–0.34 at R < 2 kpc, 1.94–1.99 at R > 7 kpc).

Statistics.  Per-history sums give each cell its variance, but a history crosses many
cells, so neighbouring cells are positively correlated (correlation coefficient ~0.5–0.6
between neighbours).  χ² = Σ pull² then still has mean 64, but its null distribution is
the generalised χ² Σ λ_i χ²_1 with λ_i the eigenvalues of the cell correlation matrix,
whose variance is about 3× that of χ²_64: the naive χ²_64 threshold at p = 1e-3 (104.7)
would fire in ~3 % of seeds.  The tests estimate the correlation matrix from 200
independent batches of an auxiliary run (sdeprop.engine.run_batches) and take the p-value
of χ² from that generalised χ² by Monte Carlo.  Using the sample eigenvalues makes the test
slightly conservative: simulated with the measured spectrum, the actual false-alarm rate at
nominal p = 1e-3 is ~7e-4.

Time step.  time.step_fraction sets the parallel displacement sqrt(2 D∥ dt) to that fraction
of the field scale length (|B|/|∇B| ≈ 1.4 kpc on the axis, up to H outside); dt_max_Myr = 1
never binds here (dt ≤ 0.12 Myr).  Euler–Maruyama leaks a little parallel motion into the
perpendicular directions where the field lines curve, an O(dt) error amplified by
D∥/D⊥ = 10.  Measured bias of the radial profile (z-integrated, 8 bins):
step_fraction 0.2: +5–6 % at R < 1 kpc, −2 to −3 % at R = 2–4 kpc; 0.1: +1.9 %, −1.2 %
(1e6 particles, σ ≈ 0.2–0.3 %); 0.05: consistent with zero, deviations +0.47, +0.20, −0.02,
−0.28, −0.35, +0.18, +0.14, −0.27 % with σ ≈ 0.3 % (4e5 particles; χ² = 4.8 for the 8 radial
bins, 57.5 for the 64 cells).  The test uses 0.05: with 3e4 particles each cell has
σ ≈ 1.9–3 %, so any residual bias is ≲ 0.3 σ.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

import sdeprop
from sdeprop.config import load_config
from sdeprop.engine import build_model, run_batches
from sdeprop.models.diffusion import diffusion_at
from sdeprop.models.field import evaluate_field

# geometry and field [kpc, μG]
H = 3.0
R_MAX = 8.0
R0 = 2.0
EPS_B = 1.0
B0 = 3.0
K = math.pi / (2.0 * H)
# diffusion: constant in space and energy
D0_CM2_S = 3.0e28
EPSILON = 0.1
E_MIN, E_MAX = 10.0, 11.0
STEP_FRACTION = 0.05  # see module docstring: bias ≲ 0.3 σ per cell at N_MAIN
N_R, N_Z = 8, 8
N_MAIN = 30_000
N_NO_DRIFT = 10_000
N_CORR_BATCHES, CORR_BATCH_SIZE = 200, 50


def make_config(seed: int, drift: bool = True, batch_size: int = 3000) -> dict:
    return {
        "run": {"seed": seed, "batch_size": batch_size, "progress": False},
        "energy": {"min_GeV": E_MIN, "max_GeV": E_MAX},
        "galaxy": {"halo_height_kpc": H, "radius_max_kpc": R_MAX},
        "field": {"model": "cerri_toy", "B0_phi_uG": B0, "R0_kpc": R0, "epsilon_B": EPS_B},
        "diffusion": {"D0_cm2_per_s": D0_CM2_S, "delta_par": 0.0, "epsilon": EPSILON, "beta": False},
        # t_max = 1e4 Myr is ~27 e-folding times 4H²/(π² D⊥) of the slowest (vertical, D⊥) escape:
        # no particle is cut off (checked below).
        "time": {
            "step_fraction": STEP_FRACTION,
            "dt_max_Myr": 1.0,
            "regimes": [{"energy_max_GeV": E_MAX, "t_max_Myr": 1.0e4}],
        },
        "numerics": {"drift": drift},
        "spectrum": {"type": "log_uniform"},
        "tally": [{"type": "cylindrical", "name": "rz", "R_bins": N_R, "z_bins": N_Z, "energy_bins": 1}],
    }


_CFG = load_config(make_config(0))
D_PAR, D_PERP = (float(v[0]) for v in diffusion_at(_CFG.diffusion, "proton", 0.5 * (E_MIN + E_MAX)))
B_FLOOR = _CFG.numerics.field_floor_uG


# ----------------------------------------------------------------------------- analytic pieces
def field_cylindrical(R):
    """(B_R, B_φ, B_z) [μG] of the Cerri et al. toy field."""
    e = np.exp(-np.asarray(R, dtype=float) / R0)
    return np.zeros_like(e), B0 * (1.0 - e), EPS_B * B0 * e


def bz2(R):
    """b_z² with b = B/sqrt(|B|² + B_f²) (the kernel's regularised direction)."""
    _, bphi, bz = field_cylindrical(R)
    return bz**2 / (bphi**2 + bz**2 + B_FLOOR**2)


def f_radial(R):
    return 1.0 - np.asarray(R, dtype=float) ** 2 / R_MAX**2


def psi(R, z):
    return f_radial(R) * np.cos(K * np.asarray(z, dtype=float))


def g_radial(R):
    """Radial factor of Q = cos(kz) g(R) [kpc⁻² · kpc²/Myr = Myr⁻¹ per unit ψ]."""
    f = f_radial(R)
    return D_PERP * (4.0 / R_MAX**2 + K**2 * f) + (D_PAR - D_PERP) * bz2(R) * K**2 * f


def source_density(R, z):
    return np.cos(K * np.asarray(z, dtype=float)) * g_radial(R)


def total_source():
    """Q_tot = ∫ Q dV [kpc³/Myr]."""
    radial, _ = integrate.quad(lambda r: r * g_radial(r), 0.0, R_MAX, epsabs=0.0, epsrel=1e-12, limit=200)
    return 2.0 * math.pi * radial * (2.0 / K)


def expected_density(R_edges, z_edges):
    """Cell averages of ψ/Q_tot for a unit total source rate [kpc⁻³]."""
    a, b = R_edges[:-1], R_edges[1:]
    area = 0.5 * (b**2 - a**2)
    f_avg = (area - (b**4 - a**4) / (4.0 * R_MAX**2)) / area  # ∫ f R dR / ∫ R dR
    cos_avg = (np.sin(K * z_edges[1:]) - np.sin(K * z_edges[:-1])) / (K * np.diff(z_edges))
    return np.outer(f_avg, cos_avg) / total_source()


class ManufacturedSource:
    """Positions drawn from Q(R, z) dV = cos(kz) g(R) R dR dz dφ.

    z by inversion of ∫cos(kz)dz: z = arcsin(2u − 1)/k; R by inverting the cumulative
    trapezoid integral of R g(R) on 20001 nodes (relative error of the table ~1e-9).
    """

    def __init__(self, nodes: int = 20001):
        r = np.linspace(0.0, R_MAX, nodes)
        pdf = r * g_radial(r)
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(r))])
        self._r, self._cdf = r, cdf / cdf[-1]

    def sample_positions(self, rng, n):
        R = np.interp(rng.random(n), self._cdf, self._r)
        # u = 0 would give z = −H exactly (outside the open domain); probability 2⁻⁵³
        u = np.clip(rng.random(n), 1e-15, 1.0 - 1e-15)
        z = np.arcsin(2.0 * u - 1.0) / K
        phi = rng.uniform(0.0, 2.0 * np.pi, n)
        return R * np.cos(phi), R * np.sin(phi), z


# ----------------------------------------------------------------------------- statistics helpers
def cell_correlation_eigenvalues(seed: int) -> np.ndarray:
    """Eigenvalues of the correlation matrix of the N_R × N_Z cells, from independent batches."""
    model = build_model(make_config(seed), ManufacturedSource())
    lay = next(lay for lay in model.layouts if lay.name == "rz")
    rows = []
    for res in run_batches(model, N_CORR_BATCHES * CORR_BATCH_SIZE, CORR_BATCH_SIZE, seed):
        block = res.sum1[lay.offset : lay.offset + lay.size].reshape(lay.shape)
        rows.append(block[0, :, :, 0, 0].ravel())
    corr = np.corrcoef(np.array(rows).T)
    return np.clip(np.linalg.eigvalsh(corr), 0.0, None)


def generalised_chi2_pvalue(
    chi2: float, eigenvalues: np.ndarray, draws: int = 200_000, seed: int = 99
) -> float:
    """P(Σ λ_i X_i² ≥ chi2), X_i ~ N(0, 1), by Monte Carlo (resolution ~1e-4 at p = 1e-3)."""
    rng = np.random.default_rng(seed)
    total = np.zeros(draws)
    for lam in eigenvalues:
        total += lam * rng.standard_normal(draws) ** 2
    return float(np.mean(total >= chi2))


def compare(result):
    """(observed, expected, σ, pulls) of the (R, z) tally for a unit source rate [kpc⁻³]."""
    tally = result.tallies["rz"]
    dens = tally.reweight(sdeprop.spectra.LogUniform(), rate_per_Myr=1.0)
    de = np.diff(tally.edges["E_GeV"])[0]  # one bin spanning the whole injection range
    n = dens.density[..., 0] * de
    s = dens.uncertainty[..., 0] * de
    exp = expected_density(tally.edges["R_kpc"], tally.edges["z_kpc"])
    return n, exp, s, (n - exp) / s


# ----------------------------------------------------------------------------- fast checks of the set-up
def test_library_field_is_the_cerri_toy_field():
    """The engine's field equals the B_R = 0, B_φ, B_z formulas that Q was derived for."""
    rng = np.random.default_rng(3)
    R = np.concatenate([[0.0, 1e-4, 0.3], rng.uniform(0.0, R_MAX, 30)])
    phi = rng.uniform(0.0, 2 * np.pi, R.size)
    z = rng.uniform(-H, H, R.size)
    B, _ = evaluate_field(_CFG.field, np.column_stack([R * np.cos(phi), R * np.sin(phi), z]))
    b_r = B[:, 0] * np.cos(phi) + B[:, 1] * np.sin(phi)
    b_phi = -B[:, 0] * np.sin(phi) + B[:, 1] * np.cos(phi)
    _, bphi_exp, bz_exp = field_cylindrical(R)
    # rounding only: components are O(1) μG
    np.testing.assert_allclose(b_r, 0.0, atol=1e-12)
    np.testing.assert_allclose(b_phi, bphi_exp, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B[:, 2], bz_exp, rtol=1e-12, atol=1e-12)


def test_source_term_is_minus_divergence_of_flux():
    """Q(R, z) = −∇·(D∇ψ), checked by central differences of the Cartesian flux.

    The flux uses the library's field and the kernel's regularised b = B/sqrt(|B|² + B_f²).
    Step h = 1e-3 kpc; the truncation error O(h²·ψ'''') is ~1e-6 relative, the tolerance
    1e-4 leaves room for rounding (flux differences ~1e-3 of the flux).
    """
    h = 1e-3

    def b_hat(p):
        B, _ = evaluate_field(_CFG.field, p)
        return B / np.sqrt((B**2).sum(axis=1) + B_FLOOR**2)[:, None]

    def psi_xyz(p):
        return psi(np.hypot(p[:, 0], p[:, 1]), p[:, 2])

    def flux(p):
        grad = np.column_stack([(psi_xyz(p + h * e) - psi_xyz(p - h * e)) / (2 * h) for e in np.eye(3)])
        b = b_hat(p)
        return D_PERP * grad + (D_PAR - D_PERP) * b * (b * grad).sum(axis=1)[:, None]

    rng = np.random.default_rng(5)
    R = rng.uniform(0.05, R_MAX - 0.05, 25)
    phi = rng.uniform(0.0, 2 * np.pi, 25)
    z = rng.uniform(-H + 0.05, H - 0.05, 25)
    p = np.column_stack([R * np.cos(phi), R * np.sin(phi), z])
    div = sum((flux(p + h * e)[:, i] - flux(p - h * e)[:, i]) / (2 * h) for i, e in enumerate(np.eye(3)))
    Q = source_density(R, z)
    assert np.all(Q > 0)
    np.testing.assert_allclose(-div, Q, rtol=1e-4)
    # Q is positive on the whole closed domain (g > 0 even at R = R_max, where f = 0)
    assert np.all(g_radial(np.linspace(0.0, R_MAX, 1001)) > 0)


def test_manufactured_source_samples_q():
    """Sampled (R, z) follow Q·R: binned R counts (χ², 40 bins) and z (KS) at p > 1e-3.

    Counts in disjoint bins are multinomial, so χ²_39 applies; false-alarm rate 2e-3 for
    the two tests together.
    """
    rng = np.random.default_rng(11)
    x, y, z = ManufacturedSource().sample_positions(rng, 200_000)
    R = np.hypot(x, y)
    assert np.all(np.abs(z) < H) and np.all(R < R_MAX)
    edges = np.linspace(0.0, R_MAX, 41)
    prob = np.array(
        [
            integrate.quad(lambda r: r * g_radial(r), a, b, epsrel=1e-11)[0]
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )
    prob /= prob.sum()
    counts, _ = np.histogram(R, edges)
    chi2 = (((counts - R.size * prob) ** 2) / (R.size * prob)).sum()
    assert stats.chi2.sf(chi2, len(prob) - 1) > 1e-3, chi2
    ks = stats.kstest(z, lambda v: 0.5 * (np.sin(K * np.asarray(v)) + 1.0))
    assert ks.pvalue > 1e-3, ks


# ----------------------------------------------------------------------------- the SDE runs
@pytest.fixture(scope="module")
def run_with_drift():
    return sdeprop.run(
        make_config(seed=20240611), source=ManufacturedSource(), particles=N_MAIN, workers=1, progress=False
    )


@pytest.mark.slow
def test_reproduces_manufactured_solution_with_drift(run_with_drift):
    """With the Itô drift, the (R, z) density equals ψ/Q_tot (cell averages) within statistics.

    Analytic answer: n(R, z) = (1 − R²/R_max²) cos(πz/2H) / Q_tot per unit source rate.
    Criteria: χ² of the 64 cells has p > 1e-3 under its generalised-χ² null (false alarm
    ~7e-4, see module docstring), and every cell is within 4σ (Bonferroni bound on the
    false-alarm rate 64 × 6.3e-5 = 4e-3; correlations lower it).
    """
    res = run_with_drift
    assert res.counts["alive_at_t_max"] == 0 and res.counts["max_steps_reached"] == 0
    assert res.counts["injected"] == N_MAIN
    n, exp, s, pull = compare(res)
    chi2 = float((pull**2).sum())
    lam = cell_correlation_eigenvalues(seed=777)
    p = generalised_chi2_pvalue(chi2, lam)
    msg = (
        f"chi2 = {chi2:.1f} / {pull.size} (p = {p:.2g} under the correlated null, tr(C^2)/64 = "
        f"{(lam**2).sum() / lam.size:.2f}); "
        f"max |pull| = {np.abs(pull).max():.2f}\nratio MC/analytic (rows R, columns "
        f"z):\n{np.array2string(n / exp, precision=3)}"
    )
    print(msg)
    assert p > 1e-3, msg
    assert np.all(np.abs(pull) < 4.0), msg


@pytest.mark.slow
def test_without_drift_misses_manufactured_solution(run_with_drift):
    """Without ∇·D the engine solves ∂_i∂_j(D_ij n), not ∇·(D∇n): the density is far from ψ/Q_tot.

    Measured: χ²/ndf ≈ 900 with 1e4 particles (≈ 8800 with 1e5); the density is ~1/3 of
    ψ/Q_tot near the axis and ~2× near R_max.  Asserting χ²/ndf > 10 cannot fail by chance
    (under the null χ²/ndf has mean 1 and standard deviation ≈ 0.3).
    """
    res = sdeprop.run(
        make_config(seed=20240612, drift=False),
        source=ManufacturedSource(),
        particles=N_NO_DRIFT,
        workers=1,
        progress=False,
    )
    n, exp, s, pull = compare(res)
    chi2_ndf = float((pull**2).sum() / pull.size)
    _, _, _, pull_drift = compare(run_with_drift)
    print(
        f"chi2/ndf without drift = {chi2_ndf:.0f} ({N_NO_DRIFT} particles); "
        f"with drift = {(pull_drift**2).sum() / pull_drift.size:.2f} ({N_MAIN} particles)\n"
        f"ratio MC/analytic without drift:\n{np.array2string(n / exp, precision=2)}"
    )
    assert chi2_ndf > 10.0
    # the direction of the error: particles pushed outwards by the missing inward drift
    ratio = n / exp
    assert ratio[0].mean() < 0.6 and ratio[-1].mean() > 1.5
