"""Line-of-sight integration (sdeprop.skymap.los, grid, pixels) against closed-form intensities.

Oracles: for an emissivity q [per sr] constant inside a region and an observer inside it, the intensity
toward d̂ is q·L(d̂) with L the chord from the observer to the region's boundary — a sphere
(L = radius), a cylinder slab (L = min(R/cos b, H/|sin b|) from the centre) or a box (slab method).
A compact emitter of volume V at distance r gives the flux q V / r² in the pixel that contains it, and
the all-sky integral ∫ I dΩ equals the volume integral ∫ q / r² dV.
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from sdeprop.models.gas3d import build_gas_model, hydrogen_nuclei
from sdeprop.skymap.grid import Channel, Steps, TallyGrid, integrate
from sdeprop.skymap.pixels import RaySet, galactic_direction, galactic_lonlat, healpix_rays
from sdeprop.units import KPC_CM

RNG = np.random.default_rng(3)


def _rays(directions) -> RaySet:
    d = np.atleast_2d(directions)
    return RaySet(np.ascontiguousarray(d), np.arange(len(d) + 1), np.ones(len(d)))


def _uniform(grid: TallyGrid, value=2.5, n_e=3) -> Channel:
    q = np.full((grid.n_cells, n_e), value) * np.arange(1, n_e + 1)
    return Channel(q, 0.1 * q)


def _random_directions(n):
    v = RNG.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1)[:, None]


def test_direction_convention():
    """+x (toward the Galactic centre from the Sun) is l = 0, +y is l = 90°, +z is b = 90°."""
    np.testing.assert_allclose(galactic_direction(0.0, 0.0), [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(galactic_direction(90.0, 0.0), [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(galactic_direction(123.0, 90.0), [0, 0, 1], atol=1e-15)
    l, b = galactic_lonlat(galactic_direction(np.array([10.0, 350.0]), np.array([-20.0, 45.0])))
    np.testing.assert_allclose(l, [10, 350])
    np.testing.assert_allclose(b, [-20, 45])


@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_uniform_sphere_around_observer(interpolation):
    """Constant q inside the sphere |x − o| < 3 kpc (max_distance_kpc) in a larger box: I = q·3 kpc."""
    grid = TallyGrid("cartesian", (np.linspace(-15, 5, 41), np.linspace(-10, 10, 21), np.linspace(-4, 4, 17)))
    obs = np.array([-8.5, 0.3, 0.02])
    d = _random_directions(200)
    I, S = integrate(grid, [_uniform(grid)], obs, _rays(d), interpolation=interpolation, max_distance_kpc=3.0)
    expected = 2.5 * np.arange(1, 4) * 3.0 * KPC_CM
    np.testing.assert_allclose(I, np.broadcast_to(expected, I.shape), rtol=1e-3)
    np.testing.assert_allclose(S, 0.1 * I, rtol=1e-12)


def test_uniform_slab_cylinder_from_centre():
    """Cylindrical tally R < 12, |z| < 2 kpc, observer at the centre: L = min(12/cos b, 2/|sin b|)."""
    grid = TallyGrid("cylindrical", (np.linspace(0, 12, 25), np.linspace(-2, 2, 9)))
    d = _random_directions(300)
    I, _ = integrate(grid, [_uniform(grid, n_e=1)], [0, 0, 0], _rays(d))
    sinb = np.abs(d[:, 2])
    cosb = np.sqrt(1 - sinb**2)
    chord = np.minimum(12 / np.maximum(cosb, 1e-300), 2 / np.maximum(sinb, 1e-300))
    np.testing.assert_allclose(I[:, 0], 2.5 * chord * KPC_CM, rtol=1e-3)


def test_uniform_box_from_offset_observer():
    """Box tally, observer off-centre: L = the exit distance from the slab method, done here by hand."""
    lo, hi = np.array([-12.0, -9.0, -3.0]), np.array([10.0, 11.0, 3.0])
    grid = TallyGrid("cartesian", tuple(np.linspace(a, b, 12) for a, b in zip(lo, hi)))
    obs = np.array([-8.3, 0.0, 0.015])
    d = _random_directions(300)
    I, _ = integrate(grid, [_uniform(grid, n_e=1)], obs, _rays(d))
    with np.errstate(divide="ignore"):
        t = np.where(d > 0, (hi - obs) / d, np.where(d < 0, (lo - obs) / d, np.inf))
    np.testing.assert_allclose(I[:, 0], 2.5 * t.min(axis=1) * KPC_CM, rtol=1e-3)


def test_observer_outside_the_grid_sees_only_the_chord_inside():
    """An observer outside a box looks through it: the intensity is q × (exit − entry)."""
    grid = TallyGrid("cartesian", (np.linspace(0, 2, 5), np.linspace(-1, 1, 5), np.linspace(-1, 1, 5)))
    I, _ = integrate(
        grid, [_uniform(grid, n_e=1)], [-5.0, 0.0, 0.0], _rays(galactic_direction([0.0, 180.0], 0.0))
    )
    np.testing.assert_allclose(I[:, 0], [2.5 * 2.0 * KPC_CM, 0.0], rtol=1e-12)


def test_gas_column_through_the_disc():
    """With the gas as target and q = 1 per unit target, the intensity toward the pole is the gas column
    ∫ n_H dz (GALPROP model), computed here by fine quadrature."""
    grid = TallyGrid("cylindrical", (np.linspace(0, 20, 41), np.linspace(-4, 4, 33)))
    gas = build_gas_model("galprop")
    ch = Channel(np.ones((grid.n_cells, 1)), np.zeros((grid.n_cells, 1)), target="gas")
    obs = np.array([-8.5, 0.0, 0.0])
    I, _ = integrate(grid, [ch], obs, _rays(galactic_direction([0.0, 0.0], [90.0, -60.0])), gas=gas)
    for row, sinb in enumerate((1.0, np.sin(np.radians(60.0)))):
        s = np.linspace(0.0, 4.0 / sinb, 400001)
        d = galactic_direction(0.0, 90.0 if row == 0 else -60.0)
        n = np.array([hydrogen_nuclei(gas.kind, gas.params, gas.grid, *(obs + si * d)) for si in s[::100]])
        column = np.trapezoid(n, s[::100])
        np.testing.assert_allclose(I[row, 0] / KPC_CM, column, rtol=2e-3)


def test_compact_emitter_lands_in_its_pixel_with_its_flux():
    """One bright cell of a fine cartesian grid: the map's flux ∫ I dΩ equals q V / r² (r the distance to
    the cell centre) and the brightest pixel contains the cell's direction.  The split beams sample the
    cell's projected area on a grid of spacing h ≤ a/oversampling at the cell: rays within h of its
    outline may miss or hit, so the flux agrees to the outline's share of the area, ≤ perimeter·h/area
    ≤ 6 h/a for a cube of side a (plus (a/r)² from the cell's depth)."""
    edges = np.linspace(-1.0, 1.0, 81)  # 25 pc cells
    grid = TallyGrid("cartesian", (edges, edges, edges))
    q = np.zeros((grid.n_cells, 1))
    cell = (60, 30, 50)
    q[np.ravel_multi_index(cell, grid.shape)] = 7.0
    obs = np.array([-0.9, 0.1, -0.2])
    nside = 64
    centre = np.array([edges[i] + 0.0125 for i in cell])
    r = np.linalg.norm(centre - obs)
    near = hp.query_disc(nside, centre - obs, 0.1)  # every pixel within 6° of the emitter (it spans 0.7°)
    oversampling = 64.0
    rays = healpix_rays(nside, near)
    I, _ = integrate(grid, [Channel(q, q)], obs, rays, interpolation="nearest", oversampling=oversampling)
    volume = 0.025**3
    flux = I[:, 0].sum() * hp.nside2pixarea(nside)
    np.testing.assert_allclose(flux, 7.0 * volume / r**2 * KPC_CM, rtol=6 / oversampling + (0.025 / r) ** 2)
    assert near[np.argmax(I[:, 0])] == hp.vec2pix(nside, *(centre - obs))


def test_all_sky_integral_equals_volume_integral():
    """∫ I dΩ = ∫ q/r² dV for a non-uniform emissivity (q ∝ 1 + x² + |z|) in a box around the observer; the
    volume integral by fine midpoint quadrature in spherical shells around the observer."""
    edges = (np.linspace(-3, 3, 25), np.linspace(-2, 2, 17), np.linspace(-1, 1, 9))
    grid = TallyGrid("cartesian", edges)
    X, Y, Z = np.meshgrid(*[0.5 * (e[1:] + e[:-1]) for e in edges], indexing="ij")
    q = (1.0 + X**2 + np.abs(Z)).reshape(-1, 1)
    obs = np.array([0.4, -0.3, 0.1])
    nside = 32
    rays = healpix_rays(nside)
    I, _ = integrate(
        grid, [Channel(q, q)], obs, rays, interpolation="nearest", steps=Steps(step_kpc=0.02), oversampling=4
    )
    flux = I[:, 0].sum() * hp.nside2pixarea(nside) / KPC_CM
    # ∫ q/r² dV = Σ_cells q_c ∫_cell dV / r²: sub-sample each cell 6³ times
    sub = (np.arange(6) + 0.5) / 6
    total = 0.0
    widths = [np.diff(e)[0] for e in edges]
    for a in sub:
        for b in sub:
            for c in sub:
                P = np.stack(
                    [X + (a - 0.5) * widths[0], Y + (b - 0.5) * widths[1], Z + (c - 0.5) * widths[2]], -1
                )
                r2 = np.sum((P - obs) ** 2, axis=-1)
                total += np.sum(q[:, 0].reshape(X.shape) / r2) * np.prod(widths) / 216
    # the cell holding the observer makes the 1/r² quadrature the weak side: compare to 1 %
    np.testing.assert_allclose(flux, total, rtol=1e-2)


def test_bad_arguments_are_refused():
    grid = TallyGrid("cartesian", (np.linspace(0, 1, 3),) * 3)
    ch = _uniform(grid)
    rays = _rays(galactic_direction(0.0, 0.0))
    with pytest.raises(ValueError, match="interpolation='cubic'"):
        integrate(grid, [ch], [0, 0, 0], rays, interpolation="cubic")
    with pytest.raises(ValueError, match="max_distance_kpc"):
        integrate(grid, [ch], [0, 0, 0], rays, max_distance_kpc=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        integrate(grid, [Channel(ch.emissivity * np.nan, ch.sigma)], [0, 0, 0], rays)
    with pytest.raises(ValueError, match="isrf_params"):
        integrate(grid, [Channel(ch.emissivity, ch.sigma, "isrf", 0)], [0, 0, 0], rays)


def test_absorption_in_a_uniform_sphere():
    """Uniform emissivity q and uniform opacity κ inside a sphere of radius R around the observer:
    I = q (1 − e^{−κR})/κ, in every direction, also where the beams split (a HEALPix map)."""
    from sdeprop.models.isrf import build_isrf

    grid = TallyGrid("cartesian", (np.linspace(-10, 10, 21), np.linspace(-10, 10, 21), np.linspace(-4, 4, 9)))
    isrf = build_isrf("custom", components=[(2.725, 0.26)])
    kappa = np.array([[0.0, 0.1, 0.5]])  # per kpc, one ISRF component, three energies
    ch = Channel(np.full((grid.n_cells, 3), 2.0), np.full((grid.n_cells, 3), 0.2))
    radius = 3.5
    rays = healpix_rays(4)
    I, S = integrate(
        grid, [ch], [0.3, -0.2, 0.1], rays, isrf_params=isrf, absorption=kappa, max_distance_kpc=radius,
        oversampling=8,
    )  # fmt: skip
    expected = 2.0 * KPC_CM * np.array([radius, *((1 - np.exp(-kappa[0, 1:] * radius)) / kappa[0, 1:])])
    np.testing.assert_allclose(I, np.broadcast_to(expected, I.shape), rtol=1e-4)
    np.testing.assert_allclose(S, 0.1 * I, rtol=1e-12)
    with pytest.raises(ValueError, match="absorption must have shape"):
        integrate(grid, [ch], [0, 0, 0], rays, isrf_params=isrf, absorption=np.zeros((2, 3)))
