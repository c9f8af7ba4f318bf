"""Regular magnetic-field models evaluated inside the numba kernel.

Every model returns the field B (μG) and its Jacobian J_ij = ∂B_j/∂x_i (μG/kpc) at a
Galactocentric Cartesian point (kpc).  The kernel derives b = B/sqrt(|B|² + B_f²) and
the Itô drift ∇·D from these (PHYSICS.md §1.6).

Tags (``FIELD_*``) select the model inside the kernel; parameters are a float64 array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

FIELD_UNIFORM = 0
FIELD_CERRI_TOY = 1
FIELD_GRID = 2

N_FIELD_PARAMS = 8
EMPTY_GRID = np.zeros((1, 1, 1, 12))


@njit(cache=True, inline="always")
def _uniform(p):
    """Uniform field B = strength · direction; zero Jacobian."""
    return (p[0], p[1], p[2], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@njit(cache=True, inline="always", error_model="numpy")
def _cerri_toy(p, x, y, r):
    """Toy field of Cerri et al. 2017 (JCAP 10, 019), eqs. 3.1–3.3.

    B_R = 0, B_φ = B0φ (1 − e^{−R/R0}), B_z = ε_B B0φ e^{−R/R0}.  With g(R) = B_φ/R the
    Cartesian components are B_x = −g y, B_y = g x, and the Jacobian follows from
    g'(R) = (B_φ' − g)/R and B_z' = −B_z/R0.  p = (B0φ, R0, ε_B); r = sqrt(x² + y²).
    """
    b0 = p[0]
    r0 = p[1]
    epsb = p[2]
    e = math.exp(-r / r0)
    bz = epsb * b0 * e
    dbz = -bz / r0
    if r > 1e-6 * r0:
        inv_r = 1.0 / r
        g = b0 * (1.0 - e) * inv_r
        dg = (b0 * e / r0 - g) * inv_r
        cx = x * inv_r
        cy = y * inv_r
    else:  # series about the axis: B_φ ≈ B0 (R/R0 − R²/2R0²)
        g = b0 / r0 * (1.0 - 0.5 * r / r0)
        dg = -0.5 * b0 / (r0 * r0)
        cx = 0.0
        cy = 0.0
    # J[i][j] = dB_j/dx_i, flattened row-major
    return (-g * y, g * x, bz,
            -dg * cx * y, dg * cx * x + g, dbz * cx,
            -dg * cy * y - g, dg * cy * x, dbz * cy,
            0.0, 0.0, 0.0)


@njit(cache=True, inline="always", error_model="numpy")
def _tri(grid, ix, iy, iz, tx, ty, tz, c):
    """Trilinear interpolation of component c inside cell (ix, iy, iz) at fractions (tx, ty, tz)."""
    c00 = grid[ix, iy, iz, c] * (1 - tx) + grid[ix + 1, iy, iz, c] * tx
    c10 = grid[ix, iy + 1, iz, c] * (1 - tx) + grid[ix + 1, iy + 1, iz, c] * tx
    c01 = grid[ix, iy, iz + 1, c] * (1 - tx) + grid[ix + 1, iy, iz + 1, c] * tx
    c11 = grid[ix, iy + 1, iz + 1, c] * (1 - tx) + grid[ix + 1, iy + 1, iz + 1, c] * tx
    return (c00 * (1 - ty) + c10 * ty) * (1 - tz) + (c01 * (1 - ty) + c11 * ty) * tz


@njit(cache=True, inline="always", error_model="numpy")
def _grid(p, grid, x, y, z):
    """Trilinear interpolation of B and of its precomputed Jacobian on a regular grid.

    p = (x0, y0, z0, 1/dx, 1/dy, 1/dz); outside the grid the field is zero (the kernel then
    falls back to isotropic D⊥ through the field floor).
    """
    nx = grid.shape[0]
    ny = grid.shape[1]
    nz = grid.shape[2]
    fx = (x - p[0]) * p[3]
    fy = (y - p[1]) * p[4]
    fz = (z - p[2]) * p[5]
    if fx < 0.0 or fy < 0.0 or fz < 0.0 or fx > nx - 1 or fy > ny - 1 or fz > nz - 1:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ix = min(int(fx), nx - 2)
    iy = min(int(fy), ny - 2)
    iz = min(int(fz), nz - 2)
    tx = fx - ix
    ty = fy - iy
    tz = fz - iz
    return (
        _tri(grid, ix, iy, iz, tx, ty, tz, 0), _tri(grid, ix, iy, iz, tx, ty, tz, 1), _tri(grid, ix, iy, iz, tx, ty, tz, 2),
        _tri(grid, ix, iy, iz, tx, ty, tz, 3), _tri(grid, ix, iy, iz, tx, ty, tz, 4), _tri(grid, ix, iy, iz, tx, ty, tz, 5),
        _tri(grid, ix, iy, iz, tx, ty, tz, 6), _tri(grid, ix, iy, iz, tx, ty, tz, 7), _tri(grid, ix, iy, iz, tx, ty, tz, 8),
        _tri(grid, ix, iy, iz, tx, ty, tz, 9), _tri(grid, ix, iy, iz, tx, ty, tz, 10), _tri(grid, ix, iy, iz, tx, ty, tz, 11),
    )


@njit(cache=True, inline="always", error_model="numpy")
def field_and_jacobian(kind, p, grid, x, y, z, r):
    """B (3 components, μG) and J_ij = ∂B_j/∂x_i (9, row-major, μG/kpc) of model ``kind`` at (x, y, z) kpc.

    ``r`` = sqrt(x² + y²), which the caller already has.  Inlined into the kernel (no call,
    no reference counting of the parameter arrays per step).
    """
    if kind == FIELD_UNIFORM:
        return _uniform(p)
    elif kind == FIELD_CERRI_TOY:
        return _cerri_toy(p, x, y, r)
    else:
        return _grid(p, grid, x, y, z)


def grid_with_jacobian(x, y, z, bx, by, bz) -> np.ndarray:
    """Stack B and its finite-difference Jacobian on the grid nodes: array (nx, ny, nz, 12).

    Derivatives are second-order central differences inside, one-sided at the edges
    (numpy.gradient); interpolating them trilinearly gives the drift a continuous field.
    """
    out = np.empty(bx.shape + (12,))
    spacing = (x, y, z)
    for j, comp in enumerate((bx, by, bz)):
        out[..., j] = comp
        grads = np.gradient(comp, *spacing, edge_order=2)
        for i in range(3):
            out[..., 3 + 3 * i + j] = grads[i]
    return out


def build_field(field_cfg):
    """Turn the [field] section into (kind, params float64[8], grid float64[nx,ny,nz,12])."""
    from ..config import load_field_grid

    params = np.zeros(N_FIELD_PARAMS)
    model = field_cfg.model
    if model == "uniform":
        d = np.asarray(field_cfg.direction, dtype=float)
        params[:3] = field_cfg.strength_uG * d / np.linalg.norm(d)
        return FIELD_UNIFORM, params, EMPTY_GRID
    if model == "cerri_toy":
        params[:3] = (field_cfg.B0_phi_uG, field_cfg.R0_kpc, field_cfg.epsilon_B)
        return FIELD_CERRI_TOY, params, EMPTY_GRID
    if model == "grid":
        data = load_field_grid(field_cfg.file)
        x, y, z = data["x"], data["y"], data["z"]
        params[:6] = (x[0], y[0], z[0], 1 / (x[1] - x[0]), 1 / (y[1] - y[0]), 1 / (z[1] - z[0]))
        return FIELD_GRID, params, grid_with_jacobian(x, y, z, data["Bx"], data["By"], data["Bz"])
    raise ValueError(f"unknown field model {model!r}")


@njit(cache=True)
def _field_py(kind, p, grid, x, y, z):
    return field_and_jacobian(kind, p, grid, x, y, z, math.sqrt(x * x + y * y))


def evaluate_field(field_cfg, points_kpc) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate B (μG, shape (n, 3)) and the Jacobian (μG/kpc, shape (n, 3, 3), J[i, j] = ∂B_j/∂x_i)."""
    kind, params, grid = build_field(field_cfg)
    pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
    out = np.array([_field_py(kind, params, grid, *pt) for pt in pts])
    return out[:, :3], out[:, 3:].reshape(-1, 3, 3)
