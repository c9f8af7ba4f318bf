import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def small_config():
    """A quick run: uniform vertical field, point source at the Sun, two tallies."""
    return {
        "run": {"particles": 400, "batch_size": 100, "seed": 7, "progress": False},
        "energy": {"min_GeV": 10.0, "max_GeV": 1000.0},
        "galaxy": {"halo_height_kpc": 2.0, "radius_max_kpc": 15.0},
        "field": {"model": "uniform", "direction": [0.0, 0.3, 1.0]},
        "source": {"type": "point", "position_kpc": [-8.3, 0.0, 0.0]},
        "tally": [
            {"name": "map", "type": "cylindrical", "R_bins": 6, "z_bins": 4, "energy_bins": 4},
            {"name": "sun", "type": "sphere", "radius_kpc": 1.0, "energy_bins": 4},
        ],
    }
