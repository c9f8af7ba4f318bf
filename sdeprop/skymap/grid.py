"""The tally geometry as the line-of-sight kernel takes it, and the integral over a ray set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.gas3d import GasModel, build_gas_model
from ..models.isrf import isrf_local_components
from .los import (
    GRID_CARTESIAN,
    GRID_CYLINDRICAL,
    INTERP_LINEAR,
    INTERP_NEAREST,
    TARGET_GAS,
    TARGET_ISRF,
    TARGET_ONE,
    LineOfSight,
    integrate_rays,
)
from .pixels import RaySet

INTERPOLATIONS = {"nearest": INTERP_NEAREST, "linear": INTERP_LINEAR}
TARGETS = {"one": TARGET_ONE, "gas": TARGET_GAS, "isrf": TARGET_ISRF}


@dataclass
class TallyGrid:
    """Uniform grid of a cartesian (x, y, z) or cylindrical (R, z) tally [kpc]."""

    kind: str
    edges: tuple[np.ndarray, ...]

    @classmethod
    def from_layout(cls, layout) -> TallyGrid:
        if layout.kind not in ("cartesian", "cylindrical"):
            raise ValueError(
                f"tally '{layout.name}' is a {layout.kind} tally; a sky map needs a cartesian or "
                "cylindrical one"
            )
        return cls(layout.kind, tuple(np.asarray(e, float) for e in layout.spatial_axes.values()))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.edges)

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    @property
    def cell_kpc(self) -> float:
        """The smallest cell width [kpc]."""
        return float(min(np.diff(e)[0] for e in self.edges))

    def kernel_arrays(self):
        """(kind code, lo, hi, 1/width, counts), padded to three axes."""
        lo, hi, inv, n = np.zeros(3), np.ones(3), np.ones(3), np.ones(3, dtype=np.int64)
        for a, e in enumerate(self.edges):
            lo[a], hi[a], n[a] = e[0], e[-1], len(e) - 1
            inv[a] = (len(e) - 1) / (e[-1] - e[0])
        code = GRID_CARTESIAN if self.kind == "cartesian" else GRID_CYLINDRICAL
        return code, lo, hi, inv, n


@dataclass
class Channel:
    """Emissivity per unit target in every cell (n_cells, n_E) [GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹] and its 1σ, with the
    target it multiplies: "one", "gas" (hydrogen nuclei [cm⁻³]) or "isrf" (component ``index``'s energy
    density relative to its local value)."""

    emissivity: np.ndarray
    sigma: np.ndarray
    target: str = "one"
    index: int = 0


@dataclass
class Steps:
    """Integration steps along a ray [kpc] (los.py): ``step_kpc`` None means half the smallest cell;
    ``fine_step_kpc`` inside the gas layer |z| < ``fine_layer_kpc``, where beams also split once wider
    than ``layer_beam_kpc`` (only when a channel has the gas as target)."""

    step_kpc: float | None = None
    fine_step_kpc: float = 0.02
    fine_layer_kpc: float = 1.0
    layer_beam_kpc: float = 0.05


def integrate(
    grid: TallyGrid,
    channels: list[Channel],
    observer_kpc,
    rays: RaySet,
    *,
    gas: GasModel | None = None,
    isrf_params: np.ndarray | None = None,
    interpolation: str = "linear",
    max_distance_kpc: float = np.inf,
    steps: Steps | None = None,
    oversampling: float = 2.0,
    absorption: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Intensity and upper-bound 1σ (n_pixels, n_E) [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] of ``channels`` over ``rays``;
    beams split where they grow wider than the smallest cell / ``oversampling`` (los.integrate_rays).
    ``absorption``: (n_isrf, n_E) γγ opacities [kpc⁻¹] of the ISRF components at their local energy
    densities (emission.absorption.isrf_opacity_per_kpc), scaled along the ray like the ISRF."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation={interpolation!r} is not allowed; choose from {sorted(INTERPOLATIONS)}"
        )
    if not channels:
        raise ValueError("no emission channel to integrate")
    steps = steps or Steps()
    step = steps.step_kpc if steps.step_kpc is not None else 0.5 * grid.cell_kpc
    lengths = (
        ("step_kpc", step),
        ("fine_step_kpc", steps.fine_step_kpc),
        ("layer_beam_kpc", steps.layer_beam_kpc),
    )
    for name, v in lengths:
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name}={v!r} must be a positive length [kpc]")
    if not (np.isfinite(oversampling) and oversampling >= 1):
        raise ValueError(f"oversampling={oversampling!r} must be >= 1 (rays per cell width at most)")
    if not max_distance_kpc > 0:
        raise ValueError(f"max_distance_kpc={max_distance_kpc!r} must be > 0")
    n_e = channels[0].emissivity.shape[-1]
    q = np.empty((len(channels), grid.n_cells, n_e))
    s = np.empty_like(q)
    kinds = np.empty(len(channels), dtype=np.int64)
    index = np.zeros(len(channels), dtype=np.int64)
    for c, ch in enumerate(channels):
        if ch.target not in TARGETS:
            raise ValueError(f"channel target {ch.target!r} is not allowed; choose from {sorted(TARGETS)}")
        q[c] = np.asarray(ch.emissivity, float).reshape(grid.n_cells, n_e)
        s[c] = np.asarray(ch.sigma, float).reshape(grid.n_cells, n_e)
        kinds[c], index[c] = TARGETS[ch.target], ch.index
        if not (np.all(np.isfinite(q[c])) and np.all(np.isfinite(s[c]))):
            raise ValueError(f"channel {c} ({ch.target}) has non-finite emissivities")
    gas = gas or build_gas_model("galprop")
    if (kinds == TARGET_ISRF).any() and isrf_params is None:
        raise ValueError("an ISRF channel needs isrf_params (sdeprop.models.isrf.build_isrf)")
    if isrf_params is None:
        isrf_params = np.zeros(2)
        isrf_local = np.ones(1)
    else:
        isrf_local = np.array([u for _, u in isrf_local_components(isrf_params)])
    code, lo, hi, inv, n = grid.kernel_arrays()
    n_e_out = channels[0].emissivity.shape[-1]
    if absorption is None:
        absorption_table = np.zeros((0, n_e_out))
    else:
        absorption_table = np.ascontiguousarray(absorption, dtype=float)
        n_isrf = int(isrf_params[0])
        if absorption_table.shape != (n_isrf, n_e_out):
            raise ValueError(
                f"absorption must have shape (ISRF components, energies) = ({n_isrf}, {n_e_out}); "
                f"got {absorption_table.shape}"
            )
    fine = steps.fine_step_kpc if (kinds == TARGET_GAS).any() else step
    beam_width = grid.cell_kpc / oversampling
    los = LineOfSight(
        code, lo, hi, inv, n, INTERPOLATIONS[interpolation], q, s, kinds, index,
        gas.kind, gas.params, gas.grid, np.asarray(isrf_params, float), isrf_local,
        float(step), float(min(fine, step)), float(steps.fine_layer_kpc), beam_width,
        float(min(steps.layer_beam_kpc, beam_width)) if (kinds == TARGET_GAS).any() else beam_width,
        absorption_table, float(max_distance_kpc),
    )  # fmt: skip
    return integrate_rays(
        np.asarray(observer_kpc, float), rays.directions, rays.start, rays.weight, rays.beam, los
    )
