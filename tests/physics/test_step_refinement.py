"""Step refinement (numerics.step_refinement) and the step cap time.max_step_kpc
(docs/numerics.md "Step refinement", "Convergence in realistic fields").

Oracle for the refinement: the closed box (tests/physics/test_closed_box.py).  With zero-flux
walls a uniform density stays uniform under ∇·(D∇ψ) for any tensor field, so Pearson's χ² of the
final cell counts against the uniform expectation follows χ²_196.  Refinement halves a step by a
Brownian-bridge draw of its midpoint, so the Brownian path keeps its law; the test checks that the
scheme on these path-dependent grids still solves the divergence-form equation, in UF23 (whose
direction changes over 0.1–1 kpc, so many steps are halved).  The kernel's random buffer is made
so small that it runs out every few steps: a particle is then stopped with halves still pending
and resumed after the refill, which the test thus exercises thousands of times.
"""

from __future__ import annotations

import math

import numpy as np

import sdeprop
from sdeprop import engine
from sdeprop import kernel as K
from sdeprop.units import KPC2_PER_MYR_IN_CM2_PER_S
from sdeprop.validation import closed_box_check

P_FAIL = 1e-3


def test_refined_steps_keep_uniform_density_uniform_in_uf23(monkeypatch):
    room = K.normals_per_step(K.INTEGRATOR_EM, 1.5)
    monkeypatch.setattr(engine, "NORMAL_BUFFER", 4 * room)
    check = closed_box_check(
        {"model": "uf23", "variant": "base"},
        10_000,
        seed=11,
        time={"min_step_kpc": 0.02},
        numerics={"step_refinement": 1.5},
    )
    assert check.result.counts["alive_at_t_max"] == 10_000
    assert check.p_value > P_FAIL, (check.chi2, check.ratio.min(), check.ratio.max())


def _uniform_run(**time):
    """Particles in a uniform field that never reach the walls within t_max = 1 Myr."""
    d_par = 1.0  # kpc²/Myr
    cfg = {
        "run": {"particles": 20, "batch_size": 20, "seed": 3, "progress": False, "max_cpu_hours": 0},
        "energy": {"min_GeV": 100.0, "max_GeV": 101.0},
        "galaxy": {"halo_height_kpc": 30.0, "radius_max_kpc": 30.0},
        "field": {"model": "uniform", "direction": [1.0, 0.0, 0.0]},
        "diffusion": {
            "D0_cm2_per_s": d_par * KPC2_PER_MYR_IN_CM2_PER_S,
            "delta_par": 0.0,
            "epsilon": 0.1,
            "beta": False,
        },
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "time": {"dt_max_Myr": 100.0, "regimes": [{"energy_max_GeV": 101.0, "t_max_Myr": 1.0}], **time},
        "tally": [{"name": "g", "type": "cylindrical", "R_bins": 2, "z_bins": 2, "energy_bins": 1}],
    }
    return sdeprop.run(cfg), d_par


def test_max_step_caps_the_parallel_displacement():
    """Without the cap the halo rule allows sqrt(2 D∥ dt) = 0.1 × 30 kpc (one step of 4.5 Myr covers
    t_max); with max_step_kpc = 0.05 each step lasts 0.05²/(2 D∥), so t_max takes exactly
    ceil(1 Myr / dt) steps."""
    free, _ = _uniform_run()
    assert free.counts["steps"] == 20
    capped, d_par = _uniform_run(max_step_kpc=0.05)
    dt = 0.05**2 / (2.0 * d_par)
    per_particle = capped.counts["steps"] / 20
    assert per_particle == math.ceil(1.0 / dt), per_particle


def test_refinement_halves_steps_where_the_direction_turns():
    """In JF12 (direction changes over 0.2–1 kpc) refinement takes more, shorter steps; switched off
    it is the plain scheme."""
    base = {
        "run": {"particles": 100, "batch_size": 100, "seed": 9, "progress": False, "max_cpu_hours": 0},
        "energy": {"min_GeV": 1e3, "max_GeV": 1e4},
        "galaxy": {"halo_height_kpc": 3.0, "radius_max_kpc": 12.0},
        "field": {"model": "jf12"},
        "source": {"type": "radial_profile"},
        "time": {"step_fraction": 0.2},
        "tally": [{"name": "g", "type": "cylindrical", "R_bins": 4, "z_bins": 4, "energy_bins": 2}],
    }
    plain = sdeprop.run(base)
    off = sdeprop.run({**base, "numerics": {"step_refinement": 0.0}})
    refined = sdeprop.run({**base, "numerics": {"step_refinement": 1.0}})
    assert np.array_equal(plain.tallies["g"].sums, off.tallies["g"].sums)
    assert refined.counts["steps"] > 1.5 * plain.counts["steps"], (
        refined.counts["steps"],
        plain.counts["steps"],
    )
