"""Electrons with b = b0 E² from a point source in infinite space: the Syrovatskii solution (docs/physics.md
§8.5).

Oracle (sdeprop.analytic, checked on its own in tests/test_analytic.py).  With D = D0 (E/E_ref)^δ
and b = b0 E², a particle injected at E_s is at E after t = (1/E − 1/E_s)/b0, with a Gaussian
position of variance λ²/2 per coordinate, λ² = 4∫_E^{E_s} D/b dE'.  Hence
* burst at t = 0 with spectrum Q(E_s) [GeV⁻¹]: n = Q(E_s)(E_s/E)² exp(−r²/λ²)/(πλ²)^{3/2},
  E_s = E/(1 − b0 E t) (Atoyan, Aharonian & Völk 1995);
* continuous source Q [GeV⁻¹ Myr⁻¹]: n = (1/b(E)) ∫_E^{E_max} Q(E_s) exp(−r²/λ²)/(πλ²)^{3/2} dE_s.
The tallies average over a volume and a log energy bin, so the oracle is averaged the same way:
over the volume in closed form (ball: erf/exp; ring cell of a cylindrical tally: the kernel
factorises in R and z), over the bin by 32-node Gauss–Legendre in ln E, over E_s by the λ²-space
quadrature of sdeprop.analytic (relative accuracy < 1e-8).

Set-up.  Electrons, b0 = 1e-16 GeV⁻¹ s⁻¹, D0 = 1e28 cm²/s at R0 = 1 GV, δ = 0.5, β factor off,
ε = 1 (D⊥ = D∥, isotropic), H = R_max = 1e4 kpc (no particle comes near a wall: λ ≲ 5 kpc).
Point source at the origin, injection log-uniform in [10, 1000] GeV, reweighted to Q ∝ E^-2
(kinetic energy) with a total rate of 1/Myr (1 particle for the burst), so E_max = 1000 GeV is
the top of the E_s integral.  Energy floor 10 GeV = the lowest tally edge: every particle
ends there before t = (1/10 − 1/1000)/b0 = 31.4 Myr < t_max = 32 Myr (asserted).
Tallies, each with three log bins over 10–316 GeV (λ(E, E_max) = 4.2, 2.9, 1.9 kpc at the bin
centres) and 40 source-energy bins: a ball of radius 0.5 kpc at the source, a ball of radius
1 kpc centred 2 kpc away, and rings 0–1, 1–2, 2–3, 3–4 kpc around the source in the slab
|z| < 0.5 kpc; so distances 0, ~λ/2 and ~λ are covered.  Two runs of 40000 histories:
residence time, and snapshots (Δt = 0.05 Myr) with burst output at t = 1 and 4 Myr.

Kinetic energy and rigidity.  The engine uses b0 T² and D0 (p/R0)^δ with p = √(T(T + 2m_e))
for the kinetic energy T; D differs from D0 (T/R0)^δ by δ m_e/T ≤ 2.6e-5 at T ≥ 10 GeV
(checked below against sdeprop.models.diffusion), negligible.

Time step.  Given a particle's energy history, every position step is an exact Gaussian
increment N(0, 2 D_i dt_i) (isotropic D uniform in space: no drift, no field-step rule, and
the halo-size rule is inactive), and E → E/(1 + b0 E dt) is exact for b ∝ E².  The one bias is
that D is held fixed over a step: the kernel re-evaluates D(E) once ln E has fallen by
numerics.diffusion_energy_tolerance (1e-3) and takes it at E e^{−tol/2}; the loss-limited steps
here (dt = f/(b0 E), time.loss_fraction f = 0.005, so Δln E = 0.005 per step; dt_max = 1 Myr
never binds above 10 GeV) therefore use D at an energy between the step's start and its
middle.  The worst case, D at the start energy, makes Σ 2 D_i dt_i exceed 2∫D dt by
f(1 − δ)/((1 + f)^{1−δ} − 1) ≈ 1 + δf/2 = 1.00125 (with tol = 1e-3 it is ≈ 1 + δ(f − tol)/2 =
1.0010; steps clipped at snapshot or output times are shorter and do better).  λ² ∝ D0, so
the worst-case bias of each compared number is the oracle with D0 × 1.00125 minus the oracle:
computed below for every comparison and asserted to be < 0.3 σ (it is ≤ 0.2 % of the density,
against σ ≈ 1–5 %).
The residence-time estimator scores dt/2 at both ends of a step (trapezoid) and the snapshot
estimator samples at (k + ½)Δt.  Both are accurate when dt is short against the time to diffuse
across a cell, a²/(6D) for the 0.5 kpc ball at the source: dt/(a²/6D) ≤ 0.4 (at 10 GeV; 0.07 at
316 GeV) for the residence steps and Δt = 0.05 Myr ≤ 0.7 for the snapshots, and the integrand
(the probability of being in the ball) starts flat at t = 0, so the endpoint terms of the
quadrature error vanish.  Energy-bin crossings happen at a random phase of the step lattice
(they vary continuously with E_s), which leaves an O(f²) error.  Reweighting: the importance
weight ∝ 1/E0 is applied linearly in ln E0 inside 20-per-decade bins; the quadratic remainder
(≤ 1e-3 within a bin) is orthogonal to constant and linear content, leaving ~1e-4.
Checked empirically (residence time, 400000 histories, σ ≈ 0.35 % in the central cells, other
seeds): f = 0.02, 0.01, 0.005 (also with dt_max = 0.02 Myr) and 0.0025 agree with the oracle
with no trend in f beyond the statistics; f = 0.1 (dt up to 3× the ball's crossing time) puts
5–22 % too much in the 0.5 kpc ball around the source, so these cells do see the time step.

Statistics.  σ is the per-history standard error the result reports.  Every comparison must
satisfy |MC − oracle| < 4σ.  Burst cells are compared where the oracle expects at least 100
pseudo-particles (computed from the oracle with the sampling spectrum, not from the MC);
energy bins lying entirely above the cooled injection limit E_max/(1 + b0 E_max t) must be
exactly empty.  Counts: 18 steady-state comparisons per estimator and ≤ 36 burst
comparisons, ≤ 72 in all; at 6.3e-5 two-sided per 4σ comparison the false-alarm rate of the
module is ≤ 4.6e-3 (union bound, whatever the correlations between comparisons).  Seeds are
fixed.

Sensitivity (checked by scaling the oracle's parameters, not the engine's): D0 × 1.1 or × 0.9
fails all three comparison tests (largest pull ≈ 10σ, 26–30 comparisons beyond 4σ), and so
does D0 × 1.05 (6σ); b0 × 1.1 or × 0.9 fails both steady-state tests (9–11σ) and b0 × 1.05
still fails them (5.6σ).  The burst at 1 and 4 Myr depends on b0 only through the cooling
E_s = E/(1 − b0 E t) and needs b0 × 1.2 to fail on its own (5σ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sdeprop
from sdeprop import analytic as A
from sdeprop.config import load_config
from sdeprop.models.diffusion import diffusion_at
from sdeprop.spectra import PowerLaw

# docs/physics.md §0.1 constants (independent of sdeprop.units)
KPC_CM = 3.0857e21
MYR_S = 3.1558e13

B0_PER_GEV_PER_S = 1e-16
D0_CM2_PER_S = 1e28
E_REF_GV = 1.0
DELTA = 0.5
D0 = D0_CM2_PER_S * MYR_S / KPC_CM**2  # kpc²/Myr
B0 = B0_PER_GEV_PER_S * MYR_S  # GeV⁻¹ Myr⁻¹

E_MIN, E_MAX = 10.0, 1000.0
E_TALLY_MAX = 10**2.5
ENERGY_BINS = 3
SOURCE_ENERGY_BINS = 40
LOSS_FRACTION = 0.005
T_MAX = 32.0
SNAPSHOT_DT = 0.05
OUTPUT_TIMES = (1.0, 4.0)
N_PARTICLES = 40_000
SEEDS = {"residence_time": 4101, "snapshot": 4102}
INDEX = 2.0
SPECTRUM = PowerLaw(INDEX, "kinetic_energy")
N_SIGMA = 4.0
MIN_EXPECTED_COUNT = 100.0
# worst-case Σ D dt / ∫ D dt over a history (D taken at each step's start energy; module docstring)
BIAS_FACTOR = LOSS_FRACTION * (1 - DELTA) / ((1 + LOSS_FRACTION) ** (1 - DELTA) - 1)

BALLS = {"ball_r0": ((0.0, 0.0, 0.0), 0.5), "ball_r2": ((0.0, 2.0, 0.0), 1.0)}
RING_EDGES = np.arange(5.0)
Z_HALF = 0.5


def make_config(method: str) -> dict:
    common = {
        "energy_min_GeV": E_MIN,
        "energy_max_GeV": E_TALLY_MAX,
        "energy_bins": ENERGY_BINS,
        "source_energy_bins": SOURCE_ENERGY_BINS,
    }
    tallies = [
        {"name": name, "type": "sphere", "center_kpc": list(c), "radius_kpc": a, **common}
        for name, (c, a) in BALLS.items()
    ]
    tallies.append(
        {
            "name": "rings",
            "type": "cylindrical",
            "R_min_kpc": RING_EDGES[0],
            "R_max_kpc": RING_EDGES[-1],
            "R_bins": len(RING_EDGES) - 1,
            "z_min_kpc": -Z_HALF,
            "z_max_kpc": Z_HALF,
            "z_bins": 1,
            **common,
        }
    )
    estimator = {"method": method}
    if method == "snapshot":
        estimator["output_times_Myr"] = list(OUTPUT_TIMES)
    return {
        "run": {"seed": SEEDS[method], "particles": N_PARTICLES, "batch_size": 10_000, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": E_MIN, "max_GeV": E_MAX},
        "galaxy": {"halo_height_kpc": 1e4, "radius_max_kpc": 1e4},
        "field": {"model": "uniform"},
        "diffusion": {
            "D0_cm2_per_s": D0_CM2_PER_S,
            "reference_rigidity_GV": E_REF_GV,
            "delta_par": DELTA,
            "epsilon": 1.0,
            "beta": False,
        },
        "losses": {"model": "quadratic", "b0_per_GeV_per_s": B0_PER_GEV_PER_S, "energy_floor_GeV": E_MIN},
        "time": {
            "loss_fraction": LOSS_FRACTION,
            "dt_max_Myr": 1.0,
            "regimes": [{"energy_max_GeV": E_MAX, "t_max_Myr": T_MAX, "snapshot_dt_Myr": SNAPSHOT_DT}],
        },
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "estimator": estimator,
        "tally": tallies,
    }


def _run(method):
    res = sdeprop.run(make_config(method), workers=1, progress=False)
    c = res.counts
    assert c["below_energy_floor"] == N_PARTICLES, (
        c
    )  # every history complete: cooled to the floor before t_max
    return res


@pytest.fixture(scope="module")
def residence_run():
    return _run("residence_time")


@pytest.fixture(scope="module")
def snapshot_run():
    return _run("snapshot")


def source_rate(E):
    """Q(E_s) [GeV⁻¹ Myr⁻¹] ∝ E^-2 on [E_MIN, E_MAX], total rate 1/Myr (the reweighting's normalisation)."""
    E = np.asarray(E, dtype=float)
    norm = (INDEX - 1) / (E_MIN ** (1 - INDEX) - E_MAX ** (1 - INDEX))
    return np.where((E >= E_MIN) & (E <= E_MAX), norm * E**-INDEX, 0.0)


def sampling_count(E):
    """Pseudo-particles per GeV of source energy: N g(E) for log-uniform sampling (for expected counts)."""
    E = np.asarray(E, dtype=float)
    return np.where((E >= E_MIN) & (E <= E_MAX), N_PARTICLES / (E * math.log(E_MAX / E_MIN)), 0.0)


def cells():
    """(label, tally, index into the spatial axes, kernel average K̄(λ²), length scale [kpc], volume
    [kpc³])."""
    out = []
    for name, (c, a) in BALLS.items():
        d = float(np.linalg.norm(c))
        out.append(
            (
                f"{name} (d={d:g}, a={a:g})",
                name,
                (),
                lambda v, d=d, a=a: A.gaussian_kernel_sphere_average_per_kpc3(d, a, v),
                max(d, a),
                4 / 3 * math.pi * a**3,
            )
        )
    for j, (r1, r2) in enumerate(zip(RING_EDGES[:-1], RING_EDGES[1:])):
        out.append(
            (
                f"ring {r1:g}-{r2:g} kpc",
                "rings",
                (j, 0),
                lambda v, r1=r1, r2=r2: A.gaussian_kernel_ring_average_per_kpc3(r1, r2, -Z_HALF, Z_HALF, v),
                r2,
                math.pi * (r2**2 - r1**2) * 2 * Z_HALF,
            )
        )
    return out


def steady_oracle(kernel, length, edges, d0=D0):
    """Bin- and volume-averaged steady density [kpc⁻³ GeV⁻¹] per energy bin."""
    return A.energy_bin_average(
        lambda E: A.syrovatskii_steady_region_average(
            kernel, length, E, source_rate, E_MAX, d0, E_REF_GV, DELTA, B0
        ),
        edges[:-1],
        edges[1:],
    )


def burst_oracle(kernel, edges, t, Q=source_rate, d0=D0):
    """Bin- and volume-averaged burst density at time t per energy bin (0 outside the cooled injection
    range)."""
    support = (E_MIN / (1 + B0 * E_MIN * t), E_MAX / (1 + B0 * E_MAX * t))
    return A.energy_bin_average(
        lambda E: A.syrovatskii_burst_region_average(kernel, E, t, Q, d0, E_REF_GV, DELTA, B0),
        edges[:-1],
        edges[1:],
        support_GeV=support,
    )


def check(rows, title):
    """rows: (label, MC, σ, oracle, time-step bias).  Print the table; assert 4σ and the bias bound."""
    lines = [
        f"{title}: {len(rows)} comparisons",
        f"{'cell':32s} {'E bin [GeV]':>14s} {'MC/oracle':>10s} {'σ/oracle':>9s} {'pull':>6s} {'bias/σ':>7s}",
    ]
    bad = []
    for label, ebin, got, err, ex, bias in rows:
        pull = (got - ex) / err
        lines.append(
            f"{label:32s} {ebin:>14s} {got / ex:10.4f} {err / ex:9.4f} {pull:6.2f} {bias / err:7.3f}"
        )
        if not abs(got - ex) < N_SIGMA * err or not abs(bias) < 0.3 * err:
            bad.append(label + " " + ebin)
    msg = "\n".join(lines)
    print(msg)
    assert not bad, f"failed: {bad}\n{msg}"


def _ebin_labels(edges):
    return [f"{lo:.3g}-{hi:.3g}" for lo, hi in zip(edges[:-1], edges[1:])]


def test_engine_diffusion_is_the_oracle_power_law():
    """The engine's D(T) for electrons (rigidity, β off) equals D0 (T/R0)^δ to < 3e-5 over the tally range."""
    T = np.geomspace(E_MIN, E_MAX, 7)
    dpar, dperp = diffusion_at(load_config(make_config("residence_time")).diffusion, "electron", T)
    np.testing.assert_allclose(dpar, D0 * (T / E_REF_GV) ** DELTA, rtol=3e-5)
    np.testing.assert_array_equal(dperp, dpar)


def _steady_rows(result):
    rows = []
    for label, name, idx, kern, length, _ in cells():
        tally = result.tallies[name]
        d = tally.reweight(SPECTRUM, 1.0)
        edges = tally.edges["E_GeV"]
        exact = steady_oracle(kern, length, edges)
        bias = steady_oracle(kern, length, edges, d0=D0 * BIAS_FACTOR) - exact
        for k, eb in enumerate(_ebin_labels(edges)):
            rows.append((label, eb, d.density[idx][k], d.uncertainty[idx][k], exact[k], bias[k]))
    return rows


def test_steady_state_residence_time(residence_run):
    """Continuous point source, residence-time estimator: every cell and energy bin within 4σ of the
    oracle."""
    check(_steady_rows(residence_run), "steady state, residence time")


def test_steady_state_snapshots(snapshot_run):
    """Continuous point source, snapshot estimator (Σ Δt G(t_k)): every cell and energy bin within 4σ of the
    oracle."""
    check(_steady_rows(snapshot_run), "steady state, snapshots")


def test_burst_snapshots(snapshot_run):
    """Point burst at t = 0: densities at t = 1 and 4 Myr within 4σ of the burst oracle; empty above the
    cut-off."""
    rows, empty = [], []
    for label, name, idx, kern, _, volume in cells():
        tally = snapshot_run.tallies[name]
        d = tally.reweight(SPECTRUM, 1.0)
        edges = tally.edges["E_GeV"]
        de = np.diff(edges)
        for k_t, t in enumerate(OUTPUT_TIMES):
            exact = burst_oracle(kern, edges, t)
            bias = burst_oracle(kern, edges, t, d0=D0 * BIAS_FACTOR) - exact
            count = burst_oracle(kern, edges, t, Q=sampling_count) * volume * de
            got, err = d.burst_density[k_t][idx], d.burst_uncertainty[k_t][idx]
            for k, eb in enumerate(_ebin_labels(edges)):
                if edges[k] >= E_MAX / (1 + B0 * E_MAX * t):
                    empty.append((label, t, eb, got[k]))
                elif count[k] >= MIN_EXPECTED_COUNT:
                    rows.append((f"{label} t={t:g}", eb, got[k], err[k], exact[k], bias[k]))
    assert empty and all(g == 0.0 for *_, g in empty), empty
    assert len(rows) >= 20, len(rows)
    check(rows, "burst snapshots")
