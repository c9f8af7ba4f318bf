"""The set-up shared by the loss-only spectrum tests: electrons from a point source in a box so
large (±1000 kpc) that none escapes, so every history cools to the energy floor and the whole
steady state is in one 500 kpc sphere.  The oracle is then N(E) = (1/b) ∫_E Q dE0 (docs/physics.md §8.5)."""


def losses_only_config(
    losses: dict,
    *,
    emin_GeV,
    emax_GeV,
    particles,
    seed,
    loss_fraction,
    tally_energy_GeV,
    energy_bins,
    source_energy_bins,
) -> dict:
    """Run configuration: losses [losses] table, injection over [emin_GeV, emax_GeV], a sphere tally with
    ``energy_bins`` over ``tally_energy_GeV`` = (min, max) and ``source_energy_bins`` bins of E0."""
    return {
        "run": {"particles": particles, "batch_size": 5000, "seed": seed, "progress": False},
        "species": {"name": "electron"},
        "energy": {"min_GeV": emin_GeV, "max_GeV": emax_GeV},
        "galaxy": {"halo_height_kpc": 1e3, "radius_max_kpc": 1e3},
        "field": {"model": "uniform"},
        "diffusion": {"epsilon": 1.0, "D0_cm2_per_s": 1e26},
        "losses": losses,
        "time": {"loss_fraction": loss_fraction, "regimes": [{"energy_max_GeV": emax_GeV, "t_max_Myr": 1e6}]},
        "source": {"type": "point", "position_kpc": [0.0, 0.0, 0.0]},
        "tally": [
            {
                "name": "all",
                "type": "sphere",
                "center_kpc": [0.0, 0.0, 0.0],
                "radius_kpc": 500.0,
                "energy_min_GeV": tally_energy_GeV[0],
                "energy_max_GeV": tally_energy_GeV[1],
                "energy_bins": energy_bins,
                "source_energy_bins": source_energy_bins,
            }
        ],
    }
