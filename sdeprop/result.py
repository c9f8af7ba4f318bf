"""Results: tallies with their axes, densities with uncertainties, and reweighting.

``Result.tallies[name]`` is a :class:`Tally`.  Its ``density`` and ``uncertainty`` use the
configuration's [spectrum]; ``reweight(spectrum)`` applies any other injection spectrum
to the stored histograms without re-running a particle (docs/design.md §4).

Units: densities are per kpc³ per GeV of kinetic energy for a total source rate
``rate_per_Myr`` (particles per Myr between the injection limits); burst densities
(snapshot output times) are per kpc³ per GeV for ``rate_per_Myr`` particles injected at t = 0.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field

import numpy as np

from .config import load_config
from .errors import ConfigError
from .kernel import INTEGRATOR_EM, INTEGRATOR_FIELD_LINE, INTEGRATOR_FIELD_LINE_RK2
from .models.diffusion import SPECIES
from .models.sources import EnergySampler
from .provenance import environment
from .spectra import (
    RESIDUAL_LIMIT,
    BinWeights,
    Spectrum,
    bin_rates,
    describe_spectrum,
    positive_bin_weights,
    spectrum_from_config,
)
from .tallies import M_C, M_C2, M_C2V, M_C2VV, M_CV, N_MOMENTS, ObserverLayout, TallyLayout

#: names of the kernel's integrators, as stored in a result's metadata
STEP_NAMES = {
    INTEGRATOR_EM: "euler_maruyama",
    INTEGRATOR_FIELD_LINE: "field_line",
    INTEGRATOR_FIELD_LINE_RK2: "field_line_midpoint",
}

DENSITY_UNIT = "kpc^-3 GeV^-1"

log = logging.getLogger(__name__)


@dataclass
class Density:
    """A reweighted density: steady state (and burst snapshots) with 1σ statistical errors.

    ``weight_residual`` and ``weight_clamped`` (one entry per source-energy bin: the E0 axis, or the E
    axis where E = E0) say how well the in-bin weight represents the importance weight W: the
    relative rms residual ρ_j of W about the applied weight, and whether its slope had to be reduced
    to keep it non-negative (spectra.positive_bin_weights; None for sums over several results).
    """

    density: np.ndarray
    uncertainty: np.ndarray
    edges: dict[str, np.ndarray]
    burst_density: np.ndarray | None = None
    burst_uncertainty: np.ndarray | None = None
    output_times_Myr: np.ndarray | None = None
    unit: str = DENSITY_UNIT
    weight_residual: np.ndarray | None = None
    weight_clamped: np.ndarray | None = None


class _ConfiguredDensity:
    """``density`` and ``uncertainty`` for the configured spectrum and rate, reweighted once and kept."""

    _default: Density | None = None

    def _default_density(self) -> Density:
        if self._default is None:
            self._default = self.reweight(self.spectrum, self.rate_per_Myr)
        return self._default

    @property
    def density(self) -> np.ndarray:
        """Steady-state density [kpc⁻³ GeV⁻¹] for the configured spectrum: shape (spatial..., E) for a
        forward tally, one value per observer energy for the backward observer."""
        return self._default_density().density

    @property
    def uncertainty(self) -> np.ndarray:
        """1σ statistical uncertainty of ``density``."""
        return self._default_density().uncertainty


class Tally(_ConfiguredDensity):
    """One tally: raw per-history moments and what is needed to turn them into densities.

    ``sums`` has shape (*layout.shape, 5): Σc, Σcv, Σc², Σc²v, Σc²v² per cell (tallies.py).
    """

    def __init__(
        self,
        layout: TallyLayout,
        sums: np.ndarray,
        n_injected: int,
        sampler: EnergySampler,
        species: str,
        spectrum: Spectrum,
        rate_per_Myr: float,
    ):
        self.layout = layout
        self.name = layout.name
        self.kind = layout.kind
        self.sums = np.asarray(sums, dtype=float).reshape(layout.shape + (N_MOMENTS,))
        self.n_injected = int(n_injected)
        self.sampler = sampler
        self.species = species
        self.spectrum = spectrum
        self.rate_per_Myr = rate_per_Myr
        self._default: Density | None = None
        self._warned_coarse = False
        self.group_sums: np.ndarray | None = None
        self.group_particles: np.ndarray | None = None

    def set_groups(self, group_sums, group_particles) -> None:
        """Attach the per-batch-group Σc, Σcv, shape (G, *layout.shape, 2), and the particles per group."""
        g = self.layout.groups
        self.group_sums = np.asarray(group_sums, dtype=float).reshape((g,) + self.layout.shape + (2,))
        self.group_particles = np.asarray(group_particles, dtype=np.int64).reshape(g)

    def group_densities(
        self, spectrum: Spectrum | None = None, rate_per_Myr: float | None = None
    ) -> np.ndarray:
        """Steady-state density of each batch group alone, shape (G, spatial..., E): independent estimates
        of ``density`` (their mean weighted by the groups' particles is ``density``); empty groups are
        dropped.  Their scatter gives the error of any quantity computed from the tally, correlations
        between cells included."""
        if self.group_sums is None:
            raise ConfigError(
                f"tally '{self.name}' keeps no batch groups (set batch_groups in its [[tally]])"
            )
        spectrum = self.spectrum if spectrum is None else spectrum
        rate = self.rate_per_Myr if rate_per_Myr is None else rate_per_Myr
        bw = self.bin_weights(spectrum, rate)
        a, b = bw.a, bw.b
        out = []
        self._check_folded_spectrum(spectrum)
        norm = self._cell_norm()
        out = []
        for gs, n in zip(self.group_sums, self.group_particles):
            if n == 0:
                continue
            num = self._first_moment(gs[0, ..., 0], gs[0, ..., 1], a, b, rate)  # steady-state slot
            out.append(num / norm * (self.n_injected / n))  # the weights were per particle of the whole run
        return np.array(out)

    def _check_folded_spectrum(self, spectrum: Spectrum) -> None:
        """A folded tally holds the configured spectrum only: refuse any other, naming the fix."""
        if self.folded and spectrum != self.spectrum:
            raise ConfigError(
                f"tally '{self.name}' applied the configured spectrum {describe_spectrum(self.spectrum)} "
                f"while scoring (source_energy = 'fold'); it cannot be reweighted to "
                f"{describe_spectrum(spectrum)}. Run with source_energy = 'keep' to reweight"
            )

    def _first_moment(self, m_c, m_cv, a, b, rate_per_Myr):
        """Σ_histories c·(a_j + b_j v) over the source-energy bins from Σc and Σcv (shape (..., E, E0)):
        the weighted sum ``reweight`` normalises; a folded tally applied the weights of one particle at
        unit rate while scoring."""
        if self.folded:
            return m_c[..., 0] * rate_per_Myr / self.n_injected
        if self.layout.source_energy_edges_GeV is None:  # E = E0: the E axis is the source-energy axis
            return a * m_c[..., 0] + b * m_cv[..., 0]
        return m_c @ a + m_cv @ b

    def _cell_norm(self) -> np.ndarray:
        """Cell volume [kpc³] × energy-bin width [GeV], shaped (spatial..., E)."""
        return np.asarray(self.layout.cell_volume_kpc3())[..., None] * np.diff(self.layout.energy_edges_GeV)

    # axes ------------------------------------------------------------------
    @property
    def edges(self) -> dict[str, np.ndarray]:
        """Axis edges by name: spatial axes (kpc), 'E_GeV', and 'E0_GeV' where losses act."""
        out = dict(self.layout.spatial_axes)
        out["E_GeV"] = self.layout.energy_edges_GeV
        if self.layout.source_energy_edges_GeV is not None:
            out["E0_GeV"] = self.layout.source_energy_edges_GeV
        return out

    def centers(self, axis: str) -> np.ndarray:
        """Bin centres of an axis (geometric for energies, arithmetic for lengths)."""
        e = self.edges[axis]
        return np.sqrt(e[1:] * e[:-1]) if axis.startswith("E") else 0.5 * (e[1:] + e[:-1])

    @property
    def output_times_Myr(self) -> np.ndarray:
        return self.layout.output_times_Myr

    @property
    def sum1(self) -> np.ndarray:
        """Σc per cell (raw residence time or snapshot weight), index order (time, spatial..., E, E0)."""
        return self.sums[..., M_C]

    @property
    def sum2(self) -> np.ndarray:
        """Σc² per cell (per history)."""
        return self.sums[..., M_C2]

    # densities -------------------------------------------------------------
    @property
    def folded(self) -> bool:
        """True when the configured spectrum was applied while scoring (source_energy = 'fold')."""
        return self.layout.fold_edges_GeV is not None

    def _weight_args(self):
        mass, charge = SPECIES[self.species]
        e0 = self.layout.source_energy_edges_GeV
        if self.folded:
            e0 = self.layout.fold_edges_GeV
        edges = e0 if e0 is not None else self.layout.energy_edges_GeV
        return edges, self.sampler, self.n_injected, mass, charge

    def bin_weights(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> BinWeights:
        """The weight a_j + b_j v [1/Myr] ``reweight`` applies in each source-energy bin, non-negative over
        the bin, with its residual and clamping flags (spectra.positive_bin_weights)."""
        return positive_bin_weights(spectrum, *self._weight_args(), rate_per_Myr)

    def weights(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Per source-energy bin coefficients (a_j, b_j) [1/Myr] of the weight a_j + b_j v that ``reweight``
        applies (spectra.positive_bin_weights)."""
        bw = self.bin_weights(spectrum, rate_per_Myr)
        return bw.a, bw.b

    def rates(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> np.ndarray:
        """Bin-averaged rate [1/Myr] one pseudo-particle of each source-energy bin represents
        (spectra.bin_rates)."""
        return bin_rates(spectrum, *self._weight_args(), rate_per_Myr)

    def reweight(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> Density:
        """Densities for the injection spectrum ``spectrum`` normalised to ``rate_per_Myr``.

        Every cell is a sum of non-negative contributions.  Where the source-energy bins are too coarse
        for the spectrum (spectra.BinWeights.coarse) a warning is logged, the first time for this tally
        (later ones at INFO level); ``Density.weight_residual`` holds the figure per bin.
        """
        bw = self.bin_weights(spectrum, rate_per_Myr)
        a, b = bw.a, bw.b
        if bw.coarse.any():
            self._report_coarse(spectrum, bw)
        s = self.sums
        m = {k: s[..., k] for k in (M_C, M_CV, M_C2, M_C2V, M_C2VV)}
        self._check_folded_spectrum(spectrum)
        num = self._first_moment(m[M_C], m[M_CV], a, b, rate_per_Myr)
        if self.folded:
            scale = rate_per_Myr / self.n_injected
            sq = m[M_C2][..., 0] * scale * scale
        elif self.layout.source_energy_edges_GeV is None:
            m = {k: v[..., 0] for k, v in m.items()}
            sq = a * a * m[M_C2] + 2 * a * b * m[M_C2V] + b * b * m[M_C2VV]
        else:
            sq = m[M_C2] @ (a * a) + m[M_C2V] @ (2 * a * b) + m[M_C2VV] @ (b * b)
        var = np.clip(sq - num * num / self.n_injected, 0.0, None)
        norm = self._cell_norm()
        dens = num / norm
        err = np.sqrt(var) / norm
        times = self.layout.output_times_Myr
        return Density(
            density=dens[0],
            uncertainty=err[0],
            edges=self.edges,
            burst_density=dens[1:] if len(times) else None,
            burst_uncertainty=err[1:] if len(times) else None,
            output_times_Myr=times if len(times) else None,
            weight_residual=bw.residual,
            weight_clamped=bw.clamped,
        )

    def _report_coarse(self, spectrum: Spectrum, bw: BinWeights) -> None:
        """Log that the source-energy bins are too coarse for ``spectrum``: how many, how far off, the fix."""
        level = logging.INFO if self._warned_coarse else logging.WARNING
        self._warned_coarse = True
        if not log.isEnabledFor(level):  # a fit reweights many times; skip the search for a bin count
            return
        edges, *rest = self._weight_args()
        coarse = bw.coarse
        worst = int(np.argmax(np.where(coarse, bw.residual, -1.0)))
        has_e0 = self.layout.source_energy_edges_GeV is not None
        key = "source_energy_bins" if has_e0 else "energy_bins"
        axis = "source-energy (E0)" if has_e0 else "energy (E = E0 without losses)"
        n_bins = len(edges) - 1
        suggestion = _finer_bin_count(spectrum, edges, rest)
        advice = f"{suggestion} or more" if suggestion else "a larger number"
        log.log(
            level,
            "tally '%s': the %s bins are too coarse for the spectrum %s: in %d of %d bins the in-bin "
            "weight departs from the importance weight by more than %.0f %% rms or had to be clamped to "
            "stay non-negative (%d clamped; worst %.0f %% rms in %.3g–%.3g GeV), so a cell whose content "
            "varies across such a bin may be biased by up to that residual × the relative spread of its "
            "content over the bin. Remedy: set %s = %s (now %d) in this [[tally]] table and run again",
            self.name,
            axis,
            describe_spectrum(spectrum),
            int(coarse.sum()),
            n_bins,
            100.0 * RESIDUAL_LIMIT,
            int(bw.clamped.sum()),
            100.0 * bw.residual[worst],
            edges[worst],
            edges[worst + 1],
            key,
            advice,
            n_bins,
        )

    def __repr__(self):
        return f"Tally(name={self.name!r}, kind={self.kind!r}, shape={self.layout.shape})"


class ObserverTally(_ConfiguredDensity):
    """The backward estimator's point densities (docs/observer.md): at each observer energy E_k the density
    n(x_obs, E_k) [kpc⁻³ GeV⁻¹] for any injection spectrum, from the per-path moments against the source
    energy E_s (tallies.ObserverLayout).

    Reweighting applies the forward tallies' in-bin weights (spectra.positive_bin_weights) for a
    log-uniform sampling density over the source range, which the kernel put into every contribution; the
    variance uses the full second moments of each path's bin totals, so it is exact for any spectrum even
    though one path meets the source at many source energies.
    """

    kind = "observer"
    group_sums = None
    folded = False

    def __init__(
        self, layout: ObserverLayout, sums: np.ndarray, species: str, spectrum: Spectrum, rate_per_Myr
    ):
        self.layout = layout
        self.name = layout.name
        self.sums = np.asarray(sums, dtype=float).reshape(layout.shape + (N_MOMENTS,))
        self.species = species
        self.spectrum = spectrum
        self.rate_per_Myr = rate_per_Myr
        edges = layout.source_energy_edges_GeV
        self.sampler = EnergySampler(edges[0], edges[-1], "log_uniform")
        self._default: Density | None = None
        self._warned_coarse = False

    @property
    def paths(self) -> np.ndarray:
        """Paths followed at each observer energy."""
        return np.rint(self.sums[:, 0, 1]).astype(np.int64)

    @property
    def n_injected(self) -> int:
        return int(self.paths.sum())

    @property
    def energies_GeV(self) -> np.ndarray:
        return self.layout.energies_GeV

    @property
    def edges(self) -> dict[str, np.ndarray]:
        """'E_GeV': the observer energies (points, not bin edges); 'E_s_GeV': the source-energy bins."""
        return {"E_GeV": self.layout.energies_GeV, "E_s_GeV": self.layout.source_energy_edges_GeV}

    def centers(self, axis: str) -> np.ndarray:
        """The observer energies for 'E_GeV'; geometric bin centres for 'E_s_GeV'."""
        if axis == "E_GeV":
            return self.layout.energies_GeV
        e = self.edges[axis]
        return np.sqrt(e[1:] * e[:-1])

    @property
    def output_times_Myr(self) -> np.ndarray:
        return self.layout.output_times_Myr

    def bin_weights(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> BinWeights:
        """The in-bin weights a_j + b_j v [1/Myr] for one path (divide by the paths of an energy)."""
        mass, charge = SPECIES[self.species]
        edges = self.layout.source_energy_edges_GeV
        return positive_bin_weights(spectrum, edges, self.sampler, 1, mass, charge, rate_per_Myr)

    def reweight(self, spectrum: Spectrum, rate_per_Myr: float = 1.0) -> Density:
        """Point densities n(x_obs, E_k) [kpc⁻³ GeV⁻¹] and their 1σ for ``spectrum`` at ``rate_per_Myr``."""
        bw = self.bin_weights(spectrum, rate_per_Myr)
        a, b = bw.a, bw.b
        if bw.coarse.any() and not self._warned_coarse:
            self._warned_coarse = True  # a fit reweights many times: say it once
            worst = int(np.argmax(np.where(bw.coarse, bw.residual, -1.0)))
            e = self.layout.source_energy_edges_GeV
            log.warning(
                "observer: %d of %d source-energy bins are too coarse for the spectrum %s (worst %.0f %% "
                "rms residual of the in-bin weight in %.3g-%.3g GeV); raise "
                "observer.source_energy_bins_per_decade and run again (docs/observer.md)",
                int(bw.coarse.sum()),
                len(bw.coarse),
                describe_spectrum(spectrum),
                100.0 * bw.residual[worst],
                e[worst],
                e[worst + 1],
            )
        nj = self.layout.n_source_bins
        first = self.sums[:, : 2 * nj, 0]
        c, d = first[:, 0::2], first[:, 1::2]
        pairs = self.sums[:, 2 * nj :, :4].reshape(len(self.layout.energies_GeV), nj, nj, 4)
        n = self.paths.astype(float)
        total = c @ a + d @ b  # Σ over paths of each path's weighted score T
        second = (
            np.einsum("i,kij,j->k", a, pairs[..., 0], a)
            + np.einsum("i,kij,j->k", a, pairs[..., 1], b)
            + np.einsum("i,kij,j->k", b, pairs[..., 2], a)
            + np.einsum("i,kij,j->k", b, pairs[..., 3], b)
        )  # Σ over paths of T²
        ok = n > 0
        safe = np.where(ok, n, 1.0)
        mean = np.where(ok, total / safe, 0.0)
        var_mean = np.where(ok, np.clip(second / safe - mean**2, 0.0, None) / safe, np.inf)
        return Density(
            density=mean,
            uncertainty=np.sqrt(var_mean),
            edges={"E_GeV": self.layout.energies_GeV},
            weight_residual=bw.residual,
            weight_clamped=bw.clamped,
        )

    def __repr__(self):
        return f"ObserverTally(energies={len(self.layout.energies_GeV)}, paths={self.n_injected})"


@dataclass
class Result:
    """The outcome of a run (or of a file read back)."""

    config_toml: str
    tallies: dict[str, Tally]
    counts: dict[str, int]
    timings: dict[str, float]
    metadata: dict = field(default_factory=dict)
    final_state: dict | None = None
    path: str | None = None
    components: dict[str, Result] = field(default_factory=dict)
    """Results of the configuration's [[components]] (own sources and spectra), by name."""

    @property
    def config(self):
        """The validated configuration, parsed once per ``config_toml`` text (fits ask for it often)."""
        cached = self.__dict__.get("_config_cache")
        if cached is None or cached[0] is not self.config_toml:
            cached = (self.config_toml, load_config(tomllib.loads(self.config_toml)))
            self.__dict__["_config_cache"] = cached
        return cached[1]

    @classmethod
    def from_run(
        cls,
        model,
        sums,
        counts,
        timings,
        final_state=None,
        batches=None,
        batch_log=None,
        scheduler="",
        group_sums=(),
    ):
        cfg = model.config
        spec = spectrum_from_config(cfg.spectrum)
        tallies = {}
        grouped = iter(group_sums)
        for lay in model.layouts:
            sl = slice(lay.offset, lay.offset + lay.size)
            if lay.kind == "observer":
                tallies[lay.name] = ObserverTally(
                    lay, sums[sl], cfg.species.name, spec, cfg.spectrum.rate_per_Myr
                )
                continue
            tallies[lay.name] = Tally(
                lay,
                sums[sl],
                counts["injected"],
                model.sampler,
                cfg.species.name,
                spec,
                cfg.spectrum.rate_per_Myr,
            )
            if lay.groups:
                tallies[lay.name].set_groups(next(grouped), group_particles(batch_log or [], lay.groups))
        meta = {
            "seed": cfg.run.seed,
            "batch_size": cfg.run.batch_size,
            "scheduler": scheduler,
            "regime_energy_max_GeV": model.regimes.energy_max_GeV,
            "regime_t_max_Myr": model.regimes.t_max_Myr,
            "regime_snapshot_dt_Myr": model.regimes.snapshot_dt_Myr,
            "batches": np.asarray(batches if batches is not None else [], dtype=np.int64),
            "batch_log": list(batch_log or []),
            # the step the kernel took: the integrator "auto" resolved to, and the largest parallel
            # displacement sqrt(2 D∥ dt) any step may take (step_fraction × min(H, R_max), or the cap)
            "integrator": STEP_NAMES[model.numerics.integrator],
            "max_parallel_step_kpc": float(
                model.numerics.step_fraction * model.numerics.geometric_length_kpc
            ),
        }
        meta.update(environment())
        return cls(cfg.to_toml(), tallies, counts, timings, meta, final_state)

    def species_density(self, tally: str, species: str, spectra: dict | None = None) -> Density:
        """Steady-state density of one species summed over the primary source and the [[components]].

        The primary counts when its species is ``species``; a component counts with the fraction
        1/len(component.species) of its rate (a pair source, species = ["electron", "positron"],
        gives each half).  ``spectra`` maps "primary" or a component name to a Spectrum to apply
        instead of the configured one (rate: the configured rate_per_Myr).  Runs are independent,
        so the uncertainties add in quadrature.
        """
        cfg = self.config
        spectra = spectra or {}
        parts = []
        if cfg.species.name == species:
            parts.append(("primary", self, 1.0, cfg.spectrum.rate_per_Myr))
        for comp in cfg.components:
            if species in comp.species:
                if comp.name not in self.components:
                    raise KeyError(f"component '{comp.name}' is in the configuration but not in this result")
                parts.append(
                    (
                        comp.name,
                        self.components[comp.name],
                        1.0 / len(comp.species),
                        comp.spectrum.rate_per_Myr,
                    )
                )
        if not parts:
            raise ValueError(f"no source of this run injects '{species}'")
        total = err2 = None
        for name, res, share, rate in parts:
            if tally not in res.tallies:
                raise KeyError(f"no tally '{tally}' in the result ({name})")
            t = res.tallies[tally]
            d = t.reweight(spectra[name], rate) if name in spectra else t._default_density()
            total = share * d.density if total is None else total + share * d.density
            err2 = (share * d.uncertainty) ** 2 if err2 is None else err2 + (share * d.uncertainty) ** 2
        return Density(density=total, uncertainty=np.sqrt(err2), edges=t.edges)

    def local_spectrum(self, spectrum: Spectrum | None = None, tally: str | None = None):
        """(E centres [GeV], density, uncertainty) at the Sun.

        Uses the tally named, else the backward estimator's observer (its energies, at its point), else a
        sphere tally, else the cell of a cylindrical or cartesian tally that contains the Sun.
        """
        cfg = self.config
        by_kind = {
            kind: [n for n, t in self.tallies.items() if t.kind == kind]
            for kind in ("observer", "sphere", "cylindrical", "cartesian")
        }
        names = [tally] if tally else [n for names in by_kind.values() for n in names]
        t = self.tallies[names[0]]
        d = t.reweight(spectrum, 1.0) if spectrum is not None else t._default_density()
        e = t.centers("E_GeV")
        if t.kind in ("sphere", "observer"):
            return e, d.density, d.uncertainty
        sun = np.asarray(cfg.galaxy.sun_position_kpc)
        if t.kind == "cylindrical":
            # side="right": a point on an edge belongs to the upper bin, as in the kernel
            i = np.searchsorted(t.edges["R_kpc"], np.hypot(sun[0], sun[1]), side="right") - 1
            j = np.searchsorted(t.edges["z_kpc"], sun[2], side="right") - 1
            idx = (i, j)
        else:
            idx = tuple(
                np.searchsorted(t.edges[a], c, side="right") - 1
                for a, c in zip(("x_kpc", "y_kpc", "z_kpc"), sun)
            )
        shape = t.layout.spatial_shape
        if any(k < 0 or k >= n for k, n in zip(idx, shape)):
            raise ValueError(f"the Sun lies outside tally '{t.name}'")
        return e, d.density[idx], d.uncertainty[idx]


def group_particles(batch_log: list[dict], n_groups: int) -> np.ndarray:
    """Particles in each batch group (batch index modulo n_groups) from a result's batch log."""
    counts = np.zeros(n_groups, dtype=np.int64)
    for row in batch_log:
        counts[int(row["index"]) % n_groups] += int(row["particles"])
    return counts


def _finer_bin_count(spectrum: Spectrum, edges: np.ndarray, weight_args) -> int | None:
    """The smallest of a few bin counts over the same range (up to 64 times the present one, at most
    10000, the configuration's limit) for which no bin is too coarse for ``spectrum``; None if none."""
    n = len(edges) - 1
    for factor in (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64):
        if n * factor > 10000:
            break
        finer = np.geomspace(edges[0], edges[-1], n * factor + 1)
        if not positive_bin_weights(spectrum, finer, *weight_args).coarse.any():
            return n * factor
    return None
