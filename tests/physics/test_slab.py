"""Slab halo with free escape at |z| = H and a thin-disc source (PHYSICS.md §8.2, §8.4; DESIGN.md §3, §7).

Oracles
-------
* Steady state for a surface source Q_A at z = 0 and a constant tensor:
  n(z) = Q_A (H − |z|) / (2 D_zz), with D_zz = D⊥ + (D∥ − D⊥) cos²θ for a field at angle θ to z.
  Here Q_A = 1/(π R_d²) per kpc² per Myr (unit total rate over a disc of radius R_d).
* Mean exit time from the disc (z₀ = 0): ⟨t⟩ = H² / (2 D_zz)  (= t_esc below); and
  ⟨t²⟩ = 2 ∫ t S(t) dt = (5/3) t_esc² from the survival series S(t) of §8.2.
* The residence-time and the burst-snapshot estimators give the same steady state.

Set-up
------
H = 4 kpc, R_d = 10 H, R_max = 10 R_d, uniform field b̂ ∝ (1, 1, 2) (cos²θ = 2/3, horizontal
component along x = y), ε = 0.05, δ∥ = 0.5, δ⊥ = 0.3, protons injected in [10, 10.0001] GeV,
one energy bin, so density × ΔE is the number density [kpc⁻³].  Tally: R < 0.7 R_d,
z ∈ [−H, H] in 11 bins (odd, so that the source plane z = 0 lies inside the central bin, not
on an edge).  The analytic profile is averaged over each bin (exactly: the mean of |z|).

Lateral edge of the source: the tally stops 3 H inside the disc edge.  Shearing
h' = h − (D_hz/D_zz) z (h the horizontal direction of b̂) diagonalises the tensor without
moving the slab walls or the source; the edge deficit then decays as exp(−d/λ) with
λ = (2H/π) sqrt(D_eff/D_zz) ≈ 0.8 kpc, D_eff = D_hh − D_hz²/D_zz, over d ≥ 12 − 2.7 kpc:
below 10⁻⁵ of n.  The 1D slab answer is exact to that level in the tally.

Time steps (chosen so that the bias is ≲ 0.1 σ)
-------------------------------------------------
For a constant tensor the Euler–Maruyama chain is exact at the step ends and the Brownian
bridge makes the killing at the walls exact too, so the only biases are those of the time
quadrature of each estimator:

* Residence time scores w·dt at the *start* of each step: a left Riemann sum of the
  occupation.  Its first-order error is the Euler–Maclaurin end term +dt/2 at t = 0, all in
  the bin that holds the source.  With dt_max = t_esc/2000 (the default step_fraction = 0.1
  would give t_esc/147 here) that is +0.14 % of the central bin against a 1.2 % statistical
  error (0.12 σ); all other bins are unbiased.  The recorded exit time (end of the last step)
  is likewise biased by +dt/2 = +0.025 % against a 0.58 % error.  (Checked while writing
  this test: with dt = t_esc/147 and 4·10⁵ particles the central bin came out +2.1 ± 0.3 %
  high, as predicted (+2.0 %); exit times at dt = t_esc/20, /40, /80 matched t_esc + dt/2
  within 1.3 σ; with 4·10⁵ particles at the dt used here every bin was within 1.3 σ = 0.4 %
  of the analytic value.)
* Snapshots score w·Δt at the midpoints (k + ½)Δt: a midpoint rule, no O(Δt) term, and
  the O(Δt²) term is proportional to the time derivative of the occupation at t = 0, which
  vanishes (the source sits inside a bin).  Δt = t_esc/500 moves a particle by
  sqrt(2 D_zz Δt) = 0.045 H, a quarter of a bin; dt_max = Δt (the chain is exact at any step
  size, so one step per snapshot suffices).  Summing the exact eigen-series of §8.2 at
  these midpoints differs from the integral by < 2·10⁻⁵ in every bin.
* t_max = 12 t_esc for both: the survival probability (4/π) exp(−π² D_zz t/4H²) is 5·10⁻⁷
  there, so the steady state misses a fraction ~4·10⁻⁷ of its integral.

Statistics
----------
Each estimator runs as K = 50 independent replicas (seeds seed0 + k) of 400 particles;
their tallies are merged into one Tally of 20000 histories (exactly what one run of 20000
would give, up to the random streams).  Per-bin checks use that Tally's own uncertainty.

The z bins are strongly correlated (one history spends time in many bins: neighbouring
bins have correlation 0.7–0.9, both from Kac's moment formula for killed Brownian motion
and from the replica scatter), so Σ pull² is *not* χ²(11)-distributed: with the nominal
chi2.sf(·, 11) > 10⁻³ cut its false-alarm rate would be ≈ 4 %, not 0.1 %.  The profile-wide test therefore uses
Hotelling's T² with the covariance estimated from the replicas:
(K − p)/(p (K − 1)) T² ~ F(p, K − p), p = 11 bins, which is exactly calibrated whatever the
correlations.  The diagonal Σ pull² is reported in the failure message for information.

False-alarm rate for a correct code (union bound): 4σ two-sided is 6.3·10⁻⁵ per check;
11 bins × 2 estimators + 11 estimator comparisons + ⟨t⟩ and ⟨t²⟩ = 35 checks → 2.2·10⁻³;
2 Hotelling tests at p > 10⁻³ → 2·10⁻³; 22 uncertainty-vs-replica-scatter checks at a
two-sided 6.3·10⁻⁵ → 1.4·10⁻³.  In all ≈ 6·10⁻³ per run of this module.  Seeds are fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sdeprop
from sdeprop import kernel as K
from sdeprop.config import load_config
from sdeprop.models.diffusion import diffusion_at
from sdeprop.result import Tally
from sdeprop.spectra import LogUniform

H_KPC = 4.0
R_DISK_KPC = 10.0 * H_KPC
R_MAX_KPC = 10.0 * R_DISK_KPC
R_TALLY_KPC = 0.7 * R_DISK_KPC
N_Z_BINS = 11
E_MIN_GEV = 10.0
E_MAX_GEV = 10.0 * (1.0 + 1e-5)
DIRECTION = (1.0, 1.0, 2.0)
DIFFUSION = {"D0_cm2_per_s": 3.0e28, "reference_rigidity_GV": 4.0, "delta_par": 0.5, "delta_perp": 0.3,
             "epsilon": 0.05, "beta": True}
N_REPLICAS = 50
PER_REPLICA = 400
N_SIGMA = 4.0
P_TWO_SIDED_4SIGMA = 2 * stats.norm.sf(N_SIGMA)  # 6.3e-5
SEEDS = {"residence_time": 1000, "snapshot": 5000}  # replica k uses seed + k: the two estimators are independent


def diffusion_zz():
    """(D∥, D⊥, D_zz) in kpc²/Myr at the injection energy (the Green's-function test checks diffusion_at)."""
    cfg = load_config({"diffusion": DIFFUSION})
    dpar, dperp = diffusion_at(cfg.diffusion, "proton", [E_MIN_GEV])
    b = np.asarray(DIRECTION) / np.linalg.norm(DIRECTION)
    return dpar[0], dperp[0], dperp[0] + (dpar[0] - dperp[0]) * b[2] ** 2


D_PAR, D_PERP, D_ZZ = diffusion_zz()
T_ESC_MYR = H_KPC**2 / (2.0 * D_ZZ)  # 71.9 Myr


def slab_config(method: str, seed: int) -> dict:
    regime = {"energy_max_GeV": E_MAX_GEV, "t_max_Myr": 12.0 * T_ESC_MYR}
    if method == "snapshot":
        snapshot_dt = T_ESC_MYR / 500.0
        regime["snapshot_dt_Myr"] = snapshot_dt
        dt_max = snapshot_dt
    else:
        dt_max = T_ESC_MYR / 2000.0
    return {
        "run": {"name": f"slab_{method}", "seed": seed, "particles": PER_REPLICA, "batch_size": PER_REPLICA,
                "progress": False},
        "species": {"name": "proton"},
        "energy": {"min_GeV": E_MIN_GEV, "max_GeV": E_MAX_GEV},
        "galaxy": {"halo_height_kpc": H_KPC, "radius_max_kpc": R_MAX_KPC},
        "field": {"model": "uniform", "direction": list(DIRECTION), "strength_uG": 1.0},
        "diffusion": dict(DIFFUSION),
        "source": {"type": "disk", "z_profile": "thin", "radius_kpc": R_DISK_KPC},
        "spectrum": {"type": "log_uniform"},
        "time": {"dt_max_Myr": dt_max, "regimes": [regime]},
        "estimator": {"method": method},
        "tally": [{"type": "cylindrical", "name": "slab", "R_min_kpc": 0.0, "R_max_kpc": R_TALLY_KPC, "R_bins": 1,
                   "z_min_kpc": -H_KPC, "z_max_kpc": H_KPC, "z_bins": N_Z_BINS, "energy_bins": 1}],
    }


def analytic_profile(z_edges):
    """Bin averages of n(z) = Q_A (H − |z|)/(2 D_zz) [kpc⁻³] for unit total rate, Q_A = 1/(π R_d²)."""
    lo, hi = z_edges[:-1], z_edges[1:]
    primitive = 0.5 * z_edges * np.abs(z_edges)  # ∫ |z| dz
    mean_abs_z = np.diff(primitive) / (hi - lo)
    q_a = 1.0 / (math.pi * R_DISK_KPC**2)
    return q_a * (H_KPC - mean_abs_z) / (2.0 * D_ZZ)


def number_density(tally: Tally):
    """Number density [kpc⁻³] and its 1σ error along z: density per GeV × the single bin's ΔE."""
    d = tally.reweight(LogUniform(), rate_per_Myr=1.0)
    de = np.diff(tally.edges["E_GeV"])[0]
    return d.density[0, :, 0] * de, d.uncertainty[0, :, 0] * de


class SlabRun:
    """K replicas of one estimator: per-replica profiles, the merged Tally, final states."""

    def __init__(self, method: str):
        self.method = method
        results = [sdeprop.run(slab_config(method, SEEDS[method] + k), particles=PER_REPLICA, workers=1,
                               progress=False, keep_state=True) for k in range(N_REPLICAS)]
        tallies = [r.tallies["slab"] for r in results]
        self.replica_profiles = np.array([number_density(t)[0] for t in tallies])
        t0 = tallies[0]
        self.merged = Tally(t0.layout, sum(t.sum1 for t in tallies), sum(t.sum2 for t in tallies),
                            sum(t.n_injected for t in tallies), t0.sampler, t0.species, t0.spectrum, t0.rate_per_Myr)
        self.density, self.uncertainty = number_density(self.merged)
        self.z_edges = t0.edges["z_kpc"]
        self.expected = analytic_profile(self.z_edges)
        self.counts = {key: sum(r.counts[key] for r in results) for key in results[0].counts}
        self.final_state = {key: np.concatenate([r.final_state[key] for r in results]) for key in results[0].final_state}


@pytest.fixture(scope="module")
def residence():
    return SlabRun("residence_time")


@pytest.fixture(scope="module")
def snapshot():
    return SlabRun("snapshot")


@pytest.fixture(params=["residence_time", "snapshot"])
def slab(request):
    return request.getfixturevalue({"residence_time": "residence", "snapshot": "snapshot"}[request.param])


def _table(run: SlabRun) -> str:
    pulls = (run.density - run.expected) / run.uncertainty
    rows = [f"  z=[{a:+.2f},{b:+.2f}] n={n:.5e} ± {s:.2e}  analytic={e:.5e}  pull={p:+.2f}"
            for a, b, n, s, e, p in zip(run.z_edges[:-1], run.z_edges[1:], run.density, run.uncertainty,
                                       run.expected, pulls)]
    return "\n".join(rows)


def test_particles_escape_through_the_slab_walls(slab):
    """Every particle leaves through |z| = H before t_max = 12 t_esc, where the slab survival
    S(t) ≈ (4/π) exp(−π² D_zz t/4H²) (PHYSICS.md §8.2) is 5·10⁻⁷: the steady state is complete."""
    n = N_REPLICAS * PER_REPLICA
    assert slab.counts["injected"] == n
    assert slab.counts["escaped_R"] == 0
    assert slab.counts["alive_at_t_max"] + slab.counts["max_steps_reached"] == 0
    assert slab.counts["escaped_z"] == n


def test_profile_matches_analytic_bin_by_bin(slab):
    """n(z) = Q_A (H − |z|)/(2 D_zz), Q_A = 1/(π R_d²), averaged over each z bin, within 4σ per bin."""
    pulls = (slab.density - slab.expected) / slab.uncertainty
    assert np.all(np.abs(pulls) < N_SIGMA), f"{slab.method}: profile vs analytic\n{_table(slab)}"


def test_profile_hotelling(slab):
    """The whole profile agrees with Q_A (H − |z|)/(2 D_zz): Hotelling T² over the 11 correlated bins, p > 1e-3."""
    k, p = slab.replica_profiles.shape
    mean = slab.replica_profiles.mean(axis=0)
    np.testing.assert_allclose(mean, slab.density, rtol=1e-10)  # equal-size replicas: merged = mean of replicas
    cov_of_mean = np.cov(slab.replica_profiles, rowvar=False) / k
    delta = mean - slab.expected
    t2 = float(delta @ np.linalg.solve(cov_of_mean, delta))
    f_stat = (k - p) / (p * (k - 1)) * t2
    p_value = stats.f.sf(f_stat, p, k - p)
    diag_chi2 = float(np.sum((delta / slab.uncertainty) ** 2))
    assert p_value > 1e-3, (f"{slab.method}: Hotelling T² = {t2:.1f} (F = {f_stat:.2f}, p = {p_value:.2e}); "
                            f"diagonal Σ pull² = {diag_chi2:.1f}\n{_table(slab)}")


def test_uncertainty_matches_replica_scatter(slab):
    """The tally's per-history uncertainty agrees with the scatter of the K independent replicas.

    (K − 1) s²/σ² ~ χ²(K − 1) per bin, with s² the replica variance divided by K.
    """
    k = slab.replica_profiles.shape[0]
    s2 = slab.replica_profiles.var(axis=0, ddof=1) / k
    ratio = s2 / slab.uncertainty**2
    lo = stats.chi2.ppf(P_TWO_SIDED_4SIGMA / 2, k - 1) / (k - 1)
    hi = stats.chi2.isf(P_TWO_SIDED_4SIGMA / 2, k - 1) / (k - 1)
    assert np.all((ratio > lo) & (ratio < hi)), f"{slab.method}: replica/tally variance ratios {ratio} outside [{lo:.2f}, {hi:.2f}]"


def test_estimators_agree(residence, snapshot):
    """Residence-time and snapshot steady states agree bin by bin within 4 combined σ (DESIGN.md §3)."""
    diff = residence.density - snapshot.density
    sigma = np.hypot(residence.uncertainty, snapshot.uncertainty)
    pulls = diff / sigma
    assert np.all(np.abs(pulls) < N_SIGMA), (
        f"residence − snapshot pulls {np.array2string(pulls, precision=2)}\n"
        f"residence:\n{_table(residence)}\nsnapshot:\n{_table(snapshot)}")


def test_mean_escape_time(residence):
    """Mean exit time from the disc ⟨t⟩ = H²/(2 D_zz), D_zz = D⊥ + (D∥ − D⊥) cos²θ (PHYSICS.md §8.2, §8.4),
    and ⟨t²⟩ = (5/3) (H²/2D_zz)²."""
    fs = residence.final_state
    escaped = fs["status"] == K.ESCAPED_Z
    assert escaped.all()
    t = fs["time"][escaped]
    se = t.std(ddof=1) / math.sqrt(t.size)
    pull = (t.mean() - T_ESC_MYR) / se
    assert abs(pull) < N_SIGMA, f"<t> = {t.mean():.3f} ± {se:.3f} Myr, expected H²/(2 D_zz) = {T_ESC_MYR:.3f} Myr (pull {pull:+.2f})"
    # second moment: E[τ²] = 2 ∫ t S(t) dt = (5/3) t_esc² from the survival series of PHYSICS.md §8.2
    # (the bias of the recorded exit time, ≈ dt E[τ], is 0.03 % of it against a 1.4 % error)
    t2 = t**2
    se2 = t2.std(ddof=1) / math.sqrt(t.size)
    expected2 = 5.0 / 3.0 * T_ESC_MYR**2
    pull2 = (t2.mean() - expected2) / se2
    assert abs(pull2) < N_SIGMA, f"<t²> = {t2.mean():.1f} ± {se2:.1f} Myr², expected (5/3) t_esc² = {expected2:.1f} (pull {pull2:+.2f})"
