"""Field models: analytic Jacobians against finite differences; the grid model and its errors."""

import numpy as np
import pytest
from fieldcheck import central_difference_jacobian

from sdeprop.config import CerriToyField, ConfigError, GridField, UniformField, load_config
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
