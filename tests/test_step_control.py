"""Step control in realistic fields, its floors, and reflecting walls (kernel.py, docs/numerics.md)."""

import math

import numpy as np
import pytest

import sdeprop
from sdeprop.config import ConfigError, load_config
from sdeprop.kernel.step import step_floor2
from sdeprop.models.diffusion import SPECIES, diffusion_at
from sdeprop.units import SPEED_OF_LIGHT_KPC_PER_MYR


def uf23_run(particles=10, **time):
    """Steps per history over the first 0.5 Myr at 1 TeV (D∥ t ≈ 0.9 kpc²) from near the Sun."""
    time = {"regimes": [{"energy_max_GeV": 1001.0, "t_max_Myr": 0.5}], **time}
    cfg = {
        "run": {"particles": particles, "batch_size": particles, "seed": 5, "progress": False},
        "energy": {"min_GeV": 1000.0, "max_GeV": 1001.0},
        "field": {"model": "uf23", "variant": "base"},
        "diffusion": {"epsilon": 0.1},
        "source": {"type": "point", "position_kpc": [-8.2, 0.0, 0.1]},
        "time": time,
        "tally": [{"name": "sun", "type": "sphere", "radius_kpc": 1.0, "energy_bins": 1}],
    }
    res = sdeprop.run(cfg)
    return res.counts["steps"] / particles


def test_direction_rule_takes_fewer_steps_than_gradient_rule_and_floors_cut_further():
    """UF23's disc changes |B| over 0.03–0.25 kpc, mostly across the field: the direction rule
    (only changes of b, each direction weighted by its own D) needs far fewer steps than
    sqrt(2 D∥ dt) <= f |B|/‖∇B‖; a floor on the step bounds what is left (field nulls).
    Same seed, same particles (measured: 8.5e5, 2.8e3 and 51 steps per history)."""
    gradient = uf23_run(step_control="field_gradient")
    direction = uf23_run(step_control="field_direction")
    floored = uf23_run(step_control="field_direction", min_step_kpc=0.02)
    assert direction < gradient / 10
    assert floored < direction / 10


def test_floor_in_mean_free_paths():
    """λ∥ = 3 D∥/v; the larger of the fixed floor and n λ∥ applies (squared, kpc²)."""
    cfg = load_config({})
    mass, charge = SPECIES["proton"]
    e = 1000.0
    dpar, _ = diffusion_at(cfg.diffusion, "proton", [e])
    beta = math.sqrt(e * (e + 2 * mass)) / (e + mass)
    lam = 3 * dpar[0] / (beta * SPEED_OF_LIGHT_KPC_PER_MYR)
    assert step_floor2(0.0, 2.0, dpar[0], e, mass, charge) == pytest.approx((2 * lam) ** 2, rel=1e-12)
    assert step_floor2(1.0, 2.0, dpar[0], e, mass, charge) == pytest.approx(
        max(1.0, (2 * lam) ** 2), rel=1e-12
    )
    assert step_floor2(0.04, 0.0, dpar[0], e, mass, charge) == 0.04
    # the configured floor really changes the run
    assert uf23_run(min_step_mean_free_paths=5.0) < uf23_run()


def test_reflecting_walls_keep_every_particle_inside():
    """Oblique uniform field, long run in a small closed galaxy: nothing escapes, every final
    position is inside, and all particles end at t_max."""
    cfg = {
        "run": {"particles": 400, "batch_size": 200, "seed": 2, "progress": False},
        "energy": {"min_GeV": 100.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 0.5, "radius_max_kpc": 1.0, "boundary": "reflect"},
        "field": {"model": "uniform", "direction": [1.0, 0.3, 1.0]},
        "diffusion": {"epsilon": 0.1},
        "source": {"type": "point", "position_kpc": [0.2, 0.0, 0.1]},
        "time": {"regimes": [{"energy_max_GeV": 1000.0, "t_max_Myr": 20.0}]},
        "tally": [{"name": "map", "type": "cylindrical", "R_bins": 2, "z_bins": 2, "energy_bins": 1}],
    }
    res = sdeprop.run(cfg, keep_state=True)
    st = res.final_state
    assert res.counts["alive_at_t_max"] == 400
    assert res.counts["escaped_z"] == res.counts["escaped_R"] == 0
    assert np.all(np.abs(st["z"]) <= 0.5) and np.all(np.hypot(st["x"], st["y"]) <= 1.0)
    # residence time: every particle spent exactly t_max inside; the map holds N t_max per unit rate
    tally = res.tallies["map"]
    np.testing.assert_allclose(tally.sum1.sum(), 400 * 20.0, rtol=1e-9)


@pytest.mark.parametrize(
    "section, key, bad",
    [
        ("time", "step_control", "curvature"),
        ("time", "min_step_kpc", -0.1),
        ("time", "min_step_mean_free_paths", float("nan")),
        ("galaxy", "boundary", "periodic"),
        ("numerics", "field_grid_jacobian", "spline"),
    ],
)
def test_bad_step_and_boundary_keys_are_named(section, key, bad):
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        load_config({section: {key: bad}})
