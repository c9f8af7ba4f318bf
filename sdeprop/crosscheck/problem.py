"""The problem both codes solve, built from one configuration: what the crosscheck refuses, the
tally it compares, the solver path and resolutions, the injection spectrum and its quadrature
over the tally's energy bins, and the grids with their source density and field (2D (R, z)
rings and 3D Cartesian nodes).  The method is described in the package docstring
(sdeprop/crosscheck/__init__.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..config import load_config
from ..gridsolver.axisymmetric import AXIS_SAMPLE_FRACTION, AxisymmetricGrid
from ..gridsolver.cartesian import CartesianGrid, cylinder_dirichlet
from ..io import read_field_grid, read_source_grid
from ..models.advection import has_wind
from ..models.diffusion import SPECIES, diffusion_at
from ..models.field import build_field, evaluate_field, sample_on_grid
from ..models.reacceleration import has_reacceleration
from ..models.sources import build_source
from ..spectra import spectrum_from_config

DEFAULT_TALLY = {"name": "crosscheck", "type": "cylindrical", "R_bins": 10, "z_bins": 8, "energy_bins": 6}
"""The coarse tally added when the configuration has no cylindrical one."""

SOLVERS = ("auto", "2d", "3d")
DEFAULT_RESOLUTIONS = {"2d": (0.2, 0.1), "3d": (0.8, 0.4, 0.2)}
"""Grid spacings [kpc], coarse to fine, per solver path."""

#: bytes per node budgeted for one 3D solve (tensor, field, assembly lists, CSR, CG vectors): the
#: tracemalloc peak was 0.88–0.96 kB per node at 101×101×22 and 201×201×42 nodes (Cerri toy); 1600
#: leaves room for what tracemalloc does not see.  Grids above run.memory_budget_GiB are refused
#: before anything is allocated
BYTES_PER_NODE_3D = 1600


# ----------------------------------------------------------------------------- checks and choices
def field_is_axisymmetric(cfg, n_points: int = 64, n_phi: int = 6, rtol: float = 1e-9) -> tuple[bool, float]:
    """Whether the configured field's (B_R, B_φ, B_z) is independent of azimuth, tested at
    ``n_points`` (R, z) points of the halo × ``n_phi`` azimuths; returns (verdict, largest
    relative deviation)."""
    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    rng = np.random.default_rng(1)
    R = rng.uniform(0.05, 0.98, n_points) * Rmax
    z = rng.uniform(-0.98, 0.98, n_points) * H
    phis = np.linspace(0.0, 2 * np.pi, n_phi, endpoint=False) + 0.3
    grid_file = read_field_grid(cfg.field)
    comps = []
    for phi in phis:
        c, s = math.cos(phi), math.sin(phi)
        B, _ = evaluate_field(cfg.field, np.column_stack([R * c, R * s, z]), grid_file=grid_file)
        comps.append(np.column_stack([B[:, 0] * c + B[:, 1] * s, -B[:, 0] * s + B[:, 1] * c, B[:, 2]]))
    comps = np.array(comps)
    scale = max(float(np.abs(comps).max()), cfg.numerics.field_floor_uG)
    dev = float(np.abs(comps - comps[0]).max()) / scale
    return dev <= rtol, dev


def refuse_unsupported(cfg):
    """Raise ValueError for what neither path can compare (components, reflecting boundary, no
    drift, point or thin-disk source)."""
    if getattr(cfg, "components", None):
        raise ValueError("crosscheck does not support [[components]]; check each source on its own")
    if cfg.galaxy.boundary != "escape":
        raise ValueError(
            "crosscheck needs galaxy.boundary = 'escape' (the grid solver has ψ = 0 on the outer boundary)"
        )
    if not cfg.numerics.drift:
        raise ValueError(
            "crosscheck needs numerics.drift = true: without the Itô drift the SDE solves another equation"
        )
    if cfg.source.type == "point":
        raise ValueError(
            "crosscheck needs a distributed source (disk or radial_profile): "
            "a point source has no grid density"
        )
    if cfg.source.type == "disk" and cfg.source.z_profile == "thin":
        raise ValueError(
            "crosscheck needs a source with a density: "
            "source.z_profile = 'thin' has none (use gaussian or exponential)"
        )


def with_compared_tally(cfg, tally):
    """The configuration and the name of the cylindrical tally to compare (the first one, or
    ``tally`` by name, or an added coarse one, :data:`DEFAULT_TALLY`, when there is none)."""
    cyl = [t for t in cfg.tally if t.type == "cylindrical"]
    if tally is not None:
        named = [t for t in cfg.tally if t.name == tally]
        if not named:
            raise ValueError(f"no tally named '{tally}' (available: {', '.join(t.name for t in cfg.tally)})")
        if named[0].type != "cylindrical":
            raise ValueError(f"tally '{tally}' is {named[0].type}; crosscheck compares a cylindrical tally")
        return cfg, tally
    if cyl:
        return cfg, cyl[0].name
    data = cfg.model_dump()
    data["tally"] = list(data["tally"]) + [dict(DEFAULT_TALLY)]
    return load_config(data), DEFAULT_TALLY["name"]


def choose_solver(cfg, solver: str = "auto") -> str:
    """'2d' or '3d' for ``solver`` = 'auto' (axisymmetric field → 2D, otherwise 3D), '2d' or '3d';
    refuses what the chosen path cannot do."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    ok, dev = field_is_axisymmetric(cfg)
    if solver == "2d" and not ok:
        raise ValueError(
            f"the field '{cfg.field.model}' is not axisymmetric (B_R, B_φ, B_z vary with "
            f"azimuth by {dev:.2g} of max|B|): the 2D (R, z) solver cannot represent it; "
            "use solver '3d' (or 'auto')"
        )
    path = solver if solver != "auto" else ("2d" if ok else "3d")
    if path == "3d" and (has_wind(cfg) or has_reacceleration(cfg)):
        raise ValueError(
            "a wind (adiabatic losses) or reacceleration with the 3D grid solver is not supported: both "
            "couple the energies, which would need one 3D Krylov solve per energy node (or a coupled "
            "3D × E system); run an axisymmetric field on the 2D path"
            + ("" if ok else f" (the field '{cfg.field.model}' is not axisymmetric)")
        )
    if path == "3d" and cfg.losses.model != "none":
        raise ValueError(
            f"energy losses ({cfg.losses.model}) with the 3D grid solver are not supported: the "
            "energy march needs one 3D Krylov solve per energy node (~100 for two decades at "
            "48 per decade, several s each) and the loss rate on every node; run the loss-free "
            "case, or an axisymmetric field on the 2D path"
            + ("" if ok else f" (the field '{cfg.field.model}' is not axisymmetric)")
        )
    return path


def resolutions_for(resolutions, path: str) -> tuple:
    """The grid spacings [kpc] to use on solver ``path``: ``resolutions`` checked (two or three,
    decreasing, one refinement ratio), or :data:`DEFAULT_RESOLUTIONS` when None."""
    res = DEFAULT_RESOLUTIONS[path] if resolutions is None else tuple(float(r) for r in resolutions)
    if (
        len(res) not in (2, 3)
        or not all(math.isfinite(r) and r > 0 for r in res)
        or any(a <= b for a, b in zip(res, res[1:]))
    ):
        raise ValueError(
            "resolutions must be (coarse, fine) or (coarse, middle, fine) grid spacings in kpc, "
            f"decreasing and > 0, got {resolutions!r}"
        )
    if len(res) == 3 and abs(math.log((res[0] / res[1]) / (res[1] / res[2]))) > 0.01:
        raise ValueError(f"three resolutions must have one refinement ratio (h1/h2 = h2/h3), got {res!r}")
    return res


# ----------------------------------------------------------------------------- injection and energies
@dataclass
class Injection:
    """The injection spectrum S(E) = dQ/dT of the configuration and its normalisation."""

    spec: object
    mass: float  # rest mass [GeV]
    charge: float
    emin: float  # injection range [GeV]
    emax: float
    total: float  # ∫ S dE over the injection range
    rate: float  # particles/Myr


def injection_from_config(cfg) -> Injection:
    """The configured species' injection spectrum, normalised over [energy.min_GeV, energy.max_GeV]."""
    mass, charge = SPECIES[cfg.species.name]
    spec = spectrum_from_config(cfg.spectrum)
    emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    return Injection(
        spec,
        mass,
        charge,
        emin,
        emax,
        float(spec.integral(emin, emax, mass, charge)[0]),
        cfg.spectrum.rate_per_Myr,
    )


def tally_cell_edges(tally_edges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tally's R [kpc], z [kpc] and E [GeV] edges as float arrays."""
    return tuple(np.asarray(tally_edges[k], dtype=float) for k in ("R_kpc", "z_kpc", "E_GeV"))


def energy_bin_quadrature(cfg, inj: Injection, edges_E, n_quad: int):
    """Gauss–Legendre nodes in ln E over each tally energy bin and the diffusion coefficients there.

    Returns (E, w, D∥, D⊥), each of shape (n_E, n_quad): E [GeV]; w the weight of G_E at each node
    in (1/ΔE) ∫ rate S/total G dE (dE = E d ln E; zero outside the injection range)."""
    xq, wq = np.polynomial.legendre.leggauss(n_quad)
    lo, hi = np.log(edges_E[:-1]), np.log(edges_E[1:])
    E = np.exp(0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * xq[None, :])
    inside = (E >= inj.emin) & (E <= inj.emax)
    s = np.where(inside, inj.spec.dq_dT(E, inj.mass, inj.charge), 0.0)
    w = (0.5 * (hi - lo))[:, None] * wq[None, :] * E * s * inj.rate / inj.total
    w /= np.diff(edges_E)[:, None]
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, E.ravel())
    return E, w, dpar.reshape(E.shape), dperp.reshape(E.shape)


def fine_energies(edges_E, emax, per_decade: int) -> np.ndarray:
    """Energy nodes of the march [GeV]: the tally edges up to ``emax`` plus ``emax`` (the top,
    ψ = 0), each interval cut log-uniformly into ⌈per_decade · log10(b/a)⌉ steps (at least 2),
    so every tally edge is a node and the trapezoid over a bin uses only its own nodes."""
    e = np.asarray(edges_E, dtype=float)
    knots = np.unique(np.concatenate([e[e < emax], [emax]]))
    out = [knots[:1]]
    for a, b in zip(knots[:-1], knots[1:]):
        n = max(2, int(math.ceil(per_decade * math.log10(b / a) - 1e-9)))
        seg = np.exp(np.linspace(math.log(a), math.log(b), n + 1))[1:]
        seg[-1] = b  # the knots exactly
        out.append(seg)
    return np.concatenate(out)


# ----------------------------------------------------------------------------- 2D (R, z) problem
def _cell_source(grid, source, n_sub=6):
    """Source density averaged over each grid ring cell [kpc⁻³], shape (n_R, n_z):
    ∫∫ p R dR dz / (R_i h_R h_z) with n_sub² Gauss–Legendre points per cell."""
    xg, wg = np.polynomial.legendre.leggauss(n_sub)
    hR, hz = grid.dR_kpc, grid.dz_kpc
    Rs = (grid.R_centres_kpc[:, None] + 0.5 * hR * xg[None, :]).ravel()  # (n_R n_sub)
    zs = (grid.z_centres_kpc[:, None] + 0.5 * hz * xg[None, :]).ravel()
    RR, ZZ = np.meshgrid(Rs, zs, indexing="ij")
    p = source.pdf(RR, np.zeros_like(RR), ZZ) * RR
    w = np.outer(np.tile(wg, grid.n_R), np.tile(wg, grid.n_z)) * 0.25  # weights of ∫ over a cell/(h_R h_z)
    s = (p * w).reshape(grid.n_R, n_sub, grid.n_z, n_sub).sum(axis=(1, 3))
    return s / grid.R_centres_kpc[:, None]


def _vertex_field(cfg, grid):
    """(B_R, B_φ, B_z) [μG] on the cell corners at φ = 0, from the model or the engine's precomputed grid;
    the corners on the axis at R = AXIS_SAMPLE_FRACTION h_R, as ``tensor_from_config``."""
    R, z = grid.nodes_mesh()
    R = np.where(R == 0.0, AXIS_SAMPLE_FRACTION * grid.dR_kpc, R)
    spacing = cfg.numerics.field_grid_spacing_kpc  # the engine's precomputed field, if it uses one
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    B, _ = evaluate_field(
        cfg.field,
        np.column_stack([R.ravel(), np.zeros(R.size), z.ravel()]),
        grid_spacing_kpc=spacing,
        box_kpc=box if spacing is not None else None,
        grid_jacobian=cfg.numerics.field_grid_jacobian,
        grid_file=read_field_grid(cfg.field),
    )
    return B[:, 0].reshape(R.shape), B[:, 1].reshape(R.shape), B[:, 2].reshape(R.shape)


@dataclass
class AxisymmetricProblem:
    """What both 2D grid paths share: the grid, the cell-averaged source density, the field on the
    cell corners, the injection spectrum, and the tally edges."""

    grid: AxisymmetricGrid
    q: np.ndarray  # unbiased source density per cell [kpc⁻³], flat
    BR: np.ndarray
    Bp: np.ndarray
    Bz: np.ndarray
    injection: Injection
    eR: np.ndarray
    ez: np.ndarray
    eE: np.ndarray


def axisymmetric_problem(cfg, tally_edges, resolution_kpc: float) -> AxisymmetricProblem:
    """The 2D (R, z) problem on a grid of spacing ≈ ``resolution_kpc``."""
    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    grid = AxisymmetricGrid(
        Rmax, H, max(2, int(round(Rmax / resolution_kpc))), max(2, int(round(2 * H / resolution_kpc)))
    )
    src = _separable_source(cfg)
    if not getattr(src, "axisymmetric", True):
        raise ValueError(
            f"the 2D (R, z) solver needs an axisymmetric source; source.type = '{cfg.source.type}' is not "
            "(use the 3D solver, --solver 3d)"
        )
    BR, Bp, Bz = _vertex_field(cfg, grid)
    eR, ez, eE = tally_cell_edges(tally_edges)
    return AxisymmetricProblem(
        grid, _cell_source(grid, src).ravel(), BR, Bp, Bz, injection_from_config(cfg), eR, ez, eE
    )


# ----------------------------------------------------------------------------- 3D Cartesian problem
def cartesian_grid_for(cfg, resolution_kpc: float):
    """The box [−R_max, R_max]² × [−H, H] with spacing ≈ ``resolution_kpc``: a node on the axis,
    an odd number of intervals in z so that the plane z = 0 lies midway between two node layers
    (the tensor of UF23- or X-type fields jumps there; no node samples the jump itself)."""
    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    m = max(2, int(round(Rmax / resolution_kpc)))
    mz = max(3, int(math.ceil(2 * H / resolution_kpc - 1e-9)))
    mz += 1 - mz % 2
    return CartesianGrid(Rmax, Rmax, H, 2 * m + 1, 2 * m + 1, mz + 1)


def grid_memory_3d_GiB(cfg, resolution_kpc: float) -> float:
    """Estimated memory [GiB] of one 3D solve at ``resolution_kpc`` (:data:`BYTES_PER_NODE_3D` per node)."""
    g = cartesian_grid_for(cfg, resolution_kpc)
    return BYTES_PER_NODE_3D * g.nx * g.ny * g.nz / 2**30


def _node_field_3d(cfg, grid):
    """B [μG] on the nodes (nx, ny, nz, 3), from the model or the engine's precomputed grid."""
    spacing = cfg.numerics.field_grid_spacing_kpc
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    kind, params, fgrid = build_field(
        cfg.field,
        spacing,
        box if spacing is not None else None,
        cfg.numerics.field_grid_jacobian,
        grid_file=read_field_grid(cfg.field),
    )
    xs, ys, zs = grid.axes_kpc
    B = np.empty(grid.shape + (3,))
    step = max(1, 200_000 // (grid.ny * grid.nz))
    for i0 in range(0, grid.nx, step):
        B[i0 : i0 + step] = sample_on_grid(kind, params, fgrid, xs[i0 : i0 + step], ys, zs)[..., :3]
    return B


def _node_source_3d(grid, source, n_sub=4):
    """Source density averaged over each node's dual cell [x ± h/2] × … [kpc⁻³] (n_sub³
    Gauss–Legendre points; the cell is clipped to the box), shape (nx, ny, nz)."""
    xg, wg = np.polynomial.legendre.leggauss(n_sub)
    axes, subs = grid.axes_kpc, []
    for c, h in zip(axes, grid.spacing_kpc):
        lo = np.maximum(c - 0.5 * h, c[0])
        hi = np.minimum(c + 0.5 * h, c[-1])
        pts = 0.5 * (lo + hi)[:, None] + 0.5 * (hi - lo)[:, None] * xg[None, :]
        subs.append((pts, 0.5 * wg[None, :] * np.ones_like(pts)))  # weights of the cell mean
    (px, wx), (py, wy), (pz, wz) = subs
    X, Y = np.meshgrid(px.ravel(), py.ravel(), indexing="ij")
    wxy = np.outer(wx.ravel(), wy.ravel())
    out = np.empty(grid.shape)
    for k in range(grid.nz):
        acc = np.zeros_like(X)
        for zz, ww in zip(pz[k], wz[k]):
            acc += ww * source.pdf(X, Y, np.full_like(X, zz))
        out[:, :, k] = (acc * wxy).reshape(grid.nx, n_sub, grid.ny, n_sub).sum(axis=(1, 3))
    return out


@dataclass
class CartesianProblem:
    """The 3D problem: the box grid, the dual-cell source density [kpc⁻³] (nx, ny, nz), the unit
    field direction b̂ on the nodes (with the kernel's field floor), and the cylinder R < R_max
    (``inside`` nodes, ``wall`` distances for the ghost couplings, ``cartesian.cylinder_dirichlet``)."""

    grid: CartesianGrid
    q: np.ndarray
    bhat: np.ndarray
    inside: np.ndarray
    wall: object


def _separable_source(cfg):
    """The configured source's unbiased density; ValueError for one that depends on the energy (the grid
    solvers take q(x, E) = Q(E) ρ(x))."""
    src = build_source(cfg, grid=read_source_grid(cfg.source))
    src = getattr(src, "base", src)  # observer-biased: the unbiased density
    if getattr(src, "energy_dependent", False):
        raise ValueError(
            f"the grid solvers need a source q = Q(E) ρ(x); the grid of source.file = '{cfg.source.file}' "
            "depends on the energy (E_GeV axis)"
        )
    return src


def cartesian_problem(cfg, grid) -> CartesianProblem:
    """The 3D problem on the box ``grid`` (:func:`cartesian_grid_for`)."""
    src = _separable_source(cfg)
    q = _node_source_3d(grid, src)
    B = _node_field_3d(cfg, grid)
    floor = cfg.numerics.field_floor_uG
    bhat = B / np.sqrt(np.sum(B * B, axis=-1) + floor * floor)[..., None]
    del B
    inside, wall = cylinder_dirichlet(grid, cfg.galaxy.radius_max_kpc)
    return CartesianProblem(grid, q, bhat, inside, wall)
