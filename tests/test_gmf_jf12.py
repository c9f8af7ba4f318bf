"""JF12 regular field, solenoidal JF12 (Kleimann et al. 2019) and the JF12 random-field amplitude.

Reference values (tests/data/gmf_reference_jf12.csv, one source per row): the docs/physics.md §1.1
regression table, CRPropa3 evaluated at full precision, CRPropa's own unit test and the
independent gammaALPs implementation.  Then: analytic Jacobian against central differences,
∇·B = trace(J), the surface divergence of plain JF12, switches and scale factors, continuity of
the solenoidal field, and the parameter API.  Timing is not asserted.
"""

import csv
import math
import os

import numpy as np
import pytest

from sdeprop.models import gmf_jf12 as g

DATA = os.path.join(os.path.dirname(__file__), "data", "gmf_reference_jf12.csv")

FIELD = {
    "jf12": (g.jf12_params, g.jf12_field_many),
    "jf12_solenoidal": (g.jf12_solenoidal_params, g.jf12_solenoidal_field_many),
}


def _parse_params(text):
    out = {}
    for item in filter(None, text.split(";")):
        k, v = item.split("=")
        out[k] = (v == "True") if v in ("True", "False") else float(v)
    return out


def _reference_rows():
    with open(DATA, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return [pytest.param(r, id=f"{r['model']}({r['x']},{r['y']},{r['z']})[{r['source'][:22]}]") for r in rows]


@pytest.mark.parametrize("row", _reference_rows())
def test_reference_values(row):
    pt = np.array([[float(row["x"]), float(row["y"]), float(row["z"])]])
    kw = _parse_params(row["params"])
    tol = float(row["tol"])
    if row["model"] == "jf12_random":
        val = g.jf12_random_amplitude_many(g.jf12_random_params(**kw), pt)[0]
        assert abs(val - float(row["B_abs"])) <= tol, row["source"]
        return
    make, many = FIELD[row["model"]]
    b = many(make(**kw), pt)[0, :3]
    if row["Bx"] != "":
        np.testing.assert_allclose(
            b, [float(row["Bx"]), float(row["By"]), float(row["Bz"])], rtol=0, atol=tol, err_msg=row["source"]
        )
    else:
        assert abs(np.linalg.norm(b) - float(row["B_abs"])) <= tol, row["source"]


def test_reference_table_covers_the_required_regions():
    with open(DATA, newline="") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    sources = {r["source"].split(" ")[0] for r in rows}
    assert {"docs/physics.md", "CRPropa3", "gammaALPs"} <= sources
    pts = {(float(r["x"]), float(r["y"]), float(r["z"])) for r in rows}
    assert (-8.5, 0.0, 0.0) in pts  # the Sun
    assert any(math.hypot(x, y) < 5 and abs(z) < 1.1 for x, y, z in pts)  # inner Galaxy / ring
    assert any(abs(z) > 2 for x, y, z in pts)  # halo
    assert any(math.hypot(x, y) < 2 and 0.5 < z < 3 for x, y, z in pts)  # X-field region


# --- parameters ------------------------------------------------------------------------------


def test_b8_from_flux_conservation():
    """b_8 makes the net flux of the spiral disk through a circle vanish (JF12a §5.1.1)."""
    w = g._sector_widths(g.JF12_DEFAULTS["r_arms"], 11.5)
    assert w.sum() == pytest.approx(2 * math.pi, rel=1e-14)
    b8 = g.jf12_b8_from_flux(g.JF12_DEFAULTS["b_arms"])
    assert b8 == pytest.approx(2.75722, abs=1e-5)
    # JF12's rounded sector fractions f_i (as in gammaALPs and hammurabiX) give 2.755; Table 1 prints 2.7
    f = np.array([0.130, 0.165, 0.094, 0.122, 0.13, 0.118, 0.084, 0.156])
    assert np.allclose(w / (2 * math.pi), f, atol=6e-4)
    assert -np.dot(f[:7], g.JF12_DEFAULTS["b_arms"]) / f[7] == pytest.approx(2.7551, abs=1e-4)
    p = g.jf12_params()
    assert p[g.J_B + 7] == b8
    ps = g.jf12_solenoidal_params()
    assert ps[g.S_BD + 8] == pytest.approx(b8, rel=1e-13)
    assert np.dot(w, p[g.J_B : g.J_B + 8]) == pytest.approx(0.0, abs=1e-13)
    assert g.jf12_params(b8=2.7)[g.J_B + 7] == 2.7


def test_parameter_layouts_and_api():
    assert len(g.JF12_PARAM_NAMES) == g.N_JF12 == g.jf12_params().size
    assert len(g.JF12_RANDOM_PARAM_NAMES) == g.N_JF12_RANDOM == g.jf12_random_params().size
    assert g.jf12_solenoidal_params().size == g.N_JF12_SOL
    p = g.jf12_params(b3=-1.5, r_s=17.0, disk=False, x=0.5, pitch_deg=12.0)
    assert p[g.J_B + 2] == -1.5 and p[g.J_RS] == 17.0 and p[g.J_S_DISK] == 0.0 and p[g.J_S_X] == 0.5
    assert p[g.J_TAN_P] == pytest.approx(math.tan(math.radians(12.0)))
    planck = g.jf12_params(variant="planck")
    assert planck[g.J_B + 5] == -3.5 and planck[g.J_BX] == 1.8
    rp = g.jf12_random_params(variant="planck")
    assert rp[g.R_B_INT] == 3.90 and rp[g.R_B0] == 7.332 and rp[g.R_B + 1] == 6.24
    assert g.jf12_params(r_max=math.inf)[g.J_RMAX2] == math.inf
    with pytest.raises(TypeError, match="unknown JF12 parameter"):
        g.jf12_params(bogus=1.0)
    with pytest.raises(TypeError, match="b_8"):
        g.jf12_solenoidal_params(b8=2.7)
    with pytest.raises(ValueError, match="delta"):
        g.jf12_solenoidal_params(delta=8.0)
    with pytest.raises(ValueError, match="r_arms"):
        g.jf12_params(r_arms=(5.1, 6.3, 7.1, 8.3, 9.8, 11.4, 15.5, 12.7))
    with pytest.raises(ValueError, match="variant"):
        g.jf12_params(variant="jf13")


# --- Jacobian against finite differences ---------------------------------------------------


def _points(rng, n):
    """Random points over the field region, half of them near the plane and some near the axis."""
    pts = np.column_stack([rng.uniform(-20, 20, n), rng.uniform(-20, 20, n), rng.uniform(-5, 5, n)])
    pts[: n // 2, 2] = rng.uniform(-0.8, 0.8, n // 2)
    pts[n // 2 : n // 2 + n // 8, :2] = rng.uniform(-1.5, 1.5, (n // 8, 2))
    return pts


def _fd_jacobian(many, p, pts, h):
    jac = np.empty((len(pts), 3, 3))
    for i in range(3):
        d = np.zeros(3)
        d[i] = h
        jac[:, i, :] = (many(p, pts + d)[:, :3] - many(p, pts - d)[:, :3]) / (2 * h)
    return jac


CASES = {
    "jf12": (g.jf12_field_many, lambda: g.jf12_params()),
    "jf12_ring_n0_planck": (
        g.jf12_field_many,
        lambda: g.jf12_params(variant="planck", ring_exponent=0.0, r_max=math.inf),
    ),
    "jf12_ring_n0.5": (g.jf12_field_many, lambda: g.jf12_params(ring_exponent=0.5, b8=2.7)),
    "solenoidal": (g.jf12_solenoidal_field_many, lambda: g.jf12_solenoidal_params()),
    "solenoidal_variant": (
        g.jf12_solenoidal_field_many,
        lambda: g.jf12_solenoidal_params(delta=2.0, z_s=0.8, phi0=1.0, outer_transition=False, ring=0.0),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_jacobian_matches_central_differences(case):
    """J from the analytic formulas against central differences with h = 1e-5 kpc.

    Truncation error h²/6 |∂³B| with the shortest scale of the model w_h/2 = 0.1 kpc
    (|∂³B| ≲ 10³ |B| kpc⁻³) gives ≲ 2e-8 |B| kpc⁻¹; rounding ε|B|/h ≈ 2e-11 |B| kpc⁻¹.
    Tolerance: 1e-6 (|B|/kpc + max|J|).  A stencil straddling a genuine discontinuity (sector
    edge, r = 3 or 5 kpc, the spheres, z = 0, X inner/outer edge) is recognised by central
    differences with h and h/2 disagreeing by more than 1e-4 of the scale, and skipped; at most
    1% of the random points may be skipped.
    """
    many, make = CASES[case]
    p = make()
    pts = _points(np.random.default_rng(11), 4000)
    f = many(p, pts)
    B = f[:, :3]
    J = f[:, 3:].reshape(-1, 3, 3)
    h = 1e-5
    fd = _fd_jacobian(many, p, pts, h)
    fd2 = _fd_jacobian(many, p, pts, h / 2)
    scale = np.linalg.norm(B, axis=1) + np.abs(J).max(axis=(1, 2))
    inside = np.linalg.norm(pts, axis=1) < math.sqrt(p[g.J_RMAX2]) - 1e-3
    smooth = np.abs(fd - fd2).max(axis=(1, 2)) <= 1e-4 * scale + 1e-12
    assert np.count_nonzero(inside & ~smooth) <= 0.01 * np.count_nonzero(inside)
    ok = inside & smooth & (scale > 0)
    assert np.count_nonzero(ok) > 3000
    err = np.abs(J - fd).max(axis=(1, 2))
    assert np.all(err[ok] <= 1e-6 * scale[ok]), np.max(err[ok] / scale[ok])


@pytest.mark.parametrize(
    "point",
    [
        (-8.5, 0.0, 0.0),
        (-8.5, 0.0, 0.3),
        (4.0, 0.0, 0.05),
        (0.5, 1.2, 0.8),
        (3.0, 1.0, -0.3),
        (6.5, -2.0, 0.1),
        (-17.5, 4.0, 0.3),
        (0.01, 0.005, 2.0),
    ],
)
@pytest.mark.parametrize("model", ["jf12", "jf12_solenoidal"])
def test_jacobian_at_named_points(model, point):
    """The Sun (z = 0: one-sided z-derivative of the northern branch, so use z ≥ 0 stencils
    only at z = 0), the ring, the X-field region, the parabolic X region, the disk transition
    zones and the near-axis halo."""
    make, many = FIELD[model]
    p = make()
    pt = np.array([point])
    J = many(p, pt)[0, 3:].reshape(3, 3)
    h = 1e-5
    fd = np.empty((3, 3))
    for i in range(3):
        d = np.zeros(3)
        d[i] = h
        if i == 2 and point[2] == 0.0:  # one-sided second-order difference for z at z = 0
            fd[i] = (-3 * many(p, pt)[0, :3] + 4 * many(p, pt + d)[0, :3] - many(p, pt + 2 * d)[0, :3]) / (
                2 * h
            )
        else:
            fd[i] = (many(p, pt + d)[0, :3] - many(p, pt - d)[0, :3]) / (2 * h)
    np.testing.assert_allclose(J, fd, rtol=0, atol=1e-6 * (np.abs(J).max() + 1.0))


# --- divergence ----------------------------------------------------------------------------


def test_solenoidal_divergence_is_rounding_level():
    """∇·B = trace(J): |∇·B| L/|B| with L = 1 kpc at rounding level for the analytic trace, and at
    the central-difference error level for the finite-difference divergence (h = 1e-5 kpc:
    truncation h²/6 |∂³B| ≲ 2e-8 |B|/kpc, rounding ≈ ε|B|/h ≈ 2e-11 |B|/kpc), including the
    transition zones, the parabolic X-field and near the axis."""
    p = g.jf12_solenoidal_params()
    many = g.jf12_solenoidal_field_many
    pts = _points(np.random.default_rng(5), 4000)
    f = many(p, pts)
    B = np.linalg.norm(f[:, :3], axis=1)
    J = f[:, 3:].reshape(-1, 3, 3)
    ok = B > 1e-3
    div = np.trace(J, axis1=1, axis2=2)
    assert np.max(np.abs(div[ok]) / B[ok]) < 1e-12
    h = 1e-5
    fd = _fd_jacobian(many, p, pts, h)
    fd2 = _fd_jacobian(many, p, pts, h / 2)
    scale = B + np.abs(J).max(axis=(1, 2))
    smooth = ok & (np.abs(fd - fd2).max(axis=(1, 2)) <= 1e-4 * scale)
    div_fd = np.trace(fd, axis1=1, axis2=2)
    assert np.count_nonzero(smooth) > 3000
    assert np.max(np.abs(div_fd[smooth]) / B[smooth]) < 1e-7


def test_plain_jf12_divergence_vanishes_inside_regions():
    """Inside each region JF12 is divergence-free as well (each sector is a flux tube of a
    logarithmic spiral, the X-field lines are straight with flux-conserving |B|): its ∇·B is
    concentrated on the surfaces r = 5 kpc (start of the spiral field lines), |x| = 1 and 20 kpc."""
    p = g.jf12_params()
    f = g.jf12_field_many(p, _points(np.random.default_rng(6), 4000))
    B = np.linalg.norm(f[:, :3], axis=1)
    ok = B > 1e-3
    div = np.trace(f[:, 3:].reshape(-1, 3, 3), axis1=1, axis2=2)
    assert np.max(np.abs(div[ok]) / B[ok]) < 1e-12


def _box_flux(many, p, center, half, n=48):
    """Net outward flux ∮ B·dA through a cube (Gauss–Legendre, n×n nodes per face)."""
    t, w = np.polynomial.legendre.leggauss(n)
    u, v = np.meshgrid(t * half, t * half, indexing="ij")
    ww = np.outer(w, w).ravel() * half * half
    total = 0.0
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for sign in (1.0, -1.0):
            pts = np.empty((u.size, 3))
            pts[:, axis] = center[axis] + sign * half
            pts[:, others[0]] = center[others[0]] + u.ravel()
            pts[:, others[1]] = center[others[1]] + v.ravel()
            total += sign * np.dot(ww, many(p, pts)[:, axis])
    return total


@pytest.mark.parametrize("where", ["disk start r = 5 kpc", "exclusion sphere |x| = 1 kpc"])
def test_plain_jf12_surface_divergence_and_its_solenoidal_cure(where):
    """The known non-zero divergence of JF12: the net flux out of a small cube straddling a
    boundary is O(|B| ℓ²) for plain JF12 and zero (to quadrature error) for the solenoidal model.
    The spiral field lines of JF12 start at r = 5 kpc (B_r jumps from 0 to b_i sin p), and the
    X-field is cut off inside the 1 kpc sphere."""
    if where.startswith("disk"):
        kw = dict(halo=0.0, x=0.0, ring=0.0)
        center, half = np.array([5.0, 0.0, 0.2]), 0.1
    else:
        kw = dict(halo=0.0, disk=0.0)
        center, half = np.array([0.6, 0.0, 0.8]), 0.05
    p_plain = g.jf12_params(**kw)
    p_sol = g.jf12_solenoidal_params(**kw)
    b_ref = np.linalg.norm(g.jf12_field_many(p_plain, (center + [half, 0, 0])[None])[0, :3])
    norm = b_ref * (2 * half) ** 2
    plain = _box_flux(g.jf12_field_many, p_plain, center, half) / norm
    sol = _box_flux(g.jf12_solenoidal_field_many, p_sol, center, half) / norm
    assert abs(plain) > 0.05
    assert abs(sol) < 1e-4
    # pointwise, plain JF12's divergence there is a delta function: the central-difference
    # divergence across r = 5 grows like 1/h, while the solenoidal one stays bounded (a kink)
    if where.startswith("disk"):
        pt = np.array([[5.0, 0.0, 0.2]])
        div = {}
        for name, many, p in (
            ("plain", g.jf12_field_many, p_plain),
            ("sol", g.jf12_solenoidal_field_many, p_sol),
        ):
            div[name] = [np.trace(_fd_jacobian(many, p, pt, h)[0]) for h in (1e-3, 1e-4)]
        assert div["plain"][1] / div["plain"][0] == pytest.approx(10.0, rel=1e-3)
        assert abs(div["plain"][1]) > 1e3 * b_ref
        assert abs(div["sol"][1] / div["sol"][0] - 1.0) < 1e-2


# --- switches and scale factors ------------------------------------------------------------


@pytest.mark.parametrize("model", ["jf12", "jf12_solenoidal"])
def test_components_add_and_scale(model):
    make, many = FIELD[model]
    pts = _points(np.random.default_rng(8), 500)
    full = many(make(), pts)
    disk = many(make(halo=0, x=0), pts)
    halo = many(make(disk=False, x=False), pts)
    xf = many(make(disk=0, halo=0), pts)
    np.testing.assert_allclose(full, disk + halo + xf, rtol=1e-12, atol=1e-13)
    assert np.all(many(make(disk=0, halo=0, x=0), pts) == 0.0)
    for comp, part in (("disk", disk), ("halo", halo), ("x", xf)):
        assert np.any(part != 0.0)
        scaled = many(make(**{comp: 2.5}), pts)
        np.testing.assert_allclose(scaled, full + 1.5 * part, rtol=1e-12, atol=1e-13)
    # the ring factor acts on the molecular ring only
    ring_pts = np.array([[4.0, 0.5, 0.1], [-3.2, -1.0, -0.3]])
    no_ring = many(make(ring=0), ring_pts)
    only_ring = many(make(halo=0, x=0), ring_pts)
    np.testing.assert_allclose(many(make(), ring_pts), no_ring + only_ring, rtol=1e-12, atol=1e-14)
    # outside r_max everything vanishes; r_max = inf keeps the field
    far = np.array([[19.0, 8.0, 0.5]])
    assert np.all(many(make(), far) == 0.0)
    assert np.linalg.norm(many(make(r_max=math.inf), far)[0, :3]) > 0.0


def test_random_amplitude_components():
    pts = _points(np.random.default_rng(9), 500)
    full = g.jf12_random_amplitude_many(g.jf12_random_params(), pts)
    d = g.jf12_random_amplitude_many(g.jf12_random_params(halo=0), pts)
    h = g.jf12_random_amplitude_many(g.jf12_random_params(disk=False), pts)
    np.testing.assert_allclose(full**2, d**2 + h**2, rtol=1e-12)
    np.testing.assert_allclose(
        g.jf12_random_amplitude_many(g.jf12_random_params(disk=2.0, halo=0.5), pts) ** 2,
        4 * d**2 + 0.25 * h**2,
        rtol=1e-12,
    )
    # formula check at the Sun: sector 5 (b_5 = 1.96 μG) and the halo term
    b_sun = g.jf12_random_amplitude_many(g.jf12_random_params(), np.array([[-8.5, 0.0, 0.0]]))[0]
    assert b_sun == pytest.approx(math.hypot(1.96 * 5 / 8.5, 4.68 * math.exp(-8.5 / 10.97)), rel=1e-14)
    assert g.jf12_random_amplitude_many(g.jf12_random_params(), np.array([[0.0, 0.0, 20.0]]))[0] == 0.0


# --- conventions and continuity --------------------------------------------------------------


def test_sun_local_disk_field_direction():
    """At the Sun the disk field lies in sector 5 (b_5 = −2 μG): inward and along the rotation,
    at longitude l = 90° − 11.5° (docs/physics.md §0, §1.1)."""
    B = g.jf12_field_many(g.jf12_params(halo=0, x=0), np.array([[-8.5, 0.0, 0.0]]))[0, :3]
    # seen from the Sun +x is l = 0 and +y is l = 90°
    assert math.degrees(math.atan2(B[1], B[0])) == pytest.approx(90.0 - 11.5, abs=1e-10)
    assert np.linalg.norm(B) == pytest.approx(
        2.0 * 5 / 8.5 * (1 - 1 / (1 + math.exp(2 * 0.4 / 0.27))), rel=1e-13
    )


def test_x_field_at_the_plane_is_the_limit_from_above():
    """Inner X-field at z = 0: the z → 0⁺ limit (tan Θ = r_Xc tan Θ_X⁰ / r_p); CRPropa puts Θ = 90°
    there (only at exactly z = 0)."""
    p = g.jf12_params(disk=0, halo=0)
    at = g.jf12_field_many(p, np.array([[2.0, 0.0, 0.0]]))[0, :3]
    above = g.jf12_field_many(p, np.array([[2.0, 0.0, 1e-12]]))[0, :3]
    np.testing.assert_allclose(at, above, atol=1e-11)
    theta = math.atan(4.8 * math.tan(math.radians(49.0)) / 2.0)
    expect = 4.6 * math.exp(-2 / 2.9) * np.array([math.cos(theta), 0, math.sin(theta)])
    np.testing.assert_allclose(at, expect, rtol=1e-13)


def test_axis_is_finite():
    """On the z axis: the X-field is smooth, the halo's B_φ (singular in JF12) is set to zero."""
    for make, many in FIELD.values():
        f = many(make(), np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 0.3], [0.0, 0.0, -4.0]]))
        assert np.all(np.isfinite(f))
        near = many(make(), np.array([[1e-7, 0.0, 2.0]]))[0]
        # B_z continuous onto the axis (with a conical cusp: e^{−r_p/r_X} has a finite slope at r = 0)
        assert abs(near[2] - f[0, 2]) < 1e-6


def test_solenoidal_field_is_continuous():
    """B is continuous across the transition-zone edges and |z| = z_s; across the spiral sector
    edges, the X-field inner/outer edge and at r₁ = 5, r₂ = 20 kpc (where the disk ends) only the
    normal component is continuous, which is what ∇·B = 0 needs."""
    p = g.jf12_solenoidal_params(ring=0, halo=0, x=0, r_max=math.inf)
    px = g.jf12_solenoidal_params(disk=0, halo=0)
    many = g.jf12_solenoidal_field_many
    eps = 1e-9
    for phi in (0.3, 2.0, -1.2):
        c, s = math.cos(phi), math.sin(phi)
        for r in (8.0, 17.0):  # r₁ + Δ and r₂ − Δ
            a, b = many(
                p, np.array([[(r - eps) * c, (r - eps) * s, 0.2], [(r + eps) * c, (r + eps) * s, 0.2]])
            )[:, :3]
            assert np.linalg.norm(a - b) < 1e-7
        # at r₁, r₂: B_r → 0 (flux closure); B_φ = −q(r_a) H(φ₁) sin p f(z) jumps to 0 (tangential)
        for r in (5.0, 20.0):
            for dr in (eps, -eps):
                b = many(p, np.array([[(r + dr) * c, (r + dr) * s, 0.1]]))[0, :3]
                assert abs(b[0] * c + b[1] * s) < 1e-7
        for r in (2.0, 6.0):  # |z| = z_s, inner and outer X regions
            a, b = many(px, np.array([[r * c, r * s, 0.5 - eps], [r * c, r * s, 0.5 + eps]]))[:, :3]
            assert np.linalg.norm(a - b) < 1e-7
    # the X inner/outer edge inside |z| < z_s, the field line r = r₀c u(z), u = 1 − A (z_s − z²/z_s):
    # |B| jumps there as across JF12's cone r = r_c(z) (tangential), the normal component does not
    zz = 0.3
    pe = g.jf12_solenoidal_params(disk=0, halo=0)
    u = 1 - pe[g.S_AZ] * (0.5 - zz * zz / 0.5)
    r_edge = pe[g.S_R0C] * u
    normal = np.array([1.0, 0.0, -pe[g.S_R0C] * pe[g.S_AZ] * 2 * zz / 0.5])
    a, b = many(pe, np.array([[r_edge - eps, 0, zz], [r_edge + eps, 0, zz]]))[:, :3]
    assert abs(np.dot(a - b, normal)) < 1e-7
    assert np.linalg.norm(a - b) > 1e-3
    # sector edge inside the transition zone: the normal component is continuous, the tangential one jumps
    psi4 = pe[g.S_PSI + 4]
    r = 6.0
    phi_edge = psi4 + math.log(r / 5.0) / math.tan(math.radians(11.5))
    pd = g.jf12_solenoidal_params(halo=0, x=0, ring=0)
    pts = np.array(
        [[r * math.cos(phi_edge + sg * eps), r * math.sin(phi_edge + sg * eps), 0.1] for sg in (-1, 1)]
    )
    Bs = many(pd, pts)[:, :3]
    sp, cp = math.sin(math.radians(11.5)), math.cos(math.radians(11.5))
    rhat = np.array([math.cos(phi_edge), math.sin(phi_edge), 0])
    phat = np.array([-math.sin(phi_edge), math.cos(phi_edge), 0])
    normal = cp * rhat - sp * phat  # normal to the spiral direction sin p r̂ + cos p φ̂
    assert abs(np.dot(Bs[0] - Bs[1], normal)) < 1e-7
    assert np.linalg.norm(Bs[0] - Bs[1]) > 0.1


def test_solenoidal_equals_plain_where_unmodified():
    """Between the transition zones and above z_s (outside the 1 kpc sphere) both models agree."""
    rng = np.random.default_rng(12)
    n = 400
    r = rng.uniform(8.01, 16.99, n)
    phi = rng.uniform(-math.pi, math.pi, n)
    z = rng.choice([-1, 1], n) * rng.uniform(0.51, 3.0, n)
    pts = np.column_stack([r * np.cos(phi), r * np.sin(phi), z])
    pts = pts[np.linalg.norm(pts, axis=1) < 19.9]
    np.testing.assert_allclose(
        g.jf12_solenoidal_field_many(g.jf12_solenoidal_params(), pts),
        g.jf12_field_many(g.jf12_params(), pts),
        rtol=1e-12,
        atol=1e-14,
    )
