"""The 'galactic' loss model: configuration, species defaults, and the kernel's table against
direct evaluation of every process (sdeprop.models.losses, docs/physics.md §2–3).

The kernel interpolates Σ_k c_k(R, z) g_k(E) (gas and radiation) and a Cartesian δB_rms² table;
these tests bound the interpolation error against the direct formulas of loss_processes.
"""

from __future__ import annotations

import numpy as np
import pytest

from sdeprop.config import ConfigError, load_config
from sdeprop.models import loss_processes as lp
from sdeprop.models.isrf import DELAHAYE10
from sdeprop.models.losses import (
    LOSS_GALACTIC,
    LOSS_NONE,
    LossModel,
    active_loss_processes,
    build_losses,
    kernel_loss_rate,
)


def electron_config(**losses):
    return {
        "species": {"name": "electron"},
        "energy": {"min_GeV": 10.0, "max_GeV": 2.0e4},
        "galaxy": {"halo_height_kpc": 4.0, "radius_max_kpc": 20.0},
        "field": {"model": "uf23"},
        "turbulence": {"model": "jf12_random"},
        "losses": {"model": "galactic", **losses},
    }


def random_points(n, seed=1, z_sigma=0.3):
    rng = np.random.default_rng(seed)
    pts = np.column_stack([rng.uniform(-19, 19, n), rng.uniform(-19, 19, n), rng.normal(0, z_sigma, n)])
    pts = pts[(np.hypot(pts[:, 0], pts[:, 1]) < 19.9) & (np.abs(pts[:, 2]) < 3.9)]
    e = np.exp(rng.uniform(np.log(1.1), np.log(2e4), len(pts)))
    return pts, e


def test_species_defaults_and_validation():
    cfg = load_config(electron_config())
    assert active_loss_processes(cfg) == (
        "synchrotron",
        "inverse_compton",
        "bremsstrahlung",
        "coulomb_ionisation",
    )
    low = load_config(
        {
            "species": {"name": "proton"},
            "energy": {"min_GeV": 1.0, "max_GeV": 100.0},
            "losses": {"model": "galactic"},
        }
    )
    assert active_loss_processes(low) == ("coulomb_ionisation", "pion_production")
    high = load_config(
        {
            "species": {"name": "proton"},
            "energy": {"min_GeV": 10.0, "max_GeV": 1e4},
            "losses": {"model": "galactic"},
        }
    )
    assert active_loss_processes(high) == ()
    assert build_losses(high, 1.0)[0] == LOSS_NONE  # off by default above 10 GeV
    with pytest.raises(ConfigError, match="'synchrotron' is not a loss process of species 'proton'"):
        load_config(
            {"species": {"name": "proton"}, "losses": {"model": "galactic", "processes": ["synchrotron"]}}
        )
    with pytest.raises(ConfigError, match="processes applies to model 'galactic' only"):
        load_config(
            {"species": {"name": "electron"}, "losses": {"model": "quadratic", "processes": ["synchrotron"]}}
        )
    with pytest.raises(ConfigError, match="losses.processes"):
        load_config(electron_config(processes=["sync"]))
    with pytest.raises(ConfigError, match="isrf"):
        load_config(electron_config(isrf={"model": "custom"}))
    with pytest.raises(ConfigError, match="xco_value"):
        load_config(electron_config(gas={"xco": "constant"}))
    with pytest.raises(ConfigError, match="scale_lengths_kpc"):
        load_config(electron_config(isrf={"scale_lengths_kpc": [1.0, 2.0]}))


def test_table_of_gas_and_radiation_matches_direct_evaluation():
    """IC (Fang KN, spatially varying ISRF), bremsstrahlung and Coulomb/ionisation: the
    interpolated Σ c_k g_k agrees with the direct formulas to < 1 % everywhere sampled
    (median < 0.05 %); the energy functions vary smoothly and the gas is resolved to 2.5 pc at z = 0."""
    cfg = electron_config(
        processes=["inverse_compton", "bremsstrahlung", "coulomb_ionisation"],
        isrf={"scale_lengths_kpc": 5.0, "scale_heights_kpc": [1.0, 1.0, 2.0, 2.0, 2.0]},
    )
    pts, e = random_points(3000)
    model = LossModel.from_config(load_config(cfg))
    direct = np.array([model.total_rate(p, [ee])[0] for p, ee in zip(pts, e)])
    table = kernel_loss_rate(load_config(cfg), pts, e, energy_floor_GeV=1.0)
    rel = np.abs(table / direct - 1)
    print("median", np.median(rel), "max", rel.max())
    assert np.median(rel) < 5e-4 and rel.max() < 1e-2


def test_proton_table_matches_direct_evaluation():
    cfg = {
        "species": {"name": "proton"},
        "energy": {"min_GeV": 0.1, "max_GeV": 1e3},
        "losses": {"model": "galactic", "processes": ["coulomb_ionisation", "pion_production"]},
    }
    pts, _ = random_points(1000, seed=2)
    e = np.exp(np.random.default_rng(3).uniform(np.log(0.1), np.log(1e3), len(pts)))
    model = LossModel.from_config(load_config(cfg))
    direct = np.array([model.total_rate(p, [ee])[0] for p, ee in zip(pts, e)])
    table = kernel_loss_rate(load_config(cfg), pts, e, energy_floor_GeV=0.1)
    rel = np.abs(table / direct - 1)
    assert np.median(rel) < 1e-3 and rel.max() < 2e-2, (np.median(rel), rel.max())


def test_synchrotron_uses_field_plus_turbulence():
    """Synchrotron alone, E = 1 TeV: q = (4/3) σ_T c (B_reg² + δB²)/(8π) γ²β²/E² with B_reg from UF23
    and δB from the JF12 random amplitude; exact for a constant B² override."""
    pts = np.array([[-8.5, 0.0, 0.0], [-6.0, 3.0, 0.5], [2.0, -9.0, -1.0]])
    cfg = electron_config(processes=["synchrotron"], magnetic_field_uG=6.0)
    got = kernel_loss_rate(load_config(cfg), pts, 1000.0)
    exact = lp.synchrotron_loss(1000.0 + lp.M_E_GEV, 36.0)
    np.testing.assert_allclose(got, exact, rtol=1e-12)
    cfg = electron_config(processes=["synchrotron"])
    model = LossModel.from_config(load_config(cfg))
    b2 = model.magnetic_field_squared_uG2(pts)
    assert np.all(b2 > 0)
    direct = np.array([lp.synchrotron_loss(1000.0 + lp.M_E_GEV, v) for v in b2])
    got = kernel_loss_rate(load_config(cfg), pts, 1000.0)
    np.testing.assert_allclose(got, direct, rtol=0.1)  # δB² from the 0.2 kpc table


def test_turbulence_table_is_unbiased_on_average():
    """The JF12 random amplitude jumps at spiral-arm edges (and at r = 5 kpc), so a trilinear table
    is locally wrong within one spacing of a jump; averaged over the disc (what a particle's path
    integrates) it must agree to 1 %, and at most points (median) to 1 %."""
    cfg = electron_config(processes=["synchrotron"])
    pts, _ = random_points(20000, seed=4, z_sigma=0.5)
    model = LossModel.from_config(load_config(cfg))
    direct = model.magnetic_field_squared_uG2(pts)
    got = kernel_loss_rate(load_config(cfg), pts, 1e3) / lp.synchrotron_loss(1e3 + lp.M_E_GEV, 1.0)
    assert abs(got.mean() / direct.mean() - 1) < 0.01
    assert np.median(np.abs(got / direct - 1)) < 0.01


def test_thomson_limit_ic_through_the_kernel_table():
    """Thomson-limit IC on the uniform Delahaye et al. 2010 ISRF: b = (4/3) σ_T c γ²β² ΣU_i
    (docs/physics.md §2.2, ΣU = 1.287 eV cm⁻³), through the table and the GeV/Myr conversion."""
    cfg = load_config(electron_config(processes=["inverse_compton"], klein_nishina="thomson"))
    assert build_losses(cfg, 1.0)[0] == LOSS_GALACTIC
    u_total = sum(u for _, u in DELAHAYE10)
    for e in (10.0, 100.0, 1e4):
        g = (e + lp.M_E_GEV) / lp.M_E_GEV
        exact = lp.THOMSON_COEFF * (g * g - 1) * u_total
        got = kernel_loss_rate(cfg, [[-8.5, 0, 0]], e)[0]
        assert abs(got / exact - 1) < 1e-4, (e, got / exact)


def test_over_budget_loss_tables_are_refused():
    cfg = load_config(electron_config(table_turbulence_spacing_kpc=0.02))
    with pytest.raises(ConfigError, match="loss tables need .* GiB, above run.memory_budget_GiB"):
        build_losses(cfg, 1.0)
