"""Validation oracles a user can run on their own field and numerics.

``closed_box_check``: in a closed galaxy (reflecting walls, no sources) the transport equation
∂ψ/∂t = ∇·(D∇ψ) keeps a uniform density uniform for any tensor field D(x), because D∇ψ = 0.
The Itô SDE does so only with the drift ∇·D, with steps that resolve the changes of the field
direction, and with walls that reflect consistently, so the check tests all three in the field
of your choice (docs/numerics.md, "Fields whose direction jumps").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .engine import run
from .spectra import LogUniform
from .units import KPC2_PER_MYR_IN_CM2_PER_S


@dataclass
class ClosedBoxCheck:
    """Outcome of ``closed_box_check``: Pearson χ² of the cell counts against a uniform density."""

    chi2: float
    ndf: int
    p_value: float
    ratio: np.ndarray  # cell counts / expected, shape (nx, ny, nz)
    steps_per_history: float
    result: object  # the sdeprop Result


class UniformCylinder:
    """Source positions uniform in the cylinder |z| < H, R < R_max [kpc]."""

    def __init__(self, halo_height_kpc: float, radius_max_kpc: float):
        self.H = halo_height_kpc
        self.R = radius_max_kpc

    def sample_positions(self, rng, n):
        r = self.R * np.sqrt(rng.random(n))
        phi = 2.0 * math.pi * rng.random(n)
        return r * np.cos(phi), r * np.sin(phi), rng.uniform(-self.H, self.H, n)


def closed_box_config(
    field: dict,
    particles: int,
    *,
    drift: bool = True,
    seed: int = 1,
    halo_height_kpc: float = 2.0,
    radius_max_kpc: float = 20.0,
    D_par_kpc2_per_Myr: float = 1.0,
    spread_kpc2: float = 2.0,
    epsilon: float = 0.1,
    bins=(7, 7, 4),
    time: dict | None = None,
    numerics: dict | None = None,
    diffusion: dict | None = None,
    turbulence: dict | None = None,
) -> dict:
    """Configuration of the check: particles uniform at t = 0, recorded at T with D∥ T = ``spread_kpc2``;
    the tally covers the largest square |x|, |y| < R_max/√2 over the full height."""
    T = spread_kpc2 / D_par_kpc2_per_Myr
    half = radius_max_kpc / math.sqrt(2.0) * 0.99
    extra = {"turbulence": turbulence} if turbulence else {}
    return {
        **extra,
        "run": {"particles": particles, "batch_size": min(particles, 20000), "seed": seed, "progress": False},
        "energy": {"min_GeV": 100.0, "max_GeV": 100.01},
        "galaxy": {
            "halo_height_kpc": halo_height_kpc,
            "radius_max_kpc": radius_max_kpc,
            "boundary": "reflect",
        },
        "field": field,
        "diffusion": {
            "D0_cm2_per_s": D_par_kpc2_per_Myr * KPC2_PER_MYR_IN_CM2_PER_S,
            "delta_par": 0.0,
            "epsilon": epsilon,
            "beta": False,
            **(diffusion or {}),
        },
        "estimator": {"method": "snapshot", "output_times_Myr": [T]},
        "time": {
            **(time or {}),
            "regimes": [{"energy_max_GeV": 100.01, "t_max_Myr": T, "snapshot_dt_Myr": T}],
        },
        "numerics": {**(numerics or {}), "drift": drift},
        "tally": [
            {
                "name": "box",
                "type": "cartesian",
                "x_range_kpc": [-half, half],
                "y_range_kpc": [-half, half],
                "z_range_kpc": [-halo_height_kpc, halo_height_kpc],
                "bins": list(bins),
                "energy_bins": 1,
            }
        ],
    }


def closed_box_check(field: dict, particles: int, **options) -> ClosedBoxCheck:
    """Run the closed-galaxy conservation check in ``field`` (a [field] table) and return Pearson's χ²
    of the final cell counts against the uniform expectation (multinomial: the cells plus the
    rest of the cylinder, ndf = number of cells).  Options: see ``closed_box_config``."""
    cfg = closed_box_config(field, particles, **options)
    galaxy = cfg["galaxy"]
    source = UniformCylinder(galaxy["halo_height_kpc"], galaxy["radius_max_kpc"])
    res = run(cfg, source=source)
    tally = res.tallies["box"]
    burst = tally.reweight(LogUniform()).burst_density[0][..., 0]  # per injected particle
    de = float(np.diff(tally.edges["E_GeV"])[0])
    v_cyl = math.pi * galaxy["radius_max_kpc"] ** 2 * 2.0 * galaxy["halo_height_kpc"]
    v_cell = float(np.asarray(tally.layout.cell_volume_kpc3()).ravel()[0])
    raw = burst * v_cell * de * particles  # each particle scores weight 1 once, at T
    counts = np.round(raw)
    if not np.allclose(raw, counts, atol=1e-6):
        raise RuntimeError("closed-box tally does not hold whole particle counts: check the tally set-up")
    expected = particles * v_cell / v_cyl
    outside = particles - counts.sum()
    expected_outside = particles - expected * counts.size
    chi2 = float(
        ((counts - expected) ** 2).sum() / expected + (outside - expected_outside) ** 2 / expected_outside
    )
    ndf = int(counts.size)
    return ClosedBoxCheck(
        chi2, ndf, float(stats.chi2.sf(chi2, ndf)), counts / expected, res.counts["steps"] / particles, res
    )
