"""Source distributions: spiral arms (Faucher-Giguère & Kaspi 2006, Steiman-Cameron et al. 2010), the
supernova rates of Ferrière 2001 and densities from grid files (docs/sources.md).

Oracles:

* The samples come from the pdf: χ² of the R and z marginals (and of an (x, y) histogram for the
  non-axisymmetric sources) against the counts expected from integrating the pdf (Gauss–Legendre in R and
  z, the trapezoidal rule over the periodic φ, or over x and y), bins with < 5 expected counts pooled; a
  fixed seed and p > 1e-3 (a false alarm once in a thousand seeds per histogram).
* The same quadrature integrates the pdf to 1 over the halo (to 1e-3, far above its error).
* The kernel's ``source_density`` is the numpy pdf, written independently, to rtol 1e-10.
* The Sun lies 1–1.5 kpc outside the Carina–Sagittarius centroid of Faucher-Giguère & Kaspi and inside
  Perseus; the arm centroids are gammapy's ``FaucherSpiral`` in the paper's frame.
* Transport: an observer-biased run agrees with a plain one at the Sun, and a backward run with a forward
  sphere tally, both within 4 combined standard errors (6e-5 false-alarm rate each).
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest
from scipy import stats
from scipy.interpolate import RegularGridInterpolator

import sdeprop
from sdeprop.config import ConfigError, load_config
from sdeprop.io import read_source_grid, write_source_grid
from sdeprop.models.sources import (
    FGK06_ARMS,
    build_source,
    source_density,
    source_from_tally,
)

H, RMAX = 4.0, 20.0
N_SAMPLES = 200_000
P_MIN = 1e-3
N_SIGMA = 4.0


# ----------------------------------------------------------------------------- grids for the file sources
def cartesian_grid():
    """A blob with an arm-like ridge on nodes 1 kpc apart in x, y and 0.1 kpc in z, zero on the rim."""
    x = np.linspace(-12.0, 12.0, 25)
    z = np.linspace(-1.0, 1.0, 21)
    X, Y, Z = np.meshgrid(x, x, z, indexing="ij")
    v = (np.exp(-((X + 6.0) ** 2 + Y**2) / 8.0) + 0.5 * np.exp(-((X - 2.0 * Y - 3.0) ** 2) / 2.0)) * np.exp(
        -np.abs(Z) / 0.2
    )
    v[np.hypot(X, Y) > 11.0] = 0.0
    v[:, :, [0, -1]] = 0.0
    return "cartesian", (x, x, z), v


def cylindrical_grid():
    """A ring on nodes 0.5 kpc apart in R and 0.1 kpc in z."""
    R = np.linspace(0.0, 15.0, 31)
    z = np.linspace(-1.0, 1.0, 21)
    v = np.exp(-(((R[:, None] - 6.0) / 2.5) ** 2)) * np.exp(-((z[None, :] / 0.3) ** 2))
    return "cylindrical", (R, z), v


def gridded(tmp_path, make, ext="h5"):
    geometry, axes, values = make()
    path = tmp_path / f"{geometry}.{ext}"
    write_source_grid(path, geometry, axes, values)
    return {"type": "gridded", "file": str(path)}


SOURCES = {
    "fgk": {"type": "spiral_arms"},
    "fgk_options": {
        "type": "spiral_arms",
        "centre_blur": "symmetric",
        "interarm_fraction": 0.2,
        "rotation_deg": 30.0,
        "arm_weights": [1.0, 2.0, 3.0, 4.0],
        "scale_to_sun": False,
        "z0_kpc": 0.1,
        "arm_width_fraction": 0.05,
    },
    "sc10": {"type": "spiral_arms", "model": "steiman_cameron10"},
    "sc10_options": {
        "type": "spiral_arms",
        "model": "steiman_cameron10",
        "interarm_fraction": 0.3,
        "arm_width_deg": 25.0,
        "R_cut_kpc": 15.0,
    },
    "snr_ia": {"type": "snr", "population": "type_ia"},
    "snr_cc": {"type": "snr", "population": "core_collapse"},
    "snr_total": {"type": "snr", "population": "total"},
    "grid_xyz": cartesian_grid,
    "grid_rz": cylindrical_grid,
}


def make_source(name, tmp_path):
    spec = SOURCES[name]
    section = gridded(tmp_path, spec) if callable(spec) else spec
    cfg = load_config({"galaxy": {"halo_height_kpc": H, "radius_max_kpc": RMAX}, "source": section})
    return build_source(cfg, grid=read_source_grid(cfg.source))


def z_edges(name):
    """z bin edges: 0.1 kpc nodes for the grids, geometric from 0.01 kpc to H for the profiles."""
    if name.startswith("grid"):
        inner = np.linspace(-1.0, 1.0, 21)
        return np.concatenate([[-H], inner, [H]])
    b = 0.01 * 1.4 ** np.arange(0, 30)
    b = np.append(b[b < H], H)
    return np.concatenate([-b[::-1], [0.0], b])


def gauss_nodes(edges, n):
    """Gauss–Legendre nodes and weights, n per interval, with the interval index of each node."""
    x, w = np.polynomial.legendre.leggauss(n)
    lo, hi = edges[:-1, None], edges[1:, None]
    nodes = 0.5 * (lo + hi) + 0.5 * (hi - lo) * x
    weights = 0.5 * (hi - lo) * w
    return nodes.ravel(), weights.ravel(), np.repeat(np.arange(len(edges) - 1), n)


def expected_R_z(src, R_edges, zb, n_phi=128):
    """Probabilities of the R bins and of the z bins, and the total, from the pdf."""
    rn, rw, ri = gauss_nodes(R_edges, 4)
    zn, zw, zi = gauss_nodes(zb, 4)
    phi = 2.0 * np.pi * np.arange(n_phi) / n_phi
    pR = np.zeros(len(R_edges) - 1)
    pz = np.zeros(len(zb) - 1)
    for r, w, i in zip(rn, rw, ri):
        x = (r * np.cos(phi))[:, None] * np.ones_like(zn)[None, :]
        y = (r * np.sin(phi))[:, None] * np.ones_like(zn)[None, :]
        dens = src.pdf(x, y, np.broadcast_to(zn, x.shape))  # (φ, z)
        ring = w * r * (2.0 * np.pi / n_phi) * dens.sum(axis=0) * zw  # per z node
        pR[i] += ring.sum()
        np.add.at(pz, zi, ring)
    return pR, pz, pR.sum()


def expected_xy(src, xy_edges, zb):
    """Probabilities of the (x, y) cells of a square grid (6 × 6 Gauss–Legendre nodes per cell: the arms of
    Steiman-Cameron et al. are ~0.3 kpc wide across; 3 × 3 misses by up to 4.5σ of the counts, 6 × 6 by
    0.1σ against 10 × 10)."""
    xn, xw, xi = gauss_nodes(xy_edges, 6)
    zn, zw, _ = gauss_nodes(zb, 4)
    m = len(xy_edges) - 1
    out = np.zeros((m, m))
    Y, Z = np.meshgrid(xn, zn, indexing="ij")
    for x, wx, i in zip(xn, xw, xi):
        dens = src.pdf(np.full_like(Y, x), Y, Z)
        col = wx * (dens * zw[None, :]).sum(axis=1) * xw  # per y node
        np.add.at(out[i], xi, col)
    return out


def chi2_pvalue(observed, probability, n):
    """p-value of Pearson's χ², the bins expected below 5 pooled into one (so are slivers of the density
    the quadrature misses; the test asks the pdf itself that every sample lies where it is > 0)."""
    observed = np.asarray(observed, dtype=float).ravel()
    expected = n * np.asarray(probability, dtype=float).ravel()
    small = expected < 5.0
    if small.any():
        observed = np.append(observed[~small], observed[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
        if expected[-1] == 0.0 and observed[-1] == 0.0:  # only bins where the density vanishes
            observed, expected = observed[:-1], expected[:-1]
    stat = float(np.sum((observed - expected) ** 2 / expected))
    return float(stats.chi2.sf(stat, len(expected) - 1)), len(expected)


@pytest.mark.parametrize("name", list(SOURCES))
def test_samples_follow_the_pdf_and_the_pdf_is_normalised(name, tmp_path):
    src = make_source(name, tmp_path)
    rng = np.random.default_rng(20240 + len(name))
    x, y, z = src.sample_positions(rng, N_SAMPLES)
    R_edges = np.arange(0.0, RMAX + 1e-9, 0.5)
    zb = z_edges(name)
    hR = np.histogram(np.hypot(x, y), R_edges)[0]
    hz = np.histogram(z, zb)[0]
    assert hR.sum() == hz.sum() == N_SAMPLES  # nothing outside the halo
    assert np.all(src.pdf(x, y, z) > 0), "samples where the pdf is zero"
    pR, pz, total = expected_R_z(src, R_edges, zb)
    if name != "grid_xyz":  # its kinks along x and y need cells aligned with the nodes: the (x, y) test below
        assert abs(total - 1.0) < 1e-3, total
        p_R, k_R = chi2_pvalue(hR, pR / total, N_SAMPLES)
        print(f"{name}: ∫pdf = {total:.7f}; χ² p-value R {p_R:.3f} ({k_R} bins)")
        assert p_R > P_MIN
    p_z, k_z = chi2_pvalue(hz, pz / total, N_SAMPLES)
    print(f"{name}: χ² p-value z {p_z:.3f} ({k_z} bins)")
    assert p_z > P_MIN
    if not getattr(src, "axisymmetric", True):
        xy_edges = np.arange(-15.0, 15.0 + 1e-9, 1.0)
        pxy = expected_xy(src, xy_edges, zb)
        if name == "grid_xyz":  # exact: Gauss–Legendre in cells aligned with the nodes
            total = pxy.sum()
            assert abs(total - 1.0) < 1e-12, total
        hxy = np.histogram2d(x, y, [xy_edges, xy_edges])[0]
        outside = N_SAMPLES - hxy.sum()
        p_xy, k_xy = chi2_pvalue(
            np.append(hxy, outside), np.append(pxy, total - pxy.sum()) / total, N_SAMPLES
        )
        print(f"{name}: ∫pdf = {total:.7f}; χ² p-value (x, y) {p_xy:.3f} ({k_xy} bins)")
        assert p_xy > P_MIN


@pytest.mark.parametrize("name", list(SOURCES))
def test_kernel_density_is_the_pdf(name, tmp_path):
    src = make_source(name, tmp_path)
    kind, params = src.density_params()
    rng = np.random.default_rng(7)
    reach = 12.0 if name.startswith("grid") else 21.0
    pts = np.column_stack(
        [rng.uniform(-reach, reach, 400), rng.uniform(-reach, reach, 400), rng.uniform(-1.2, 1.2, 400)]
    )
    pts[:100, 2] *= 0.05  # near the plane, where the thin profiles live
    pts = np.vstack([pts, [[0.0, 0.0, 0.0], [-8.3, 0.0, 0.0], [0.0, 0.0, 4.5]]])
    kernel = np.array([source_density(kind, params, *p, math.hypot(p[0], p[1])) for p in pts])
    if name.startswith("grid"):  # the pdf is the kernel's function: compare with scipy's interpolation
        geometry, axes, values = SOURCES[name]()
        inside = RegularGridInterpolator(axes, values, bounds_error=False, fill_value=0.0)
        where = (
            pts if geometry == "cartesian" else np.column_stack([np.hypot(pts[:, 0], pts[:, 1]), pts[:, 2]])
        )
        reference = inside(where) * float(src.norm)
    else:
        reference = src.pdf(pts[:, 0], pts[:, 1], pts[:, 2])
    assert np.count_nonzero(reference) > 150
    np.testing.assert_allclose(kernel, reference, rtol=1e-10, atol=0.0)


# ----------------------------------------------------------------------------- where the arms lie
def test_sun_lies_between_carina_sagittarius_and_perseus():
    """The Sun 1–1.5 kpc outside the Carina–Sagittarius centroid (measured toward the Galactic centre) and
    inside Perseus, for the default Sun and for one off the x axis; Steiman-Cameron's arms likewise put the
    Sun between Sagittarius–Carina and Perseus."""
    for sun in ([-8.3, 0.0, 0.0], [0.0, 8.0, 0.0], [-8.5, 0.0, 0.0]):
        cfg = load_config({"galaxy": {"sun_position_kpc": sun}, "source": {"type": "spiral_arms"}})
        off = build_source(cfg).arm_radial_offsets_kpc(sun[0], sun[1])
        print("FGK06, Sun at", sun, {k: round(v, 3) for k, v in off.items()})
        assert 1.0 < off["Carina-Sagittarius"] < 1.5
        assert -2.5 < off["Perseus"] < 0.0
    cfg = load_config({"source": {"type": "spiral_arms", "model": "steiman_cameron10"}})
    off = build_source(cfg).arm_radial_offsets_kpc(-8.3, 0.0)
    print("SC10", {k: round(v, 3) for k, v in off.items()})
    assert 0.0 < off["Sagittarius-Carina"] < 1.5 and off["Perseus"] < 0.0


def test_arm_centroids_are_gammapys_faucher_spiral():
    """In the paper's frame (Sun at 8.5 kpc, θ = 90°, no scaling) the centroids are gammapy's."""
    population = pytest.importorskip("gammapy.astro.population")
    from astropy import units as u

    cfg = load_config(
        {
            "galaxy": {"sun_position_kpc": [-8.5, 0.0, 0.0]},
            "source": {"type": "spiral_arms", "scale_to_sun": False},
        }
    )
    arms = build_source(cfg).arms()
    spiral = population.FaucherSpiral()
    R = np.array([4.0, 8.5, 12.0])
    for i, ((name, a, alpha, rotation), row) in enumerate(zip(arms, FGK06_ARMS)):
        assert name == row[0] == str(spiral.spiralarms[i]).replace(" ", "-")
        theirs = spiral.theta(R * u.kpc, spiralarm_index=i).to_value(u.rad)
        ours = np.log(R / a) / alpha + rotation - 0.5 * np.pi  # φ = θ + 90°
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- transport
def transport_config(seed, particles, fraction=0.0, H_kpc=0.3, D=3e28, epsilon=1.0):
    return {
        "run": {"particles": particles, "batch_size": 10000, "seed": seed, "progress": False, "workers": 1},
        "species": {"name": "proton"},
        "energy": {"min_GeV": 10.0, "max_GeV": 10.0 * (1 + 1e-5)},
        "spectrum": {"type": "log_uniform"},
        "galaxy": {"halo_height_kpc": H_kpc, "radius_max_kpc": RMAX},
        "field": {"model": "uniform", "direction": [0.0, 1.0, 0.3]},
        "diffusion": {"D0_cm2_per_s": D, "epsilon": epsilon},
        "source": {"type": "spiral_arms", "observer_fraction": fraction, "observer_radius_kpc": 1.5},
    }


def test_observer_biased_run_agrees_with_a_plain_one():
    """Protons without losses in a 0.3 kpc halo travel ~0.3 kpc before they escape, so the density in a
    0.25 kpc sphere at the Sun comes from nearby sources: the bias (70 % started within 1.5 kpc) is unbiased
    there and much sharper."""
    tally = [{"name": "sun", "type": "sphere", "radius_kpc": 0.25, "energy_bins": 1}]
    plain = sdeprop.run(dict(transport_config(61, 300_000), tally=tally)).tallies["sun"]
    biased = sdeprop.run(dict(transport_config(62, 60_000, fraction=0.7), tally=tally)).tallies["sun"]
    a, da, b, db = plain.density[0], plain.uncertainty[0], biased.density[0], biased.uncertainty[0]
    print("sun sphere: plain", a, da / a, "biased", b, db / b, "pull", (a - b) / math.hypot(da, db))
    assert abs(a - b) < N_SIGMA * math.hypot(da, db)
    assert db / b < 0.5 * da / a


@pytest.mark.parametrize("model", ["faucher_giguere_kaspi06", "steiman_cameron10"])
def test_backward_agrees_with_a_forward_sphere(model):
    """The backward ball mean at the Sun against the forward 0.5 kpc sphere (the pattern of
    tests/physics/test_observer.py): one energy, a 1 kpc halo, the spiral-arm source."""
    e_obs = 10.0 * (1 + 0.5e-5)
    fwd = transport_config(71, 200_000, H_kpc=1.0, D=1e29, epsilon=0.3)
    fwd["source"]["model"] = model
    fwd["tally"] = [{"name": "sun", "type": "sphere", "radius_kpc": 0.5, "energy_bins": 1}]
    f = sdeprop.run(fwd).tallies["sun"]
    width = float(np.diff(f.edges["E_GeV"])[0])
    n_f, e_f = f.density[0] * width, f.uncertainty[0] * width
    bwd = transport_config(72, 3000, H_kpc=1.0, D=1e29, epsilon=0.3)
    bwd["source"] = {"type": "spiral_arms", "model": model}
    bwd["run"]["batch_size"] = 1000
    bwd["estimator"] = {"method": "backward"}
    bwd["observer"] = {"energies_GeV": [e_obs], "radius_kpc": 0.5}
    b = sdeprop.run(bwd).tallies["observer"]
    s_e = 1.0 / (b.energies_GeV[0] * math.log(1 + 1e-5))
    n_b, e_b = b.density[0] / s_e, b.uncertainty[0] / s_e
    print(model, "backward/forward", n_b / n_f, "errors", e_b / n_b, e_f / n_f)
    assert e_f < 0.07 * n_f and e_b < 0.07 * n_b
    assert abs(n_b - n_f) < N_SIGMA * math.hypot(e_b, e_f)


def test_source_from_tally(tmp_path):
    """A cylindrical and a cartesian tally of a short run become sources (their density at the cell
    centres); written to a file they load again as [source] type = 'gridded'."""
    cfg = transport_config(81, 4000, H_kpc=1.0, D=1e29, epsilon=0.3)
    cfg["energy"] = {"min_GeV": 10.0, "max_GeV": 100.0}
    cfg["tally"] = [
        {"name": "rz", "type": "cylindrical", "R_bins": 10, "z_bins": 4, "energy_bins": 2},
        {
            "name": "xyz",
            "type": "cartesian",
            "x_range_kpc": [-15.0, 15.0],
            "y_range_kpc": [-15.0, 15.0],
            "z_range_kpc": [-0.9, 0.9],
            "bins": [10, 10, 3],
            "energy_bins": 2,
        },
        {"name": "sun", "type": "sphere", "radius_kpc": 0.5, "energy_bins": 1},
    ]
    res = sdeprop.run(cfg)
    rz = source_from_tally(res, "rz", energy_index=0)
    t = res.tallies["rz"]
    np.testing.assert_allclose(rz.values, t.density[..., 0])
    assert rz.R[0] == pytest.approx(t.centers("R_kpc")[0])
    xyz = source_from_tally(res, "xyz", energy_range_GeV=(10.0, 100.0))
    np.testing.assert_allclose(
        xyz.values, res.tallies["xyz"].density @ np.diff(res.tallies["xyz"].edges["E_GeV"])
    )
    for src in (rz, xyz):
        x, y, z = src.sample_positions(np.random.default_rng(1), 1000)
        assert np.all(src.pdf(x, y, z) > 0)
    path = tmp_path / "secondary.h5"
    write_source_grid(path, "cartesian", [xyz.x, xyz.y, xyz.z], xyz.values)
    loaded = load_config(
        {"galaxy": {"halo_height_kpc": 1.0}, "source": {"type": "gridded", "file": str(path)}}
    )
    again = build_source(loaded, grid=read_source_grid(loaded.source))
    assert again.norm == pytest.approx(xyz.norm, rel=1e-12)
    with pytest.raises(ValueError, match="sphere tally"):
        source_from_tally(res, "sun", energy_index=0)
    with pytest.raises(ValueError, match="exactly one"):
        source_from_tally(res, "rz")
    with pytest.raises(KeyError, match="no tally"):
        source_from_tally(res, "nope", energy_index=0)


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "section, words",
    [
        ({"type": "spiral_arms", "model": "lorimer"}, "source.model = 'lorimer'"),
        ({"type": "spiral_arms", "arm_width_deg": 10.0}, "arm_width_deg = 10.0 applies to model"),
        ({"type": "spiral_arms", "model": "steiman_cameron10", "centre_blur": "none"}, "centre_blur"),
        ({"type": "spiral_arms", "arm_weights": [0, 0, 0, 0]}, "at least one weight"),
        ({"type": "spiral_arms", "arm_weights": [1, 1, 1]}, "source.arm_weights"),
        ({"type": "spiral_arms", "arm_width_fraction": 0.5}, "source.arm_width_fraction = 0.5"),
        ({"type": "spiral_arms", "z0_kpc": 4.0}, "source.z0_kpc = 4.0 must be below"),
        ({"type": "spiral_arms", "R_cut_kpc": 25.0}, "source.R_cut_kpc = 25.0 exceeds"),
        ({"type": "snr", "population": "ia"}, "source.population = 'ia'"),
        ({"type": "snr", "R_cut_kpc": 21.0}, "source.R_cut_kpc = 21.0"),
        ({"type": "gridded"}, "missing required key 'source.file'"),
        ({"type": "gridded", "file": "no/such/file.h5"}, "does not exist"),
    ],
)
def test_bad_source_keys_are_refused(section, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load_config({"source": section})


def test_sources_need_room_in_the_halo():
    with pytest.raises(ConfigError, match=r"scale heights up to 0.636 kpc, which must be below"):
        load_config({"galaxy": {"halo_height_kpc": 0.5}, "source": {"type": "snr"}})
    load_config({"galaxy": {"halo_height_kpc": 0.5}, "source": {"type": "snr", "population": "type_ia"}})
    with pytest.raises(ConfigError, match="lies on the z axis"):
        load_config({"galaxy": {"sun_position_kpc": [0, 0, 0.01]}, "source": {"type": "spiral_arms"}})
    with pytest.raises(ConfigError, match="component 'pwn'.*source.z0_kpc"):
        load_config({"components": [{"name": "pwn", "source": {"type": "spiral_arms", "z0_kpc": 9.0}}]})


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f[k] = v
    return str(path)


def test_bad_grid_files_are_refused(tmp_path):
    x = np.linspace(-5.0, 5.0, 11)
    z = np.linspace(-0.5, 0.5, 6)
    good = np.ones((11, 11, 6))
    good[[0, -1]] = 0.0
    good[:, [0, -1]] = 0.0
    cases = {
        "cannot read source grid": (tmp_path / "text.h5", None),
        "axis datasets missing": (_h5(tmp_path / "noaxes.h5", density=good), None),
        "no dataset 'rho'": (_h5(tmp_path / "ds.h5", x_kpc=x, y_kpc=x, z_kpc=z, density=good), "rho"),
        "has shape": (_h5(tmp_path / "shape.h5", x_kpc=x, y_kpc=x, z_kpc=z, density=good[:, :, :5]), None),
        "negative value": (_h5(tmp_path / "neg.h5", x_kpc=x, y_kpc=x, z_kpc=z, density=-good), None),
        "NaN/inf": (_h5(tmp_path / "nan.h5", x_kpc=x, y_kpc=x, z_kpc=z, density=good * np.nan), None),
        "not uniform": (
            _h5(tmp_path / "axis.h5", x_kpc=x**3 / 25.0, y_kpc=x, z_kpc=z, density=good),
            None,
        ),
        "reach outside the halo": (
            _h5(tmp_path / "halo.h5", x_kpc=x, y_kpc=x, z_kpc=10.0 * z, density=good),
            None,
        ),
        "unsupported extension": (tmp_path / "grid.npz", None),
    }
    (tmp_path / "text.h5").write_text("not hdf5")
    (tmp_path / "grid.npz").write_bytes(b"")
    for words, (path, dataset) in cases.items():
        section = {"type": "gridded", "file": str(path)}
        if dataset:
            section["dataset"] = dataset
        with pytest.raises(ConfigError, match=f"source.file = .*{words}"):
            load_config({"source": section})
    fine = _h5(tmp_path / "fine.h5", x_kpc=x, y_kpc=x, z_kpc=z, rho=good)
    load_config({"source": {"type": "gridded", "file": fine, "dataset": "rho"}})
    with pytest.raises(ValueError, match="needs the arrays of source.file"):
        build_source(load_config({"source": {"type": "gridded", "file": fine, "dataset": "rho"}}))


def test_fits_grids_read_as_hdf5_ones(tmp_path):
    for make in (cartesian_grid, cylindrical_grid):
        a = make_source_from(tmp_path, make, "h5")
        b = make_source_from(tmp_path, make, "fits")
        assert type(a) is type(b)
        np.testing.assert_allclose(b.values, a.values, rtol=1e-15)
        assert b.norm == pytest.approx(a.norm, rel=1e-13)


def make_source_from(tmp_path, make, ext):
    cfg = load_config({"source": gridded(tmp_path, make, ext)})
    return build_source(cfg, grid=read_source_grid(cfg.source))
