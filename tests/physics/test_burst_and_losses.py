"""Time-dependent snapshot output and the source-energy (E0) axis under energy losses.

* Burst from a point in an isotropic medium (docs/physics.md §8.1): the fraction of particles
  inside a sphere of radius a around the source at time t is the chi(3) CDF at a/sqrt(2Dt).
* Losses only, b = b0 E² (docs/physics.md §8.5, 5th bullet): the volume-integrated steady state
  of a source Q(E0) is N(E) = (1/b(E)) ∫_E^{E_max} Q(E0) dE0, for any Q reweighted through
  the E0 axis.
"""

import numpy as np
from losses_box import losses_only_config
from scipy import stats

import sdeprop
from sdeprop.models.diffusion import diffusion_at
from sdeprop.spectra import PowerLaw
from sdeprop.units import MYR_S

Z4 = 4.0  # 4-sigma bounds: two-sided false-alarm rate 6.3e-5 per comparison


def test_burst_snapshots_match_gaussian_green_function():
    """Fraction inside radius a at t_k equals chi3.cdf(a / sqrt(2 D t_k)) (isotropic Green's function)."""
    times = [0.5, 1.0, 2.0, 4.0]
    radius = 0.4
    cfg = {
        "run": {"particles": 20000, "batch_size": 5000, "seed": 5, "progress": False},
        "energy": {"min_GeV": 100.0, "max_GeV": 100.01},
        "galaxy": {"halo_height_kpc": 1e3, "radius_max_kpc": 1e3},
        "field": {"model": "uniform", "direction": [0.0, 0.0, 1.0]},
        "diffusion": {"epsilon": 1.0, "beta": False},
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "estimator": {"method": "snapshot", "output_times_Myr": times},
        "time": {
            "dt_max_Myr": 0.01,
            "regimes": [{"energy_max_GeV": 100.01, "t_max_Myr": 5.0, "snapshot_dt_Myr": 0.5}],
        },
        "tally": [
            {
                "name": "s",
                "type": "sphere",
                "center_kpc": [0.0, 0.0, 0.0],
                "radius_kpc": radius,
                "energy_bins": 1,
            }
        ],
    }
    res = sdeprop.run(cfg)
    t = res.tallies["s"]
    d = t.reweight(sdeprop.spectra.LogUniform())
    assert d.burst_density.shape == (len(times), 1)
    volume = 4 / 3 * np.pi * radius**3
    de = np.diff(t.edges["E_GeV"])[0]
    frac = d.burst_density[:, 0] * volume * de
    err = d.burst_uncertainty[:, 0] * volume * de
    dpar, _ = diffusion_at(res.config.diffusion, "proton", [100.0])
    expect = stats.chi(3).cdf(radius / np.sqrt(2 * dpar[0] * np.array(times)))
    assert np.all(np.abs(frac - expect) < Z4 * err), (frac, expect, err)
    # binomial error check: the per-history error equals sqrt(p(1-p)/N)
    np.testing.assert_allclose(err, np.sqrt(frac * (1 - frac) / 20000), rtol=1e-6)


def test_losses_steady_state_with_source_energy_axis():
    """N(E) = (1/(b0 E²)) ∫_E^{Emax} Q dE0 for two spectra, reweighted through the E0 axis."""
    b0 = 1e-16  # GeV^-1 s^-1
    emin, emax = 10.0, 1000.0
    cfg = losses_only_config(
        {"model": "quadratic", "b0_per_GeV_per_s": b0, "energy_floor_GeV": 1.0},
        emin_GeV=emin,
        emax_GeV=emax,
        particles=20000,
        seed=9,
        loss_fraction=0.01,
        tally_energy_GeV=(2.0, 800.0),
        energy_bins=8,
        source_energy_bins=24,
    )
    res = sdeprop.run(cfg)
    assert res.counts["below_energy_floor"] == 20000
    t = res.tallies["all"]
    assert "E0_GeV" in t.edges and t.sum1.shape[-1] == 24
    volume = 4 / 3 * np.pi * 500.0**3
    edges = t.edges["E_GeV"]
    b0_myr = b0 * MYR_S

    def time_in_bin(e0, lo, hi):
        """Time [Myr] a particle starting at e0 spends in [lo, hi] under b = b0 E²."""
        top = np.clip(e0, lo, hi)
        return (1.0 / lo - 1.0 / top) / b0_myr

    grid = np.geomspace(emin, emax, 20001)  # fine E0 grid for the analytic integrals
    for spec in (PowerLaw(2.0, "kinetic_energy"), PowerLaw(2.7, "kinetic_energy")):
        d = t.reweight(spec)
        got = d.density * volume
        err = d.uncertainty * volume
        q = spec.dq_dT(grid, 0.0, 1.0)
        q /= np.trapezoid(q, grid)  # total rate 1/Myr
        # exact: N_k = (1/ΔE_k) ∫ Q(E0) T_k(E0) dE0
        exact = np.array(
            [
                np.trapezoid(q * time_in_bin(grid, lo, hi), grid) / (hi - lo)
                for lo, hi in zip(edges[:-1], edges[1:])
            ]
        )
        print("N(E) measured/exact:", np.round(got / exact, 4), "rel. error:", np.round(err / exact, 4))
        # The E0 axis is binned (12 bins per decade), but the reweighting applies the importance weight
        # linearly across each bin (spectra.bin_weights), so the binning error is of higher order than
        # the per-cent statistical error here (a single bin-averaged weight would be off by up to
        # ~1 % in the bins that overlap the injected energies, for the E^-2.7 spectrum).
        assert np.all(np.abs(got - exact) < Z4 * err), (got / exact, err / exact)
