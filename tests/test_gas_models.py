"""Gas models for sky maps (sdeprop.models.gas3d, sdeprop.io gas cubes); docs/gas.md."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from sdeprop.io import read_gas_cube, write_gas_cube
from sdeprop.models import gas as galprop_gas
from sdeprop.models import gas3d

R_SUN_STEIMAN_CAMERON = 8.5  # kpc, the R⊙ of the Steiman-Cameron et al. 2010 fit


def _cyl(R, phi, z):
    return np.column_stack([R * np.cos(phi), R * np.sin(phi), z])


# ----------------------------------------------------------------------------- Nakanishi & Sofue
def _ns_independent(x, y, z):
    """The fits of docs/physics.md §5.2 written out again: HWHM profiles 2^{−(z/h)²}."""
    R = math.hypot(x, y)
    n_hi0 = 0.94 * (0.6 * math.exp(-R / 2.4) + 0.24 * math.exp(-(((R - 9.5) / 4.8) ** 2)))
    h_hi = 1.06 * (116.3 + 19.3 * R + 4.1 * R**2 - 0.05 * R**3) / 1000.0
    n_h20 = 0.94 * (11.2 * math.exp(-(R**2) / 0.874) + 0.83 * math.exp(-(((R - 4.0) / 3.2) ** 2)))
    h_h2 = 1.06 * (10.8 * math.exp(0.28 * R) + 42.78) / 1000.0
    n_hii = 0.025 * math.exp(-abs(z)) * math.exp(-((R / 20.0) ** 2)) + 0.2 * math.exp(
        -abs(z) / 0.15
    ) * math.exp(-(((R - 4.0) / 2.0) ** 2))
    return n_hi0 * 2.0 ** (-((z / h_hi) ** 2)), n_h20 * 2.0 ** (-((z / h_h2) ** 2)), n_hii


def test_nakanishi_sofue_matches_the_formulas():
    model = gas3d.build_gas_model("nakanishi_sofue")
    pts = np.array(
        [[-8.5, 0.0, 0.0], [-8.3, 0.5, 0.12], [3.0, 2.0, -0.05], [0.2, -0.1, 0.3], [12.0, 5.0, 0.8]]
    )
    got = model.evaluate(pts)
    want = np.array([_ns_independent(*p) for p in pts])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0.0)


def test_nakanishi_sofue_reproduces_the_crpropa_reference_values():
    """CRPropa test/testDensity.cpp (testNakanishi) tabulates the fits at two points, in m⁻³ to ±1
    (1e-6 cm⁻³): mid-plane densities, HWHMs and densities.  CRPropa's Nakanishi has no HII."""
    R1 = math.hypot(4.0, -2.5)
    assert gas3d.ns_hi_midplane(R1) == pytest.approx(0.162597, abs=1e-6)
    assert gas3d.ns_hi_hwhm_kpc(R1) == pytest.approx(0.3109, abs=1e-4)
    assert gas3d.ns_h2_midplane(R1) == pytest.approx(0.741999, abs=1e-6)
    assert gas3d.ns_h2_hwhm_kpc(R1) == pytest.approx(0.0882, abs=1e-4)
    R2 = math.hypot(0.05, 0.1)
    assert gas3d.ns_hi_midplane(R2) == pytest.approx(0.543249, abs=1e-6)
    assert gas3d.ns_hi_hwhm_kpc(R2) == pytest.approx(0.1256, abs=1e-4)
    assert gas3d.ns_h2_midplane(R2) == pytest.approx(10.556748, abs=1e-6)
    assert gas3d.ns_h2_hwhm_kpc(R2) == pytest.approx(0.0572, abs=1e-4)
    n = gas3d.build_gas_model("nakanishi_sofue").evaluate([[4.0, -2.5, -0.85], [0.05, 0.1, 0.01]])
    assert n[0, 0] == pytest.approx(0.000914, abs=1e-6)
    assert n[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert n[1, 0] == pytest.approx(0.540867, abs=1e-6)
    assert n[1, 1] == pytest.approx(10.335137, abs=1e-6)


def test_galprop_kind_is_the_transport_model_and_nuclei_count_h2_twice():
    p = galprop_gas.build_gas("galprop_2010", scale_H2=0.7)
    model = gas3d.build_gas_model("galprop", xco="galprop_2010", scale_H2=0.7)
    rng = np.random.default_rng(1)
    pts = rng.uniform([-15, -15, -1], [15, 15, 1], size=(200, 3))
    np.testing.assert_array_equal(model.evaluate(pts), galprop_gas.evaluate_gas(p, pts))
    n = model.evaluate(pts)
    np.testing.assert_allclose(model.hydrogen_nuclei(pts), n[:, 0] + 2 * n[:, 1] + n[:, 2], rtol=1e-15)
    x, y, z = pts[7]
    assert gas3d.hydrogen_nuclei(model.kind, model.params, model.grid, x, y, z) == pytest.approx(
        n[7, 0] + 2 * n[7, 1] + n[7, 2], rel=1e-15
    )


# ----------------------------------------------------------------------------- spiral arms
@pytest.mark.parametrize("base", ["galprop", "nakanishi_sofue"])
def test_spiral_arms_conserve_the_azimuthal_mean(base):
    spiral = gas3d.build_gas_model("spiral_arms", base=base, arm_contrast=4.0, arm_contrast_HII=2.0)
    axisym = gas3d.build_gas_model(base)
    phi = np.arange(3600) * 2 * np.pi / 3600  # periodic trapezoid rule: spectrally accurate
    worst = 0.0
    for R in (2.5, 3.3, 3.9, 5.0, 7.0, 8.5, 11.0, 14.0):
        for z in (0.0, 0.05, -0.2, 0.6):
            pts = _cyl(np.full_like(phi, R), phi, np.full_like(phi, z))
            mean = spiral.evaluate(pts).mean(axis=0)
            ref = axisym.evaluate(pts[:1])[0]
            rel = np.abs(mean - ref) / np.maximum(ref, 1e-300)
            worst = max(worst, float(rel[ref > 0].max()))
    assert worst < 1e-3  # measured ≈ 1e-13
    m_spiral = gas3d.gas_mass_msun(spiral)
    m_axisym = gas3d.gas_mass_msun(axisym)
    for c in ("HI", "H2", "HII"):
        assert m_spiral[c] == pytest.approx(m_axisym[c], rel=1e-3)


def test_arm_contrast_and_no_arms_limit():
    base = gas3d.build_gas_model("nakanishi_sofue")
    flat = gas3d.build_gas_model("spiral_arms", arm_contrast=1.0)
    rng = np.random.default_rng(3)
    pts = rng.uniform([-14, -14, -0.5], [14, 14, 0.5], size=(300, 3))
    np.testing.assert_allclose(flat.evaluate(pts), base.evaluate(pts), rtol=1e-14)
    contrast = 3.0
    spiral = gas3d.build_gas_model("spiral_arms", arm_contrast=contrast)
    phi = np.arange(7200) * 2 * np.pi / 7200
    for R in (6.0, 9.0, 12.0):
        ratio = spiral.evaluate(_cyl(R, phi, 0.0 * phi))[:, 0] / base.evaluate([[R, 0.0, 0.0]])[0, 0]
        # crest of an isolated arm / far from every arm = C (tails of neighbouring arms shift it a little)
        assert ratio.max() / ratio.min() == pytest.approx(contrast, rel=0.05)
    # the HII component stays axisymmetric by default
    n_hii = spiral.evaluate(_cyl(9.0, phi, 0.0 * phi))[:, 2]
    assert np.ptp(n_hii) < 1e-15


def test_the_sun_lies_between_sagittarius_carina_and_perseus():
    """Steiman-Cameron et al. 2010 frame: the Sun at θ = 90°; standard frame φ = θ + 90° (docs/gas.md §3)."""
    rot = gas3d.STEIMAN_CAMERON_FRAME_ROTATION
    arms = {name: (a, alpha) for name, a, alpha, _ in gas3d.STEIMAN_CAMERON_ARMS}
    sun = (-R_SUN_STEIMAN_CAMERON, 0.0)
    sag = gas3d.arm_radial_offset_kpc(*sun, *arms["Sagittarius-Carina"], rot)
    per = gas3d.arm_radial_offset_kpc(*sun, *arms["Perseus"], rot)
    assert 0.7 < sag < 1.5  # the Sun outside Sagittarius–Carina (measured 0.97 kpc)
    assert -3.0 < per < -1.5  # and inside Perseus (measured 2.75 kpc)
    for name in ("Scutum-Crux", "Norma-Cygnus (Outer)"):
        assert abs(gas3d.arm_radial_offset_kpc(*sun, *arms[name], rot)) > 2.5
    # the arms trail for clockwise rotation: the arm azimuth grows outwards
    a, alpha = arms["Perseus"]
    assert gas3d.arm_centre_azimuth(11.0, a, alpha, rot) > gas3d.arm_centre_azimuth(10.0, a, alpha, rot)
    # the Sun is in an interarm region: density below the azimuthal mean, above the ring minimum
    spiral = gas3d.build_gas_model("spiral_arms")
    phi = np.arange(3600) * 2 * np.pi / 3600
    ring = spiral.evaluate(_cyl(R_SUN_STEIMAN_CAMERON, phi, 0.0 * phi))[:, 0]
    at_sun = spiral.evaluate([[*sun, 0.0]])[0, 0]
    assert at_sun < ring.mean()
    # the pitch angles listed with the fit are atan α (the Norma–Cygnus entry to 0.5°)
    for _, _, alpha, pitch in gas3d.STEIMAN_CAMERON_ARMS:
        assert math.degrees(math.atan(alpha)) == pytest.approx(pitch, abs=0.5)


def test_build_errors_name_the_argument_and_value():
    cases = [
        (dict(name="bogus"), "name='bogus'"),
        (dict(name="spiral_arms", arm_contrast=0.5), "arm_contrast=0.5"),
        (dict(name="spiral_arms", width_deg=120.0), "width_deg=120.0"),
        (dict(name="spiral_arms", base="ferriere"), "base='ferriere'"),
        (dict(name="spiral_arms", arm_weights=(1, 1, 1)), "arm_weights=(1, 1, 1)"),
        (dict(name="nakanishi_sofue", scale_H2=-1.0), "scale_H2=-1.0"),
        (dict(name="galprop", xco="foo"), "'foo'"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(ValueError) as err:
            gas3d.build_gas_model(**kwargs)
        assert fragment in str(err.value)


# ----------------------------------------------------------------------------- grid cubes
def _interpolation_bound(model, geometry, cube, pts, samples=7):
    """Bound of trilinear interpolation at each point: Σ_k h_k²/8 max_cell |∂²f/∂u_k²| (tensor-product
    linear interpolation; each 1D interpolant is a convex combination, so the three 1D errors add),
    with the maxima sampled on samples³ points of the point's cell by second differences."""
    p = cube.params
    lo = p[0::3]
    h = np.where(p[1::3] > 0, 1.0 / np.where(p[1::3] > 0, p[1::3], 1.0), 0.0)
    n = p[2::3].astype(int)
    u = np.column_stack([np.hypot(pts[:, 0], pts[:, 1]), np.arctan2(pts[:, 1], pts[:, 0]), pts[:, 2]])
    if geometry == "cartesian":
        u = pts.copy()
    i0 = np.floor((u - lo) / np.where(h > 0, h, 1.0))
    s = (np.arange(samples) + 0.5) / samples
    S = np.stack(np.meshgrid(s, s, s, indexing="ij"), axis=-1).reshape(-1, 3)
    bound = np.zeros((len(pts), 3))
    for axis in range(3):
        if h[axis] == 0.0 or (geometry == "cylindrical" and axis == 1):
            continue  # the models are axisymmetric: ∂²/∂φ² = 0
        eps = h[axis] / (4 * samples)
        step = np.zeros(3)
        step[axis] = eps
        for m in range(len(pts)):
            corner = lo + i0[m] * h
            q = corner + S * h
            vals = [model.evaluate(_to_xyz(q + d * step, geometry)) for d in (-1, 0, 1)]
            second = np.abs(vals[0] - 2 * vals[1] + vals[2]) / eps**2
            bound[m] += h[axis] ** 2 / 8 * second.max(axis=0)
    del n
    return bound


def _to_xyz(u, geometry):
    if geometry == "cartesian":
        return u
    return _cyl(u[:, 0], u[:, 1], u[:, 2])


def test_cylindrical_cube_of_galprop_reproduces_the_model(tmp_path):
    """R step 0.05 kpc puts every kink of the GALPROP tables (multiples of 0.25 kpc, 1.0) on a node
    and z step 0.01 kpc (node at z = 0) the |z| kinks; within a cell the model is then smooth and
    the trilinear error obeys the bound of :func:`_interpolation_bound`."""
    model = gas3d.build_gas_model("galprop")
    axes = [np.arange(321) * 0.05, np.arange(8) * 2 * np.pi / 8, np.linspace(-1.0, 1.0, 201)]
    path = write_gas_cube(
        tmp_path / "galprop.h5", "cylindrical", axes, gas3d.tabulate_gas(model, "cylindrical", axes)
    )
    cube = read_gas_cube(path)
    assert cube.kind == gas3d.GAS_GRID_CYLINDRICAL
    rng = np.random.default_rng(5)
    m = 120
    pts = _cyl(rng.uniform(0.2, 15.9, m), rng.uniform(-np.pi, np.pi, m), rng.uniform(-0.95, 0.95, m))
    err = np.abs(cube.evaluate(pts) - model.evaluate(pts))
    bound = _interpolation_bound(model, "cylindrical", cube, pts)
    assert np.all(err <= 1.1 * bound + 1e-12), float(np.max(err - bound))
    # at the nodes the cube is the model
    nodes = _cyl(np.array([8.5, 4.0]), np.array([np.pi, np.pi / 4]), np.array([0.0, -0.2]))
    np.testing.assert_allclose(cube.evaluate(nodes), model.evaluate(nodes), rtol=1e-13)
    # relative error where the gas is (n > 1e-3 cm⁻³): measured up to 6.5 %, from the thin H2 layer
    # near R = 9.25 kpc (HWHM 23 pc against dz = 10 pc)
    rel = err / np.maximum(model.evaluate(pts), 1e-3)
    assert rel.max() < 0.1


def test_cartesian_fits_cube_of_nakanishi_sofue_reproduces_the_model(tmp_path):
    model = gas3d.build_gas_model("nakanishi_sofue")
    axes = [np.linspace(-10.0, -6.0, 81), np.linspace(-1.0, 1.0, 41), np.linspace(-0.6, 0.6, 121)]
    densities = gas3d.tabulate_gas(model, "cartesian", axes)
    path = write_gas_cube(tmp_path / "ns.fits", "cartesian", axes, densities, attrs={"ORIGIN": "test"})
    cube = read_gas_cube(path)
    assert cube.kind == gas3d.GAS_GRID_CARTESIAN
    np.testing.assert_array_equal(cube.grid[1], densities[1])
    rng = np.random.default_rng(7)
    pts = rng.uniform([-9.9, -0.9, -0.55], [-6.1, 0.9, 0.55], size=(60, 3))
    err = np.abs(cube.evaluate(pts) - model.evaluate(pts))
    bound = _interpolation_bound(model, "cartesian", cube, pts, samples=5)
    assert np.all(err <= 1.1 * bound + 1e-12)
    # zero outside the cube
    assert np.all(cube.evaluate([[-5.9, 0.0, 0.0], [-8.0, 0.0, 0.61], [-8.0, -1.01, 0.0]]) == 0.0)


def test_cube_round_trips_hdf5_and_fits_and_single_azimuth(tmp_path):
    model = gas3d.build_gas_model("spiral_arms")
    axes = [np.linspace(0.0, 12.0, 25), np.arange(36) * 2 * np.pi / 36, np.linspace(-0.3, 0.3, 7)]
    d = gas3d.tabulate_gas(model, "cylindrical", axes)
    a = read_gas_cube(write_gas_cube(tmp_path / "s.hdf5", "cylindrical", axes, d))
    b = read_gas_cube(write_gas_cube(tmp_path / "s.fits.gz", "cylindrical", axes, d))
    np.testing.assert_array_equal(a.grid, b.grid)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    # φ is periodic: a point between the last node and 2π interpolates to node 0
    pts = _cyl(np.array([6.0, 6.0]), np.array([-1e-9, 2 * np.pi - 1e-9]), np.zeros(2))
    v = a.evaluate(pts)
    np.testing.assert_allclose(v[0], v[1], rtol=1e-6)
    # one azimuth node: an axisymmetric (R, z) table
    axes1 = [axes[0], np.array([0.0]), axes[2]]
    flat = gas3d.build_gas_model("galprop")
    c = read_gas_cube(
        write_gas_cube(
            tmp_path / "rz.h5", "cylindrical", axes1, gas3d.tabulate_gas(flat, "cylindrical", axes1)
        )
    )
    q = _cyl(np.full(5, 6.0), np.linspace(-3, 3, 5), np.zeros(5))
    np.testing.assert_allclose(c.evaluate(q), flat.evaluate(q), rtol=1e-12)


def _write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f[k] = v


def _good_cartesian():
    x = np.linspace(-1, 1, 5)
    z = np.linspace(-0.2, 0.2, 3)
    d = np.ones((5, 5, 3))
    return dict(x_kpc=x, y_kpc=x.copy(), z_kpc=z, n_HI=d, n_H2=0.5 * d, n_HII=0.1 * d)


@pytest.mark.parametrize(
    "change, fragments",
    [
        (dict(n_H2=None), ["n_H2", "missing"]),
        (dict(z_kpc=None), ["axis datasets missing", "z_kpc"]),
        (dict(y_kpc=np.array([-1.0, -0.5, 0.0, 0.6, 1.0])), ["y_kpc", "not uniform"]),
        (dict(x_kpc=np.array([1.0, 0.5, 0.0, -0.5, -1.0])), ["x_kpc", "not strictly increasing"]),
        (dict(n_HII=-np.ones((5, 5, 3))), ["n_HII", "negative"]),
        (dict(n_HI=np.full((5, 5, 3), np.nan)), ["n_HI", "NaN/inf"]),
        (dict(n_HI=np.ones((5, 4, 3))), ["n_HI", "shape"]),
    ],
)
def test_bad_hdf5_cubes_are_refused(tmp_path, change, fragments):
    data = _good_cartesian()
    for k, v in change.items():
        if v is None:
            del data[k]
        else:
            data[k] = v
    path = tmp_path / "bad.h5"
    _write_h5(path, **data)
    with pytest.raises(ValueError) as err:
        read_gas_cube(path)
    msg = str(err.value)
    assert "bad.h5" in msg
    for fragment in fragments:
        assert fragment in msg


def test_other_bad_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_gas_cube(tmp_path / "nothing.h5")
    (tmp_path / "cube.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported extension"):
        read_gas_cube(tmp_path / "cube.txt")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="cannot read gas cube .*junk.h5"):
        read_gas_cube(tmp_path / "junk.h5")
    # an azimuth axis that does not span a full turn
    phi = np.linspace(0, np.pi, 4)
    path = tmp_path / "phi.h5"
    _write_h5(path, R_kpc=np.linspace(0, 2, 3), phi_rad=phi, z_kpc=np.linspace(-1, 1, 3),
              n_HI=np.ones((3, 4, 3)), n_H2=np.ones((3, 4, 3)), n_HII=np.ones((3, 4, 3)))  # fmt: skip
    with pytest.raises(ValueError, match=r"phi.h5.*phi_rad.*full turn"):
        read_gas_cube(path)
    # FITS with unknown axis types
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.ones((3, 2, 2, 2)))
    for k, t in zip((1, 2, 3), ("GLON", "GLAT", "Z")):
        hdu.header[f"CTYPE{k}"] = t
    hdu.writeto(tmp_path / "sky.fits")
    with pytest.raises(ValueError, match=r"sky.fits.*CTYPE1..3"):
        read_gas_cube(tmp_path / "sky.fits")
    # writing refuses bad densities before touching the disc
    x = np.linspace(0, 1, 3)
    with pytest.raises(ValueError, match="n_H2 contains 1 negative"):
        d = np.ones((3, 3, 3))
        bad = d.copy()
        bad[1, 1, 1] = -1.0
        write_gas_cube(tmp_path / "w.h5", "cartesian", [x, x, x], [d, bad, d])
    assert not (tmp_path / "w.h5").exists()


# ----------------------------------------------------------------------------- masses
def test_disc_gas_masses_are_plausible():
    """Hydrogen mass (no helium) in R < 15 kpc, |z| < 1 kpc.  Nakanishi & Sofue 2016 (PASJ 68, 5;
    arXiv:1511.08877, abstract): 8.0×10⁹ M⊙ of neutral gas within R = 30 kpc, 89 % HI (7.1×10⁹) and
    11 % H2 (0.9×10⁹).  The cut at 15 kpc and 1 kpc loses part of the flaring outer HI, hence the
    wide lower limit for HI."""
    for name in ("galprop", "nakanishi_sofue", "spiral_arms"):
        m = gas3d.gas_mass_msun(gas3d.build_gas_model(name))
        assert 2e9 < m["HI"] < 8e9, (name, m)
        assert 0.5e9 < m["H2"] < 3e9, (name, m)
        assert 0.2e9 < m["HII"] < 2e9, (name, m)
