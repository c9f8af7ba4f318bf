"""Field models: analytic Jacobians against finite differences; the grid model and its errors."""

import numpy as np
import pytest
from fieldcheck import central_difference_jacobian, fd_tolerance

from sdeprop.config import (
    CerriToyField,
    ConfigError,
    CylindricalUniformField,
    GridField,
    UniformField,
    load_config,
)
from sdeprop.io import read_field_grid
from sdeprop.models.field import evaluate_field


def _fd_jacobian(cfg, p, h=1e-5):
    return central_difference_jacobian(lambda q: evaluate_field(cfg, q)[0][0], p, h)


@pytest.mark.parametrize("point", [(-8.3, 0.0, 0.1), (1.0, 2.0, -0.5), (0.05, -0.02, 0.0), (3.0, -4.0, 1.0)])
def test_cerri_toy_field_and_jacobian(point):
    """Cerri et al. 2017 eqs. 3.1-3.3: B_R = 0, B_phi and B_z as functions of R; J from finite differences."""
    cfg = CerriToyField(B0_phi_uG=3.0, R0_kpc=2.0, epsilon_B=0.7)
    p = np.array(point)
    B, J = evaluate_field(cfg, p)
    R = np.hypot(p[0], p[1])
    phi_hat = np.array([-p[1], p[0], 0.0]) / R
    e = np.exp(-R / 2.0)
    expect = 3.0 * (1 - e) * phi_hat + np.array([0, 0, 0.7 * 3.0 * e])
    np.testing.assert_allclose(B[0], expect, rtol=1e-12, atol=1e-14)
    # central differences with h = 1e-5 kpc: truncation ~1e-10, rounding ~1e-11
    np.testing.assert_allclose(J[0], _fd_jacobian(cfg, p), rtol=1e-6, atol=1e-8)


def test_uniform_field():
    B, J = evaluate_field(UniformField(direction=[1, 0, 1], strength_uG=2.0), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(B[0], [np.sqrt(2), 0, np.sqrt(2)], rtol=1e-14)
    assert np.all(J == 0)


CYL = dict(B_R_uG=1.3, B_phi_uG=-2.0, B_z_uG=0.7, B_z_peak_uG=5.0, peak_scale_kpc=2.0)


@pytest.mark.parametrize("point", [(1.0, 2.0, -0.5), (-3.0, 0.2, 1.0), (0.01, -0.02, 0.3), (-8.3, 0.0, 0.1)])
def test_cylindrical_uniform_field_and_jacobian(point):
    """B = B_R R̂ + B_φ φ̂ + (B_z + B_peak e^{−(R² + z²)/L²}) ẑ; J against central differences (fieldcheck:
    truncation from steps h and 2h plus rounding ~ε|B|/h, which grows as 1/R² near the axis)."""
    cfg = CylindricalUniformField(**CYL)
    p = np.array(point)
    B, J = evaluate_field(cfg, p)
    R = np.hypot(p[0], p[1])
    R_hat, phi_hat = np.array([p[0], p[1], 0.0]) / R, np.array([-p[1], p[0], 0.0]) / R
    bz = 0.7 + 5.0 * np.exp(-(R * R + p[2] ** 2) / 4.0)
    np.testing.assert_allclose(B[0], 1.3 * R_hat - 2.0 * phi_hat + [0, 0, bz], rtol=1e-13, atol=1e-14)
    h = 1e-3 * R  # well inside R (the Jacobian varies on the scale R)
    f = lambda q: evaluate_field(cfg, q)[0][0]  # noqa: E731
    J1, J2 = central_difference_jacobian(f, p, h), central_difference_jacobian(f, p, 2 * h)
    np.testing.assert_allclose(J[0], J1, rtol=0, atol=fd_tolerance(J[0], B[0], J1, J2))
    # ∇·B = B_R/R + ∂_z B_z (trace of J)
    assert np.trace(J[0]) == pytest.approx(1.3 / R - 2 * p[2] * (bz - 0.7) / 4.0, rel=1e-12)


def test_cylindrical_uniform_on_and_near_the_axis():
    """R̂, φ̂ are undefined on the axis: there (R < 1e-12 kpc) the horizontal part is zero, its azimuthal
    mean; just off it B keeps its components and J ∝ 1/R stays finite; nothing is NaN."""
    cfg = CylindricalUniformField(**CYL)
    B, J = evaluate_field(cfg, [[0.0, 0.0, 0.5], [1e-13, 0.0, 0.0], [1e-9, 0.0, 0.0], [0.0, 1e-11, -0.2]])
    assert np.all(np.isfinite(B)) and np.all(np.isfinite(J))
    np.testing.assert_allclose(B[0, :2], 0.0, atol=0)
    np.testing.assert_allclose(B[1, :2], 0.0, atol=0)
    np.testing.assert_allclose(B[2, :2], [1.3, -2.0], rtol=1e-12)  # R̂ = x̂, φ̂ = ŷ
    np.testing.assert_allclose(B[3, :2], [2.0, 1.3], rtol=1e-12)  # R̂ = ŷ, φ̂ = −x̂
    assert np.trace(J[2]) == pytest.approx(1.3 / 1e-9, rel=1e-9)  # ∇·B ≈ B_R/R
    with pytest.raises(ConfigError, match="every component is zero"):
        load_config({"field": {"model": "cylindrical_uniform", "B_z_uG": 0.0}})


def test_cylindrical_uniform_special_cases():
    """B_R = B_φ = 0 is the uniform vertical field; B_φ alone is tangent to circles of strength |B_φ|."""
    pts = np.array([[1.0, 2.0, -0.5], [-4.0, 0.5, 1.0]])
    B1, J1 = evaluate_field(CylindricalUniformField(B_z_uG=2.0), pts)
    B2, J2 = evaluate_field(UniformField(direction=[0, 0, 1], strength_uG=2.0), pts)
    np.testing.assert_allclose(B1, B2, rtol=1e-15)
    assert np.all(J1 == 0) and np.all(J2 == 0)
    B, _ = evaluate_field(CylindricalUniformField(B_phi_uG=3.0, B_z_uG=0.0, B_z_peak_uG=1.0), pts)
    R = np.hypot(pts[:, 0], pts[:, 1])
    np.testing.assert_allclose(np.hypot(B[:, 0], B[:, 1]), 3.0, rtol=1e-14)
    np.testing.assert_allclose(B[:, 0] * pts[:, 0] + B[:, 1] * pts[:, 1], 0.0, atol=1e-14 * R.max())


def _write_grid(path, func, n=(9, 8, 7)):
    x = np.linspace(-4, 4, n[0])
    y = np.linspace(-3, 3, n[1])
    z = np.linspace(-1, 1, n[2])
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    bx, by, bz = func(X, Y, Z)
    np.savez(path, x=x, y=y, z=z, Bx=bx, By=by, Bz=bz)
    return path


def test_grid_field_reproduces_linear_field(tmp_path):
    """Trilinear interpolation is exact for a linear field, and so is the central-difference Jacobian."""
    f = _write_grid(
        tmp_path / "lin.npz", lambda X, Y, Z: (1 + 0.2 * X - 0.1 * Z, 0.5 + 0.3 * Y, 2.0 + 0.05 * X + 0.4 * Z)
    )
    cfg = GridField(file=str(f))
    pts = np.array([[0.3, -1.2, 0.4], [-3.9, 2.9, -0.95], [1.1, 0.0, 0.0]])
    B, J = evaluate_field(cfg, pts, grid_file=read_field_grid(cfg))
    x, y, z = pts.T
    np.testing.assert_allclose(
        B, np.column_stack([1 + 0.2 * x - 0.1 * z, 0.5 + 0.3 * y, 2 + 0.05 * x + 0.4 * z]), rtol=1e-12
    )
    expectJ = np.array([[0.2, 0.0, 0.05], [0.0, 0.3, 0.0], [-0.1, 0.0, 0.4]])
    for j in J:
        np.testing.assert_allclose(j, expectJ, atol=1e-12)
    # outside the grid the field is zero
    B, _ = evaluate_field(cfg, [10.0, 0.0, 0.0], grid_file=read_field_grid(cfg))
    assert np.all(B == 0)


def test_grid_field_errors(tmp_path):
    base = {"field": {"model": "grid", "file": str(tmp_path / "missing.npz")}}
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(base)
    bad = tmp_path / "garbage.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ConfigError, match="cannot read field grid"):
        load_config({"field": {"model": "grid", "file": str(bad)}})

    def nan_field(X, Y, Z):
        bx = np.ones_like(X)
        bx[2, 3, 4] = np.nan
        return bx, np.zeros_like(X), np.zeros_like(X)

    f = _write_grid(tmp_path / "nan.npz", nan_field)
    with pytest.raises(
        ConfigError, match=r"field.file.*Bx contains 1 NaN/inf values \(first at index \(2, 3, 4\)\)"
    ):
        load_config({"field": {"model": "grid", "file": str(f)}})
    np.savez(
        tmp_path / "short.npz", x=np.arange(3.0), y=np.arange(3.0), z=np.arange(3.0), Bx=np.zeros((3, 3, 3))
    )
    with pytest.raises(ConfigError, match="lacks datasets"):
        load_config({"field": {"model": "grid", "file": str(tmp_path / "short.npz")}})


def test_grid_field_hdf5(tmp_path):
    import h5py

    x = np.linspace(-1, 1, 5)
    with h5py.File(tmp_path / "g.h5", "w") as f:
        for k in "xyz":
            f[k] = x
        f["Bx"] = np.full((5, 5, 5), 1.5)
        f["By"] = np.zeros((5, 5, 5))
        f["Bz"] = np.zeros((5, 5, 5))
    cfg = GridField(file=str(tmp_path / "g.h5"))
    B, _ = evaluate_field(cfg, [0.1, 0.2, 0.3], grid_file=read_field_grid(cfg))
    np.testing.assert_allclose(B[0], [1.5, 0, 0])
