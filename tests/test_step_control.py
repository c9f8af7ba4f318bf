"""Step control in realistic fields, its floors, and reflecting walls (kernel.py, docs/numerics.md)."""

import math

import numpy as np
import pytest

import sdeprop
from sdeprop.config import ConfigError, load_config
from sdeprop.engine import AUTO_FIELD_LINE_ANISOTROPY, resolved_integrator
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


def test_auto_integrator_takes_the_field_line_step_from_the_anisotropy_threshold():
    """integrator = "auto": Euler–Maruyama below D∥/D⊥ = 30 (its curvature bias at the default step
    stays within 1 %, docs/numerics.md), the field-line step from 30 on, never in a uniform field;
    the ratio is taken over the whole energy range, down to the loss floor."""
    assert AUTO_FIELD_LINE_ANISOTROPY == 30.0

    def choice(epsilon, field="cerri_toy", **extra):
        cfg = {"field": {"model": field}, "diffusion": {"epsilon": epsilon, **extra}}
        return resolved_integrator(load_config(cfg))

    assert choice(0.1) == "euler_maruyama"
    assert choice(0.05) == "euler_maruyama"
    assert choice(1.0 / 30.0) == "field_line"
    assert choice(0.01) == "field_line"
    assert choice(0.01, field="uniform") == "euler_maruyama"
    # D⊥ ∝ R^0.7 against D∥ ∝ R^0.3: ε = 0.1 at the reference rigidity, D∥/D⊥ = 10 (R/R_ref)^(−0.4)
    # reaches 30 below R_ref/15.6; the run's lowest energy decides
    cfg = load_config(
        {
            "field": {"model": "cerri_toy"},
            "energy": {"min_GeV": 10.0, "max_GeV": 1e3},
            "diffusion": {"epsilon": 0.1, "delta_par": 0.3, "delta_perp": 0.7},
        }
    )
    assert resolved_integrator(cfg) == "euler_maruyama"
    assert resolved_integrator(cfg, lowest_energy_GeV=0.01) == "field_line"
    with pytest.raises(ConfigError, match="numerics.integrator"):
        load_config({"numerics": {"integrator": "midpoint"}})


def test_default_step_cap_is_the_narrowest_transition_scale():
    """time.max_step_kpc unset: the cap is the e-folding length of the model's narrowest logistic
    transition (JF12: w_h/2 = 0.1 kpc, its logistics being 1/(1 + e^{−2(s − h)/w}); UF23: w_d, its
    σ being 1/(1 + e^{−(s − s0)/w}), or w_p where narrower), none for models without one; an explicit
    value wins, and a sum takes its narrowest component."""
    from sdeprop.engine import max_step_kpc

    def cap(field, **time):
        return max_step_kpc(load_config({"field": field, "time": time}))

    assert cap({"model": "jf12"}) == pytest.approx(0.1, rel=1e-12)
    assert cap({"model": "jf12", "overrides": {"w_h": 0.5}}) == pytest.approx(0.135, rel=1e-12)
    assert cap({"model": "uf23", "variant": "base"}) == pytest.approx(0.10720909, rel=1e-12)
    assert cap({"model": "uf23", "variant": "base", "overrides": {"w_d": 0.3}}) == pytest.approx(
        0.11188158, rel=1e-12
    )
    assert cap({"model": "uf23", "variant": "expX"}) == pytest.approx(0.098524736, rel=1e-12)
    assert cap({"model": "cerri_toy"}) is None and cap({"model": "pt11"}) is None
    assert cap({"model": "uf23", "variant": "base"}, max_step_kpc=0.5) == 0.5
    both = {"model": "sum", "components": [{"model": "jf12"}, {"model": "uf23", "variant": "neCL"}]}
    assert cap(both) == pytest.approx(0.061162799, rel=1e-12)


def test_result_records_the_step_it_took(tmp_path):
    """The result (and its HDF5 file) names the integrator "auto" resolved to and the largest parallel
    displacement a step may take: step_fraction × min(H, R_max), or step_fraction × the cap."""
    cfg = {
        "run": {
            "particles": 20,
            "batch_size": 20,
            "seed": 3,
            "progress": False,
            "output": str(tmp_path / "a.h5"),
        },
        "field": {"model": "cerri_toy"},
        "diffusion": {"epsilon": 0.01},
        "time": {"regimes": [{"energy_max_GeV": 1.0e4, "t_max_Myr": 1.0}]},
    }
    res = sdeprop.run(cfg, output=tmp_path / "a.h5")
    assert res.metadata["integrator"] == "field_line"
    assert res.metadata["max_parallel_step_kpc"] == pytest.approx(0.1 * 4.0, rel=1e-12)
    stored = sdeprop.load_result(tmp_path / "a.h5").metadata
    assert stored["integrator"] == "field_line" and stored["max_parallel_step_kpc"] == pytest.approx(0.4)
    cfg["field"] = {"model": "jf12"}
    cfg["diffusion"] = {"epsilon": 0.1}
    res = sdeprop.run(cfg)
    assert res.metadata["integrator"] == "euler_maruyama"
    # JF12's cap 0.1 kpc bounds the displacement itself
    assert res.metadata["max_parallel_step_kpc"] == pytest.approx(0.1, rel=1e-12)
