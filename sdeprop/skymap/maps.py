"""Sky maps from a result: emissivities in every tally cell, integrated along the lines of sight.

``make_skymap(result, energies_GeV, processes=...)`` takes the steady-state densities of the
result's species (the primary and its [[components]]), applies the emission matrices of
:mod:`sdeprop.emission` cell by cell (pion decay and neutrinos from protons on the gas; inverse
Compton on the ISRF and bremsstrahlung on the gas from electrons and positrons) and integrates the
emissivity from the observer through the tally's grid (:mod:`sdeprop.skymap.los`) into a HEALPix
map or a plate-carrée (l, b) map.  docs/skymaps.md explains the steps and their accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import healpy as hp
import numpy as np

from ..errors import ConfigError
from ..models.gas3d import GasModel, build_gas_model
from ..models.isrf import isrf_component_is_uniform, isrf_from_config, isrf_local_components
from .grid import Channel, Steps, TallyGrid, integrate
from .pixels import (
    car_edges,
    car_rays,
    car_solid_angle_sr,
    galactic_lonlat,
    healpix_rays,
)
from .regions import Box

INTENSITY_UNIT = "GeV-1 cm-2 s-1 sr-1"

MATRIX_HEADROOM = 10.0
"""Map energies must lie a factor 10 below the tally's top energy edge (docs/emission.md: the
emission matrices miss the particles above the last edge; 2 % accuracy needs this headroom)."""

PHOTON_PROCESSES = ("pp", "ic", "brems")
NEUTRINO_PROCESSES = ("nu", "nu_mu", "nu_e")
PROCESSES = PHOTON_PROCESSES + NEUTRINO_PROCESSES
PROCESS_SPECIES = {
    "pp": ("proton",),
    "nu": ("proton",),
    "nu_mu": ("proton",),
    "nu_e": ("proton",),
    "ic": ("electron", "positron"),
    "brems": ("electron", "positron"),
}
PROCESS_TITLES = {
    "pp": "π⁰-decay γ (pp, Kafexhiu et al. 2014)",
    "ic": "inverse-Compton γ",
    "brems": "bremsstrahlung γ",
    "nu": "ν + ν̄, all flavours at production (Kelner et al. 2006)",
    "nu_mu": "ν_μ + ν̄_μ at production (Kelner et al. 2006)",
    "nu_e": "ν_e + ν̄_e at production (Kelner et al. 2006)",
}


@dataclass
class SkyMap:
    """Intensity maps [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] at ``energies_GeV``: shape (n_E, n_pix) for HEALPix (RING
    order), (n_E, n_l, n_b) for plate carrée; ``uncertainty`` is the upper-bound 1σ of los.py.
    ``processes`` holds each process's own (intensity, uncertainty)."""

    energies_GeV: np.ndarray
    intensity: np.ndarray
    uncertainty: np.ndarray
    kind: str
    nside: int | None = None
    l_edges_deg: np.ndarray | None = None
    b_edges_deg: np.ndarray | None = None
    processes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    unit: str = INTENSITY_UNIT
    uncertainty_bound: np.ndarray | None = None
    """Where ``uncertainty`` comes from the scatter of batch groups or replicas: the upper bound of
    los.py for the same mean, for comparison."""
    group_intensity: np.ndarray | None = None
    """The total map of each batch group (G, n_E, pixels...) where the groups gave ``uncertainty``, with
    ``group_fractions`` their shares of the particles: the errors of anything derived from the map
    (differences with another map of the same run included) follow from them (group_scatter)."""
    group_fractions: np.ndarray | None = None

    # geometry -------------------------------------------------------------------------------
    def pixel_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """(l, b) [deg] of the pixel centres, flattened like the map's pixel axis."""
        if self.kind == "healpix":
            return galactic_lonlat(np.stack(hp.pix2vec(self.nside, np.arange(hp.nside2npix(self.nside))), -1))
        lc = 0.5 * (self.l_edges_deg[1:] + self.l_edges_deg[:-1])
        bc = 0.5 * (self.b_edges_deg[1:] + self.b_edges_deg[:-1])
        L, B = np.meshgrid(lc, bc, indexing="ij")
        return L.ravel(), B.ravel()

    def pixel_solid_angle_sr(self) -> np.ndarray:
        """Solid angle of each pixel [sr], flattened like the map's pixel axis."""
        if self.kind == "healpix":
            return np.full(hp.nside2npix(self.nside), hp.nside2pixarea(self.nside))
        return car_solid_angle_sr(self.l_edges_deg, self.b_edges_deg).ravel()

    def _flat(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0], -1)

    # derived quantities ----------------------------------------------------------------------
    def total_flux(self) -> np.ndarray:
        """∫ I dΩ over the map [GeV⁻¹ cm⁻² s⁻¹] at each energy."""
        return self._flat(self.intensity) @ self.pixel_solid_angle_sr()

    def region_spectrum(self, region: Box | np.ndarray, label: str = "mask") -> RegionSpectrum:
        """Mean intensity over a region (a Box, or a boolean mask over the pixels) with its upper-bound
        1σ (the pixels of a region share histories: their errors add linearly)."""
        if isinstance(region, Box):
            mask = region.contains(*self.pixel_lonlat())
            label = region.describe()
        else:
            mask = np.asarray(region, dtype=bool).ravel()
            if mask.shape != (self._flat(self.intensity).shape[1],):
                raise ConfigError(
                    f"region mask has {mask.size} pixels; the map has {self._flat(self.intensity).shape[1]}"
                )
        if not mask.any():
            raise ConfigError(f"region '{label}' contains no pixel centre of this map; use finer pixels")
        w = self.pixel_solid_angle_sr() * mask
        omega = float(w.sum())
        return RegionSpectrum(
            self.energies_GeV,
            self._flat(self.intensity) @ w / omega,
            self._flat(self.uncertainty) @ w / omega,
            omega,
            int(mask.sum()),
            label,
        )

    def ratio(self, other: SkyMap) -> tuple[np.ndarray, np.ndarray]:
        """self/other pixel by pixel with its 1σ (independent runs: relative errors in quadrature); NaN
        where ``other`` is zero."""
        if self.intensity.shape != other.intensity.shape or not np.allclose(
            self.energies_GeV, other.energies_GeV
        ):
            raise ConfigError("the two maps differ in pixels or energies; a ratio needs the same grid")
        with np.errstate(divide="ignore", invalid="ignore"):
            r = self.intensity / other.intensity
            rel = np.hypot(self.uncertainty / self.intensity, other.uncertainty / other.intensity)
        return r, np.abs(r) * rel


def combine_replicas(maps: list[SkyMap]) -> SkyMap:
    """The mean of K ≥ 2 maps made alike from independent runs of one configuration (other seeds, the
    same number of particles), with the 1σ of that mean from their scatter, s/√K (s the sample standard
    deviation over the replicas, pixel by pixel).  Unlike the per-cell bound of a single map this
    estimate includes every correlation (cells along a ray, energy bins, pixels sharing histories); it
    is itself uncertain by about 1/√(2(K − 1)).  ``uncertainty_bound`` keeps the combined upper bound
    √(Σ U_k²)/K for comparison; processes are combined alike."""
    if len(maps) < 2:
        raise ConfigError(f"combining replicas needs at least 2 maps; got {len(maps)}")
    first = maps[0]
    for m in maps[1:]:
        if m.intensity.shape != first.intensity.shape or not np.allclose(m.energies_GeV, first.energies_GeV):
            raise ConfigError("replica maps differ in pixels or energies; make them with the same options")
        if m.metadata.get("injected") != first.metadata.get("injected"):
            raise ConfigError(
                "replica runs differ in their number of injected particles "
                f"({first.metadata.get('injected')} and {m.metadata.get('injected')}); use equal runs"
            )
    k = len(maps)

    def mean_and_error(arrays, bounds):
        stack = np.stack(arrays)
        return (
            stack.mean(axis=0),
            stack.std(axis=0, ddof=1) / np.sqrt(k),
            np.sqrt(np.sum(np.stack(bounds) ** 2, 0)) / k,
        )

    mean, err, bound = mean_and_error([m.intensity for m in maps], [m.uncertainty for m in maps])
    processes = {}
    for proc in first.processes:
        pm, pe, _ = mean_and_error([m.processes[proc][0] for m in maps], [m.processes[proc][1] for m in maps])
        processes[proc] = (pm, pe)
    meta = dict(first.metadata, replicas=k, uncertainty="replica scatter")
    return SkyMap(
        first.energies_GeV, mean, err, first.kind, first.nside, first.l_edges_deg, first.b_edges_deg,
        processes, meta, first.unit, bound,
    )  # fmt: skip


@dataclass
class RegionSpectrum:
    """Mean intensity [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹] over a region at each energy, with its 1σ upper bound."""

    energies_GeV: np.ndarray
    intensity: np.ndarray
    uncertainty: np.ndarray
    solid_angle_sr: float
    n_pixels: int
    region: str


# --------------------------------------------------------------------------- emissivities per cell
def _species_in(result) -> list[str]:
    cfg = result.config
    names = [cfg.species.name]
    for comp in cfg.components:
        names += [s for s in comp.species if s not in names]
    return names


def _pick_tally(result, tally: str | None):
    if tally is not None:
        if tally not in result.tallies:
            raise ConfigError(f"tally '{tally}' is not in the result; it has {sorted(result.tallies)}")
        return tally
    for kind in ("cartesian", "cylindrical"):
        for name, t in result.tallies.items():
            if t.kind == kind:
                return name
    raise ConfigError(
        f"the result has no cartesian or cylindrical tally (it has {sorted(result.tallies)}); a sky map "
        "integrates the density over space"
    )


def emission_channels(
    result,
    tally: str,
    energies_GeV,
    processes,
    *,
    isrf_params,
    hadronic_model="Pythia8",
    nuclear_enhancement="kafexhiu14",
    densities: dict | None = None,
) -> dict[str, list[Channel]]:
    """Per process, the channels (emissivity per unit target in every cell, n_cells × n_E) of the
    result's species in tally ``tally``; ``densities`` (species → (density, 1σ), shaped like the
    tally's density) replaces the result's own, e.g. one batch group's."""
    from .. import emission  # naima and astropy load only when a map is made

    t = result.tallies[tally]
    edges = t.layout.energy_edges_GeV
    energies = np.asarray(energies_GeV, float)
    if energies.max() > edges[-1] / MATRIX_HEADROOM:
        raise ConfigError(
            f"energy {energies.max():.4g} GeV is above {edges[-1] / MATRIX_HEADROOM:.4g} GeV, a tenth of the "
            f"top edge of tally '{tally}' ({edges[-1]:.4g} GeV): the particles above that edge, which make "
            "much of the emission there, are not in the tally (docs/emission.md); choose lower energies or "
            "a tally (and injection range) reaching higher"
        )
    species = _species_in(result)
    out: dict[str, list[Channel]] = {}
    for proc in processes:
        present = [s for s in PROCESS_SPECIES[proc] if s in species]
        if not present:
            raise ConfigError(
                f"process '{proc}' needs {' or '.join(PROCESS_SPECIES[proc])} in the run; it has {species}"
            )
        channels: list[Channel] = []
        for sp in present:
            if densities is not None:
                dens, unc = densities[sp]
            else:
                d = result.species_density(tally, sp)
                dens, unc = d.density, d.uncertainty
            n = dens.reshape(-1, dens.shape[-1])
            s = unc.reshape(n.shape)
            if proc == "pp":
                mats = [
                    (
                        "gas",
                        0,
                        emission.pion_decay_matrix(
                            edges,
                            energies,
                            hadronic_model=hadronic_model,
                            nuclear_enhancement=nuclear_enhancement,
                        ),
                    )
                ]
            elif proc in NEUTRINO_PROCESSES:
                flavour = {"nu": "all", "nu_mu": "muon", "nu_e": "electron"}[proc]
                nu = emission.neutrino_matrix(
                    edges, energies, flavour=flavour, nuclear_enhancement=nuclear_enhancement
                )
                mats = [("gas", 0, nu)]
            elif proc == "brems":
                mats = [("gas", 0, emission.bremsstrahlung_matrix(edges, energies, species=sp))]
            else:
                comps = isrf_local_components(isrf_params)
                mats = [
                    ("isrf", i, m)
                    for i, m in enumerate(
                        emission.inverse_compton_matrices(edges, energies, comps, species=sp)
                    )
                ]
            for target, index, m in mats:
                channels.append(Channel(m.apply(n), m.apply(s), target, index))
        out[proc] = _merge_channels(channels, isrf_params)
    return out


def _merge_channels(channels: list[Channel], isrf_params) -> list[Channel]:
    """Sum channels with the same target; ISRF components without spatial variation become "one"."""
    merged: dict[tuple[str, int], Channel] = {}
    for ch in channels:
        key = (ch.target, ch.index)
        if ch.target == "isrf":
            if isrf_component_is_uniform(isrf_params, ch.index):
                key = ("one", 0)
        if key in merged:
            merged[key].emissivity = merged[key].emissivity + ch.emissivity
            merged[key].sigma = merged[key].sigma + ch.sigma
        else:
            merged[key] = Channel(ch.emissivity.copy(), ch.sigma.copy(), key[0], key[1])
    return list(merged.values())


# --------------------------------------------------------------------------- batch groups
UNCERTAINTY_CHOICES = ("auto", "bound", "groups")


def _use_groups(result, tally: str, choice: str) -> bool:
    if choice not in UNCERTAINTY_CHOICES:
        raise ConfigError(f"uncertainty={choice!r} is not allowed; choose from {list(UNCERTAINTY_CHOICES)}")
    t = result.tallies[tally]
    usable = t.group_sums is not None and not result.config.components
    n_groups = 0 if t.group_particles is None else int((t.group_particles > 0).sum())
    if choice == "groups" and not usable:
        raise ConfigError(
            f"uncertainty='groups' needs batch groups in tally '{tally}' ([[tally]] batch_groups) and a run "
            "without [[components]]"
        )
    if usable and n_groups < 2 and choice != "bound":
        raise ConfigError(
            f"tally '{tally}' has {n_groups} non-empty batch group(s): a scatter needs at least 2; run more "
            "batches than batch_groups (run.particles / run.batch_size ≥ batch_groups)"
        )
    return usable and choice != "bound"


def group_scatter(values: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """1σ of the combined estimate Σ_g f_g x_g from G independent group estimates x_g (first axis) that
    hold the fractions f_g of the particles: √(G/(G − 1) Σ_g f_g² (x_g − x̄)²), x̄ = Σ f_g x_g; for equal
    groups the standard error s/√G of their mean."""
    f = np.asarray(fractions, float).reshape((-1,) + (1,) * (values.ndim - 1))
    g = values.shape[0]
    mean = np.sum(f * values, axis=0)
    return np.sqrt(g / (g - 1) * np.sum(f * f * (values - mean) ** 2, axis=0))


# --------------------------------------------------------------------------- the map
def map_memory_bytes(n_cells: int, n_channels: int, n_energies: int, n_pixels: int, n_processes: int) -> int:
    """Bytes the map making holds at its peak beyond the result: the emissivity and its 1σ per channel
    and cell, the densities they come from, and the maps (intensity and 1σ, per process and summed)."""
    per_cell = 8 * n_energies * (2 * n_channels + 2)
    return int(n_cells * per_cell + 16 * n_pixels * n_energies * (n_processes + 1))


def _check_memory(result, tally, processes, energies, nside, car_pixel_deg, car_l_range, car_b_range):
    t = result.tallies[tally]
    n_cells = int(np.prod(t.layout.spatial_shape))
    if car_pixel_deg is None:
        n_pixels = hp.nside2npix(nside)
    else:
        l_edges, b_edges = car_edges(car_l_range, car_b_range, car_pixel_deg)
        n_pixels = (len(l_edges) - 1) * (len(b_edges) - 1)
    # inverse Compton keeps one channel per ISRF component that varies in space, at most 7
    channels = sum(7 if p == "ic" else 1 for p in processes)
    need = map_memory_bytes(n_cells, channels, len(energies), n_pixels, len(processes))
    budget = result.config.run.memory_budget_GiB * 2**30
    if need > budget:
        raise ConfigError(
            f"the map would need {need / 2**30:.1f} GiB beside the result, above run.memory_budget_GiB = "
            f"{result.config.run.memory_budget_GiB:g}: use fewer energies per map, a smaller nside, or a "
            "coarser tally"
        )


def make_skymap(
    result,
    energies_GeV,
    processes=("pp",),
    *,
    nside: int | None = 64,
    car_pixel_deg: float | None = None,
    car_l_range_deg=(0.0, 360.0),
    car_b_range_deg=(-90.0, 90.0),
    tally: str | None = None,
    gas: GasModel | str = "galprop",
    observer_kpc=None,
    interpolation: str = "linear",
    max_distance_kpc: float = np.inf,
    oversampling: float = 2.0,
    steps: Steps | None = None,
    hadronic_model: str = "Pythia8",
    nuclear_enhancement="kafexhiu14",
    absorption: bool = False,
    uncertainty: str = "auto",
) -> SkyMap:
    """The sky map of ``processes`` (PROCESSES: photons and neutrinos may not be mixed) at
    ``energies_GeV`` from ``result``: HEALPix of ``nside`` or, when ``car_pixel_deg`` is given, a
    plate-carrée grid.  ``observer_kpc`` defaults to galaxy.sun_position_kpc; a pixel's beam splits
    wherever it grows wider than cell/``oversampling`` (pixels.py, los.py).  ``absorption``: attenuate
    γ rays by pair production on the ISRF of the run's [losses.isrf] (emission/absorption.py), counted
    inside the tally's domain.  ``uncertainty``: "bound" (the per-cell upper bound of los.py), "groups"
    (the scatter of the maps of the tally's batch groups, [[tally]] batch_groups, which holds every
    correlation; the bound is kept in ``uncertainty_bound``) or "auto" (groups where the tally keeps
    them and the run has no [[components]], else the bound)."""
    t_start = time.perf_counter()
    processes = tuple(processes)
    bad = [p for p in processes if p not in PROCESSES]
    if bad or not processes:
        raise ConfigError(f"processes {list(processes)!r}: choose one or more of {list(PROCESSES)}")
    if any(p in NEUTRINO_PROCESSES for p in processes) and any(p in PHOTON_PROCESSES for p in processes):
        raise ConfigError(f"processes {list(processes)!r} mix photons and neutrinos; make one map of each")
    energies = np.atleast_1d(np.asarray(energies_GeV, float))
    if energies.ndim != 1 or not np.all(np.isfinite(energies)) or np.any(energies <= 0):
        raise ConfigError(f"energies_GeV={energies_GeV!r} must be positive, finite energies [GeV]")
    if car_pixel_deg is None:
        if not isinstance(nside, int | np.integer) or nside < 1 or nside > 8192 or nside & (nside - 1):
            raise ConfigError(f"nside={nside!r} must be a power of 2 (1, 2, 4, …, 8192)")
    elif not (0 < car_pixel_deg <= 30):
        raise ConfigError(f"car_pixel_deg={car_pixel_deg!r} must lie in (0, 30] degrees")
    cfg = result.config
    name = _pick_tally(result, tally)
    grid = TallyGrid.from_layout(result.tallies[name].layout)
    observer = np.asarray(observer_kpc if observer_kpc is not None else cfg.galaxy.sun_position_kpc, float)
    if observer.shape != (3,) or not np.all(np.isfinite(observer)):
        raise ConfigError(f"observer_kpc={observer_kpc!r} must be three finite coordinates [kpc]")
    _check_memory(result, name, processes, energies, nside, car_pixel_deg, car_l_range_deg, car_b_range_deg)
    gas_model = build_gas_model(gas) if isinstance(gas, str) else gas
    isrf_params = isrf_from_config(cfg.losses.isrf)
    absorption_table = None
    if absorption:
        if any(p in NEUTRINO_PROCESSES for p in processes):
            raise ConfigError("absorption applies to γ rays; neutrinos cross the Galaxy unabsorbed")
        from ..emission.absorption import isrf_opacity_per_kpc

        absorption_table = isrf_opacity_per_kpc(energies, isrf_local_components(isrf_params))
    channels = emission_channels(
        result, name, energies, processes, isrf_params=isrf_params,
        hadronic_model=hadronic_model, nuclear_enhancement=nuclear_enhancement,
    )  # fmt: skip
    t_emission = time.perf_counter()

    if car_pixel_deg is None:
        rays = healpix_rays(nside)
        shape = (hp.nside2npix(nside),)
        l_edges = b_edges = None
    else:
        l_edges, b_edges = car_edges(car_l_range_deg, car_b_range_deg, car_pixel_deg)
        rays = car_rays(l_edges, b_edges)
        shape = (len(l_edges) - 1, len(b_edges) - 1)

    def line_of_sight(chans):
        I, S = integrate(
            grid, chans, observer, rays, gas=gas_model, isrf_params=isrf_params,
            interpolation=interpolation, max_distance_kpc=max_distance_kpc, steps=steps,
            oversampling=oversampling, absorption=absorption_table,
        )  # fmt: skip
        return I.T.reshape((len(energies),) + shape), S.T.reshape((len(energies),) + shape)

    per_process = {}
    total = total_sigma = None
    for proc, chans in channels.items():
        I, S = line_of_sight(chans)
        per_process[proc] = (I, S)
        total = I if total is None else total + I
        total_sigma = S if total_sigma is None else total_sigma + S
    bound = group_maps = fractions = None
    if _use_groups(result, name, uncertainty):
        group_maps, fractions = [], []
        t = result.tallies[name]
        species = cfg.species.name
        for d_g, n_g in zip(t.group_densities(), t.group_particles[t.group_particles > 0]):
            chans_g = emission_channels(
                result, name, energies, processes, isrf_params=isrf_params, hadronic_model=hadronic_model,
                nuclear_enhancement=nuclear_enhancement, densities={species: (d_g, np.zeros_like(d_g))},
            )  # fmt: skip
            group_maps.append(sum(line_of_sight(c)[0] for c in chans_g.values()))
            fractions.append(n_g / t.n_injected)
        bound = total_sigma
        group_maps, fractions = np.array(group_maps), np.array(fractions)
        total_sigma = group_scatter(group_maps, fractions)
    t_end = time.perf_counter()
    meta = {
        "result": str(result.path or ""),
        "tally": name,
        "species": ",".join(_species_in(result)),
        "injected": int(result.counts["injected"]),
        "gas": gas_model.name,
        "observer_kpc": observer,
        "interpolation": interpolation,
        "pixels": int(rays.n_pixels),
        "oversampling": float(oversampling),
        "emission_s": t_emission - t_start,
        "line_of_sight_s": t_end - t_emission,
        "hadronic_model": hadronic_model,
        "nuclear_enhancement": str(nuclear_enhancement),
        "absorption": bool(absorption),
        "uncertainty": "batch-group scatter" if bound is not None else "per-cell upper bound",
    }
    return SkyMap(
        energies, total, total_sigma, "healpix" if car_pixel_deg is None else "car",
        nside=nside if car_pixel_deg is None else None, l_edges_deg=l_edges, b_edges_deg=b_edges,
        processes=per_process, metadata=meta, uncertainty_bound=bound, group_intensity=group_maps,
        group_fractions=fractions,
    )  # fmt: skip
