"""Tallies: the layout of the histograms the kernel fills, and their scoring functions.

Every tally is a block of one flat float64 array with the index order
``(time, spatial cells..., E, E0)``:

* time slot 0 is the steady state; slots 1.. hold the burst density at
  ``estimator.output_times_Myr`` (snapshot estimator only);
* the spatial cells are (R, z) for ``cylindrical``, (x, y, z) for ``cartesian`` and a
  single cell for ``sphere``; spatial bins are uniform, energy bins uniform in ln E;
* E is the current kinetic energy; E0, the source energy, is kept only when the energy moves
  (continuous losses, a wind's adiabatic cooling, reacceleration; otherwise E = E0 and the axis
  has length 1).

Scoring is per history: a particle's contributions c collect in a scratch array and, when
the particle ends, five moments go into ``sums`` (last axis, length 5): Σc, Σc·v, Σc², Σc²·v, Σc²·v², where
v ∈ [−½, ½) is the particle's position inside its source-energy bin (in units of the bin
width in ln E0).  The v-moments let the reweighting apply a weight that varies linearly
across each bin instead of one bin-averaged weight (whose error is second order in the bin
width but visible at the per-cent level), and the squares give the exact per-history
variance of any reweighted density.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from .models.advection import has_wind
from .models.reacceleration import has_reacceleration

TALLY_CYLINDRICAL = 0
TALLY_CARTESIAN = 1
TALLY_SPHERE = 2
TALLY_OBSERVER = 3
KIND_NAMES = {
    TALLY_CYLINDRICAL: "cylindrical",
    TALLY_CARTESIAN: "cartesian",
    TALLY_SPHERE: "sphere",
    TALLY_OBSERVER: "observer",
}

# columns of the integer table (TI_FOLD: first row of the tally in the fold-weight table, −1 if the
# tally keeps its E0 axis; TI_NFOLD: its number of fold bins)
TI_KIND, TI_OFFSET, TI_N0, TI_N1, TI_N2, TI_NE, TI_NE0, TI_NT, TI_END, TI_FOLD, TI_NFOLD = range(11)
N_TI = 11
# the per-history moments kept for every cell
M_C, M_CV, M_C2, M_C2V, M_C2VV = range(5)
N_MOMENTS = 5
# columns of the float table: (lo, 1/width) for three spatial axes, ln E, ln E0; sphere centre, r²
(
    TF_LO0,
    TF_INV0,
    TF_LO1,
    TF_INV1,
    TF_LO2,
    TF_INV2,
    TF_LNE,
    TF_INVE,
    TF_LNE0,
    TF_INVE0,
    TF_CX,
    TF_CY,
    TF_CZ,
    TF_R2,
) = range(14)
N_TF = 14


@dataclass
class TallyLayout:
    """Where a tally lives in the flat arrays, and its axes (edges in kpc and GeV)."""

    name: str
    kind: str
    spatial_axes: dict[str, np.ndarray]
    energy_edges_GeV: np.ndarray
    source_energy_edges_GeV: np.ndarray | None
    output_times_Myr: np.ndarray
    offset: int = 0
    sphere_center_kpc: np.ndarray | None = None
    sphere_radius_kpc: float | None = None
    extra: dict = field(default_factory=dict)
    groups: int = 0
    """Batch groups kept beside the sums (tally.batch_groups; 0: none)."""
    fold_edges_GeV: np.ndarray | None = None
    """Source-energy grid whose spectrum weights were applied while scoring (source_energy = 'fold');
    such a tally has no E0 axis and cannot be reweighted."""

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(e) - 1 for e in self.spatial_axes.values())

    @property
    def shape(self) -> tuple[int, ...]:
        ne0 = 1 if self.source_energy_edges_GeV is None else len(self.source_energy_edges_GeV) - 1
        return (1 + len(self.output_times_Myr),) + self.spatial_shape + (len(self.energy_edges_GeV) - 1, ne0)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def cell_volume_kpc3(self) -> np.ndarray:
        """Volume of each spatial cell [kpc³], shaped like the spatial axes."""
        if self.kind == "cylindrical":
            r, z = self.spatial_axes["R_kpc"], self.spatial_axes["z_kpc"]
            return np.pi * np.outer(np.diff(r**2), np.diff(z))
        if self.kind == "cartesian":
            dx, dy, dz = (np.diff(e) for e in self.spatial_axes.values())
            return dx[:, None, None] * dy[None, :, None] * dz[None, None, :]
        return np.array(4.0 / 3.0 * np.pi * self.sphere_radius_kpc**3)

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        ti = np.zeros(N_TI, dtype=np.int64)
        tf = np.zeros(N_TF)
        shape = self.shape
        ti[TI_KIND] = {
            "cylindrical": TALLY_CYLINDRICAL,
            "cartesian": TALLY_CARTESIAN,
            "sphere": TALLY_SPHERE,
        }[self.kind]
        ti[TI_OFFSET] = self.offset
        sp = list(self.spatial_shape) + [1] * (3 - len(self.spatial_shape))
        ti[TI_N0 : TI_N2 + 1] = sp
        ti[TI_NE], ti[TI_NE0], ti[TI_NT] = shape[-2], shape[-1], shape[0]
        ti[TI_END] = self.offset + self.size
        for a, edges in enumerate(self.spatial_axes.values()):
            tf[2 * a] = edges[0]
            tf[2 * a + 1] = (len(edges) - 1) / (edges[-1] - edges[0])
        e = self.energy_edges_GeV
        tf[TF_LNE], tf[TF_INVE] = math.log(e[0]), (len(e) - 1) / math.log(e[-1] / e[0])
        ti[TI_FOLD], ti[TI_NFOLD] = -1, 0
        e0 = self.source_energy_edges_GeV if self.fold_edges_GeV is None else self.fold_edges_GeV
        if e0 is not None:
            tf[TF_LNE0], tf[TF_INVE0] = math.log(e0[0]), (len(e0) - 1) / math.log(e0[-1] / e0[0])
        if self.fold_edges_GeV is not None:
            ti[TI_NFOLD] = len(self.fold_edges_GeV) - 1
        if self.kind == "sphere":
            tf[TF_CX : TF_CZ + 1] = self.sphere_center_kpc
            tf[TF_R2] = self.sphere_radius_kpc**2
        return ti, tf


@dataclass
class ObserverLayout:
    """The backward estimator's tally (docs/observer.md): for each observer energy E_k, the per-path moments
    of the path's contributions against its source energy E_s, in the flat (rows, 5) moment array.

    A path of energy k scores c = w ρ(X) g(E_s) Δs into bin j of E_s (g: log-uniform density over the
    source range, so that the reweighting's importance weights apply as for a forward tally) and c·v, v the
    position of ln E_s inside the bin.  Block k has 2J + J² rows:

    * rows 2j, 2j+1 (column 0): Σ_paths C_j and Σ_paths D_j, C_j = Σ c, D_j = Σ c v over the path's
      visits of bin j; row 0 column 1 counts the paths;
    * row 2J + j J + j' (columns 0-3): Σ_paths of C_j C_j', C_j D_j', D_j C_j', D_j D_j': the full
      second moments, since one path meets the source at many E_s when losses act.
    """

    name: str
    energies_GeV: np.ndarray
    source_energy_edges_GeV: np.ndarray
    position_kpc: np.ndarray
    radius_kpc: float = 0.0
    shared_paths: bool = False
    """Every path served all observer energies (docs/observer.md): their errors are fully correlated."""
    offset: int = 0
    kind: str = "observer"
    groups: int = 0
    fold_edges_GeV: None = None
    output_times_Myr: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_source_bins(self) -> int:
        return len(self.source_energy_edges_GeV) - 1

    @property
    def block(self) -> int:
        """Rows per observer energy."""
        j = self.n_source_bins
        return 2 * j + j * j

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.energies_GeV), self.block)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        ti = np.zeros(N_TI, dtype=np.int64)
        tf = np.zeros(N_TF)
        ti[TI_KIND] = TALLY_OBSERVER
        ti[TI_OFFSET] = self.offset
        ti[TI_NE], ti[TI_NE0], ti[TI_NT] = len(self.energies_GeV), self.n_source_bins, 1
        ti[TI_N0 : TI_N2 + 1] = 1
        ti[TI_END] = self.offset + self.size
        ti[TI_FOLD], ti[TI_NFOLD] = -1, 0
        e0 = self.source_energy_edges_GeV
        tf[TF_LNE0], tf[TF_INVE0] = math.log(e0[0]), (len(e0) - 1) / math.log(e0[-1] / e0[0])
        tf[TF_CX : TF_CZ + 1] = self.position_kpc
        return ti, tf


def observer_layout(cfg) -> ObserverLayout:
    """The backward estimator's tally for a configuration (estimator.method = 'backward')."""
    lo, hi = cfg.energy.min_GeV, cfg.energy.max_GeV
    n = max(1, int(math.ceil(cfg.observer.source_energy_bins_per_decade * math.log10(hi / lo) - 1e-9)))
    pos = cfg.observer.position_kpc if cfg.observer.position_kpc is not None else cfg.galaxy.sun_position_kpc
    return ObserverLayout(
        name="observer",
        energies_GeV=np.asarray(cfg.observer.energies(), dtype=float),
        source_energy_edges_GeV=np.geomspace(lo, hi, n + 1),
        position_kpc=np.asarray(pos, dtype=float),
        radius_kpc=float(cfg.observer.radius_kpc),
    )


def build_tally_layouts(cfg) -> list[TallyLayout]:
    """Layouts of all [[tally]] tables, placed one after another in the flat arrays (the backward
    estimator: its observer tally alone)."""
    if cfg.estimator.method == "backward":
        return [observer_layout(cfg)]
    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    # the energy moves with continuous losses, a wind (adiabatic) or reacceleration: reweight by E0
    with_e0 = cfg.losses.model != "none" or has_wind(cfg) or has_reacceleration(cfg)
    times = np.asarray(cfg.estimator.output_times_Myr, dtype=float)
    layouts, offset = [], 0
    for t in cfg.tally:
        emin = t.energy_min_GeV if t.energy_min_GeV is not None else cfg.energy.min_GeV
        emax = t.energy_max_GeV if t.energy_max_GeV is not None else cfg.energy.max_GeV
        e_edges = np.geomspace(emin, emax, t.energy_bins + 1)
        e0_edges = fold_edges = None
        n0 = t.source_energy_bins if t.source_energy_bins is not None else t.energy_bins
        if t.source_energy == "fold":
            fold_edges = np.geomspace(cfg.energy.min_GeV, cfg.energy.max_GeV, n0 + 1)
        elif with_e0:
            e0_edges = np.geomspace(cfg.energy.min_GeV, cfg.energy.max_GeV, n0 + 1)
        kw = dict(
            name=t.name,
            kind=t.type,
            energy_edges_GeV=e_edges,
            source_energy_edges_GeV=e0_edges,
            output_times_Myr=times,
            fold_edges_GeV=fold_edges,
            groups=t.batch_groups,
        )
        if t.type == "cylindrical":
            rmax = t.R_max_kpc if t.R_max_kpc is not None else Rmax
            zlo = t.z_min_kpc if t.z_min_kpc is not None else -H
            zhi = t.z_max_kpc if t.z_max_kpc is not None else H
            axes = {
                "R_kpc": np.linspace(t.R_min_kpc, rmax, t.R_bins + 1),
                "z_kpc": np.linspace(zlo, zhi, t.z_bins + 1),
            }
            lay = TallyLayout(spatial_axes=axes, **kw)
        elif t.type == "cartesian":
            axes = {
                f"{a}_kpc": np.linspace(*rng, n + 1)
                for a, rng, n in zip("xyz", (t.x_range_kpc, t.y_range_kpc, t.z_range_kpc), t.bins)
            }
            lay = TallyLayout(spatial_axes=axes, **kw)
        else:
            center = np.asarray(
                t.center_kpc if t.center_kpc is not None else cfg.galaxy.sun_position_kpc, dtype=float
            )
            lay = TallyLayout(spatial_axes={}, sphere_center_kpc=center, sphere_radius_kpc=t.radius_kpc, **kw)
        lay.offset = offset
        offset += lay.size
        layouts.append(lay)
    return layouts


def tally_tables(layouts: list[TallyLayout]) -> tuple[np.ndarray, np.ndarray, int]:
    """Stack the per-tally tables for the kernel; returns (int table, float table, total size).  The
    folded tallies' rows of the fold-weight table follow one another in layout order."""
    ti = np.zeros((len(layouts), N_TI), dtype=np.int64)
    tf = np.zeros((len(layouts), N_TF))
    row = 0
    for k, lay in enumerate(layouts):
        ti[k], tf[k] = lay.tables()
        if lay.fold_edges_GeV is not None:
            ti[k, TI_FOLD] = row
            row += ti[k, TI_NFOLD]
    total = sum(lay.size for lay in layouts)
    return ti, tf, total


def fold_weight_table(layouts: list[TallyLayout], bin_weights) -> np.ndarray:
    """(rows, 2) table of the in-bin weights (a_j, b_j) the kernel applies to the folded tallies, in the
    row order of :func:`tally_tables`; ``bin_weights(edges)`` returns them for one grid (per injected
    particle: the reweighting's weights for one particle at unit rate, spectra.positive_bin_weights)."""
    rows = [np.zeros((0, 2))]
    for lay in layouts:
        if lay.fold_edges_GeV is not None:
            bw = bin_weights(lay.fold_edges_GeV)
            rows.append(np.column_stack([bw.a, bw.b]))
    table = np.concatenate(rows)
    return table if len(table) else np.zeros((1, 2))


# ----------------------------------------------------------------------------- kernel side
@njit(cache=True, inline="always", error_model="numpy")
def _axis_index(value, lo, inv, n):
    a = (value - lo) * inv
    if a < 0.0 or a >= n:
        return -1
    return int(a)


@njit(cache=True, inline="always", error_model="numpy")
def energy_cells(ti, tf, ln_e, ln_e0, out):
    """For each tally, the flat (E, E0) part ie·nE0 + ie0 of the cell index, or −1 when E or E0
    lies outside the tally's energy axes; written to ``out``.

    Returns (below, above): the caller recomputes the cells only once ln E has dropped below
    ``below`` (the highest ln E below which some tally's E cell changes; −inf if none) or risen to
    ``above`` (the lowest upper cell edge, or the lower end of an axis E lies below; inf if none):
    losses only lower E, reacceleration and adiabatic heating may raise it.
    """
    below = -math.inf
    above = math.inf
    for k in range(ti.shape[0]):
        ne0 = ti[k, TI_NE0]
        ne = ti[k, TI_NE]
        lo = tf[k, TF_LNE]
        inv = tf[k, TF_INVE]
        ie = _axis_index(ln_e, lo, inv, ne)
        if ie >= 0:
            below = max(below, lo + ie / inv)
            above = min(above, lo + (ie + 1) / inv)
        elif ln_e >= lo:  # above the axis: the cell changes on entering it
            below = max(below, lo + ne / inv)
        else:
            above = min(above, lo)
        ie0 = 0
        if ne0 > 1:
            ie0 = _axis_index(ln_e0, tf[k, TF_LNE0], tf[k, TF_INVE0], ne0)
        out[k] = -1 if (ie < 0 or ie0 < 0) else ie * ne0 + ie0
    return below, above


@njit(cache=True, inline="always", error_model="numpy")
def cell_index(ti, tf, k, x, y, z, r, ecell, slot):
    """Flat index of the cell of tally k holding (x, y, z) and the energies ``ecell`` (from
    energy_cells) in time slot ``slot``; −1 if outside.  ``r`` = sqrt(x² + y²), known by the caller.
    """
    if ecell < 0:
        return -1
    kind = ti[k, TI_KIND]
    n0 = ti[k, TI_N0]
    n1 = ti[k, TI_N1]
    n2 = ti[k, TI_N2]
    if kind == TALLY_CYLINDRICAL:
        i0 = _axis_index(r, tf[k, TF_LO0], tf[k, TF_INV0], n0)
        if i0 < 0:
            return -1
        i1 = _axis_index(z, tf[k, TF_LO1], tf[k, TF_INV1], n1)
        if i1 < 0:
            return -1
        s = i0 * n1 + i1
    elif kind == TALLY_CARTESIAN:
        i0 = _axis_index(x, tf[k, TF_LO0], tf[k, TF_INV0], n0)
        if i0 < 0:
            return -1
        i1 = _axis_index(y, tf[k, TF_LO1], tf[k, TF_INV1], n1)
        if i1 < 0:
            return -1
        i2 = _axis_index(z, tf[k, TF_LO2], tf[k, TF_INV2], n2)
        if i2 < 0:
            return -1
        s = (i0 * n1 + i1) * n2 + i2
    else:
        dx = x - tf[k, TF_CX]
        dy = y - tf[k, TF_CY]
        dz = z - tf[k, TF_CZ]
        if dx * dx + dy * dy + dz * dz >= tf[k, TF_R2]:
            return -1
        s = 0
    return ti[k, TI_OFFSET] + (slot * n0 * n1 * n2 + s) * ti[k, TI_NE] * ti[k, TI_NE0] + ecell


@njit(cache=True, inline="always")
def score(ti, tf, x, y, z, r, ecells, slot, value, scratch, stamp, touched, n_touched, pid):
    """Add ``value`` to every tally's cell at this point for history ``pid``; returns the new n_touched."""
    for k in range(ti.shape[0]):
        c = cell_index(ti, tf, k, x, y, z, r, ecells[k], slot)
        if c >= 0:
            if stamp[c] != pid:
                stamp[c] = pid
                touched[n_touched] = c
                n_touched += 1
            scratch[c] += value
    return n_touched


@njit(cache=True, inline="always", error_model="numpy")
def source_energy_positions(ti, tf, fold_weights, ln_e0, out, out_weight):
    """Position v ∈ [−½, ½) of ln E0 inside its bin of each tally's source-energy axis (the E axis
    when E0 is not kept, since then E = E0); written to ``out`` (one entry per tally).

    A folded tally gets v = 0 and, in ``out_weight``, the history's spectrum weight a_j + b_j v on its
    fold grid (the weight the reweighting would apply); every other tally gets the weight 1."""
    for k in range(ti.shape[0]):
        if ti[k, TI_NE0] > 1 or ti[k, TI_FOLD] >= 0:
            a = (ln_e0 - tf[k, TF_LNE0]) * tf[k, TF_INVE0]
        else:
            a = (ln_e0 - tf[k, TF_LNE]) * tf[k, TF_INVE]
        j = math.floor(a)
        v = a - j - 0.5
        out[k] = v
        out_weight[k] = 1.0
        if ti[k, TI_FOLD] >= 0:
            j = min(max(int(j), 0), ti[k, TI_NFOLD] - 1)
            row = ti[k, TI_FOLD] + j
            out_weight[k] = fold_weights[row, 0] + fold_weights[row, 1] * v
            out[k] = 0.0


@njit(cache=True, error_model="numpy")
def close_history(sums, scratch, touched, n_touched, ti, v_tally, w_tally):
    """Move a finished history's contributions into the five moments of each cell; returns 0.

    ``sums`` has shape (cells, 5), so the moments of one cell share a cache line.  A folded tally's
    contributions are multiplied by the history's spectrum weight ``w_tally[k]`` first.
    """
    for m in range(n_touched):
        c = touched[m]
        k = 0
        while c >= ti[k, TI_END]:
            k += 1
        v = v_tally[k]
        s = scratch[c] * w_tally[k]
        s2 = s * s
        sums[c, M_C] += s
        sums[c, M_CV] += s * v
        sums[c, M_C2] += s2
        sums[c, M_C2V] += s2 * v
        sums[c, M_C2VV] += s2 * v * v
        scratch[c] = 0.0
    return 0


@njit(cache=True, inline="always", error_model="numpy")
def score_observer(ti, tf, base, rho, e, ln_e, value, scratch, stamp, touched, n_touched, pid):
    """A backward path's contribution ``value`` ρ g(E) into the source-energy bin of E of its observer block
    starting at row ``base`` (ObserverLayout): ``value`` = weight × time and ρ the source density met, or
    weight × time at the plane [Myr/kpc] and ρ a surface density; returns the new n_touched (which lists
    the bins' even rows)."""
    if rho <= 0.0:
        return n_touched
    nj = ti[0, TI_NE0]
    inv = tf[0, TF_INVE0]
    a = (ln_e - tf[0, TF_LNE0]) * inv
    if a < 0.0 or a >= nj:
        return n_touched
    j = int(a)
    v = a - j - 0.5
    c = value * rho * inv / (nj * e)  # g(E) = 1/(E ln(E_max/E_min))
    row = base + 2 * j
    if stamp[row] != pid:
        stamp[row] = pid
        touched[n_touched] = row
        n_touched += 1
    scratch[row] += c
    scratch[row + 1] += c * v
    return n_touched


@njit(cache=True, inline="always", error_model="numpy")
def score_observer_shared(table, rho, value, scratch, stamp, touched, n_touched, pid):
    """A shared backward path's contribution (docs/observer.md, shared paths) to every observer energy k:
    ``value`` ρ f_k into the row ``table[k, 0]`` with v = ``table[k, 2]``, f_k = D(E_ref)/D(E_k) g(E_k)
    (``observer_table``; ``value``, ρ as in ``score_observer``); returns the new n_touched."""
    if rho <= 0.0:
        return n_touched
    for k in range(table.shape[0]):
        row = int(table[k, 0])
        if row < 0:
            continue
        if stamp[row] != pid:
            stamp[row] = pid
            touched[n_touched] = row
            n_touched += 1
        c = value * rho * table[k, 1]
        scratch[row] += c
        scratch[row + 1] += c * table[k, 2]
    return n_touched


@njit(cache=True, error_model="numpy")
def close_observer(sums, scratch, touched, n_touched, offset, nj, k_first, k_count):
    """Move a finished backward path's bin totals (C_j, D_j) into the observer blocks (ObserverLayout; the
    tally starts at row ``offset``): the first moments, the products of each pair of bins within a block,
    and one more path counted in blocks k_first .. k_first + k_count − 1 (a shared path serves them all);
    returns 0."""
    block = 2 * nj + nj * nj
    for m in range(n_touched):
        ra = touched[m]
        ka = (ra - offset) // block
        base = offset + ka * block
        ja = (ra - base) // 2
        ca = scratch[ra]
        da = scratch[ra + 1]
        sums[ra, 0] += ca
        sums[ra + 1, 0] += da
        for q in range(n_touched):
            rb = touched[q]
            if rb < base or rb >= base + 2 * nj:
                continue
            cb = scratch[rb]
            db = scratch[rb + 1]
            row = base + 2 * nj + ja * nj + (rb - base) // 2
            sums[row, 0] += ca * cb
            sums[row, 1] += ca * db
            sums[row, 2] += da * cb
            sums[row, 3] += da * db
    for m in range(n_touched):
        scratch[touched[m]] = 0.0
        scratch[touched[m] + 1] = 0.0
    for k in range(k_first, k_first + k_count):
        sums[offset + k * block, 1] += 1.0
    return 0


def observer_table(layout: ObserverLayout, diffusion_ratio: np.ndarray | None) -> np.ndarray:
    """(K, 3) table of shared paths (``score_observer_shared``): per observer energy E_k the row of its
    source-energy bin (−1 outside the source range), the factor D(E_ref)/D(E_k) · g(E_k) with g the
    log-uniform density of the source range, and v, the position of ln E_k in its bin.  Without
    ``diffusion_ratio`` (paths of their own per energy) a placeholder row."""
    if diffusion_ratio is None:
        return np.zeros((1, 3))
    edges = layout.source_energy_edges_GeV
    nj = len(edges) - 1
    span = math.log(edges[-1] / edges[0])
    out = np.zeros((len(layout.energies_GeV), 3))
    for k, e in enumerate(layout.energies_GeV):
        a = math.log(e / edges[0]) * nj / span
        if a < 0 or a >= nj:
            out[k] = (-1.0, 0.0, 0.0)
            continue
        j = int(a)
        row = layout.offset + k * layout.block + 2 * j
        out[k] = (row, diffusion_ratio[k] / (e * span), a - j - 0.5)
    return out
