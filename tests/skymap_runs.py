"""Small runs the sky-map tests share: protons (and electrons) in a uniform field, sources on the
pulsar-like radial profile, a 24 × 24 × 4 kpc cartesian tally with 2 kpc cells."""

from __future__ import annotations

BOX_TALLY = {
    "name": "box",
    "type": "cartesian",
    "x_range_kpc": [-12, 12],
    "y_range_kpc": [-12, 12],
    "z_range_kpc": [-2, 2],
    "bins": [12, 12, 4],
    "energy_bins": 20,
}


def skymap_run_config(particles: int, batch_size: int, seed: int, tally=None, **sections) -> dict:
    """The proton run of the sky-map tests; ``tally`` (a list) replaces the box tally, ``sections``
    replace or add whole configuration sections.  The source rate is Galaxy-like (≈ 3e41 protons/s
    above 100 GeV) so that intensities come out of the measured order, which float32 readers (gammapy)
    hold without underflow."""
    cfg = {
        "run": {
            "particles": particles,
            "batch_size": batch_size,
            "seed": seed,
            "progress": False,
            "workers": 1,
        },
        "energy": {"min_GeV": 100.0, "max_GeV": 1.0e6},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 12.0, "sun_position_kpc": [-8.3, 0.0, 0.0]},
        "field": {"model": "uniform", "direction": [0.0, 1.0, 0.2]},
        "source": {"type": "radial_profile", "a": 1.9, "b": 5.0, "R_sun_kpc": 8.3, "z0_kpc": 0.2},
        "spectrum": {"type": "power_law", "index": 2.3, "rate_per_Myr": 1e55},
        "tally": tally if tally is not None else [dict(BOX_TALLY)],
    }
    cfg.update(sections)
    return cfg
