"""Orchestration: configuration → model arrays → batches through the kernel → summed tallies.

Batches are independent: batch b draws its source positions, energies and all random
variates from a SFC64 generator seeded with ``SeedSequence(seed).spawn(...)[b]``, so results depend on the
seed and the
batch size, never on how batches are spread over workers.  Tallies are summed in batch
order, which makes the result bit-for-bit identical for any number of workers.
"""

from __future__ import annotations

import errno
import gc
import logging
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import kernel as K
from .checkpoint import BatchAccumulator, OutputWriteError
from .config import Config, component_config, load_config, shared_paths_obstacle
from .errors import ConfigError
from .io import read_field_grid, read_source_grid, write_result
from .locks import output_lock
from .models.advection import wind_parameters
from .models.catastrophic import build_catastrophic
from .models.diffusion import SPECIES, build_diffusion, diffusion_at, diffusion_coefficients
from .models.field import (
    PLANE_CUSP,
    PLANE_SMOOTH,
    build_field,
    narrowest_transition_scale_kpc,
    plane_structure,
)
from .models.losses import build_losses
from .models.reacceleration import alfven_speed_kpc_per_myr
from .models.sources import SOURCE_THIN_DISK, EnergySampler, build_source
from .models.spatial_diffusion import SPATIAL_TWO_HALO, TH_SHARP, build_spatial_diffusion
from .result import Result
from .spectra import positive_bin_weights, spectrum_from_config
from .tallies import (
    N_MOMENTS,
    TallyLayout,
    build_tally_layouts,
    fold_weight_table,
    observer_table,
    tally_tables,
)
from .units import diffusion_kpc2_per_myr_to_cm2_per_s

log = logging.getLogger(__name__)

NORMAL_BUFFER = 3 * 65536
UNIFORM_BUFFER = 16384


@dataclass
class Regimes:
    """Per-energy-range time schedule (docs/design.md §3): upper energies, t_max and snapshot cadence."""

    energy_max_GeV: np.ndarray
    t_max_Myr: np.ndarray
    snapshot_dt_Myr: np.ndarray

    def lookup(self, e0_GeV):
        idx = np.minimum(
            np.searchsorted(self.energy_max_GeV, e0_GeV, side="left"), len(self.energy_max_GeV) - 1
        )
        return self.t_max_Myr[idx], self.snapshot_dt_Myr[idx]


@dataclass
class Model:
    """Everything the kernel needs, as its records of plain arrays, plus the Python-side samplers."""

    config: Config
    physics: K.Physics
    numerics: K.Numerics
    snapshot: bool  # burst-snapshot estimator (else residence time)
    output_times: np.ndarray
    ti: np.ndarray
    tf: np.ndarray
    tally_size: int
    layouts: list[TallyLayout]
    regimes: Regimes
    source: object
    sampler: EnergySampler
    fold_weights: np.ndarray  # (rows, 2) spectrum weights of the folded tallies (tallies.fold_weight_table)
    source_kind: int = 0  # models.sources.SOURCE_*: the source density the backward estimator evaluates
    source_params: np.ndarray = field(default_factory=lambda: np.zeros(1))
    observer_table: np.ndarray = field(default_factory=lambda: np.zeros((1, 3)))  # tallies.observer_table

    @property
    def backward(self) -> bool:
        """Adjoint paths from an observer (estimator.method = 'backward', docs/observer.md)."""
        return bool(self.numerics.backward)


def _per_particle_weights(cfg: Config, sampler: EnergySampler):
    """edges → the reweighting's in-bin weights for the configured [spectrum] at unit rate and one
    injected particle (spectra.positive_bin_weights): what a folded tally applies while scoring; the
    reading side divides by the number injected and multiplies by the rate (result.Tally.reweight)."""
    spectrum = spectrum_from_config(cfg.spectrum)
    mass, charge = SPECIES[cfg.species.name]
    return lambda edges: positive_bin_weights(spectrum, edges, sampler, 1, mass, charge, 1.0)


#: Below this ratio D⊥/D∥ the default t_max stops following D⊥ (at D⊥ = 0 no time bounds the escape).
T_MAX_DMIN_FLOOR = 1.0e-4


def _auto_regimes(cfg: Config) -> Regimes:
    """Regimes from the configuration; missing t_max / cadence are filled in.

    Default t_max = 5 H²/(2 D_min) at the regime's lowest energy: five mean escape times H²/(2D) of a
    walk started at z = 0 (Redner 2001, "A Guide to First-Passage Processes", ch. 2) for the slowest
    transport the tensor allows, D_min = D⊥ (floored at 1e-4 D∥, ``T_MAX_DMIN_FLOOR``).  Where the
    field holds a particle's field line in the halo, only D⊥ moves it out; a shorter t_max cuts those
    histories and the steady state misses their later residence (docs/numerics.md, 'Time regimes:
    the default t_max').  Under a reflecting boundary (no escape; every history lasts t_max) D_min
    stays max(D⊥, 0.01 D∥).  The snapshot cadence defaults to 1/400 of 5 H²/(2 max(D⊥, 0.01 D∥))
    (t_max/400 for D⊥ ≥ 0.01 D∥; t_max/400 of a given t_max), and with the snapshot estimator t_max
    is rounded to a multiple of it.  Without regimes: one regime per decade of energy.
    """
    emin, emax = cfg.energy.min_GeV, cfg.energy.max_GeV
    H = cfg.galaxy.halo_height_kpc
    if cfg.time.regimes:
        tops = [r.energy_max_GeV for r in cfg.time.regimes]
        given_t = [r.t_max_Myr for r in cfg.time.regimes]
        given_dt = [r.snapshot_dt_Myr for r in cfg.time.regimes]
    else:
        n = max(1, math.ceil(math.log10(emax / emin) - 1e-9))
        tops = list(np.geomspace(emin, emax, n + 1)[1:])
        tops[-1] = emax
        given_t = [None] * n
        given_dt = [None] * n
    lows = [emin] + tops[:-1]
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, np.array(lows))
    reflect = cfg.galaxy.boundary == "reflect"
    t_max, snap = [], []
    for k in range(len(tops)):
        # the cadence keeps resolving the escape of particles whose field lines leave the halo
        t_cadence = 5.0 * H * H / (2.0 * max(dperp[k], 0.01 * dpar[k]))
        if given_t[k] is not None:
            tm = t_cadence = given_t[k]
        elif reflect:
            tm = t_cadence  # no escape to wait for: every history lasts t_max, its cost grows with it
        else:
            tm = 5.0 * H * H / (2.0 * max(dperp[k], T_MAX_DMIN_FLOOR * dpar[k]))
        dts = given_dt[k] if given_dt[k] is not None else t_cadence / 400.0
        if cfg.estimator.method == "snapshot":
            # the last midpoint (K - 1/2) dt must lie before t_max: make t_max a multiple of dt
            tm = max(1, round(tm / dts)) * dts
        t_max.append(tm)
        snap.append(dts)
    return Regimes(np.array(tops, dtype=float), np.array(t_max), np.array(snap))


def _plane_mode(fkind, field_p, grid, field_floor_uG, radius_max_kpc) -> int:
    """What the plane z = 0 holds for the tensor (``models.field.plane_structure``): sampled every
    0.2 kpc within 30 kpc of the axis (where Galactic field models have their structure), and on a
    401 × 401 grid over a larger galaxy; the strongest finding counts."""
    extents = [(min(radius_max_kpc, 30.0), 0.2)]
    if radius_max_kpc > 30.0:
        extents.append((radius_max_kpc, radius_max_kpc / 200.0))
    return max(plane_structure(fkind, field_p, grid, field_floor_uG, r, spacing_kpc=h) for r, h in extents)


def _reacceleration_index(cfg) -> float:
    """δ of the reacceleration's D_pp, or 0 for the local index of D∥ (checked to lie in (0, 2), where
    Seo & Ptuskin's D_pp is positive, wherever the particle may be)."""
    rc, dc = cfg.reacceleration, cfg.diffusion
    if rc.alfven_speed_km_s <= 0.0:
        return 0.0
    if rc.turbulence_index is not None:
        return rc.turbulence_index
    if dc.form != "power_law":
        raise ConfigError(
            "reacceleration with diffusion.form = 'broken_power_law' needs reacceleration.turbulence_index "
            "(the δ of D_pp); the local index of a broken power law is not a turbulence spectrum's index"
        )
    lo = hi = dc.delta_par
    if dc.spatial == "two_halo":
        lo, hi = min(lo, lo + dc.two_halo.delta_change), max(hi, hi + dc.two_halo.delta_change)
    elif dc.spatial != "uniform":
        raise ConfigError(
            f"reacceleration with diffusion.spatial = '{dc.spatial}' needs reacceleration.turbulence_index "
            "(the δ of D_pp)"
        )
    if not (0.0 < lo and hi < 2.0):
        raise ConfigError(
            f"reacceleration: the rigidity index of D∥ runs over [{lo:g}, {hi:g}], but D_pp of Seo & Ptuskin "
            "needs 0 < δ < 2; set reacceleration.turbulence_index"
        )
    return 0.0


def _shared_paths(cfg: Config) -> bool:
    """Whether one set of backward paths serves every observer energy (config.shared_paths_obstacle)."""
    return (
        cfg.observer.shared_paths != "off"
        and not shared_paths_obstacle(cfg)
        and len(cfg.observer.energies()) > 1
    )


def build_model(config, source=None) -> Model:
    """Validate and convert a configuration into kernel inputs (no particle runs here)."""
    cfg = load_config(config)
    box = (cfg.galaxy.radius_max_kpc, cfg.galaxy.radius_max_kpc, cfg.galaxy.halo_height_kpc)
    spacing = cfg.numerics.field_grid_spacing_kpc
    if spacing is not None:
        grid_bytes = 96 * math.prod(
            int(math.ceil(2 * m / spacing)) + 1 for m in box
        )  # B and J, 12 float64 per node
        if grid_bytes > cfg.run.memory_budget_GiB * 2**30:
            raise ConfigError(
                f"numerics.field_grid_spacing_kpc = {spacing} gives a {grid_bytes / 2**30:.3g} GiB field "
                "grid over the halo, "
                f"above run.memory_budget_GiB = {cfg.run.memory_budget_GiB}; use a coarser spacing (or "
                "raise the budget)"
            )
    fkind, field_p, grid = build_field(
        cfg.field, spacing, box, cfg.numerics.field_grid_jacobian, grid_file=read_field_grid(cfg.field)
    )
    dkind, diff_p = build_diffusion(cfg.diffusion)
    layouts = build_tally_layouts(cfg)
    ti, tf, size = tally_tables(layouts)
    mass, charge = SPECIES[cfg.species.name]
    H, Rmax = cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc
    backward = cfg.estimator.method == "backward"
    if cfg.losses.energy_floor_GeV is not None:
        e_floor = cfg.losses.energy_floor_GeV
    elif backward:  # the loss tables must reach the lowest observer energy
        e_floor = min(cfg.observer.energies()[0], cfg.energy.min_GeV) / 10
    else:
        e_floor = min([lay.energy_edges_GeV[0] for lay in layouts] + [cfg.energy.min_GeV / 10])
    lkind, loss_p = build_losses(cfg, e_floor)
    try:
        skind, spatial_p = build_spatial_diffusion(cfg)
        ckind, cat_p = build_catastrophic(cfg, e_floor)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    v0, dvdz = wind_parameters(cfg)
    reacc_index = _reacceleration_index(cfg)
    physics = K.Physics(
        mass_GeV=float(mass),
        charge=float(charge),
        field_kind=int(fkind),
        field_params=field_p,
        field_grid=grid,
        field_floor_uG=float(cfg.numerics.field_floor_uG),
        diffusion_kind=int(dkind),
        diffusion_params=diff_p,
        loss_kind=int(lkind),
        loss_params=loss_p,
        spatial_kind=int(skind),
        spatial_params=spatial_p,
        wind_v0_kpc_per_myr=float(v0),
        wind_gradient_per_myr=float(dvdz),
        alfven_speed_kpc_per_myr=float(alfven_speed_kpc_per_myr(cfg)),
        reacceleration_index=float(reacc_index),
        catastrophic_kind=int(ckind),
        catastrophic_params=cat_p,
    )
    if not cfg.numerics.drift or cfg.numerics.plane_interface == "off":
        plane_mode = PLANE_SMOOTH
    elif cfg.numerics.plane_interface == "on":
        plane_mode = PLANE_CUSP
    else:
        plane_mode = _plane_mode(fkind, field_p, grid, cfg.numerics.field_floor_uG, Rmax)
    if source is None:
        source = build_source(cfg, grid=read_source_grid(cfg.source))
    elif not hasattr(source, "sample_positions"):
        raise TypeError("a custom source needs a method sample_positions(rng, n) -> (x, y, z) in kpc")
    energy_dependent_source = getattr(source, "energy_dependent", False)
    if backward and energy_dependent_source and cfg.observer.shared_paths == "on":
        raise ConfigError(
            "observer.shared_paths = 'on': the source's density depends on the energy (a gridded source with "
            "an energy axis), so each observer energy needs its own paths; use 'auto' or 'off'"
        )
    numerics = K.Numerics(
        halo_height_kpc=float(H),
        radius_max_kpc=float(Rmax),
        reflect=cfg.galaxy.boundary == "reflect",
        dt_max_Myr=float(cfg.time.dt_max_Myr),
        step_fraction=float(cfg.time.step_fraction),
        step_rule=K.STEP_DIRECTION if cfg.time.step_control == "field_direction" else K.STEP_GRADIENT,
        geometric_length_kpc=step_length_scale(cfg),
        min_step_kpc=float(cfg.time.min_step_kpc),
        min_step_mean_free_paths=float(cfg.time.min_step_mean_free_paths),
        loss_fraction=float(cfg.time.loss_fraction),
        energy_floor_GeV=float(e_floor if (lkind and not backward) else 0.0),
        diffusion_energy_tolerance=float(cfg.numerics.diffusion_energy_tolerance),
        drift=bool(cfg.numerics.drift),
        brownian_bridge=bool(cfg.numerics.brownian_bridge),
        plane_mode=int(plane_mode),
        max_steps=int(cfg.numerics.max_steps_per_particle),
        integrator=K.INTEGRATOR_FIELD_LINE
        if resolved_integrator(cfg, e_floor if lkind else cfg.energy.min_GeV) == "field_line"
        else K.INTEGRATOR_EM,
        refinement=float(cfg.numerics.step_refinement),
        backward=backward,
        energy_ceiling_GeV=float(cfg.energy.max_GeV) if backward else math.inf,
        shared_paths=backward and _shared_paths(cfg) and not energy_dependent_source,
    )
    obs_table = np.zeros((1, 3))
    if numerics.shared_paths:
        layouts[0].shared_paths = True
        # a path at E_ref run at the speed D(E)/D(E_ref) is the path at E: each energy scores D(E_ref)/D(E)
        energies = layouts[0].energies_GeV
        d = np.array([diffusion_coefficients(dkind, diff_p, float(e), mass, charge)[0] for e in energies])
        obs_table = observer_table(layouts[0], d[0] / d)
    source_kind, source_params = 0, np.zeros(1)
    if backward:
        if not hasattr(source, "density_params"):
            raise ConfigError(
                "estimator.method = 'backward' evaluates the source density along its paths: a custom source "
                "needs a method density_params() -> (models.sources.SOURCE_* code, parameters)"
            )
        source_kind, source_params = source.density_params()
    sampler = EnergySampler(
        cfg.energy.min_GeV, cfg.energy.max_GeV, cfg.energy.sampling, cfg.energy.sampling_index
    )
    return Model(
        cfg,
        physics,
        numerics,
        cfg.estimator.method == "snapshot",
        np.asarray(cfg.estimator.output_times_Myr, dtype=float),
        ti,
        tf,
        size,
        layouts,
        _auto_regimes(cfg),
        source,
        sampler,
        fold_weight_table(layouts, _per_particle_weights(cfg, sampler)),
        int(source_kind),
        np.ascontiguousarray(source_params, dtype=float),
        obs_table,
    )


@dataclass
class BatchResult:
    """Summed tallies and counts of one batch (``cpu_s``: its transport CPU time, ``compile_s``: kernel
    compilation or cache loading in that process, ``host``/``pid``: where it ran)."""

    index: int
    n_particles: int
    sums: np.ndarray  # (tally_size, N_MOMENTS) per-history moments, see sdeprop.tallies
    status_counts: np.ndarray
    steps: int
    bridge_escapes: int
    cpu_s: float
    final_state: dict | None = field(default=None, repr=False)
    compile_s: float = 0.0
    host: str = ""
    pid: int = 0
    transport_cpu_s: float = 0.0  # the part of cpu_s spent in the kernel loop (with buffer refills)

    @property
    def sum1(self) -> np.ndarray:
        """Σ c per cell (flat)."""
        return self.sums[:, 0]

    @property
    def sum2(self) -> np.ndarray:
        """Σ c² per cell (flat)."""
        return self.sums[:, 2]


_ORPHANED_EXIT_STATUS = 1
_PARENT_POLL_S = 0.5
_watched_parent: int | None = None


def _exit_if_orphaned(parent_pid: int):
    """End this process at once (``os._exit``) when ``parent_pid`` is no longer its parent, i.e. the
    process that started it is gone and it was handed to init or a subreaper."""
    if os.getppid() != parent_pid:
        os._exit(_ORPHANED_EXIT_STATUS)


def end_with_parent(parent_pid: int):
    """In a pool worker started by ``parent_pid``: make sure the worker ends with that process.

    Checks at once, then every ``_PARENT_POLL_S`` seconds in a daemon thread, which also covers a
    worker idling between batches (the kernel returns to Python every ~65k steps, so the thread gets
    its turn; run_batch checks between those calls as well).  Only for pool workers: a
    single-process run's parent is the user's shell, and ``nohup`` must keep it alive when that
    shell goes."""
    global _watched_parent
    _exit_if_orphaned(parent_pid)
    if _watched_parent == parent_pid:
        return
    _watched_parent = parent_pid

    def watch():
        while True:
            time.sleep(_PARENT_POLL_S)
            _exit_if_orphaned(parent_pid)

    threading.Thread(target=watch, name="sdeprop-end-with-parent", daemon=True).start()


def run_batch(
    model: Model,
    index: int,
    n: int,
    seed_seq: np.random.SeedSequence,
    keep_state: bool = False,
    cpu_limit_s: float | None = None,
    parent_pid: int | None = None,
) -> BatchResult:
    """Inject ``n`` pseudo-particles with the stream ``seed_seq`` and transport them to the end.

    ``cpu_limit_s``: stop once the transport has used this much CPU time [s] (the cost pilot); the
    kernel returns about every 65 000 steps, so the limit holds even for particles that never
    finish.  Particles left unfinished keep status ALIVE and their steps so far in the final state.

    ``parent_pid``: set when this runs in a local pool worker started by that process; the worker
    then ends itself within a second when that process is gone (see :func:`end_with_parent`).
    """
    if parent_pid is not None:
        end_with_parent(parent_pid)
    start = time.process_time()
    rng = np.random.Generator(np.random.SFC64(seed_seq))
    if model.backward:
        return _run_backward_batch(model, index, n, rng, start, keep_state, cpu_limit_s, parent_pid)
    e0 = None
    if getattr(model.source, "energy_dependent", False):  # the position is drawn given the energy
        e0 = model.sampler.sample(rng, n)
        if hasattr(model.source, "sample_weighted"):
            drawn = model.source.sample_weighted(rng, n, e0)
        else:
            drawn = (*model.source.sample_positions_at(rng, e0), np.ones(n))
    elif hasattr(model.source, "sample_weighted"):  # importance-sampled positions carry weights
        drawn = model.source.sample_weighted(rng, n)
    else:
        drawn = (*model.source.sample_positions(rng, n), np.ones(n))
    x, y, z, w = (np.ascontiguousarray(a, dtype=np.float64) for a in drawn)
    H, Rmax = model.numerics.halo_height_kpc, model.numerics.radius_max_kpc
    outside = (np.abs(z) >= H) | (np.hypot(x, y) >= Rmax) | ~np.isfinite(x + y + z)
    if outside.any():
        raise ValueError(
            f"the source placed {int(outside.sum())} particles outside the halo (|z| >= {H} kpc or R >= "
            f"{Rmax} kpc)"
        )
    if e0 is None:
        e0 = model.sampler.sample(rng, n)
    return _transport_batch(model, index, n, rng, start, keep_state, cpu_limit_s, parent_pid, x, y, z, w, e0)


def _run_backward_batch(model, index, n, rng, start, keep_state, cpu_limit_s, parent_pid):
    """A batch of backward paths: all start at the observer, path g of the run (counting over the batch
    plan) at observer energy g mod K, with weight 1 (docs/observer.md)."""
    lay = model.layouts[0]
    sizes = batch_plan(model.config.run.particles, model.config.run.batch_size)
    first = sum(sizes[:index])
    k = (first + np.arange(n)) % len(lay.energies_GeV)
    if model.numerics.shared_paths:  # every path serves all energies from the lowest (observer_table)
        k[:] = 0
    x, y, z = (np.full(n, c) for c in lay.position_kpc)
    radius = model.config.observer.radius_kpc
    if radius > 0.0:  # the ball's mean density: starting points uniform in the ball
        u = rng.standard_normal((n, 3))
        u *= (radius * np.cbrt(rng.random(n)) / np.linalg.norm(u, axis=1))[:, None]
        x, y, z = x + u[:, 0], y + u[:, 1], z + u[:, 2]
    e0 = lay.energies_GeV[k]
    return _transport_batch(
        model, index, n, rng, start, keep_state, cpu_limit_s, parent_pid, x, y, z, np.ones(n), e0, k
    )


def _transport_batch(
    model, index, n, rng, start, keep_state, cpu_limit_s, parent_pid, x, y, z, w, e0, observer_index=None
):
    """The body of :func:`run_batch` once the starting points, weights and energies are drawn."""
    t_max, snap_dt = model.regimes.lookup(e0)
    particles = K.Particles(
        x=x,
        y=y,
        z=z,
        energy=e0.copy(),
        source_energy=e0,
        weight=w,
        time=np.zeros(n),
        status=np.zeros(n, dtype=np.int64),
        next_snapshot=np.zeros(n, dtype=np.int64),
        next_output=np.zeros(n, dtype=np.int64),
        steps=np.zeros(n, dtype=np.int64),
        pending_residence=np.zeros(n),
        t_max=t_max,
        snapshot_dt=snap_dt,
        observer_index=np.zeros(1, dtype=np.int64)
        if observer_index is None
        else observer_index.astype(np.int64),
    )
    size = model.tally_size
    index_type = (
        np.int32 if size < 2**31 and n < 2**31 else np.int64
    )  # 4-byte indices keep a worker at 1.4× the moments
    scoring = K.Scoring(
        snapshot=model.snapshot,
        output_times=model.output_times,
        tally_ints=model.ti,
        tally_floats=model.tf,
        sums=np.zeros((size, N_MOMENTS)),  # kernel layout: moments of a cell side by side
        scratch=np.zeros(size),
        stamp=np.zeros(size, dtype=index_type),
        touched=np.zeros(max(size, 1), dtype=index_type),
        source_position=np.zeros(len(model.layouts)),
        source_weight=np.ones(len(model.layouts)),
        fold_weights=model.fold_weights,
        energy_cells=np.zeros(len(model.layouts), dtype=np.int64),
        counters=np.zeros(K.N_COUNTERS, dtype=np.int64),
        status_counts=np.zeros(K.N_STATUS, dtype=np.int64),
        source_kind=model.source_kind,
        source_params=model.source_params,
        observer_table=model.observer_table,
    )
    randoms = K.RandomBuffers(
        normals=np.empty(NORMAL_BUFFER),
        uniforms=np.empty(UNIFORM_BUFFER),
        refinement_stack=np.zeros((K.REFINE_MAX_DEPTH, 5)),
        refinement_depth=np.zeros(1, dtype=np.int64),
    )
    rng.standard_normal(out=randoms.normals)
    rng.random(out=randoms.uniforms)
    # a call that starts past the last particle does nothing but compile (or load from the
    # cache) the kernel in this process; its time is reported apart from the transport time
    t_compile = time.process_time()
    gc_was_on = gc.isenabled()
    gc.disable()  # numba's inliner copies large IR graphs: cyclic collections over them slow compilation
    try:
        K.transport(particles, randoms, n, 0, 0, model.physics, model.numerics, scoring)
    finally:
        if gc_was_on:
            gc.enable()
    compile_s = time.process_time() - t_compile
    first, n_pos, u_pos = 0, 0, 0
    t_transport = time.process_time()
    while True:
        first, n_pos, u_pos = K.transport(
            particles, randoms, first, n_pos, u_pos, model.physics, model.numerics, scoring
        )
        if first >= n:
            break
        if cpu_limit_s is not None and time.process_time() - t_transport > cpu_limit_s:
            break
        if parent_pid is not None:
            _exit_if_orphaned(parent_pid)
        phys = model.physics
        reacc = phys.alfven_speed_kpc_per_myr > 0.0
        if (
            n_pos
            + K.normals_per_step(
                model.numerics.integrator, model.numerics.refinement, reacc, phys.spatial_kind != 0
            )
            > NORMAL_BUFFER
        ):
            rng.standard_normal(out=randoms.normals)
            n_pos = 0
        interface = phys.spatial_kind == SPATIAL_TWO_HALO and phys.spatial_params[TH_SHARP] > 0.5
        thin = model.backward and model.source_kind == SOURCE_THIN_DISK
        if u_pos + K.uniforms_per_step(interface, phys.wind_v0_kpc_per_myr > 0.0, thin) > UNIFORM_BUFFER:
            rng.random(out=randoms.uniforms)
            u_pos = 0
    transport_cpu_s = time.process_time() - t_transport
    sums, counters, status_counts = scoring.sums, scoring.counters, scoring.status_counts
    if not np.isfinite(sums.sum()):  # a NaN or inf anywhere shows in the sum (no full-size temporary)
        raise FloatingPointError(
            f"batch {index}: non-finite tally values (check the field and diffusion parameters)"
        )
    state = None
    if keep_state:
        kept = ("x", "y", "z", "energy", "source_energy", "time", "status", "steps")
        state = {name: getattr(particles, name) for name in kept}
    return BatchResult(
        index,
        n,
        sums,
        status_counts,
        int(counters[K.C_STEPS]),
        int(counters[K.C_BRIDGE_ESCAPES]),
        time.process_time() - start - compile_s,
        state,
        compile_s,
        socket.gethostname(),
        os.getpid(),
        transport_cpu_s,
    )


def batch_plan(n_particles: int, batch_size: int) -> list[int]:
    """Sizes of the batches that make up a run of ``n_particles``."""
    full, rest = divmod(n_particles, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


# ----------------------------------------------------------------------------- cost estimate
PILOT_PARTICLES = 32
"""Pseudo-particles of the cost pilot (docs/production.md, "Cost estimate")."""
PILOT_CPU_S = 1.0
"""CPU time [s] after which the pilot stops, finished or not."""
PILOT_STREAM = 0x70696C6F74
"""Second entropy word of the pilot's random stream (with run.seed); no batch stream uses it."""
LONG_RUN_WARNING_CPU_H = 0.1
"""A run whose pilot particles did not finish and whose (lower-bound) estimate exceeds this many CPU
hours gets a warning with the estimate at set-up."""


@dataclass
class CostEstimate:
    """Expected cost of a run's batches, from a pilot of a few particles (docs/production.md).

    ``steps_per_particle`` is the pilot's mean with its standard error.  When ``lower_bound`` some
    pilot particles had not finished within ``PILOT_CPU_S``: it is then the mean of the steps taken
    so far by the particles started, and the true mean is larger.
    """

    particles: int  # in the batches to run
    batches: int
    largest_batch: int
    workers: int  # parallel processes; 0 for a Dask cluster (its size is not known here)
    steps_per_particle: float
    steps_per_particle_error: float  # standard error of the pilot mean (nan for a lower bound)
    lower_bound: bool
    cpu_s_per_step: float  # in the kernel loop, random-buffer refills included
    batch_setup_cpu_s: float  # per batch: sampling the sources, filling the first buffers
    pilot_particles: int
    pilot_finished: int
    pilot_at_step_limit: int
    pilot_cpu_s: float
    mean_step_Myr: float  # mean time step of the pilot's particles

    def _cpu_s(self, particles: int, batches: int) -> float:
        return particles * self.steps_per_particle * self.cpu_s_per_step + batches * self.batch_setup_cpu_s

    @property
    def cpu_hours(self) -> float:
        """CPU time of all the batches [h]."""
        return self._cpu_s(self.particles, self.batches) / 3600.0

    @property
    def wall_hours(self) -> float:
        """Wall time on ``workers`` processes [h] (nan on a Dask cluster): the batches are shared out,
        and no run is shorter than its largest batch."""
        if self.workers <= 0:
            return math.nan
        spread = self._cpu_s(self.particles, self.batches) / min(self.workers, self.batches)
        return max(spread, self._cpu_s(self.largest_batch, 1)) / 3600.0

    def describe(self) -> str:
        """One line: steps per particle, CPU time per step, CPU and wall hours."""
        at_least = "at least " if self.lower_bound else ""
        if self.lower_bound:
            steps = f"at least {self.steps_per_particle:.3g} steps per particle"
            pilot = (
                f"{self.pilot_finished} of {self.pilot_particles} finished in {self.pilot_cpu_s:.2g} s CPU"
            )
        else:
            steps = f"{self.steps_per_particle:.3g} ± {self.steps_per_particle_error:.2g} steps per particle"
            pilot = f"{self.pilot_particles} particles"
        if self.pilot_at_step_limit:
            pilot += f", {self.pilot_at_step_limit} stopped by the step limit"
        if self.workers > 0:
            wall = f"{at_least}{self.wall_hours:.3g} h wall on {self.workers} worker(s)"
        else:
            wall = "wall time: that ÷ the Dask cluster's workers"
        return (
            f"{at_least}{self.cpu_hours:.3g} CPU hours, {wall}: {self.particles} particles in {self.batches} "
            f"batch(es) × {steps} (pilot: {pilot}) × {self.cpu_s_per_step:.2g} CPU s per step"
        )


def estimate_cost(model: Model, sizes: list[int], workers: int, seed: int) -> CostEstimate:
    """Run the pilot (``PILOT_PARTICLES`` from their own random stream, in this process, at most
    ``PILOT_CPU_S`` of CPU) and estimate the cost of batches of ``sizes`` on ``workers`` processes
    (0: a Dask cluster).  The pilot touches nothing the run uses: the result does not depend on it."""
    pilot_seed = np.random.SeedSequence([int(seed), PILOT_STREAM])
    res = run_batch(model, -1, PILOT_PARTICLES, pilot_seed, keep_state=True, cpu_limit_s=PILOT_CPU_S)
    state = res.final_state
    steps = state["steps"].astype(float)
    finished = state["status"] != K.ALIVE
    started = finished | (steps > 0)
    total_steps = max(float(steps.sum()), 1.0)
    if finished.all():
        mean, error = float(steps.mean()), float(steps.std(ddof=1) / math.sqrt(len(steps)))
    else:
        mean, error = float(steps[started].sum() / max(int(started.sum()), 1)), math.nan
    return CostEstimate(
        particles=int(sum(sizes)),
        batches=len(sizes),
        largest_batch=max(sizes),
        workers=int(workers),
        steps_per_particle=mean,
        steps_per_particle_error=error,
        lower_bound=not finished.all(),
        cpu_s_per_step=res.transport_cpu_s / total_steps,
        batch_setup_cpu_s=max(res.cpu_s - res.transport_cpu_s, 0.0),
        pilot_particles=PILOT_PARTICLES,
        pilot_finished=int(finished.sum()),
        pilot_at_step_limit=int((state["status"] == K.MAX_STEPS).sum()),
        pilot_cpu_s=res.transport_cpu_s,
        mean_step_Myr=float(state["time"][started].sum()) / total_steps,
    )


#: numerics.integrator = "auto" takes the field-line step from this D∥/D⊥ on (docs/numerics.md
#: "Field-line step": Euler–Maruyama's curvature bias of the toy field's escape time at the default
#: step is −0.3 ± 0.3 % at D∥/D⊥ = 20 and −1.05 ± 0.26 % at 33; the field-line step's +0.4 ± 0.3 %)
AUTO_FIELD_LINE_ANISOTROPY = 30.0


def resolved_integrator(cfg: Config, lowest_energy_GeV: float | None = None) -> str:
    """The integrator a run uses: numerics.integrator, with "auto" resolved to "field_line" when the
    largest D∥/D⊥ between ``lowest_energy_GeV`` (default energy.min_GeV; the loss floor under losses)
    and energy.max_GeV reaches AUTO_FIELD_LINE_ANISOTROPY in a field that is not uniform, else
    "euler_maruyama"."""
    choice = cfg.numerics.integrator
    if choice != "auto":
        return choice
    if cfg.field.model == "uniform":
        return "euler_maruyama"
    e_lo = cfg.energy.min_GeV if lowest_energy_GeV is None else min(lowest_energy_GeV, cfg.energy.min_GeV)
    energies = np.geomspace(e_lo, cfg.energy.max_GeV, 33)
    dpar, dperp = diffusion_at(cfg.diffusion, cfg.species.name, energies)
    ratio = np.max(dpar / np.maximum(dperp, 1e-300))
    return "field_line" if ratio >= AUTO_FIELD_LINE_ANISOTROPY else "euler_maruyama"


#: default cap on the parallel displacement of a step, in units of the e-folding length of the field
#: model's narrowest transition (measured in JF12 and UF23, docs/numerics.md "Convergence in
#: realistic fields": 0.1 kpc removes JF12's bias at the Sun and UF23's in the inner Galaxy)
MAX_STEP_PER_TRANSITION_SCALE = 1.0


def max_step_kpc(cfg: Config) -> float | None:
    """The cap on sqrt(2 D∥ dt) [kpc]: time.max_step_kpc, else MAX_STEP_PER_TRANSITION_SCALE × the
    e-folding length of the field model's narrowest transition
    (``models.field.narrowest_transition_scale_kpc``), else None."""
    if cfg.time.max_step_kpc is not None:
        return float(cfg.time.max_step_kpc)
    scale = narrowest_transition_scale_kpc(cfg.field)
    return None if scale is None else MAX_STEP_PER_TRANSITION_SCALE * scale


def step_length_scale(cfg: Config) -> float:
    """The length L [kpc] of the halo rule sqrt(2 D∥ dt) <= step_fraction × L: min(H, R_max), or less
    where ``max_step_kpc`` caps the parallel displacement (docs/numerics.md "Step control")."""
    length = min(cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc)
    cap = max_step_kpc(cfg)
    if cap is not None:
        length = min(length, cap / cfg.time.step_fraction)
    return float(length)


def _halo_step(cfg: Config) -> tuple[float, float, float]:
    """D∥ at the lowest injected energy [kpc²/Myr], the halo length min(H, R_max) [kpc] and the time
    step [Myr] the halo rule allows there, step_fraction² L²/(2 D∥) with L = ``step_length_scale``
    (docs/numerics.md)."""
    length = min(cfg.galaxy.halo_height_kpc, cfg.galaxy.radius_max_kpc)
    rule_length = step_length_scale(cfg)
    dpar = float(diffusion_at(cfg.diffusion, cfg.species.name, cfg.energy.min_GeV)[0][0])
    dt_halo = cfg.time.step_fraction**2 * rule_length**2 / (2.0 * dpar) if dpar > 0 else math.inf
    return dpar, length, dt_halo


def _crossing_steps(cfg: Config) -> tuple[float, str]:
    """Steps a particle needs to cross the halo when the step is tiny, and why (0 and '' otherwise).

    The halo rule allows steps with sqrt(2 D∥ Δt) = step_fraction × min(H, R_max), about
    (1/step_fraction)² steps to cross the halo.  When D∥ at the lowest injected energy is so small
    that time.dt_max_Myr caps the step 100 times or more below that, crossing takes
    (H / sqrt(2 D∥ Δt_max))² steps (the mean exit time H²/(2D) of a walk started at z = 0, in steps
    of Δt_max; D∥ is the fastest direction, so this is the fewest steps the field allows).
    """
    dpar, length, dt_halo = _halo_step(cfg)
    dt_max = cfg.time.dt_max_Myr
    if dt_halo < 100.0 * dt_max:
        return 0.0, ""
    step_kpc = math.sqrt(2.0 * dpar * dt_max)
    steps = (length / step_kpc) ** 2
    return steps, (
        f"each step moves about {step_kpc:.2g} kpc (sqrt(2 D∥ Δt) with D∥ = "
        f"{diffusion_kpc2_per_myr_to_cm2_per_s(dpar):.2g} cm²/s at {cfg.energy.min_GeV:g} GeV and Δt at most "
        f"time.dt_max_Myr = {dt_max:g}) against a halo of {length:g} kpc, so crossing it takes ~"
        f"{steps:.2g} steps: the step is tiny because D is tiny compared with the geometry "
        "(check diffusion.D0_cm2_per_s; Galactic values are ~1e28-1e29 cm²/s)"
    )


def _tiny_step_cause(cfg: Config) -> str:
    """Why steps are tiny, when the configuration alone says so ('' when it does not)."""
    return _crossing_steps(cfg)[1]


def _refuse_step_limited(cfg: Config, est: CostEstimate) -> None:
    """Refuse a run whose particles would nearly all be stopped by the step limit before leaving the
    halo (its steady state would miss them): the pilot confirms what the configuration suggests.

    Either most pilot particles already reached numerics.max_steps_per_particle, or most had not
    finished within the pilot and crossing the halo takes more steps than the limit allows
    (``_crossing_steps``).  Energy losses can end particles before they cross; the pilot sees that.
    """
    limit = cfg.numerics.max_steps_per_particle
    half = est.pilot_particles / 2
    if est.pilot_finished - est.pilot_at_step_limit >= half:
        return
    crossing, cause = _crossing_steps(cfg)
    if est.pilot_at_step_limit < half and crossing <= limit:
        return
    reason = cause or (
        f"{est.pilot_at_step_limit} of {est.pilot_particles} pilot particles reached it; find what makes "
        "the steps short (time.dt_max_Myr, time.step_fraction and the field rule, energy losses)"
    )
    raise ConfigError(
        f"nearly every particle would be stopped by the step limit numerics.max_steps_per_particle = "
        f"{limit} before leaving the halo, so the steady state would miss them ({est.describe()}): "
        f"{reason}. If this is meant, raise numerics.max_steps_per_particle (and run.max_cpu_hours); "
        "run.max_cpu_hours = 0 switches the set-up checks off"
    )


def _check_cost(model: Model, sizes: list[int], workers: int, scheduler) -> CostEstimate | None:
    """Run the cost pilot and refuse, before anything is written (``ConfigError``), a run whose
    estimate exceeds run.max_cpu_hours or whose particles would nearly all be stopped by the step
    limit; log the estimate, and warn with the expected time when the pilot's particles did not
    finish (a lower bound that long means something is off).  run.max_cpu_hours = 0 skips it all."""
    cfg = model.config
    budget_h = cfg.run.max_cpu_hours
    if budget_h == 0:
        log.info("run.max_cpu_hours = 0: no cost estimate")
        return None
    n = int(sum(sizes))
    log.info("cost pilot: %d particles in this process, at most %g s of CPU", PILOT_PARTICLES, PILOT_CPU_S)
    est = estimate_cost(model, sizes, 0 if scheduler else workers, cfg.run.seed)
    log.info("cost estimate: %s", est.describe())
    _refuse_step_limited(cfg, est)
    if est.cpu_hours <= budget_h:
        if est.lower_bound and est.cpu_hours > LONG_RUN_WARNING_CPU_H:
            log.warning(
                "this run will take %s; likely cause: %s",
                est.describe(),
                _tiny_step_cause(cfg) or "long or slow steps (see docs/production.md, 'Cost estimate')",
            )
        return est
    cause = _tiny_step_cause(cfg)
    if not cause:
        dt_allowed = min(cfg.time.dt_max_Myr, _halo_step(cfg)[2])
        if est.mean_step_Myr < 0.1 * dt_allowed:
            cause = (
                f"the pilot's steps average {est.mean_step_Myr:.2g} Myr, far below the {dt_allowed:.2g} Myr "
                "that the halo size and time.dt_max_Myr allow: the field rule (time.step_fraction, "
                "time.step_control, the step floors), energy losses (time.loss_fraction) or the "
                "snapshot cadence shorten them"
            )
        else:
            cause = f"the run is large ({n} particles): use fewer particles"
    raise ConfigError(
        f"this run would take {est.describe()}; above run.max_cpu_hours = {budget_h:g}. Likely cause: "
        f"{cause}. If the run is meant to be this long, raise run.max_cpu_hours (0 switches the check off)"
    )


def _execute(model: Model, indices, sizes, seeds, workers=1, scheduler=None, keep_state=False):
    """Run the given batches; yield their results as they finish (any order).

    workers = 1 runs in this process; more use joblib's process pool (loky); a Dask
    scheduler address sends the batches to that cluster through joblib's dask backend.
    """
    jobs = [(b, sizes[b], seeds[b]) for b in indices]
    if scheduler:
        from distributed import Client
        from joblib import Parallel, delayed, parallel_config

        with Client(scheduler) as client, parallel_config(backend="dask", client=client):
            yield from Parallel(return_as="generator_unordered")(
                delayed(run_batch)(model, b, n, s, keep_state) for b, n, s in jobs
            )
    elif workers <= 1:
        for b, n, s in jobs:
            yield run_batch(model, b, n, s, keep_state)
    else:
        from joblib import Parallel, delayed

        # the workers end with this process, even when it is killed outright (SIGKILL)
        parent = os.getpid()
        yield from Parallel(n_jobs=workers, return_as="generator_unordered")(
            delayed(run_batch)(model, b, n, s, keep_state, parent_pid=parent) for b, n, s in jobs
        )


def run_batches(
    model: Model,
    n_particles: int,
    batch_size: int,
    seed: int,
    workers: int = 1,
    progress: bool = False,
    keep_state: bool = False,
    scheduler: str | None = None,
):
    """Run all batches of a plan and yield their results as they finish (any order)."""
    sizes = batch_plan(n_particles, batch_size)
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    gen = _execute(model, range(len(sizes)), sizes, seeds, workers, scheduler, keep_state)
    if progress:
        from tqdm import tqdm

        gen = tqdm(gen, total=len(sizes), unit="batch", desc="sdeprop", leave=False)
    yield from gen


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says what was saved and how to go on."""


def tally_memory_bytes(model: Model, in_process: bool = False) -> dict[str, int]:
    """Memory the tallies need: the stored moments, a worker's working set, the main process's peak.

    The main process holds the running sum, the batch groups' sums (tally.batch_groups) and one
    arriving batch; when batches run in the main process itself (one worker, no scheduler) it also
    holds the worker's working set.
    """
    cells = model.tally_size
    moments = cells * N_MOMENTS * 8
    index_bytes = 4 if cells < 2**31 else 8  # as chosen in run_batch
    worker = moments + cells * (8 + 2 * index_bytes)  # + scratch, history stamps, touched list
    groups = sum(lay.size * lay.groups * 2 * 8 for lay in model.layouts)  # batch groups: Σc, Σcv each
    main = moments + groups + (worker if in_process else moments)
    return {"moments": moments, "worker": worker, "main": main, "groups": groups}


def _select_batches(spec, n_batches: int) -> list[int]:
    """Batch indices from None (all), a range/slice/iterable, or 'START:STOP' text."""
    if spec is None:
        return list(range(n_batches))
    if isinstance(spec, str):
        lo, _, hi = spec.partition(":")
        try:
            start, stop = int(lo) if lo else 0, int(hi) if hi else n_batches
        except ValueError:
            raise ValueError(f"batches '{spec}' must be START:STOP (integers)") from None
        if not 0 <= start < stop <= n_batches:
            raise ValueError(
                f"batches '{spec}' must be START:STOP with 0 <= START < STOP <= {n_batches} "
                f"(the plan has {n_batches} batches)"
            )
        spec = slice(start, stop)
    if isinstance(spec, slice):
        spec = range(*spec.indices(n_batches))
    out = sorted(set(int(b) for b in spec))
    if not out or out[0] < 0 or out[-1] >= n_batches:
        raise ValueError(
            f"batches must select indices in [0, {n_batches}) (the plan has {n_batches} batches)"
        )
    return out


def run(
    config,
    source=None,
    *,
    particles: int | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    output=None,
    write: bool = False,
    keep_state: bool = False,
    batches=None,
    scheduler: str | None = None,
    restart: bool = False,
):
    """Run a simulation and return a :class:`sdeprop.result.Result`.

    Parameters
    ----------
    config : path, dict or Config
        The run configuration (validated here; errors raise ``ConfigError`` before any particle runs).
    source : object, optional
        A custom spatial source with ``sample_positions(rng, n) -> (x, y, z)`` [kpc]; replaces [source].
    particles, workers, progress : optional
        Override run.particles, run.workers, run.progress.
    output : path, optional
        Where to write the HDF5 file; implies ``write=True``.
    write : bool
        Write the result to ``output`` or to run.output.  Written runs checkpoint every finished
        batch in ``<output>.partial/`` and resume from it when run again with the same
        configuration (a different configuration is refused); the folder is removed at the end.
    keep_state : bool
        Keep every particle's final state (for tests and Green's-function studies; memory ∝ particles;
        not with checkpoints).
    batches : 'START:STOP', range or iterable of int, optional
        Run only these batches of the plan (the others can run elsewhere; ``sdeprop merge`` joins them).
    scheduler : str, optional
        Address of a Dask scheduler (tcp://HOST:PORT); overrides parallel.scheduler.
    restart : bool
        Discard a partial run of this output instead of resuming it.

    A run that writes holds the lock ``<output>.lock`` (:func:`sdeprop.locks.output_lock`) from
    start to end: another run, merge or reweight onto the same output is refused meanwhile
    (``OutputInUseError``).  A checkpoint file that cannot be trusted (unreadable, damaged, copied
    from another run) raises ``CheckpointError`` naming it; ``restart=True`` starts afresh.

    With [[components]] the primary source and each component run one after the other (seeds
    derived from run.seed); the components are in ``result.components`` and in the same file, and
    ``result.species_density(tally, species)`` sums them.  Such runs are not checkpointed.
    """
    cfg = load_config(config)
    over = {}
    if particles is not None:
        over["particles"] = particles
    if workers is not None:
        over["workers"] = workers
    if progress is not None:
        over["progress"] = progress
    if over:
        cfg = _with_run(cfg, **over)
    path = Path(output) if output is not None else (cfg.output_path if write else None)
    if path is None:
        return _run_unlocked(cfg, source, None, keep_state, batches, scheduler, restart, particles)
    with output_lock(path):  # the output and its checkpoint folder are this process's until the end
        return _run_unlocked(cfg, source, path, keep_state, batches, scheduler, restart, particles)


def _run_unlocked(cfg, source, path, keep_state, batches, scheduler, restart, particles):
    """The body of :func:`run` (``path``: the output, or None)."""
    if not cfg.components:
        return _run_single(
            cfg,
            source,
            output=path,
            keep_state=keep_state,
            batches=batches,
            scheduler=scheduler,
            restart=restart,
        )
    # [[components]]: the primary source and each component are independent runs of the same transport
    if source is not None or keep_state or batches is not None:
        raise ConfigError(
            "a configuration with [[components]] runs whole: no custom source, keep_state or batches"
        )
    primary_cfg = load_config(
        {k: v for k, v in cfg.model_dump(mode="json", exclude_none=True).items() if k != "components"}
    )
    result = _run_single(primary_cfg, None, scheduler=scheduler)
    for comp in cfg.components:
        comp_cfg = component_config(cfg, comp)
        if particles is not None:
            comp_cfg = _with_run(comp_cfg, particles=particles)
        log.info("component '%s': %d %s", comp.name, comp_cfg.run.particles, "/".join(comp.species))
        result.components[comp.name] = _run_single(comp_cfg, None, scheduler=scheduler)
    result.config_toml = cfg.to_toml()
    if path is not None:
        write_result(result, path)
        result.path = str(path)
    return result


def _with_run(cfg, **run_keys):
    """``cfg`` with some [run] keys replaced (validated again)."""
    return load_config(
        {**cfg.model_dump(mode="json", exclude_none=True), "run": {**cfg.run.model_dump(), **run_keys}}
    )


def _warn_unfinished(cfg: Config, counts: dict) -> None:
    """Warn when more than 1 % of the particles were stopped before they left the halo, and say why:
    the step limit (numerics.max_steps_per_particle) or t_max (time.regimes), each with its remedy.
    Under a reflecting boundary particles end at t_max by design; only the step limit counts there."""
    n = counts["injected"]
    by_steps = counts["max_steps_reached"]
    at_t_max = counts["alive_at_t_max"] if cfg.galaxy.boundary == "escape" else 0
    if by_steps + at_t_max <= 0.01 * n:
        return
    parts = []
    if by_steps:
        cause = _tiny_step_cause(cfg)
        parts.append(
            f"{by_steps} ({100 * by_steps / n:.1f}%) were stopped by the step limit "
            f"numerics.max_steps_per_particle = {cfg.numerics.max_steps_per_particle} "
            f"({counts['steps'] / n:.3g} steps per particle on average): "
            + (
                f"{cause}"
                if cause
                else "raise numerics.max_steps_per_particle, or find what makes the steps short "
                "(time.dt_max_Myr, time.step_fraction and the field rule, energy losses)"
            )
        )
    if at_t_max:
        parts.append(
            f"{at_t_max} ({100 * at_t_max / n:.1f}%) were still alive at t_max: raise time.regimes t_max_Myr"
        )
    log.warning(
        "%d of %d particles (%.1f%%) were stopped inside the halo, so the steady state misses their later "
        "contribution: %s",
        by_steps + at_t_max,
        n,
        100 * (by_steps + at_t_max) / n,
        "; ".join(parts),
    )


def _run_single(
    cfg, source, *, output=None, write=False, keep_state=False, batches=None, scheduler=None, restart=False
):
    """One run of one source (the body of :func:`run`)."""
    model = build_model(cfg, source)
    n_workers = cfg.run.workers
    scheduler = scheduler if scheduler is not None else (cfg.parallel.scheduler or None)
    sizes = batch_plan(cfg.run.particles, cfg.run.batch_size)
    plan = _select_batches(batches, len(sizes))
    memory = tally_memory_bytes(model, in_process=n_workers <= 1 and not scheduler)
    budget = cfg.run.memory_budget_GiB * 2**30
    if max(memory["worker"], memory["main"]) > budget:
        raise ConfigError(
            f"the tallies need {memory['moments'] / 2**30:.3g} GiB ({model.tally_size} cells × 5 moments"
            + (f", batch groups {memory['groups'] / 2**30:.3g} GiB more" if memory["groups"] else "")
            + "), "
            f"{max(memory['worker'], memory['main']) / 2**30:.3g} GiB per process, above "
            "run.memory_budget_GiB = "
            f"{cfg.run.memory_budget_GiB}; use fewer or coarser tally bins (or raise the budget)"
        )
    _check_cost(model, [sizes[b] for b in plan], n_workers, scheduler)
    path = Path(output) if output is not None else (cfg.output_path if write else None)
    folder = None
    if path is not None and not keep_state:
        folder = Path(str(path) + ".partial")
        if restart and folder.exists():
            import shutil

            shutil.rmtree(folder)
    fingerprint = {
        "config": cfg.fingerprint_toml(),
        "batches": plan,
        "source": "config" if source is None else f"{type(source).__module__}.{type(source).__qualname__}",
    }
    groups = [(lay.offset, lay.size, lay.groups) for lay in model.layouts if lay.groups]
    acc = BatchAccumulator(plan, model.tally_size, K.N_STATUS, folder, fingerprint, groups=groups)
    todo = [b for b in plan if b not in acc.done]
    seeds = np.random.SeedSequence(cfg.run.seed).spawn(len(sizes))
    if len(todo) < len(plan):
        log.info("resuming from %s: %d of %d batches already done", folder, len(plan) - len(todo), len(plan))
    t0 = time.perf_counter()
    states = {}
    gen = _execute(model, todo, sizes, seeds, n_workers, scheduler, keep_state)
    bar = None
    if cfg.run.progress:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), initial=len(plan) - len(todo), unit="batch", desc="sdeprop", leave=False)
    n_new = 0
    try:
        for res in gen:
            acc.add(res)
            n_new += res.n_particles
            if keep_state:
                states[res.index] = res.final_state
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(
                    f"{n_new / max(time.perf_counter() - t0, 1e-9):.3g} particles/s", refresh=False
                )
    except KeyboardInterrupt:
        done = len(acc.done)
        where = f"; they are saved in '{folder}': run the same command again to resume" if folder else ""
        raise RunInterrupted(f"interrupted after {done} of {len(plan)} batches{where}") from None
    except OutputWriteError as exc:  # a checkpoint could not be written (disk full)
        raise _with_resume_advice(exc, acc, folder) from None
    finally:
        with warnings.catch_warnings():  # joblib warns that it cancels the running batches: we know
            warnings.filterwarnings("ignore", message=".*tasks which were still being processed")
            gen.close()  # stops a worker pool at once (joblib kills its workers) when the loop ended early
        if bar is not None:
            bar.close()
    wall = time.perf_counter() - t0
    n_particles = int(sum(sizes[b] for b in plan))
    sc = acc.status_counts
    counts = {
        "injected": n_particles,
        "escaped_z": int(sc[K.ESCAPED_Z]),
        "escaped_R": int(sc[K.ESCAPED_R]),
        "alive_at_t_max": int(sc[K.AT_TMAX]),
        "below_energy_floor": int(sc[K.BELOW_EMIN]),
        "max_steps_reached": int(sc[K.MAX_STEPS]),
        "bridge_escapes": int(acc.scalars["bridge_escapes"]),
        "steps": int(acc.scalars["steps"]),
    }
    if model.backward:  # paths whose energy climbed out of the source range
        counts["above_source_energy"] = int(sc[K.ABOVE_EMAX])
    _warn_unfinished(model.config, counts)
    cpu = acc.scalars["cpu_s"]
    timings = {
        "wall_s": wall,
        "batch_cpu_s": cpu,
        "compile_s": acc.scalars["compile_s"],
        "steps_per_s_per_core": counts["steps"] / cpu if cpu > 0 else 0.0,
        "workers": int(n_workers),
    }
    final_state = None
    if keep_state:
        final_state = {k: np.concatenate([states[b][k] for b in plan]) for k in states[plan[0]]}
    result = Result.from_run(
        model,
        acc.sums,
        counts,
        timings,
        final_state,
        batches=plan,
        batch_log=acc.batch_log,
        scheduler=scheduler or "",
        group_sums=acc.group_sums,
    )
    if path is not None:
        try:
            write_result(result, path)
        except KeyboardInterrupt:
            kept = (
                f"; all {len(plan)} batches are saved in '{folder}': run the same command again"
                if folder
                else ""
            )
            raise RunInterrupted(f"interrupted while writing '{path}'{kept}") from None
        except OutputWriteError as exc:
            raise _with_resume_advice(exc, acc, folder) from None
        result.path = str(path)
        acc.remove_folder()
    return result


_NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _with_resume_advice(exc: OutputWriteError, acc: BatchAccumulator, folder) -> OutputWriteError:
    """``exc`` with what was kept of the run and how to go on."""
    if folder is None:
        return exc
    when = "once there is room" if exc.errno in _NO_ROOM else "once that is fixed"
    return OutputWriteError(
        exc.path,
        exc.cause,
        f"{len(acc.done)} of {len(acc.plan)} batches are finished and kept in '{folder}/': "
        f"the same command resumes {when}",
    )
