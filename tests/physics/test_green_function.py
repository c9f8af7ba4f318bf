"""Homogeneous anisotropic diffusion from a point burst (docs/physics.md §8.1 and §8.4, docs/design.md §7).

Oracle: a burst of particles released at the origin in a uniform field b̂ with a constant
tensor D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j is, after time t, a zero-mean Gaussian with
covariance ⟨x_i x_j⟩ = 2 D_ij t, off-diagonal entries included.

Set-up: b̂ ∝ (1, 0, 1) (45° to z, so D_xz = (D∥ − D⊥)/2 is large and D_yy = D⊥ small),
ε = 0.05, δ∥ = 0.5 and δ⊥ = 0.3 (so D⊥/D∥ differs between the two energies), a halo so
large (H = R_max = 10⁴ kpc) that no particle comes near a boundary, and a fixed
t_max = 10 Myr for every particle.  Two energies, 10 GeV and 1 TeV, each injected in a
range of relative width 10⁻⁵ (D varies by < 10⁻⁵ across it; the oracle nevertheless
averages D over the particles' own source energies, which is exact for the mixture).

Time step: for a constant tensor an Euler–Maruyama step is a sum of exact Gaussian
increments, so the answer has no time-step bias at all; dt_max = t/50 only makes every
particle take 50 steps, so that the accumulation over many steps (and the clipping of the
last step onto t_max) is exercised.  The field-floor regularisation b = B/sqrt(|B|² + B_f²)
shrinks |b|² by B_f²/|B|² = 10⁻⁶ (defaults 10⁻³ μG and 1 μG), far below the ~1 % errors.

Statistics: N = 20000 particles per energy.  For a zero-mean Gaussian the estimator
S_ij = Σ x_i x_j / N has Var = (Σ_ii Σ_jj + Σ_ij²)/N, evaluated with the sample Σ.  Each
entry must lie within 4 standard errors of 2 D_ij t, each mean within 4 standard errors of
zero.  False-alarm rate: 4σ two-sided is 6.3e-5 per check; 6 covariance entries + 3 means
at 2 energies = 18 checks, so ≤ 1.2e-3 per run of this module for a correct code (union
bound).  Seeds are fixed, so the outcome is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sdeprop
from sdeprop import kernel as K
from sdeprop.config import load_config
from sdeprop.models.diffusion import diffusion_at

N_PARTICLES = 20000
T_MYR = 10.0
N_STEPS = 50
DIRECTION = (1.0, 0.0, 1.0)
DIFFUSION = {
    "D0_cm2_per_s": 3.0e28,
    "reference_rigidity_GV": 4.0,
    "delta_par": 0.5,
    "delta_perp": 0.3,
    "epsilon": 0.05,
    "beta": True,
}
N_SIGMA = 4.0

# independent constants (docs/physics.md §0.1) for the reference diffusion coefficients
KPC_CM = 3.0857e21
MYR_S = 3.1558e13
PROTON_MASS_GEV = 0.93827209


def reference_diffusion(kinetic_GeV):
    """(D∥, D⊥) in kpc²/Myr from docs/design.md §5 written out by hand (protons, Z = 1):
    D∥ = D0 β (R/R0)^δ∥, D⊥ = ε D0 β (R/R0)^δ⊥."""
    T = np.asarray(kinetic_GeV, dtype=float)
    p = np.sqrt(T * (T + 2 * PROTON_MASS_GEV))  # rigidity in GV for Z = 1
    beta = p / (T + PROTON_MASS_GEV)
    d0 = DIFFUSION["D0_cm2_per_s"] * MYR_S / KPC_CM**2
    x = p / DIFFUSION["reference_rigidity_GV"]
    dpar = d0 * beta * x ** DIFFUSION["delta_par"]
    dperp = DIFFUSION["epsilon"] * d0 * beta * x ** DIFFUSION["delta_perp"]
    return dpar, dperp


def burst_config(energy_GeV, seed):
    e_hi = energy_GeV * (1.0 + 1e-5)
    return {
        "run": {
            "name": "green_function",
            "seed": seed,
            "particles": N_PARTICLES,
            "batch_size": 5000,
            "progress": False,
        },
        "species": {"name": "proton"},
        "energy": {"min_GeV": energy_GeV, "max_GeV": e_hi},
        "galaxy": {"halo_height_kpc": 1.0e4, "radius_max_kpc": 1.0e4},
        "field": {"model": "uniform", "direction": list(DIRECTION), "strength_uG": 1.0},
        "diffusion": dict(DIFFUSION),
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "spectrum": {"type": "log_uniform"},
        "time": {"dt_max_Myr": T_MYR / N_STEPS, "regimes": [{"energy_max_GeV": e_hi, "t_max_Myr": T_MYR}]},
        "tally": [
            {
                "type": "sphere",
                "name": "origin",
                "center_kpc": [0.0, 0.0, 0.0],
                "radius_kpc": 1.0,
                "energy_bins": 1,
            }
        ],
    }


@pytest.fixture(scope="module", params=[(10.0, 101), (1000.0, 202)], ids=["10GeV", "1TeV"])
def burst(request):
    """Run one burst; return (config dict, final positions (N, 3), final state)."""
    energy, seed = request.param
    cfg = burst_config(energy, seed)
    result = sdeprop.run(cfg, particles=N_PARTICLES, workers=1, progress=False, keep_state=True)
    fs = result.final_state
    pos = np.stack([fs["x"], fs["y"], fs["z"]], axis=1)
    return cfg, pos, fs, result


def expected_covariance(cfg, source_energies):
    """2 D t averaged over the particles' source energies (exact for a mixture of zero-mean Gaussians)."""
    dpar, dperp = reference_diffusion(source_energies)
    # the library's own diffusion model must give the same coefficients
    lib_par, lib_perp = diffusion_at(load_config(cfg).diffusion, "proton", source_energies[:100])
    np.testing.assert_allclose(
        lib_par, dpar[:100], rtol=1e-9
    )  # same formula, independent constants: round-off only
    np.testing.assert_allclose(lib_perp, dperp[:100], rtol=1e-9)
    b = np.asarray(DIRECTION) / np.linalg.norm(DIRECTION)
    D = dperp.mean() * np.eye(3) + (dpar - dperp).mean() * np.outer(b, b)
    return 2.0 * D * T_MYR


def test_every_particle_reaches_t_max(burst):
    """No boundary is reached: all particles end alive at t_max after exactly N_STEPS steps."""
    _, _, fs, result = burst
    assert np.all(fs["status"] == K.AT_TMAX)
    assert result.counts["escaped_z"] == result.counts["escaped_R"] == 0
    np.testing.assert_allclose(fs["time"], T_MYR, rtol=1e-12)
    assert np.all(fs["steps"] == N_STEPS)
    assert np.all(fs["energy"] == fs["source_energy"])  # protons here have no losses


def test_displacement_covariance_is_2Dt(burst):
    """⟨x_i x_j⟩ = 2 D_ij t for all six entries, D_ij = D⊥ δ_ij + (D∥ − D⊥) b_i b_j (docs/physics.md §8.1)."""
    cfg, pos, fs, _ = burst
    n = len(pos)
    expected = expected_covariance(cfg, fs["source_energy"])
    sample = pos.T @ pos / n  # second moments about the (known) zero mean
    # standard error of each entry for a zero-mean Gaussian, with the sample covariance
    se = np.sqrt((np.outer(np.diag(sample), np.diag(sample)) + sample**2) / n)
    pulls = (sample - expected) / se
    for i, j in [(0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2)]:
        assert abs(pulls[i, j]) < N_SIGMA, (
            f"<x{i} x{j}> = {sample[i, j]:.6g}, expected 2 D t = {expected[i, j]:.6g} "
            f"(standard error {se[i, j]:.3g}, pull {pulls[i, j]:+.2f})"
        )
    # the test is only meaningful if the off-diagonal xz term is resolved: it is tens of σ from zero
    assert expected[0, 2] / se[0, 2] > 50


def test_mean_displacement_is_zero(burst):
    """⟨x_i⟩ = 0: there is no drift in a uniform field (∇·D = 0)."""
    _, pos, _, _ = burst
    n = len(pos)
    mean = pos.mean(axis=0)
    se = pos.std(axis=0, ddof=1) / math.sqrt(n)
    for i in range(3):
        assert abs(mean[i]) < N_SIGMA * se[i], f"<x{i}> = {mean[i]:.4g} kpc, standard error {se[i]:.3g}"
