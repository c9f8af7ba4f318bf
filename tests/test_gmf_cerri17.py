"""Cerri et al. 2017 2D (R, z) field: reference values, analytic Jacobian, ∇·B, switches.

Reference values: tests/data/gmf_reference_pt11_cerri17.csv.  docs/physics.md §1.5's numbers and the
DRAGONCELLO grid values use the authors' code's r_X = 3.0 kpc (and, for DRAGONCELLO, its
fixed-cylinder switch, ``x_geometry=1``); the CRPropa3 JF12 X-field values use JF12's r_X = 2.9
and its field-line switch (our defaults).
"""

import csv
import math
import os

import numpy as np
import pytest
from fieldcheck import central_difference_jacobian, check_jacobian_against_fd, model_at

from sdeprop.models.gmf_cerri17 import (
    C17_PARAM_NAMES,
    CERRI17_DEFAULTS,
    R_AXIS,
    cerri17_field,
    cerri17_params,
)

DATA = os.path.join(os.path.dirname(__file__), "data", "gmf_reference_pt11_cerri17.csv")
TAN49 = math.tan(math.radians(49.0))


def ev(p, pt):
    return model_at(cerri17_field, p, pt)


def cyl(B, pt):
    """(B_r, B_φ, B_z) at a point off the axis."""
    r = math.hypot(pt[0], pt[1])
    c, s = pt[0] / r, pt[1] / r
    return np.array([B[0] * c + B[1] * s, -B[0] * s + B[1] * c, B[2]])


def fd_jacobian(p, pt, h):
    return central_difference_jacobian(lambda q: ev(p, q)[0], pt, h)


def _params_from_config(config):
    kw = {}
    for item in filter(None, config.split(";")):
        k, v = item.split("=")
        kw[k] = float(v)
    return cerri17_params(**kw)


def _reference_rows():
    with open(DATA, newline="") as f:
        return [row for row in csv.DictReader(f) if row["model"] == "cerri17"]


def _check_row(row, p):
    pt = np.array([float(row[k]) for k in ("x_kpc", "y_kpc", "z_kpc")])
    expect = np.array([float(row[c]) for c in ("c1", "c2", "c3")])
    B, _ = ev(p, pt)
    if row["quantity"] == "B_cart_uG":
        got = B
    elif row["quantity"] == "B_cyl_uG":
        got = cyl(B, pt)
    else:  # DRAGONCELLO stores b = B/(|B| + 0.01 B_inf), 0.01 B_inf = 1e-6 μG, in (r, φ, z)
        assert row["quantity"] == "b_unit_dragoncello"
        bc = cyl(B, pt)
        got = bc / (np.linalg.norm(bc) + 1e-6)
    return got, expect


@pytest.mark.parametrize(
    "row", _reference_rows(), ids=lambda r: f"{r['config']}@({r['x_kpc']},{r['z_kpc']})|{r['source'][:12]}"
)
def test_reference_values(row):
    got, expect = _check_row(row, _params_from_config(row["config"]))
    np.testing.assert_allclose(got, expect, rtol=0, atol=float(row["atol"]))


def test_physics_md_points_hold_in_both_geometries_and_azimuths():
    """§1.5's points (r, z) = (8.3, 0), (8.3, 1), (3, 0.5) lie where both X-field geometries agree;
    the field is axisymmetric, so any azimuth gives the same (B_r, B_φ, B_z)."""
    rows = [r for r in _reference_rows() if r["source"].startswith("docs/physics.md")]
    assert len(rows) == 3
    for row in rows:
        r = -float(row["x_kpc"])
        expect = np.array([float(row[c]) for c in ("c1", "c2", "c3")])
        for geom in (0, 1):
            p = cerri17_params(r_X=3.0, x_geometry=geom)
            for phi in (0.0, 1.0, -2.5):
                pt = (r * math.cos(phi), r * math.sin(phi), float(row["z_kpc"]))
                np.testing.assert_allclose(cyl(ev(p, pt)[0], pt), expect, atol=5e-5)


def test_dragoncello_rows_need_its_geometry_and_r_x():
    """The DRAGONCELLO grid values discriminate: with JF12's switch (x_geometry=0) or r_X = 2.9 some
    rows fail (r = 4.9–6 kpc at |z| ≥ 0.3 lies between r_Xc and r_c(z))."""
    rows = [r for r in _reference_rows() if r["quantity"] == "b_unit_dragoncello"]
    assert len(rows) == 100
    for wrong in (cerri17_params(r_X=3.0, x_geometry=0), cerri17_params(x_geometry=1)):
        worst = max(np.abs(np.subtract(*_check_row(row, wrong))).max() for row in rows)
        assert worst > 1e-3


def test_x_field_on_the_axis_and_dragoncello_regularisation():
    """Exact r → 0 limit: B = B_X0 k² ẑ, k = r_Xc tanΘ/(|z| + r_Xc tanΘ) (DRAGONCELLO instead sets
    B_X = 0 for r = 0 through max(r, 0.01 kpc): not reproduced, documented)."""
    p = cerri17_params(disk_scale=0, halo_scale=0)
    for z in (0.0, 0.7, -2.0):
        a0 = 4.8 * TAN49
        k = a0 / (abs(z) + a0)
        B, _ = ev(p, (0.0, 0.0, z))
        np.testing.assert_allclose(B, [0, 0, 4.6 * k * k], rtol=1e-13)


def _random_points(rng, n, rmin=0.05, rmax=20.0, zmax=6.0):
    r = rng.uniform(rmin, rmax, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(-zmax, zmax, n)
    return np.column_stack([r * np.cos(ph), r * np.sin(ph), z])


def _near_discontinuity(p, pt, margin):
    r = math.hypot(pt[0], pt[1])
    az = abs(pt[2])
    tanx = math.tan(math.radians(p[14]))
    rb = p[15] if p[17] else p[15] + az / tanx
    return (
        az < margin
        or abs(r - p[6]) < margin
        or abs(r - rb) < margin
        or abs(r - p[18]) < margin
        or abs(r - az / tanx) < margin
        or r < margin
        or abs(az - p[10]) < 1e-2
    )  # halo C¹ at |z| = Z0_H


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"x_geometry": 1, "r_X": 3.0},
        {"disk_scale": 0, "halo_scale": 0},
        {"x_scale": 0, "r_in": 1.0},
        {"theta_X0_deg": 30.0, "r_Xc": 3.0, "R_cD": 4.0},
    ],
)
def test_jacobian_against_finite_differences(overrides):
    """Analytic J vs central differences (h = 1e-5 kpc) at random points away from z = 0, the
    disk's r = R_cD, the X-field boundary, r_p = 0, |z| = Z0_H and r_in."""
    p = cerri17_params(**overrides)
    rng = np.random.default_rng(21)
    h = 1e-5
    n_checked = check_jacobian_against_fd(
        cerri17_field, p, _random_points(rng, 300), lambda p, pt: _near_discontinuity(p, pt, 4 * h), h
    )
    assert n_checked > 250


def test_divergence_free_inside_each_region():
    """∇·B = trace J = 0 for disk, halo and X-field (both geometries), at random points."""
    rng = np.random.default_rng(8)
    for geom in (0, 1):
        p = cerri17_params(x_geometry=geom)
        for pt in _random_points(rng, 400, rmin=0.0):
            _, J = ev(p, pt)
            assert abs(np.trace(J)) <= 1e-13 * (1 + np.abs(J).max())


def test_x_field_boundaries():
    """JF12 geometry: the inner/outer boundary r = r_c(z) is a field line of both regions, so the
    normal component vanishes on both sides (no surface divergence); |B_X| jumps by r_Xc/r_c.
    DRAGONCELLO geometry: at r = r_Xc the normal component B_r jumps for z ≠ 0 (a surface
    divergence of the authors' code), and is continuous at z = 0."""
    eps = 1e-9
    z = 1.0
    rc = 4.8 + z / TAN49
    p0 = cerri17_params(x_geometry=0, disk_scale=0, halo_scale=0)
    n = np.array([math.sin(math.radians(49)), 0.0, -math.cos(math.radians(49))])  # ⊥ to the line in (r, z)
    b_in, _ = ev(p0, (rc - eps, 0.0, z))
    b_out, _ = ev(p0, (rc + eps, 0.0, z))
    assert abs(b_in @ n) < 1e-7 and abs(b_out @ n) < 1e-7
    assert np.linalg.norm(b_out) / np.linalg.norm(b_in) == pytest.approx(rc / 4.8, rel=1e-6)
    p1 = cerri17_params(x_geometry=1, disk_scale=0, halo_scale=0)
    jump = ev(p1, (4.8 + eps, 0, z))[0][0] - ev(p1, (4.8 - eps, 0, z))[0][0]
    assert abs(jump) > 0.05
    jump0 = ev(p1, (4.8 + eps, 0, 0.0))[0] - ev(p1, (4.8 - eps, 0, 0.0))[0]
    assert np.abs(jump0).max() < 1e-7
    # the boundary point itself: outer region for JF12 (inner is r < r_c, as in CRPropa), inner for
    # DRAGONCELLO (inner is r <= r_Xc)
    np.testing.assert_allclose(ev(p0, (rc, 0.0, z))[0], b_out, atol=1e-7)
    np.testing.assert_allclose(ev(p1, (4.8, 0.0, z))[0], ev(p1, (4.8 - eps, 0.0, z))[0], atol=1e-7)


def test_dragoncello_geometry_beyond_rp_zero():
    """x_geometry=1 and |z| ≥ r tanΘ_X0 (outside the code's |z| ≤ 5 kpc box): r_p ≤ 0, X-field 0;
    it goes to zero continuously as r_p → 0⁺."""
    p = cerri17_params(x_geometry=1, disk_scale=0, halo_scale=0)
    B, J = ev(p, (5.0, 0.0, 7.0))
    assert np.all(B == 0) and np.all(J == 0)
    B, _ = ev(p, (5.0, 0.0, 5.0 * TAN49 - 1e-6))
    assert np.abs(B).max() < 1e-5


def test_midplane_belongs_to_the_north():
    """z = 0: B_r of the X-field flips sign (DRAGONCELLO: `z < 0` is south); B and J at z = 0 are
    the limits from z > 0; the z-row equals the one-sided forward difference."""
    p = cerri17_params()
    pt = np.array([-6.0, 2.5, 0.0])
    B0, J0 = ev(p, pt)
    Bp, Jp = ev(p, pt + [0, 0, 1e-12])
    Bm, _ = ev(p, pt - [0, 0, 1e-12])
    np.testing.assert_allclose(B0, Bp, atol=1e-10)
    np.testing.assert_allclose(J0, Jp, atol=1e-8)
    np.testing.assert_allclose(cyl(Bm, pt), cyl(B0, pt) * [-1, 1, 1], atol=1e-10)
    h = 1e-5
    f = [ev(p, pt + [0, 0, k * h])[0] for k in range(3)]
    dz = (-3 * f[0] + 4 * f[1] - f[2]) / (2 * h)
    np.testing.assert_allclose(J0[2], dz, atol=1e-7)
    np.testing.assert_allclose(J0[:2], fd_jacobian(p, pt, h)[:2], atol=1e-7)


@pytest.mark.parametrize("geom", [0, 1])
def test_axis(geom):
    """r = 0: finite, the disk (a line vortex) is zero for r ≤ R_AXIS, and J of halo + X-field is
    the azimuthal average = the central difference across the axis (Richardson-extrapolated to
    remove the O(h) error of the cone-like kink); trace J = 0 there too."""
    p = cerri17_params(x_geometry=geom)
    pnod = cerri17_params(x_geometry=geom, disk_scale=0)
    for z in (0.0, 0.4, -1.7, 4.5):
        B, J = ev(p, (0.0, 0.0, z))
        Bn, Jn = ev(pnod, (0.0, 0.0, z))
        assert np.all(np.isfinite(J))
        np.testing.assert_array_equal(B, Bn)
        np.testing.assert_array_equal(ev(p, (0.3 * R_AXIS, 0.0, z))[0], ev(pnod, (0.3 * R_AXIS, 0.0, z))[0])
        if (
            z != 0.0
        ):  # at z = 0 the z-difference would straddle the B_r sign flip (B_r = 0 on the axis anyway)
            h = 1e-5
            Jr = 2 * fd_jacobian(pnod, (0.0, 0.0, z), h) - fd_jacobian(pnod, (0.0, 0.0, z), 2 * h)
            np.testing.assert_allclose(Jn, Jr, atol=1e-8)
        assert abs(np.trace(Jn)) < 1e-13
    # near the axis the disk's |J| ~ B_φ/r: finite and analytic
    pt = (1e-4, 2e-4, 0.3)
    B, J = ev(p, pt)
    J1 = fd_jacobian(p, pt, 1e-8)
    J2 = fd_jacobian(p, pt, 2e-8)
    np.testing.assert_allclose(J, J1, rtol=0, atol=10 * np.abs(J1 - J2).max() + 1e-6 * np.abs(J).max())
    assert np.abs(J).max() > 1e3


def test_switches_and_scales():
    rng = np.random.default_rng(4)
    pts = _random_points(rng, 40)
    full = cerri17_params()
    parts = [
        cerri17_params(halo_scale=0, x_scale=0),
        cerri17_params(disk_scale=0, x_scale=0),
        cerri17_params(disk_scale=0, halo_scale=0),
    ]
    scaled = cerri17_params(disk_scale=0.5, halo_scale=2.0, x_scale=-1.0)
    off = cerri17_params(disk_scale=0, halo_scale=0, x_scale=0)
    for pt in pts:
        r = math.hypot(pt[0], pt[1])
        f = np.array(cerri17_field(full, *pt, r))
        fp = [np.array(cerri17_field(q, *pt, r)) for q in parts]
        np.testing.assert_allclose(f, fp[0] + fp[1] + fp[2], atol=1e-12)
        np.testing.assert_allclose(
            np.array(cerri17_field(scaled, *pt, r)), 0.5 * fp[0] + 2.0 * fp[1] - fp[2], atol=1e-12
        )
        assert np.all(np.array(cerri17_field(off, *pt, r)) == 0.0)
        # disk and halo are azimuthal, the X-field poloidal
        assert abs(cyl(fp[0][:3], pt)[0]) < 1e-14 and fp[0][2] == 0.0
        assert abs(cyl(fp[2][:3], pt)[1]) < 1e-14


def test_parameters_and_defaults():
    p = cerri17_params()
    assert p.dtype == np.float64 and p.shape == (23,)
    assert p[C17_PARAM_NAMES.index("r_X")] == 2.9  # the value (DRAGONCELLO: 3.0)
    assert p[C17_PARAM_NAMES.index("x_geometry")] == 0.0
    assert CERRI17_DEFAULTS["B_X0"] == 4.6 and CERRI17_DEFAULTS["theta_X0_deg"] == 49.0
    assert (
        CERRI17_DEFAULTS["r_Xc"] == 4.8
        and CERRI17_DEFAULTS["B_D0"] == 4.0
        and CERRI17_DEFAULTS["B_H0"] == 1.0
    )
    assert p[22] == pytest.approx(4.8 * TAN49)
    # r_X matters: 2.9 vs 3.0 at the Sun
    b29 = ev(cerri17_params(), (-8.3, 0, 0))[0]
    b30 = ev(cerri17_params(r_X=3.0), (-8.3, 0, 0))[0]
    assert b29[2] == pytest.approx(4.6 * math.exp(-8.3 / 2.9) * math.sin(math.radians(49)), rel=1e-13)
    assert b30[2] > b29[2]
    with pytest.raises(ValueError, match="unknown Cerri17 parameter 'tanx'"):
        cerri17_params(tanx=1.0)
    with pytest.raises(ValueError, match="x_geometry"):
        cerri17_params(x_geometry=2)
    with pytest.raises(ValueError, match="theta_X0_deg"):
        cerri17_params(theta_X0_deg=90.0)
    with pytest.raises(ValueError, match="r_X must be > 0"):
        cerri17_params(r_X=0.0)


def test_disk_jump_at_r_cd():
    """The ring disk is constant inside R_cD = 5 kpc and e^{−(r − R⊙)/R₀} outside: a jump by
    e^{0.33} at r = 5 (as in DRAGONCELLO); r = R_cD belongs to the inside."""
    p = cerri17_params(halo_scale=0, x_scale=0)
    b_in = cyl(ev(p, (5.0, 0, 0.2))[0], (5.0, 0, 0.2))[1]
    b_out = cyl(ev(p, (5.0 + 1e-9, 0, 0.2))[0], (5.0 + 1e-9, 0, 0.2))[1]
    assert b_in == pytest.approx(4.0 * math.exp(-0.2), rel=1e-14)
    assert b_out / b_in == pytest.approx(math.exp(0.33), rel=1e-8)
