"""Sky maps from a real (small) run: the plumbing from tally to map, the files, the command line.

Oracles: a pixel of the map equals the line-of-sight integral done here by hand (numpy quadrature of
gas × (emission matrix @ cell density) along the pixel's ray, nearest cell, no beam splitting); the
FITS cube read back by healpy and by gammapy equals the map; a region spectrum is the mean of the
pixels inside the region.
"""

from __future__ import annotations

import subprocess
import sys

import healpy as hp
import numpy as np
import pytest
from skymap_runs import BOX_TALLY, skymap_run_config

from sdeprop.emission import pion_decay_matrix
from sdeprop.engine import run
from sdeprop.errors import ConfigError
from sdeprop.io import write_result
from sdeprop.models.gas3d import build_gas_model
from sdeprop.skymap.maps import make_skymap
from sdeprop.skymap.output import read_skymap_hdf5, skymap_fits_bytes, write_skymap_fits, write_skymap_hdf5
from sdeprop.skymap.regions import NAMED_REGIONS, parse_region
from sdeprop.units import KPC_CM

ENERGIES = np.array([200.0, 2000.0])


@pytest.fixture(scope="module")
def proton_result():
    cfg = skymap_run_config(600, 300, 11)
    return run(cfg)


def test_pixel_equals_hand_integral(proton_result):
    """Toward (l, b) ≈ (30°, 2°) the map's pixel (nearest cell) equals Σ n_H(x) (M @ n_cell) ds summed
    here with numpy on a 2 pc grid along the pixel's central ray."""
    nside = 64
    sky = make_skymap(proton_result, ENERGIES, ("pp",), nside=nside, interpolation="nearest")
    # the beam (0.9°) stays narrower than cell/oversampling = 0.5 kpc out to 30 kpc: one ray per pixel
    assert 30.0 * np.sqrt(hp.nside2pixarea(nside)) < 0.5
    t = proton_result.tallies["box"]
    dens = t.density  # (12, 12, 4, 20)
    m = pion_decay_matrix(t.layout.energy_edges_GeV, ENERGIES)
    gas = build_gas_model("galprop")
    pix = hp.ang2pix(nside, 30.0, 2.0, lonlat=True)
    d = np.array(hp.pix2vec(nside, pix))
    obs = np.array([-8.3, 0.0, 0.0])
    edges = [t.edges[a] for a in ("x_kpc", "y_kpc", "z_kpc")]
    with np.errstate(divide="ignore"):
        lo, hi = np.array([e[0] for e in edges]), np.array([e[-1] for e in edges])
        s_end = np.where(d > 0, (hi - obs) / d, np.where(d < 0, (lo - obs) / d, np.inf)).min()
    ds = 0.002
    s = np.arange(0.5 * ds, s_end, ds)
    pts = obs + s[:, None] * d
    idx = [
        np.clip(np.searchsorted(e, pts[:, a], side="right") - 1, 0, len(e) - 2) for a, e in enumerate(edges)
    ]
    n_h = gas.hydrogen_nuclei(pts)
    q = m.apply(dens[idx[0], idx[1], idx[2]])  # (n_s, n_E)
    expected = (n_h[:, None] * q).sum(axis=0) * ds * KPC_CM
    np.testing.assert_allclose(sky.intensity[:, pix], expected, rtol=2e-2)
    assert np.all(sky.uncertainty[:, pix] > 0)


@pytest.fixture(scope="module")
def sky(proton_result):
    return make_skymap(proton_result, ENERGIES, ("pp",), nside=8)


def test_map_is_brightest_along_the_plane_toward_the_inner_galaxy(sky):
    l, b = sky.pixel_lonlat()
    inner = (np.abs(b) < 10) & ((l < 60) | (l > 300))
    high = np.abs(b) > 60
    assert np.all(np.isfinite(sky.intensity)) and np.all(sky.intensity >= 0)
    assert sky.intensity[0, inner].mean() > 10 * sky.intensity[0, high].mean()


def test_region_spectrum_is_the_mean_over_the_region(sky):
    region = NAMED_REGIONS["lhaaso_inner"]
    spec = sky.region_spectrum(region)
    l, b = sky.pixel_lonlat()
    inside = region.contains(l, b)
    np.testing.assert_allclose(spec.intensity, sky.intensity[:, inside].mean(axis=1), rtol=1e-12)
    assert spec.n_pixels == inside.sum()
    box = parse_region("340,20,-5,5")  # through l = 0
    assert box.contains(np.array([350.0, 10.0, 30.0]), 0.0).tolist() == [True, True, False]
    with pytest.raises(ConfigError, match="named region"):
        parse_region("lhaaso")
    with pytest.raises(ConfigError, match="latitudes"):
        parse_region("10,20,5,-5")


def test_fits_cube_round_trips_through_healpy_and_gammapy(sky, tmp_path):
    path = write_skymap_fits(sky, tmp_path / "sky.fits")
    for k in range(len(ENERGIES)):
        np.testing.assert_allclose(
            hp.read_map(path, field=k, hdu="SKYMAP", nest=False, dtype=np.float64),
            sky.intensity[k],
            rtol=1e-12,
        )
    gammapy_maps = pytest.importorskip("gammapy.maps")
    m = gammapy_maps.Map.read(path, hdu="SKYMAP")
    np.testing.assert_allclose(m.geom.axes[0].center.to_value("GeV"), ENERGIES, rtol=1e-12)
    ring = sky.intensity  # gammapy stores the pixels in the file's order (RING here)
    np.testing.assert_allclose(m.data, ring, rtol=1e-6)  # gammapy holds HEALPix maps in float32
    assert m.unit.is_equivalent("GeV-1 cm-2 s-1 sr-1")
    back = read_skymap_hdf5(write_skymap_hdf5(sky, tmp_path / "sky.h5"))
    np.testing.assert_array_equal(back.intensity, sky.intensity)
    assert skymap_fits_bytes(sky)[:6] == b"SIMPLE"


def test_ratio_with_itself_is_one(sky):
    r, s = sky.ratio(sky)
    np.testing.assert_allclose(r[sky.intensity > 0], 1.0)


def test_bad_requests_are_refused(proton_result):
    with pytest.raises(ConfigError, match="needs electron or positron"):
        make_skymap(proton_result, ENERGIES, ("ic",), nside=2)
    with pytest.raises(ConfigError, match="mix photons and neutrinos"):
        make_skymap(proton_result, ENERGIES, ("pp", "nu"), nside=2)
    with pytest.raises(ConfigError, match="nside=3"):
        make_skymap(proton_result, ENERGIES, nside=3)
    with pytest.raises(ConfigError, match="energies_GeV"):
        make_skymap(proton_result, [-1.0], nside=2)
    with pytest.raises(ConfigError, match="a tenth of the top"):
        make_skymap(proton_result, [2e5], nside=2)
    with pytest.raises(ConfigError, match="tally 'nope'"):
        make_skymap(proton_result, ENERGIES, nside=2, tally="nope")


def test_command_line_writes_the_cube_and_region_spectra(proton_result, tmp_path):
    src = write_result(proton_result, tmp_path / "run.h5")
    out = tmp_path / "maps" / "sky.fits"
    cmd = [sys.executable, "-m", "sdeprop", "skymap", str(src), "--energies", "200,2000", "--nside", "4",
           "--region", "lhaaso_inner", "-o", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and out.with_suffix(".h5").is_file()
    rows = (tmp_path / "maps" / "sky_lhaaso_inner.csv").read_text().splitlines()
    assert rows[3] == "E_GeV,intensity,uncertainty" and len(rows) == 6
    bad = subprocess.run(cmd[:5] + ["--energies", "1e3,x"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--energies '1e3,x'" in bad.stderr


@pytest.fixture(scope="module")
def electron_result():
    """Electrons with the Galactic losses and an ISRF whose optical and UV parts fall off with R and |z|
    (so the inverse-Compton channels keep their own targets)."""
    box = dict(BOX_TALLY, bins=[8, 8, 4], energy_min_GeV=10.0, energy_max_GeV=3.0e4, energy_bins=18,
               source_energy_bins=18)  # fmt: skip
    cfg = skymap_run_config(
        400,
        200,
        5,
        tally=[box],
        species={"name": "electron"},
        energy={"min_GeV": 30.0, "max_GeV": 3.0e4},
        losses={
            "model": "galactic",
            "energy_floor_GeV": 10.0,
            "isrf": {"scale_lengths_kpc": 4.0, "scale_heights_kpc": 2.0},
        },
        spectrum={"type": "power_law", "index": 2.5, "variable": "kinetic_energy", "rate_per_Myr": 1e53},
    )
    return run(cfg)


def test_inverse_compton_and_bremsstrahlung_maps(electron_result):
    """IC and bremsstrahlung maps of an electron run: the total is the sum of the processes, and toward the
    Galactic poles (where the gas is thin and the CMB, a uniform target, still fills the halo) inverse
    Compton outshines bremsstrahlung; along the inner plane bremsstrahlung is a sizeable share."""
    energies = np.array([10.0, 100.0])
    sky = make_skymap(electron_result, energies, ("ic", "brems"), nside=4)
    ic, br = sky.processes["ic"][0], sky.processes["brems"][0]
    np.testing.assert_allclose(sky.intensity, ic + br, rtol=1e-12)
    assert np.all(ic > 0) and np.all(br >= 0)
    l, b = sky.pixel_lonlat()
    pole = np.abs(b) > 60
    assert ic[0, pole].mean() > 3 * br[0, pole].mean()
    # the ISRF components that vary in space keep their own channels; the CMB and the others merge
    from sdeprop.models.isrf import isrf_from_config
    from sdeprop.skymap.maps import emission_channels

    isrf = isrf_from_config(electron_result.config.losses.isrf)
    chans = emission_channels(electron_result, "box", energies, ("ic",), isrf_params=isrf)["ic"]
    assert {c.target for c in chans} == {"one", "isrf"}


def test_neutrino_map_and_photon_neutrino_ratio(proton_result):
    """All-flavour neutrinos from pp at 2 TeV: a positive map with the gas's shape; summed over the sky the
    ν/γ ratio at equal energy for this ~E^-2.6 proton spectrum lies in (0.5, 1.5) (Kelner et al. 2006:
    ≈ 1 for E^-2.5 … E^-2.7, docs/emission.md)."""
    e = np.array([2000.0])
    nu = make_skymap(proton_result, e, ("nu",), nside=4)
    gamma = make_skymap(proton_result, e, ("pp",), nside=4)
    ratio = nu.total_flux() / gamma.total_flux()
    assert 0.5 < ratio[0] < 1.5
    with pytest.raises(ValueError, match="100 GeV"):
        make_skymap(proton_result, np.array([10.0]), ("nu",), nside=2)


def test_plate_carree_map_agrees_with_healpix(sky, proton_result):
    """A plate-carrée map of the inner Galaxy averages to the same region spectrum as the HEALPix map
    (both are means over the region of the same intensity field), to the pixelisation difference."""
    car = make_skymap(
        proton_result,
        ENERGIES,
        ("pp",),
        car_pixel_deg=1.0,
        car_l_range_deg=(0, 360),
        car_b_range_deg=(-10, 10),
    )
    assert car.intensity.shape == (2, 360, 20)
    region = NAMED_REGIONS["lhaaso_inner"]  # 1° pixels tile it exactly
    fine = make_skymap(proton_result, ENERGIES, ("pp",), nside=128)
    a, b = car.region_spectrum(region).intensity, fine.region_spectrum(region).intensity
    print("plate carrée / HEALPix region mean:", a / b)
    np.testing.assert_allclose(a, b, rtol=0.03)


def test_bundled_lhaaso_spectra_read_in_GeV():
    """The LHAASO-KM2A inner-Galaxy table (Cao et al. 2023, Table S2): first point 12.6 TeV,
    6.61e-13 TeV⁻¹ cm⁻² s⁻¹ sr⁻¹ = 6.61e-16 GeV⁻¹ cm⁻² s⁻¹ sr⁻¹."""
    from sdeprop.skymap.data import available_diffuse_spectra, load_diffuse_spectrum

    assert available_diffuse_spectra() == ["lhaaso_diffuse_inner_2023", "lhaaso_diffuse_outer_2023"]
    inner = load_diffuse_spectrum("lhaaso_diffuse_inner_2023")
    assert inner.energies_GeV[0] == pytest.approx(12600.0)
    assert inner.intensity[0] == pytest.approx(6.61e-16)
    assert len(inner.energies_GeV) == 10 and any("PRL 131, 151001" in h for h in inner.header)
    with pytest.raises(ValueError, match="bundled"):
        load_diffuse_spectrum("fermi")


def test_replica_scatter_lies_below_the_per_cell_bound():
    """Five runs alike but for the seed: the scatter of their maps (which holds every correlation) gives
    a 1σ that the per-cell bound of los.py must not undercut (the bound is ≥ the true σ; the sample
    scatter of 5 replicas fluctuates by ~35 %, so the test asks it of the median pixel).  The combined
    map is the replicas' mean."""
    from sdeprop.skymap.maps import combine_replicas

    maps = []
    for seed in range(5):
        maps.append(make_skymap(run(skymap_run_config(300, 150, 100 + seed)), ENERGIES, ("pp",), nside=4))
    combined = combine_replicas(maps)
    np.testing.assert_allclose(combined.intensity, np.mean([m.intensity for m in maps], axis=0))
    ratio = combined.uncertainty / combined.uncertainty_bound
    print("replica σ / bound: median", np.median(ratio), "max", ratio.max())
    assert np.median(ratio) < 1.0
    with pytest.raises(ConfigError, match="at least 2"):
        combine_replicas(maps[:1])


def test_absorption_option(proton_result):
    """With absorption=True the γ maps are dimmed by at most 1 − e^{−κ L} (κ the summed ISRF opacity of
    emission/absorption.py at the local energy densities, which bound those of this uniform ISRF, L the
    longest path through the tally) and at least somewhat toward the plane at 50 TeV; neutrinos refuse
    it."""
    from sdeprop.emission.absorption import isrf_opacity_per_kpc
    from sdeprop.models.isrf import DELAHAYE10

    energies = np.array([2000.0, 5e4])
    plain = make_skymap(proton_result, energies, ("pp",), nside=4)
    absorbed = make_skymap(proton_result, energies, ("pp",), nside=4, absorption=True)
    longest = np.sqrt(24.0**2 + 24.0**2 + 4.0**2)  # the tally box's diagonal [kpc]
    tau_max = isrf_opacity_per_kpc(energies, DELAHAYE10).sum(axis=0) * longest
    dimming = 1 - absorbed.intensity / plain.intensity
    assert np.all(dimming >= -1e-12)
    assert np.all(dimming <= (1 - np.exp(-tau_max))[:, None] + 1e-12)
    l, b = absorbed.pixel_lonlat()
    assert dimming[1, np.abs(b) < 20].max() > 1e-3
    with pytest.raises(ConfigError, match="neutrinos"):
        make_skymap(proton_result, [2000.0], ("nu",), nside=4, absorption=True)


def test_mask_file_selects_the_region(sky, proton_result, tmp_path):
    """A HEALPix mask at another nside, regraded to the map's, gives the same spectrum as the boolean mask
    of the same pixels."""
    l, b = sky.pixel_lonlat()
    inside = NAMED_REGIONS["lhaaso_outer"].contains(l, b)
    fine = hp.ud_grade(inside.astype(float), 16)  # the mask file at nside 16, the map at 8
    path = tmp_path / "outer.fits"
    hp.write_map(path, fine, dtype=np.float64)
    src = write_result(proton_result, tmp_path / "run.h5")
    out = tmp_path / "sky.fits"
    cmd = [sys.executable, "-m", "sdeprop", "skymap", str(src), "--energies", "200,2000", "--nside", "8",
           "--mask", str(path), "-o", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "sky_outer.csv").read_text().splitlines()[4:]
    got = np.array([[float(v) for v in r.split(",")] for r in rows])
    np.testing.assert_allclose(got[:, 1], sky.region_spectrum(inside).intensity, rtol=1e-5)


def test_map_within_the_memory_budget(proton_result):
    """A map whose emissivities and pixels would not fit run.memory_budget_GiB is refused before it starts
    (here the budget is set to 1 MiB: the 576-cell tally at 2 energies fits, nside 64 does not)."""
    import copy

    small = copy.copy(proton_result)
    small.config_toml = proton_result.config_toml.replace(
        "memory_budget_GiB = 4.0", "memory_budget_GiB = 0.001"
    )
    assert small.config.run.memory_budget_GiB == 0.001
    make_skymap(small, ENERGIES, nside=2)
    with pytest.raises(ConfigError, match="memory_budget_GiB"):
        make_skymap(small, ENERGIES, nside=64)
