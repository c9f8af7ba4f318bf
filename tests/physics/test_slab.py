"""Slab halo with free escape at |z| = H and a thin-disc source (docs/physics.md §8.2, §8.4; docs/design.md
§3, §7).

Oracles
-------
* Steady state for a surface source Q_A at z = 0 and a constant tensor:
  n(z) = Q_A (H − |z|) / (2 D_zz), with D_zz = D⊥ + (D∥ − D⊥) cos²θ for a field at angle θ to z.
  Here Q_A = 1/(π R_d²) per kpc² per Myr (unit total rate over a disc of radius R_d).
* Mean exit time from the disc (z₀ = 0): ⟨t⟩ = H² / (2 D_zz)  (= t_esc below); and
  ⟨t²⟩ = 2 ∫ t S(t) dt = (5/3) t_esc² from the survival series S(t) of §8.2.  Exit times
  recorded at the end of a step of length dt add the exact offsets given under "Time steps".
* The residence-time and the burst-snapshot estimators give the same steady state.

Set-up
------
H = 4 kpc, R_d = 10 H, R_max = 10 R_d, uniform field b̂ ∝ (1, 1, 2) (cos²θ = 2/3, horizontal
component along x = y), ε = 0.05, δ∥ = 0.5, δ⊥ = 0.3, protons injected in [10, 10.0001] GeV,
one energy bin, so density × ΔE is the number density [kpc⁻³].  Tally: R < 0.7 R_d,
z ∈ [−H, H] in 11 bins (odd, so that the source plane z = 0 lies inside the central bin, not
on an edge).  The analytic profile is averaged over each bin (exactly: the mean of |z|).

The residence-time runs also fill a "column" tally: the same 11 z bins over the whole
halo, R < R_max.  Integrated over the plane the problem is exactly the 1D slab, whatever
the source shape and the lateral diffusion, because no particle reaches R_max (checked:
escaped_R = 0; R_max − R_d = 360 kpc is more than 15 lateral spreads sqrt(2 D∥ t_max)).
Its oracle is therefore n(z) = (H − |z|)/(2 D_zz)/(π R_max²) per unit total rate, with no
edge term.  It also avoids the binomial scatter in how many histories start inside
R < 0.7 R_d.  The per-history relative spread of its central bin is 0.99, against 1.71 for
the "slab" tally, so it needs 3 times fewer histories for the same error.

Lateral edge of the source: the tally stops 3 H inside the disc edge.  Shearing
h' = h − (D_hz/D_zz) z (h the horizontal direction of b̂) diagonalises the tensor without
moving the slab walls or the source; the edge deficit then decays as exp(−d/λ) with
λ = (2H/π) sqrt(D_eff/D_zz) ≈ 0.8 kpc, D_eff = D_hh − D_hz²/D_zz, over d ≥ 12 − 2.7 kpc:
below 10⁻⁵ of n.  The 1D slab answer is exact to that level in the tally.

Time steps and quadrature (every bias ≤ 0.06 σ)
-----------------------------------------------
For a constant tensor the Euler–Maruyama chain is exact at the step ends, and the Brownian
bridge makes the killing at the walls exact too (given both ends of a step, the z path is a
1D bridge with D_zz whatever x and y do), so the only biases are those of the time
quadrature of each estimator.  f(t) = P(X_t in a bin, not escaped) below.

* Residence time (docs/design.md §3: each step adds w·dt to the cell the particle occupies) runs
  with the *default* step control: step_fraction = 0.1 gives dt = 0.01 H²/(2 D∥)
  = t_esc/147 = 0.49 Myr, below the default dt_max = 1 Myr and the same for every step
  here.  The kernel splits each step's w·dt by the trapezoid rule: half is scored at the
  point where the step starts, half at the point where it ends (that half goes in with the
  next step's score; it is dropped if the step escapes, because f counts only particles
  still inside).  The expected score is then dt Σ_{k≥0} f(k dt) − (dt/2) f(0), which by
  Euler–Maclaurin differs from ∫ f dt only through the odd derivatives of f at t = 0.  They
  all vanish, because the source sits 0.36 kpc inside the central bin and f is flat at
  t = 0.  What is left is smaller than any power of dt, but not zero, because
  sqrt(2 D_zz dt) = 0.33 kpc is close to that 0.36 kpc.  Summing the eigen-series of
  docs/physics.md §8.2 at the step ends gives +1.6·10⁻⁴ of the central bin, −9.4·10⁻⁵ of its two
  neighbours and < 3·10⁻⁶ elsewhere: ≤ 0.06 σ.
* The old failure mode: scoring all of w·dt at the start of each step (a left Riemann sum)
  adds +dt/2 to every history's score in the source bin, +1.96 % of the central bin at this
  dt (+1.98 % in all, with the residual above).  test_no_source_bin_excess_at_default_step
  looks for it in the "column" tally, where it would be 6.9 σ.
* The recorded exit time is the end of the last step, t = N dt with P(N > k) = S(k dt)
  exactly.  So ⟨t⟩ = dt Σ_{k≥0} S(k dt) = t_esc + dt/2 and
  ⟨t²⟩ = dt² Σ_{k≥0} (2k + 1) S(k dt) = (5/3) t_esc² + dt t_esc + dt²/3, with no further
  terms because S is flat at t = 0 (the eigen-series sums agree to 10⁻¹⁴).  These are the
  expectations that test_mean_escape_time uses: the offsets, +0.34 % and +0.41 %, are 1.4 σ
  and 0.7 σ there.
* Measured while writing this version (2·10⁶ histories at the default dt = t_esc/147): the
  11-bin central bin came out +0.10 ± 0.12 % against the analytic value (predicted
  +0.016 %; with left-point scoring this had been +2.1 ± 0.3 %, predicted +1.98 %), and
  ⟨t⟩ = t_esc × (1 + 0.351 ± 0.058 %) against +0.340 %.  A coarse control run at
  dt = t_esc/40 (10⁶ histories) matched the predicted trapezoid residuals: +1.38 ± 0.17 %
  in the central bin (predicted +1.39 %; left-point would give +8.6 %), −0.95 and
  −1.05 ± 0.19 % in its neighbours (predicted −0.84 %), and ⟨t⟩ +1.256 ± 0.082 %
  (predicted +1.250 %).
* Snapshots score w·Δt at the midpoints (k + ½)Δt: a midpoint rule, no O(Δt) term, and
  the O(Δt²) term is proportional to the time derivative of the occupation at t = 0, which
  vanishes (the source sits inside a bin).  Δt = t_esc/500 moves a particle by
  sqrt(2 D_zz Δt) = 0.045 H, a quarter of a bin; dt_max = Δt (the chain is exact at any step
  size, so one step per snapshot suffices).  Summing the exact eigen-series of §8.2 at
  these midpoints differs from the integral by at most 2.2·10⁻⁵ (central bin).
* t_max = 18 t_esc for both: the survival probability (4/π) exp(−π² D_zz t/4H²) is
  2.9·10⁻¹⁰ there, so the steady state misses a fraction 2.3·10⁻¹⁰ of its integral.  The
  chance that any of the 1.4·10⁵ histories is still alive at t_max is 4·10⁻⁵; that would fail
  test_particles_escape_through_the_slab_walls.  At 12 t_esc it would be 6 %.  Apart from
  such survivors, runs do not depend on t_max.

Statistics
----------
Each estimator runs as K = 50 independent replicas (seeds seed0 + k).  Residence time uses
2400 particles per replica (120000 histories) and snapshot 400 per replica (20000 histories,
each with about 3.4 times as many steps).  The replicas' tallies are merged into one Tally
per estimator, which is what a single run would give, up to the random streams.  Per-bin
checks use that Tally's own uncertainty.

The z bins are strongly correlated (one history spends time in many bins: neighbouring
bins have correlation 0.7–0.9, both from Kac's moment formula for killed Brownian motion
and from the replica scatter), so Σ pull² is *not* χ²(11)-distributed: with the nominal
chi2.sf(·, 11) > 10⁻³ cut its false-alarm rate would be ≈ 4 %, not 0.1 %.  The profile-wide test therefore
uses
Hotelling's T² with the covariance estimated from the replicas:
(K − p)/(p (K − 1)) T² ~ F(p, K − p), p = 11 bins, which is exactly calibrated whatever the
correlations.  The diagonal Σ pull² is reported in the failure message for information.

False-alarm rate for a correct code (union bound): 4σ two-sided is 6.3·10⁻⁵ per check.
11 bins × 2 estimators + 11 estimator comparisons + ⟨t⟩ and ⟨t²⟩ + the column-tally source bin
= 36 checks → 2.3·10⁻³.  2 Hotelling tests at p > 10⁻³ → 2·10⁻³.  22 uncertainty-vs-replica-
scatter checks at a two-sided 6.3·10⁻⁵ → 1.4·10⁻³.  A survivor at t_max → 4·10⁻⁵.  In all
≈ 6·10⁻³ per run of this module.  The sensitivity guard of the source-bin test (left-point
excess ≥ 5 σ, expected 6.9 σ) depends only on the spread of the estimated σ, well under
1 %, so in practice it never fails.  Seeds are fixed.
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
DIFFUSION = {
    "D0_cm2_per_s": 3.0e28,
    "reference_rigidity_GV": 4.0,
    "delta_par": 0.5,
    "delta_perp": 0.3,
    "epsilon": 0.05,
    "beta": True,
}
N_REPLICAS = 50
PER_REPLICA = {"residence_time": 2400, "snapshot": 400}
N_SIGMA = 4.0
P_TWO_SIDED_4SIGMA = 2 * stats.norm.sf(N_SIGMA)  # 6.3e-5
SEEDS = {
    "residence_time": 1000,
    "snapshot": 5000,
}  # replica k uses seed + k: the two estimators are independent


def diffusion_zz():
    """(D∥, D⊥, D_zz) in kpc²/Myr at the injection energy (the Green's-function test checks diffusion_at)."""
    cfg = load_config({"diffusion": DIFFUSION})
    dpar, dperp = diffusion_at(cfg.diffusion, "proton", [E_MIN_GEV])
    b = np.asarray(DIRECTION) / np.linalg.norm(DIRECTION)
    return dpar[0], dperp[0], dperp[0] + (dpar[0] - dperp[0]) * b[2] ** 2


D_PAR, D_PERP, D_ZZ = diffusion_zz()
T_ESC_MYR = H_KPC**2 / (2.0 * D_ZZ)  # 71.9 Myr
T_MAX_MYR = 18.0 * T_ESC_MYR


def default_time_step():
    """The residence-time step: the default step control (dt_max, step_fraction) of the config,
    sqrt(2 D∥ dt) = step_fraction × min(H, R_max) for a uniform field (docs/design.md §2), = t_esc/147."""
    time = load_config({}).time
    return min(time.dt_max_Myr, time.step_fraction**2 * min(H_KPC, R_MAX_KPC) ** 2 / (2.0 * D_PAR))


DT_RESIDENCE_MYR = default_time_step()  # 0.489 Myr


def slab_config(method: str, seed: int) -> dict:
    regime = {"energy_max_GeV": E_MAX_GEV, "t_max_Myr": T_MAX_MYR}
    time = {"regimes": [regime]}  # residence time: the default step control
    tallies = [
        {
            "type": "cylindrical",
            "name": "slab",
            "R_min_kpc": 0.0,
            "R_max_kpc": R_TALLY_KPC,
            "R_bins": 1,
            "z_min_kpc": -H_KPC,
            "z_max_kpc": H_KPC,
            "z_bins": N_Z_BINS,
            "energy_bins": 1,
        }
    ]
    if method == "snapshot":
        snapshot_dt = T_ESC_MYR / 500.0
        regime["snapshot_dt_Myr"] = snapshot_dt
        time["dt_max_Myr"] = snapshot_dt
    else:
        # the whole halo R < R_max: exactly the 1D slab, for the source-bin check
        tallies.append(
            {
                "type": "cylindrical",
                "name": "column",
                "R_bins": 1,
                "z_min_kpc": -H_KPC,
                "z_max_kpc": H_KPC,
                "z_bins": N_Z_BINS,
                "energy_bins": 1,
            }
        )
    n = PER_REPLICA[method]
    return {
        "run": {"name": f"slab_{method}", "seed": seed, "particles": n, "batch_size": n, "progress": False},
        "species": {"name": "proton"},
        "energy": {"min_GeV": E_MIN_GEV, "max_GeV": E_MAX_GEV},
        "galaxy": {"halo_height_kpc": H_KPC, "radius_max_kpc": R_MAX_KPC},
        "field": {"model": "uniform", "direction": list(DIRECTION), "strength_uG": 1.0},
        "diffusion": dict(DIFFUSION),
        "source": {"type": "disk", "z_profile": "thin", "radius_kpc": R_DISK_KPC},
        "spectrum": {"type": "log_uniform"},
        "time": time,
        "estimator": {"method": method},
        "tally": tallies,
    }


def analytic_profile(z_edges, radius_kpc=R_DISK_KPC):
    """Bin averages of n(z) = Q_A (H − |z|)/(2 D_zz) [kpc⁻³] for unit total rate, Q_A = 1/(π radius²).

    radius = R_d for the slab tally (inside the source disc); R_max for the column tally
    (averaged over the whole halo, where ∫ n dA = (H − |z|)/(2 D_zz) exactly).
    """
    lo, hi = z_edges[:-1], z_edges[1:]
    primitive = 0.5 * z_edges * np.abs(z_edges)  # ∫ |z| dz
    mean_abs_z = np.diff(primitive) / (hi - lo)
    q_a = 1.0 / (math.pi * radius_kpc**2)
    return q_a * (H_KPC - mean_abs_z) / (2.0 * D_ZZ)


def number_density(tally: Tally):
    """Number density [kpc⁻³] and its 1σ error along z: density per GeV × the single bin's ΔE."""
    d = tally.reweight(LogUniform(), rate_per_Myr=1.0)
    de = np.diff(tally.edges["E_GeV"])[0]
    return d.density[0, :, 0] * de, d.uncertainty[0, :, 0] * de


def merge(tallies) -> Tally:
    """One Tally from the same tally of independent runs: the per-history moment sums and the
    history counts add."""
    t0 = tallies[0]
    return Tally(
        t0.layout,
        sum(t.sums for t in tallies),
        sum(t.n_injected for t in tallies),
        t0.sampler,
        t0.species,
        t0.spectrum,
        t0.rate_per_Myr,
    )


class SlabRun:
    """K replicas of one estimator: per-replica profiles, the merged Tallies, final states."""

    def __init__(self, method: str):
        self.method = method
        self.n_histories = N_REPLICAS * PER_REPLICA[method]
        results = [
            sdeprop.run(
                slab_config(method, SEEDS[method] + k),
                particles=PER_REPLICA[method],
                workers=1,
                progress=False,
                keep_state=True,
            )
            for k in range(N_REPLICAS)
        ]
        tallies = [r.tallies["slab"] for r in results]
        self.replica_profiles = np.array([number_density(t)[0] for t in tallies])
        self.merged = merge(tallies)
        self.density, self.uncertainty = number_density(self.merged)
        self.z_edges = tallies[0].edges["z_kpc"]
        self.expected = analytic_profile(self.z_edges)
        self.column = (
            merge([r.tallies["column"] for r in results]) if "column" in results[0].tallies else None
        )
        self.counts = {key: sum(r.counts[key] for r in results) for key in results[0].counts}
        self.final_state = {
            key: np.concatenate([r.final_state[key] for r in results]) for key in results[0].final_state
        }


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
    rows = [
        f"  z=[{a:+.2f},{b:+.2f}] n={n:.5e} ± {s:.2e}  analytic={e:.5e}  pull={p:+.2f}"
        for a, b, n, s, e, p in zip(
            run.z_edges[:-1], run.z_edges[1:], run.density, run.uncertainty, run.expected, pulls
        )
    ]
    return "\n".join(rows)


def test_particles_escape_through_the_slab_walls(slab):
    """Every particle leaves through |z| = H before t_max = 18 t_esc, where the slab survival
    S(t) ≈ (4/π) exp(−π² D_zz t/4H²) (docs/physics.md §8.2) is 2.9·10⁻¹⁰: the steady state is complete."""
    n = slab.n_histories
    assert slab.counts["injected"] == n
    assert slab.counts["escaped_R"] == 0
    assert slab.counts["alive_at_t_max"] + slab.counts["max_steps_reached"] == 0
    assert slab.counts["escaped_z"] == n


def test_profile_matches_analytic_bin_by_bin(slab):
    """n(z) = Q_A (H − |z|)/(2 D_zz), Q_A = 1/(π R_d²), averaged over each z bin, within 4σ per bin."""
    pulls = (slab.density - slab.expected) / slab.uncertainty
    assert np.all(np.abs(pulls) < N_SIGMA), f"{slab.method}: profile vs analytic\n{_table(slab)}"


def test_profile_hotelling(slab):
    """The whole profile agrees with Q_A (H − |z|)/(2 D_zz): Hotelling T² over the 11 correlated bins, p >
    1e-3."""
    k, p = slab.replica_profiles.shape
    mean = slab.replica_profiles.mean(axis=0)
    np.testing.assert_allclose(
        mean, slab.density, rtol=1e-10
    )  # equal-size replicas: merged = mean of replicas
    cov_of_mean = np.cov(slab.replica_profiles, rowvar=False) / k
    delta = mean - slab.expected
    t2 = float(delta @ np.linalg.solve(cov_of_mean, delta))
    f_stat = (k - p) / (p * (k - 1)) * t2
    p_value = stats.f.sf(f_stat, p, k - p)
    diag_chi2 = float(np.sum((delta / slab.uncertainty) ** 2))
    assert p_value > 1e-3, (
        f"{slab.method}: Hotelling T² = {t2:.1f} (F = {f_stat:.2f}, p = {p_value:.2e}); "
        f"diagonal Σ pull² = {diag_chi2:.1f}\n{_table(slab)}"
    )


def test_uncertainty_matches_replica_scatter(slab):
    """The tally's per-history uncertainty agrees with the scatter of the K independent replicas.

    (K − 1) s²/σ² ~ χ²(K − 1) per bin, with s² the replica variance divided by K.
    """
    k = slab.replica_profiles.shape[0]
    s2 = slab.replica_profiles.var(axis=0, ddof=1) / k
    ratio = s2 / slab.uncertainty**2
    lo = stats.chi2.ppf(P_TWO_SIDED_4SIGMA / 2, k - 1) / (k - 1)
    hi = stats.chi2.isf(P_TWO_SIDED_4SIGMA / 2, k - 1) / (k - 1)
    assert np.all((ratio > lo) & (ratio < hi)), (
        f"{slab.method}: replica/tally variance ratios {ratio} outside [{lo:.2f}, {hi:.2f}]"
    )


def test_estimators_agree(residence, snapshot):
    """Residence-time and snapshot steady states agree bin by bin within 4 combined σ (docs/design.md §3)."""
    diff = residence.density - snapshot.density
    sigma = np.hypot(residence.uncertainty, snapshot.uncertainty)
    pulls = diff / sigma
    assert np.all(np.abs(pulls) < N_SIGMA), (
        f"residence − snapshot pulls {np.array2string(pulls, precision=2)}\n"
        f"residence:\n{_table(residence)}\nsnapshot:\n{_table(snapshot)}"
    )


def test_mean_escape_time(residence):
    """Mean exit time from the disc ⟨t⟩ = H²/(2 D_zz), D_zz = D⊥ + (D∥ − D⊥) cos²θ
    (docs/physics.md §8.2, §8.4), and ⟨t²⟩ = (5/3) (H²/2D_zz)².  Exit times are recorded at the end
    of a step of length dt, so ⟨t⟩ = t_esc + dt/2 and ⟨t²⟩ = (5/3) t_esc² + dt t_esc + dt²/3
    exactly (module docstring, "Time steps")."""
    fs = residence.final_state
    escaped = fs["status"] == K.ESCAPED_Z
    assert escaped.all()
    t = fs["time"][escaped]
    dt = DT_RESIDENCE_MYR
    se = t.std(ddof=1) / math.sqrt(t.size)
    expected = T_ESC_MYR + 0.5 * dt
    pull = (t.mean() - expected) / se
    assert abs(pull) < N_SIGMA, (
        f"<t> = {t.mean():.3f} ± {se:.3f} Myr, expected H²/(2 D_zz) + dt/2 "
        f"= {T_ESC_MYR:.3f} + {0.5 * dt:.3f} Myr (pull {pull:+.2f})"
    )
    # second moment: E[τ²] = 2 ∫ t S(t) dt = (5/3) t_esc² from the survival series of docs/physics.md §8.2
    t2 = t**2
    se2 = t2.std(ddof=1) / math.sqrt(t.size)
    expected2 = 5.0 / 3.0 * T_ESC_MYR**2 + dt * T_ESC_MYR + dt**2 / 3.0
    pull2 = (t2.mean() - expected2) / se2
    assert abs(pull2) < N_SIGMA, (
        f"<t²> = {t2.mean():.1f} ± {se2:.1f} Myr², "
        f"expected (5/3) t_esc² + dt t_esc + dt²/3 = {expected2:.1f} (pull {pull2:+.2f})"
    )


def test_no_source_bin_excess_at_default_step(residence):
    """Residence time at the default step control puts no O(dt) excess into the source bin.

    Left-point scoring of w·dt would add dt/2 to every history's score in the bin holding the
    source (+1.96 % of the central bin at dt = t_esc/147); the trapezoid scoring leaves
    +1.6·10⁻⁴ (module docstring, "Time steps").  Checked in the column tally (the whole halo:
    exactly the 1D slab), with enough histories that the left-point excess would be ≥ 5σ.
    """
    fs = residence.final_state
    # every step of every history had the default length dt (t = steps × dt; nothing was cut at t_max).
    # dt ∝ 1/D∥ ∝ E^(−δ∥) moves by < 5·10⁻⁶ across the injection band [10, 10.0001] GeV.
    np.testing.assert_allclose(fs["time"], fs["steps"] * DT_RESIDENCE_MYR, rtol=1e-5)
    assert DT_RESIDENCE_MYR > T_ESC_MYR / 200.0  # the default step, not a refined one (t_esc/147)
    density, uncertainty = number_density(residence.column)
    z_edges = residence.column.edges["z_kpc"]
    expected = analytic_profile(z_edges, radius_kpc=R_MAX_KPC)
    c = N_Z_BINS // 2
    assert z_edges[c] < 0.0 < z_edges[c + 1]
    width = z_edges[c + 1] - z_edges[c]
    # left-point excess: dt/2 per history (unit total rate) spread over the bin's volume π R_max² Δz
    left_point_excess = 0.5 * DT_RESIDENCE_MYR / (math.pi * R_MAX_KPC**2 * width)
    report = (
        f"central column bin n = {density[c]:.5e} ± {uncertainty[c]:.2e} kpc⁻³, analytic {expected[c]:.5e} "
        f"({100 * (density[c] / expected[c] - 1):+.3f} ± {100 * uncertainty[c] / expected[c]:.3f} %); "
        f"left-point scoring would add {100 * left_point_excess / expected[c]:+.2f} % "
        f"= {left_point_excess / uncertainty[c]:.1f} σ"
    )
    assert left_point_excess >= 5.0 * uncertainty[c], (
        "too few histories to see the left-point excess: " + report
    )
    pull = (density[c] - expected[c]) / uncertainty[c]
    assert abs(pull) < N_SIGMA, f"pull {pull:+.2f}: " + report
