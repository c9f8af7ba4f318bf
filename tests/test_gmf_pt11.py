"""Pshirkov et al. 2011 (PT11) field: reference values, analytic Jacobian, ∇·B, switches.

Reference values: tests/data/gmf_reference_pt11_cerri17.csv (docs/physics.md §1.4 and CRPropa3's
PT11Field evaluated at the listed points; the ``source`` column says which).
"""

import csv
import math
import os

import numpy as np
import pytest
from fieldcheck import central_difference_jacobian, check_jacobian_against_fd, model_at
from numba import njit

from sdeprop.models.gmf_pt11 import PT11_PARAM_NAMES, PT11_PHI, R_AXIS, pt11_field, pt11_params

DATA = os.path.join(os.path.dirname(__file__), "data", "gmf_reference_pt11_cerri17.csv")


def ev(p, pt):
    return model_at(pt11_field, p, pt)


def fd_jacobian(p, pt, h):
    return central_difference_jacobian(lambda q: ev(p, q)[0], pt, h)


def _params_from_config(config):
    kw = {}
    disk = "ASS"
    for item in config.split(";"):
        k, v = item.split("=")
        if k == "disk":
            disk = v
        else:
            kw[k] = float(v)
    return pt11_params(disk, **kw)


def _reference_rows():
    with open(DATA, newline="") as f:
        return [row for row in csv.DictReader(f) if row["model"] == "pt11"]


@pytest.mark.parametrize(
    "row",
    _reference_rows(),
    ids=lambda r: f"{r['config']}@({r['x_kpc']},{r['y_kpc']},{r['z_kpc']})|{r['source'][:12]}",
)
def test_reference_values(row):
    """B at reference points = docs/physics.md §1.4 (4 decimals) and CRPropa3 PT11Field (1e-10 μG)."""
    assert row["quantity"] == "B_cart_uG"
    p = _params_from_config(row["config"])
    B, _ = ev(p, (row["x_kpc"], row["y_kpc"], row["z_kpc"]))
    expect = np.array([float(row[c]) for c in ("c1", "c2", "c3")])
    np.testing.assert_allclose(B, expect, rtol=0, atol=float(row["atol"]))


def test_reference_table_covers_both_disks_and_components():
    configs = {r["config"] for r in _reference_rows()}
    assert {"disk=ASS", "disk=BSS", "disk=ASS;halo_scale=0", "disk=BSS;disk_scale=0"} <= configs
    sources = {r["source"].split()[0] for r in _reference_rows()}
    assert sources == {"docs/physics.md", "CRPropa3"}


@pytest.mark.parametrize("disk, pitch", [("ASS", -5.0), ("BSS", -6.0)])
def test_local_field_direction(disk, pitch):
    """Sun at (−8.5, 0, 0): disk field B₀ = 2 μG towards l = 90° + p (l = atan2(B_y, B_x))."""
    p = pt11_params(disk, halo_scale=0)
    B, _ = ev(p, (-8.5, 0.0, 0.0))
    assert np.linalg.norm(B) == pytest.approx(2.0, rel=1e-12)
    assert math.degrees(math.atan2(B[1], B[0])) == pytest.approx(90.0 + pitch, abs=1e-10)


def _random_points(rng, n, rmin=0.3, rmax=20.0, zmax=4.0):
    r = rng.uniform(rmin, rmax, n)
    ph = rng.uniform(0, 2 * np.pi, n)
    z = rng.uniform(-zmax, zmax, n)
    return np.column_stack([r * np.cos(ph), r * np.sin(ph), z])


def _near_discontinuity(p, pt, h):
    x, y, z = pt
    r = math.hypot(x, y)
    margin = 3 * h
    if abs(z) < margin or abs(r - p[7]) < margin or abs(r - p[15]) < margin:
        return True
    if abs(abs(z) - p[11]) < 1e-2:  # halo is only C¹ at |z| = z0_H: FD error O(h)
        return True
    if p[2] == 0.0:  # ASS: |cos ψ| kink; |∇ψ| ≤ sqrt(1 + b²)/r
        cotp = p[18]
        psi = math.atan2(y, -x) - cotp * math.log(r / p[6]) + p[PT11_PHI]
        if abs(math.cos(psi)) < 2 * margin * math.sqrt(1 + cotp**2) / r + 1e-6:
            return True
    return False


@pytest.mark.parametrize(
    "disk, overrides",
    [
        ("ASS", {}),
        ("BSS", {}),
        ("ASS", {"halo_scale": 0}),
        ("BSS", {"disk_scale": 0}),
        ("BSS", {"r_in": 2.0, "z11_H": 0.2}),
        ("ASS", {"pitch_deg": -20.0, "d": 0.4, "R_c": 3.0}),
    ],
)
def test_jacobian_against_finite_differences(disk, overrides):
    """Analytic J vs central differences (h = 1e-5 kpc) at random points away from z = 0,
    r = R_c, r = r_in, |z| = z₀ᴴ and (ASS) the zeros of cos ψ."""
    p = pt11_params(disk, **overrides)
    rng = np.random.default_rng(11)
    h = 1e-5
    n_checked = check_jacobian_against_fd(
        pt11_field, p, _random_points(rng, 300), lambda p, pt: _near_discontinuity(p, pt, 2 * h), h
    )
    assert n_checked > 200


def test_jacobian_in_the_inner_disk_and_near_the_axis():
    """Small r (the log spiral winds fast, |J| ~ |B|/r): still the analytic derivative."""
    p = pt11_params("BSS")
    for pt in [(0.05, 0.02, 0.3), (-0.2, 0.1, -0.7), (0.01, -0.01, 1.0)]:
        B, J = ev(p, pt)
        h = 1e-4 * math.hypot(pt[0], pt[1])
        J1 = fd_jacobian(p, pt, h)
        J2 = fd_jacobian(p, pt, 2 * h)
        tol = 10 * np.abs(J1 - J2).max() + 1e-7 * np.abs(J).max()
        np.testing.assert_allclose(J, J1, rtol=0, atol=tol)
        assert np.abs(J).max() > 10 * np.abs(B).max()  # the 1/r growth is real


def test_midplane_belongs_to_the_south():
    """z = 0: B and J are the limits from z < 0 (CRPropa's `z > 0 ? north : south`)."""
    p = pt11_params("ASS")
    pt = np.array([-6.0, 2.0, 0.0])
    B0, J0 = ev(p, pt)
    Bm, Jm = ev(p, pt - [0, 0, 1e-12])
    Bp, _ = ev(p, pt + [0, 0, 1e-12])
    np.testing.assert_allclose(B0, Bm, atol=1e-10)
    np.testing.assert_allclose(J0, Jm, atol=1e-8)
    assert np.abs(Bp - Bm).max() > 0.05  # the halo's jump (B_N ≠ B_S, sign flip)
    # z-row: one-sided second-order difference from below
    h = 1e-5
    f = [ev(p, pt - [0, 0, k * h])[0] for k in range(3)]
    dz = (3 * f[0] - 4 * f[1] + f[2]) / (2 * h)
    np.testing.assert_allclose(J0[2], dz, atol=1e-7)
    # in-plane rows: ordinary central differences
    np.testing.assert_allclose(J0[:2], fd_jacobian(p, pt, h)[:2], atol=1e-7)


def test_axis():
    """r → 0: the disk (direction undefined) is zero for r ≤ R_AXIS; the halo's J on the axis is the
    azimuthal average, which is what a central difference across the axis gives (Richardson-
    extrapolated to remove the O(h) error of the cone-like kink)."""
    p = pt11_params("BSS")
    for z in (0.5, -0.3, 2.0):
        B, J = ev(p, (0.0, 0.0, z))
        assert np.all(np.isfinite(J)) and np.all(B == 0.0)
        B2, _ = ev(pt11_params("BSS", halo_scale=0), (0.5 * R_AXIS, 0.0, z))
        assert np.all(B2 == 0.0)
        ph = pt11_params("BSS", disk_scale=0)
        _, J = ev(ph, (0.0, 0.0, z))
        h = 1e-5
        Jr = 2 * fd_jacobian(ph, (0.0, 0.0, z), h) - fd_jacobian(ph, (0.0, 0.0, z), 2 * h)
        np.testing.assert_allclose(J, Jr, atol=1e-8)
    # just off the axis everything is finite
    B, J = ev(p, (1e-7, -2e-7, 0.4))
    assert np.all(np.isfinite(B)) and np.all(np.isfinite(J))


def test_divergence():
    """∇·B = trace J.  Halo: 0.  Disk: 0 for r > R_c (field lines = curves of constant ψ);
    for r < R_c the frozen amplitude gives ∇·B = B_r / r = sin p · S / r (model property)."""
    rng = np.random.default_rng(5)
    for disk in ("ASS", "BSS"):
        p = pt11_params(disk)
        pd = pt11_params(disk, halo_scale=0)
        for pt in _random_points(rng, 200, rmin=0.2):
            _, J = ev(p, pt)
            Bd, Jd = ev(pd, pt)
            r = math.hypot(pt[0], pt[1])
            br = (Bd[0] * pt[0] + Bd[1] * pt[1]) / r
            expect = 0.0 if r > p[7] else br / r
            assert np.trace(Jd) == pytest.approx(expect, abs=1e-12 * (1 + np.abs(Jd).max()))
            assert np.trace(J) == pytest.approx(expect, abs=1e-12 * (1 + np.abs(J).max()))
    # the inner divergence is not small: report its size at r = 2 kpc
    Bd, Jd = ev(pt11_params("BSS", halo_scale=0), (2.0, 0.0, 0.0))
    assert abs(np.trace(Jd)) > 0.01


def test_switches_and_scales():
    rng = np.random.default_rng(3)
    pts = _random_points(rng, 40)
    for disk in ("ASS", "BSS"):
        full = pt11_params(disk)
        dsk = pt11_params(disk, halo_scale=0)
        hal = pt11_params(disk, disk_scale=0)
        off = pt11_params(disk, disk_scale=0, halo_scale=0)
        scaled = pt11_params(disk, disk_scale=2.5, halo_scale=-0.5)
        for pt in pts:
            f = np.array(pt11_field(full, *pt, math.hypot(pt[0], pt[1])))
            fd_ = np.array(pt11_field(dsk, *pt, math.hypot(pt[0], pt[1])))
            fh = np.array(pt11_field(hal, *pt, math.hypot(pt[0], pt[1])))
            fs = np.array(pt11_field(scaled, *pt, math.hypot(pt[0], pt[1])))
            np.testing.assert_allclose(f, fd_ + fh, atol=1e-13)
            np.testing.assert_allclose(fs, 2.5 * fd_ - 0.5 * fh, atol=1e-12)
            assert np.all(np.array(pt11_field(off, *pt, math.hypot(pt[0], pt[1]))) == 0.0)
            assert f[2] == 0.0 and np.all(f[[5, 8, 11]] == 0.0)  # no B_z


def test_ass_is_abs_of_bss_with_equal_pitch():
    pa = pt11_params("ASS", pitch_deg=-6.0, halo_scale=0)
    pb = pt11_params("BSS", halo_scale=0)
    for pt in _random_points(np.random.default_rng(9), 50):
        Ba, _ = ev(pa, pt)
        Bb, _ = ev(pb, pt)
        assert np.linalg.norm(Ba) == pytest.approx(np.linalg.norm(Bb), rel=1e-12, abs=1e-14)
        assert abs(abs(Ba @ Bb) - np.linalg.norm(Ba) ** 2) < 1e-10


def test_southern_halo_strength_and_inner_cut():
    pa = pt11_params("ASS", disk_scale=0)
    pb = pt11_params("BSS", disk_scale=0)
    north = (3.0, -4.0, 1.0)
    south = (3.0, -4.0, -1.0)
    np.testing.assert_allclose(ev(pa, north)[0], ev(pb, north)[0], atol=1e-14)  # B_N = 4 in both
    np.testing.assert_allclose(2 * ev(pa, south)[0], ev(pb, south)[0], atol=1e-14)  # B_S = 2 vs 4
    # antisymmetric: B_φ(z) = −B_φ(−z) for equal B_N, B_S
    np.testing.assert_allclose(ev(pb, north)[0], -ev(pb, south)[0], atol=1e-14)
    # inner cut: the disk vanishes (with its Jacobian) for r <= r_in
    pc = pt11_params("BSS", r_in=3.0, halo_scale=0)
    B, J = ev(pc, (2.0, 1.0, 0.2))
    assert np.all(B == 0) and np.all(J == 0)
    B, _ = ev(pc, (3.0, 1.0, 0.2))
    np.testing.assert_allclose(B, ev(pt11_params("BSS", halo_scale=0), (3.0, 1.0, 0.2))[0])


def test_parameter_layout_and_errors():
    p = pt11_params("bss", B0=3.0)
    assert p.dtype == np.float64 and p.shape == (21,)
    assert p[PT11_PARAM_NAMES.index("B0")] == 3.0 and p[PT11_PARAM_NAMES.index("bss")] == 1.0
    assert p[PT11_PARAM_NAMES.index("B_S")] == 4.0 and pt11_params("ASS")[10] == 2.0
    assert p[16] == pytest.approx(math.sin(math.radians(-6))) and p[18] == pytest.approx(
        1 / math.tan(math.radians(-6))
    )
    assert p[PT11_PHI] == pytest.approx(p[18] * math.log(1 - 0.6 / 8.5) - math.pi / 2)
    with pytest.raises(ValueError, match="ASS"):
        pt11_params("XSS")
    with pytest.raises(ValueError, match="unknown PT11 parameter 'sinp'"):
        pt11_params("ASS", sinp=0.1)
    with pytest.raises(ValueError, match="pitch"):
        pt11_params("ASS", pitch_deg=0.0)
    with pytest.raises(ValueError, match="z0 must be > 0"):
        pt11_params("ASS", z0=0.0)


@njit
def _sum_in_loop(p, pts):
    s = 0.0
    for i in range(pts.shape[0]):
        x, y, z = pts[i, 0], pts[i, 1], pts[i, 2]
        f = pt11_field(p, x, y, z, math.sqrt(x * x + y * y))
        for k in range(12):
            s += f[k]
    return s


def test_inlines_into_njit_code():
    pts = _random_points(np.random.default_rng(1), 100)
    p = pt11_params("ASS")
    expect = sum(ev(p, pt)[0].sum() + ev(p, pt)[1].sum() for pt in pts)
    assert _sum_in_loop(p, pts) == pytest.approx(expect, rel=1e-12)
