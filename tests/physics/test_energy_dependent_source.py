"""A source whose spatial density depends on the energy (a gridded source with an energy axis, the form of
the secondary e± source) against the Syrovatskii closed form (docs/sources.md §3).

The source q(x, E_s) = Q(E_s) p(x | E_s) is tabulated on an (R, z) grid at two energies, E_MIN and E_MAX,
as isotropic Gaussian clouds of widths σ₀ and σ₁ about the origin; between the nodes the density is the
mixture (1 − t) p₀ + t p₁ with t = ln(E_s/E_MIN)/ln(E_MAX/E_MIN).  Electrons with b = b0 E², D ∝ E^δ in an
unbounded isotropic medium, so the steady density is linear in the source (Syrovatskii 1959):

    n(r, E) = Σ_k ∫ dE_s Q(E_s) w_k(E_s) K(r, λ²(E, E_s) + 2σ_k²) / b(E),   w₀ = 1 − t, w₁ = t,

each term the Gaussian-source closed form of tests/physics/test_observer.py with the rate Q w_k.  The
backward estimator meets p(x | E_s) at the path's climbing energy, so the test fails if the density were
read at the observer energy or at one node.  Bilinear interpolation of the Gaussians on a 0.025 kpc grid
changes the density by < 0.1 %, below σ ≈ 1.5 %.  |backward − closed form| < 4σ, fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from test_observer import (
    E_MAX,
    E_MIN,
    INDEX,
    N_SIGMA,
    OBSERVER_ENERGIES,
    power_law_rate,
    syrovatskii_config,
)
from test_syrovatskii import B0, D0, DELTA, E_REF_GV

import sdeprop
from sdeprop import analytic as A
from sdeprop.io import write_source_grid
from sdeprop.models.sources import grid_source
from sdeprop.spectra import PowerLaw

SIGMAS_KPC = (0.3, 0.8)
R_NODES = np.linspace(0.0, 4.0, 161)
Z_NODES = np.linspace(-4.0, 4.0, 321)


def _values():
    r2 = R_NODES[:, None] ** 2 + Z_NODES[None, :] ** 2
    return np.stack([np.exp(-0.5 * r2 / s**2) for s in SIGMAS_KPC], axis=-1)


def _share(k):
    """w_k(E_s) of the two energy nodes (linear in ln E_s between E_MIN and E_MAX)."""

    def w(E):
        t = np.log(np.asarray(E, dtype=float) / E_MIN) / np.log(E_MAX / E_MIN)
        return np.clip(t, 0.0, 1.0) if k == 1 else np.clip(1.0 - t, 0.0, 1.0)

    return w


def closed_form(distance_kpc, energies, only=None):
    """n(r, E) [kpc⁻³ GeV⁻¹] for Q ∝ E^-INDEX (rate 1/Myr); ``only`` = k: all the source at node k's width."""
    rate = power_law_rate(INDEX)
    r = np.full(len(energies), float(distance_kpc))
    total = np.zeros(len(energies))
    for k, sigma in enumerate(SIGMAS_KPC):
        share = _share(k) if only is None else (lambda E, k=k: np.full(np.shape(E), float(k == only)))

        def kernel(v, s=sigma):
            return A.gaussian_kernel_per_kpc3(r[..., None], v + 2.0 * s**2)

        total += A.syrovatskii_steady_region_average(
            kernel,
            np.maximum(r, sigma),
            np.asarray(energies),
            lambda E, share=share: rate(E) * share(E),
            E_MAX,
            D0,
            E_REF_GV,
            DELTA,
            B0,
        )
    return total


@pytest.fixture(scope="module")
def source_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("energy_grid") / "two_gaussians.h5"
    write_source_grid(path, "cylindrical", [R_NODES, Z_NODES], _values(), energies_GeV=[E_MIN, E_MAX])
    return path


def test_density_is_normalised_and_linear_in_ln_energy(source_file):
    src = grid_source("cylindrical", [R_NODES, Z_NODES], _values(), [E_MIN, E_MAX])
    # the normalised density at the origin: (2π σ²)^-3/2 at the nodes (grid error < 0.5 %)
    for e, s in zip((E_MIN, E_MAX), SIGMAS_KPC):
        assert src.pdf(0.0, 0.0, 0.0, e) == pytest.approx((2 * np.pi * s**2) ** -1.5, rel=5e-3)
    e_mid = np.sqrt(E_MIN * E_MAX)
    points = (np.array([0.0, 0.7]), np.zeros(2), np.array([0.0, -0.3]))
    mid = src.pdf(*points, e_mid)
    ends = [src.pdf(*points, e) for e in (E_MIN, E_MAX)]
    np.testing.assert_allclose(mid, 0.5 * (ends[0] + ends[1]), rtol=1e-12)
    # beyond the nodes: the end grids
    np.testing.assert_allclose(src.pdf(*points, 0.1 * E_MIN), ends[0], rtol=1e-12)


def test_positions_are_drawn_from_the_density_at_their_energy():
    """χ² of the radii r = |x| drawn at one energy against the mixture's radial distribution."""
    src = grid_source("cylindrical", [R_NODES, Z_NODES], _values(), [E_MIN, E_MAX])
    rng = np.random.default_rng(3)
    e = np.full(20000, E_MIN**0.75 * E_MAX**0.25)  # t = 1/4
    x, y, z = src.sample_positions_at(rng, e)
    r = np.sqrt(x**2 + y**2 + z**2)
    edges = np.array([0.0, 0.2, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 4.0])

    def cdf(v):  # the Maxwell distribution of a 3D Gaussian's radius, mixed 3:1
        return 0.75 * stats.maxwell.cdf(v, scale=SIGMAS_KPC[0]) + 0.25 * stats.maxwell.cdf(
            v, scale=SIGMAS_KPC[1]
        )

    expected = np.diff(cdf(edges)) * r.size
    observed = np.histogram(r, edges)[0]
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    assert stats.chi2.sf(chi2, len(expected) - 1) > 1e-3, (observed, expected.round())


@pytest.mark.parametrize("distance_kpc", [0.0, 1.0])
def test_backward_meets_the_density_at_the_path_energy(source_file, distance_kpc):
    cfg = syrovatskii_config(distance_kpc)
    cfg["source"] = {"type": "gridded", "file": str(source_file)}
    cfg["run"]["max_cpu_hours"] = 0
    res = sdeprop.run(cfg, workers=1, progress=False)
    d = res.tallies["observer"].reweight(PowerLaw(INDEX, "kinetic_energy"), 1.0)
    expected = closed_form(distance_kpc, OBSERVER_ENERGIES)
    pull = (d.density - expected) / d.uncertainty
    assert np.all(d.uncertainty < 0.05 * d.density), d.uncertainty / d.density
    assert np.all(np.abs(pull) < N_SIGMA), (d.density / expected, pull)
    # either node's density alone (a source without the energy axis) is many σ away: the test can fail
    for k in (0, 1):
        alone = closed_form(distance_kpc, OBSERVER_ENERGIES, only=k)
        assert np.any(np.abs(d.density - alone) > 8 * d.uncertainty), (k, d.density / alone)


def test_forward_draws_positions_given_the_energy(source_file):
    """Forward: energies first, then positions from p(· | E); a 0.5 kpc ball 1 kpc from the centre against
    the closed form averaged over the ball (``gaussian_kernel_sphere_average_per_kpc3``) and the bin."""
    edges = np.geomspace(E_MIN, 10**2.5, 4)
    cfg = syrovatskii_config(1.0)
    cfg.pop("estimator")
    cfg.pop("observer")
    cfg["source"] = {"type": "gridded", "file": str(source_file)}
    cfg["run"].update(particles=20000, batch_size=5000, max_cpu_hours=0)
    cfg["losses"]["energy_floor_GeV"] = E_MIN
    cfg["tally"] = [
        {
            "name": "ball",
            "type": "sphere",
            "center_kpc": [0.0, 1.0, 0.0],
            "radius_kpc": 0.5,
            "energy_min_GeV": edges[0],
            "energy_max_GeV": edges[-1],
            "energy_bins": 3,
            "source_energy_bins": 40,
        }
    ]
    res = sdeprop.run(cfg, workers=1, progress=False)
    d = res.tallies["ball"].reweight(PowerLaw(INDEX, "kinetic_energy"), 1.0)
    rate = power_law_rate(INDEX)
    expected = np.zeros(3)
    for k, sigma in enumerate(SIGMAS_KPC):
        share = _share(k)
        expected += A.energy_bin_average(
            lambda E, s=sigma, share=share: A.syrovatskii_steady_region_average(
                lambda v: A.gaussian_kernel_sphere_average_per_kpc3(1.0, 0.5, v + 2.0 * s**2),
                1.0,
                E,
                lambda Es: rate(Es) * share(Es),
                E_MAX,
                D0,
                E_REF_GV,
                DELTA,
                B0,
            ),
            edges[:-1],
            edges[1:],
        )
    pull = (d.density - expected) / d.uncertainty
    assert np.all(d.uncertainty < 0.08 * d.density), d.uncertainty / d.density
    assert np.all(np.abs(pull) < N_SIGMA), (d.density / expected, pull)
