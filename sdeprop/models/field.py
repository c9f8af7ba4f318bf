"""Regular magnetic-field models evaluated inside the numba kernel.

Every model returns the field B (μG) and its Jacobian J_ij = ∂B_j/∂x_i (μG/kpc) at a
Galactocentric Cartesian point (kpc).  The kernel derives b = B/sqrt(|B|² + B_f²) and
the Itô drift ∇·D from these (docs/physics.md §1.6).

Tags (``FIELD_*``) select the model inside the kernel; parameters are a float64 array.
The models read no files: the 'grid' model gets its arrays from the caller
(``sdeprop.io.read_field_grid``), passed to ``build_field``/``evaluate_field`` as ``grid_file``.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os

import numpy as np
from numba import njit

from .gmf_cerri17 import cerri17_field, cerri17_params
from .gmf_jf12 import (
    J_K_DISK,
    J_K_HALO,
    jf12_field,
    jf12_params,
    jf12_solenoidal_field,
    jf12_solenoidal_params,
)
from .gmf_pt11 import pt11_field, pt11_params
from .gmf_uf23 import D_INV_WD as U_INV_WD
from .gmf_uf23 import D_INV_WP as U_INV_WP
from .gmf_uf23 import uf23_field, uf23_params

FIELD_UNIFORM = 0
FIELD_CERRI_TOY = 1
FIELD_GRID = 2
FIELD_JF12 = 3
FIELD_JF12_SOLENOIDAL = 4
FIELD_UF23 = 5
FIELD_PT11 = 6
FIELD_CERRI17 = 7
FIELD_SUM = 8
FIELD_CYLINDRICAL_UNIFORM = 9

#: below this distance from the z axis [kpc] the cylindrical_uniform model drops its R̂ and φ̂ parts
#: (their directions are undefined on the axis; just above it the Jacobian is ~1e12 |B|/kpc, still finite)
CYL_AXIS_KPC = 1e-12

EMPTY_GRID = np.zeros((1, 1, 1, 12))

# Galactic field models: configuration name -> (tag, parameter builder, takes a variant)
GMF_MODELS = {
    "jf12": (FIELD_JF12, jf12_params),
    "jf12_solenoidal": (FIELD_JF12_SOLENOIDAL, jf12_solenoidal_params),
    "uf23": (FIELD_UF23, uf23_params),
    "pt11": (FIELD_PT11, pt11_params),
    "cerri17": (FIELD_CERRI17, cerri17_params),
}


@njit(cache=True, inline="always")
def _uniform(p, z):
    """Uniform field B = strength · direction, p[0:3] for z >= 0 and p[3:6] for z < 0; zero Jacobian."""
    k = 3 if z < 0.0 else 0
    return (p[k], p[k + 1], p[k + 2], 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


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
    return (
        -g * y,
        g * x,
        bz,
        -dg * cx * y,
        dg * cx * x + g,
        dbz * cx,
        -dg * cy * y - g,
        dg * cy * x,
        dbz * cy,
        0.0,
        0.0,
        0.0,
    )


@njit(cache=True, inline="always", error_model="numpy")
def _cylindrical_uniform(p, x, y, z, r):
    """Field of constant cylindrical components (the fields of Cerri et al. 2017, JCAP 10, 019, app. B):
    B = B_R R̂ + B_φ φ̂ + [B_z + B_peak exp(−(R² + z²)/L²)] ẑ.

    p = (B_R, B_φ, B_z, B_peak, 1/L²).  Cartesian B_x = (B_R x − B_φ y)/R, B_y = (B_R y + B_φ x)/R, so
    ∂_x B_x = y B_y/R², ∂_y B_x = −x B_y/R², ∂_x B_y = −y B_x/R², ∂_y B_y = x B_x/R² (∇·B = B_R/R),
    ∂_i B_z = −2 x_i B_peak e/L².  On the axis (R < CYL_AXIS_KPC) R̂ and φ̂ are undefined and the
    horizontal part is set to zero, its mean over the azimuth (docs/fields.md).
    """
    bump = p[3] * math.exp(-(r * r + z * z) * p[4])
    g = -2.0 * bump * p[4]
    bz = p[2] + bump
    if r < CYL_AXIS_KPC:
        return (0.0, 0.0, bz, 0.0, 0.0, g * x, 0.0, 0.0, g * y, 0.0, 0.0, g * z)
    inv_r = 1.0 / r
    bx = (p[0] * x - p[1] * y) * inv_r
    by = (p[0] * y + p[1] * x) * inv_r
    inv_r2 = inv_r * inv_r
    # J[i][j] = dB_j/dx_i, flattened row-major
    return (
        bx,
        by,
        bz,
        y * by * inv_r2,
        -y * bx * inv_r2,
        g * x,
        -x * by * inv_r2,
        x * bx * inv_r2,
        g * y,
        0.0,
        0.0,
        g * z,
    )


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
        _tri(grid, ix, iy, iz, tx, ty, tz, 0),
        _tri(grid, ix, iy, iz, tx, ty, tz, 1),
        _tri(grid, ix, iy, iz, tx, ty, tz, 2),
        _tri(grid, ix, iy, iz, tx, ty, tz, 3),
        _tri(grid, ix, iy, iz, tx, ty, tz, 4),
        _tri(grid, ix, iy, iz, tx, ty, tz, 5),
        _tri(grid, ix, iy, iz, tx, ty, tz, 6),
        _tri(grid, ix, iy, iz, tx, ty, tz, 7),
        _tri(grid, ix, iy, iz, tx, ty, tz, 8),
        _tri(grid, ix, iy, iz, tx, ty, tz, 9),
        _tri(grid, ix, iy, iz, tx, ty, tz, 10),
        _tri(grid, ix, iy, iz, tx, ty, tz, 11),
    )


@njit(cache=True, inline="always", error_model="numpy")
def _single(kind, p, grid, x, y, z, r):
    """One model (any tag but FIELD_SUM)."""
    if kind == FIELD_UNIFORM:
        return _uniform(p, z)
    elif kind == FIELD_CERRI_TOY:
        return _cerri_toy(p, x, y, r)
    elif kind == FIELD_GRID:
        return _grid(p, grid, x, y, z)
    elif kind == FIELD_CYLINDRICAL_UNIFORM:
        return _cylindrical_uniform(p, x, y, z, r)
    elif kind == FIELD_JF12:
        return jf12_field(p, x, y, z, r)
    elif kind == FIELD_JF12_SOLENOIDAL:
        return jf12_solenoidal_field(p, x, y, z, r)
    elif kind == FIELD_UF23:
        return uf23_field(p, x, y, z, r)
    elif kind == FIELD_PT11:
        return pt11_field(p, x, y, z, r)
    else:
        return cerri17_field(p, x, y, z, r)


@njit(cache=True, inline="always", error_model="numpy")
def field_and_jacobian(kind, p, grid, x, y, z, r):
    """B (3 components, μG) and J_ij = ∂B_j/∂x_i (9, row-major, μG/kpc) of model ``kind`` at (x, y, z) kpc.

    ``r`` = sqrt(x² + y²), which the caller already has.  Inlined into the kernel (no call,
    no reference counting of the parameter arrays per step).  FIELD_SUM adds scaled
    components; its parameters are [n, (kind, scale, start, stop) × n, component parameters...].
    """
    if kind != FIELD_SUM:
        return _single(kind, p, grid, x, y, z, r)
    out = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    n = int(p[0])
    for k in range(n):
        h = 1 + 4 * k
        f = _single(int(p[h]), p[int(p[h + 2]) : int(p[h + 3])], grid, x, y, z, r)
        s = p[h + 1]
        out = (
            out[0] + s * f[0],
            out[1] + s * f[1],
            out[2] + s * f[2],
            out[3] + s * f[3],
            out[4] + s * f[4],
            out[5] + s * f[5],
            out[6] + s * f[6],
            out[7] + s * f[7],
            out[8] + s * f[8],
            out[9] + s * f[9],
            out[10] + s * f[10],
            out[11] + s * f[11],
        )
    return out


@njit(cache=True, error_model="numpy")
def sample_on_grid(kind, p, grid, xs, ys, zs):
    """B and J of a model at every node of the grid xs × ys × zs: array (nx, ny, nz, 12)."""
    out = np.empty((xs.shape[0], ys.shape[0], zs.shape[0], 12))
    for i in range(xs.shape[0]):
        for j in range(ys.shape[0]):
            for k in range(zs.shape[0]):
                f = field_at(kind, p, grid, xs[i], ys[j], zs[k])
                for c in range(12):
                    out[i, j, k, c] = f[c]
    return out


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


def unit_vector(vector) -> np.ndarray:
    """``vector / |vector|`` for any finite non-zero vector: scaled by its largest component first, so
    that [1e-300, 0, 0] (|v|² underflows) and [1e300, 1e300, 0] (|v|² overflows) mean what they say."""
    v = np.asarray(vector, dtype=float)
    largest = np.max(np.abs(v))
    if not (np.isfinite(largest) and largest > 0.0):
        raise ValueError(f"direction {list(vector)} must be a finite, non-zero vector")
    if not 1e-150 < largest < 1e150:  # |v|² would underflow or overflow
        v = v / largest
    return v / np.linalg.norm(v)


def _component(cfg, grid_file):
    """(kind, params, grid) of one model section (not a sum); ``grid_file`` as in ``build_field``."""
    model = cfg.model
    if model == "uniform":
        d = unit_vector(cfg.direction)
        north = cfg.strength_uG * d
        d = d if cfg.south_direction is None else unit_vector(cfg.south_direction)
        south = (cfg.south_strength_uG or cfg.strength_uG) * d
        return FIELD_UNIFORM, np.concatenate([north, south]), EMPTY_GRID
    if model == "cerri_toy":
        return FIELD_CERRI_TOY, np.array([cfg.B0_phi_uG, cfg.R0_kpc, cfg.epsilon_B]), EMPTY_GRID
    if model == "cylindrical_uniform":
        params = [cfg.B_R_uG, cfg.B_phi_uG, cfg.B_z_uG, cfg.B_z_peak_uG, 1.0 / cfg.peak_scale_kpc**2]
        return FIELD_CYLINDRICAL_UNIFORM, np.array(params, dtype=float), EMPTY_GRID
    if model == "grid":
        if grid_file is None:
            raise ValueError(
                f"field model 'grid' ('{cfg.file}'): pass the file's arrays as grid_file "
                "(sdeprop.io.read_field_grid reads them)"
            )
        data = grid_file
        x, y, z = data["x"], data["y"], data["z"]
        params = np.array([x[0], y[0], z[0], 1 / (x[1] - x[0]), 1 / (y[1] - y[0]), 1 / (z[1] - z[0])])
        return FIELD_GRID, params, grid_with_jacobian(x, y, z, data["Bx"], data["By"], data["Bz"])
    if model in GMF_MODELS:
        kind, builder = GMF_MODELS[model]
        return kind, gmf_params(model, cfg.variant, cfg.overrides), EMPTY_GRID
    raise ValueError(f"unknown field model {model!r}")


#: field models whose narrowest transitions are logistic profiles 1/(1 + e^{−2(s − h)/w}) of width
#: w_disk (disc–halo) and w_h (halo edge), stored as k = 2/w (models.gmf_jf12)
_JF12_FAMILY = ("jf12", "jf12_solenoidal")


def narrowest_transition_scale_kpc(field_cfg) -> float | None:
    """e-folding length [kpc] of the narrowest logistic transition of the field in a [field] section,
    for the models that declare one, else None.  A logistic 1/(1 + e^{−(s − s0)/λ}) changes by a
    factor e over λ in its tails and from 27 % to 73 % over 2λ.

    * JF12 and its solenoidal form: their logistics are written with 2/w, so λ = w/2; the narrowest
      is w_h = 0.2 kpc (halo edge), λ = 0.1 kpc (Jansson & Farrar 2012a, ApJ 757, 14, Table 1).
    * UF23: σ(s; s0, w) = 1/(1 + e^{−(s − s0)/w}), so λ = w; the narrowest are the disc–halo
      transition w_d and the poloidal footpoint edge w_p (base: 0.107 and 0.112 kpc; Unger & Farrar
      2024, ApJ 970, 95, parameter values of the authors' code); the expX variant has no w_p.

    A step rule evaluated at the start point cannot see such a layer coming, so the default step
    cap resolves it (docs/numerics.md "Convergence in realistic fields")."""
    sections = field_cfg.components if field_cfg.model == "sum" else [field_cfg]
    scales = []
    for c in sections:
        if c.model in _JF12_FAMILY:
            p = gmf_params(c.model, c.variant, c.overrides)
            scales.append(1.0 / max(p[J_K_DISK], p[J_K_HALO]))
        elif c.model == "uf23":
            p = gmf_params(c.model, c.variant, c.overrides)
            inverse = [p[U_INV_WD]] + ([p[U_INV_WP]] if math.isfinite(p[U_INV_WP]) else [])
            scales.append(1.0 / max(inverse))
    return min(scales) if scales else None


def gmf_params(model: str, variant, overrides: dict) -> np.ndarray:
    """Parameter array of a Galactic field model; ValueError names a bad variant or parameter."""
    builder = GMF_MODELS[model][1]
    args = () if variant is None else (variant,)
    return np.ascontiguousarray(builder(*args, **overrides), dtype=np.float64)


def build_field(field_cfg, grid_spacing_kpc=None, box_kpc=None, grid_jacobian="analytic", grid_file=None):
    """Turn the [field] section into (kind, params, grid float64[nx, ny, nz, 12]).

    ``grid_file``: for a field with a 'grid' model (alone or as the one grid component of a sum),
    its file's arrays x, y, z [kpc] and Bx, By, Bz [μG] as a mapping (``sdeprop.io.read_field_grid``).

    A sum of components becomes FIELD_SUM with its components' parameters packed into one
    array.  With ``grid_spacing_kpc`` the whole field is sampled once (B and its analytic
    Jacobian) on a regular grid over ``box_kpc`` = (x_max, y_max, z_max) and evaluated by
    trilinear interpolation (cached on disk, see ``precomputed_grid``); ``grid_jacobian`` =
    "finite_difference" replaces the sampled Jacobian by central differences of the sampled B.
    """
    if field_cfg.model == "sum":
        parts = [(_component(c, grid_file), c.scale) for c in field_cfg.components]
        grids = [g for (k, _, g), _ in parts if k == FIELD_GRID]
        header = [float(len(parts))]
        body: list[float] = []
        start = 1 + 4 * len(parts)
        for (kind, p, _), scale in parts:
            header += [float(kind), float(scale), float(start + len(body)), float(start + len(body) + len(p))]
            body += list(p)
        kind, params, grid = FIELD_SUM, np.array(header + body), (grids[0] if grids else EMPTY_GRID)
    else:
        kind, params, grid = _component(field_cfg, grid_file)
        if field_cfg.scale != 1.0:
            kind, params = (
                FIELD_SUM,
                np.concatenate([[1.0, kind, field_cfg.scale, 5.0, 5.0 + len(params)], params]),
            )
    if grid_spacing_kpc is not None:
        return precomputed_grid(kind, params, grid, grid_spacing_kpc, box_kpc, grid_jacobian)
    return kind, np.ascontiguousarray(params, dtype=np.float64), grid


def field_grid_cache_dir() -> str:
    """Folder of the precomputed field grids: ``$XDG_CACHE_HOME/sdeprop-fieldgrids`` (``~/.cache``)."""
    return os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "sdeprop-fieldgrids",
    )


def clear_field_grid_cache() -> tuple[int, int]:
    """Delete every cached field grid; returns (number of files, bytes freed)."""
    folder = field_grid_cache_dir()
    n = freed = 0
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and name.endswith((".npy", ".tmp")):
                freed += os.path.getsize(path)
                os.remove(path)
                n += 1
    return n, freed


def precomputed_grid(kind, params, grid, spacing_kpc, box_kpc, jacobian="analytic"):
    """The field sampled on a grid of the given spacing over [−x_max, x_max] × [−y_max, y_max] × [−z_max,
    z_max].

    ``jacobian``: "analytic" keeps the model's own Jacobian at the nodes; "finite_difference"
    takes central differences of the sampled B instead.  The latter is the consistent choice
    for models whose field direction jumps or has a kink (JF12's X-field at z = 0, its ring and
    exclusion-sphere edges): the jump is spread over one spacing, the tensor becomes continuous
    and the drift carries the jump's contribution, which a region-wise analytic Jacobian misses.

    Cached in ``$XDG_CACHE_HOME/sdeprop-fieldgrids`` (``~/.cache``) under a hash of the model tag,
    its parameters, any input grid, the box and the spacing, so a second run loads it.
    """
    axes = [np.linspace(-m, m, int(np.ceil(2 * m / spacing_kpc)) + 1) for m in box_kpc]
    h = hashlib.sha256()
    for part in (np.int64(kind), np.asarray(params, dtype=np.float64), grid, *axes):
        h.update(np.ascontiguousarray(part).tobytes())
    folder = field_grid_cache_dir()
    path = os.path.join(folder, h.hexdigest()[:24] + ".npy")
    try:
        sampled = np.load(path)
    except (OSError, ValueError):
        sampled = sample_on_grid(kind, np.asarray(params, dtype=np.float64), grid, *axes)
        tmp = path + f".{os.getpid()}.tmp"
        try:
            os.makedirs(folder, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, sampled)
            os.replace(tmp, path)
        except OSError:  # no cache (disk full, read-only): still correct, only slower next time
            with contextlib.suppress(OSError):
                os.remove(tmp)
    x, y, z = axes
    if jacobian == "finite_difference":
        sampled = grid_with_jacobian(x, y, z, sampled[..., 0], sampled[..., 1], sampled[..., 2])
    elif jacobian != "analytic":
        raise ValueError(f"grid jacobian {jacobian!r}: allowed 'analytic', 'finite_difference'")
    p = np.array([x[0], y[0], z[0], 1 / (x[1] - x[0]), 1 / (y[1] - y[0]), 1 / (z[1] - z[0])])
    return FIELD_GRID, p, sampled


@njit(cache=True)
def field_at(kind, p, grid, x, y, z):
    """B and J of model ``kind`` at one point (a compiled call, not inlined: for rare evaluations
    inside the kernel and for Python callers)."""
    return field_and_jacobian(kind, p, grid, x, y, z, math.sqrt(x * x + y * y))


def evaluate_field(
    field_cfg, points_kpc, grid_spacing_kpc=None, box_kpc=None, grid_jacobian="analytic", grid_file=None
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate B (μG, shape (n, 3)) and the Jacobian (μG/kpc, shape (n, 3, 3), J[i, j] = ∂B_j/∂x_i),
    directly or from a precomputed grid (arguments as ``build_field``)."""
    kind, params, grid = build_field(field_cfg, grid_spacing_kpc, box_kpc, grid_jacobian, grid_file)
    pts = np.atleast_2d(np.asarray(points_kpc, dtype=float))
    out = np.array([field_at(kind, params, grid, *pt) for pt in pts])
    return out[:, :3], out[:, 3:].reshape(-1, 3, 3)


def _plane_differences(kind, params, grid, field_floor_uG, radius_max_kpc, offsets_kpc, spacing_kpc):
    """(b_x b_z, b_y b_z, b_z²)(z = +δ) − (…)(z = −δ) for each δ in ``offsets_kpc`` at the sample
    points inside R < radius_max_kpc: array (n_offsets, n_points, 3)."""
    n = int(math.ceil(radius_max_kpc / spacing_kpc))
    axis = np.linspace(-radius_max_kpc, radius_max_kpc, 2 * n + 1)
    zs = np.array([s * d for d in offsets_kpc for s in (1.0, -1.0)])
    f = sample_on_grid(kind, np.asarray(params, dtype=np.float64), grid, axis, axis, zs)
    b = f[..., :3] / np.sqrt((f[..., :3] ** 2).sum(axis=-1, keepdims=True) + float(field_floor_uG) ** 2)
    inside = np.hypot(*np.meshgrid(axis, axis, indexing="ij")) < radius_max_kpc
    prod = np.stack([b[..., 0] * b[..., 2], b[..., 1] * b[..., 2], b[..., 2] ** 2], axis=-1)[inside]
    return np.stack([prod[:, 2 * k, :] - prod[:, 2 * k + 1, :] for k in range(len(offsets_kpc))])


#: what the plane z = 0 holds for the tensor (the kernel's near-plane step, sim switch SI_PLANE)
PLANE_SMOOTH, PLANE_JUMP, PLANE_CUSP = 0, 1, 2


def plane_structure(
    kind, params, grid, field_floor_uG, radius_max_kpc, spacing_kpc=0.1, jump_threshold=1e-6
) -> int:
    """PLANE_JUMP if b bᵀ jumps across z = 0 by more than ``jump_threshold`` somewhere (at z = ±1e-9 kpc),
    PLANE_CUSP if it also has a power-law cusp there (a difference growing slower than linearly
    with the offset, e.g. UF23's B_R ∝ |z|^0.43), else PLANE_SMOOTH.  A jump or cusp changes
    D − D(0) by Δ(δ) at offset δ: linear in δ for a smooth field (Δ(1e-4)/Δ(1e-6) ≈ 100 after
    removing the jump), ∝ δ^q for a cusp (100^q); a cusp is reported where that ratio is below
    30 (q < 0.74) and the change at 1e-4 kpc exceeds 1e-4."""
    d = _plane_differences(
        kind, params, grid, field_floor_uG, radius_max_kpc, (1e-9, 1e-6, 1e-4), spacing_kpc
    )
    d1 = np.abs(d[1] - d[0])
    d2 = np.abs(d[2] - d[0])
    if np.any((d2 > 1e-4) & (d2 < 30.0 * d1)):
        return PLANE_CUSP
    return PLANE_JUMP if np.abs(d[0]).max() > jump_threshold else PLANE_SMOOTH
