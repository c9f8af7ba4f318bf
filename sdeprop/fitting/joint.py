"""Joint fits: several data sets, observables and source components at once (docs/fitting.md, "Joint fits").

A joint fit compares the sum of the run's sources with several measured tables at once:

* **sources**: the run's primary source and its ``[[components]]`` (each a :class:`SourceTerm` with its own
  spectral family, or its configured spectrum kept with only the rate free); a component that injects
  several species gives each the share 1/len(species) of its rate, as ``Result.species_density`` does;
* **data**: each table (:class:`DataTerm`) on its own axis (rigidity or kinetic energy) with its own
  force-field potential φ (a parameter of its own name, shared by giving two tables the same name, free,
  fixed or bounded);
* **observables**: the flux of one species, e⁻ + e⁺, the positron fraction e⁺/(e⁺ + e⁻), e⁻ − e⁺
  (``fitting.data.OBSERVABLES``), each bin the ratio or sum of the bin-averaged fluxes;
* **parameters**: ``SOURCE.NAME`` for a source's shape parameters and ``SOURCE.log10_rate_per_Myr``, and
  the φ names; any parameter may be tied to another (``shared``);
* **χ²** = rᵀ (C_data + C_MC)⁻¹ r over all points of all tables, C_data = diag(stat² + sys²) and C_MC the
  Monte Carlo covariance of the model: the runs' node errors (independent between runs, correlated within
  one as the tally says: ``FluxModel.node_correlation``) propagated linearly through the interpolation,
  the force field, the bin average and the observable, so points of different tables that rest on the
  same run are correlated;
* **minimisation** with iminuit's MIGRAD, HESSE errors, MINOS (profile-likelihood) intervals, profiles and
  contours (``JointFit.minos``, ``profile``, ``contour``) and a grid scan over two or three parameters
  with the others re-minimised at every node (``JointFit.scan``).

iminuit: Dembinski et al., scikit-hep/iminuit (James & Roos 1975, Comput. Phys. Commun. 10, 343, MINUIT).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, stats

from ..io import read_source_grid
from ..models.diffusion import SPECIES, kinetic_from_rigidity
from ..models.sources import build_source
from ..spectra import spectrum_from_config
from .data import DataSet, load_data
from .model import FAMILIES, FluxModel, as_result, select_tally

_DEFAULT_LIMITS = {
    "index": (0.0, 6.0),
    "index_low": (0.0, 6.0),
    "index_high": (0.0, 6.0),
    "smoothness": (0.01, 2.0),
    "break_value": (1e-2, 1e8),
    "cutoff": (1e-1, 1e10),
}
_PHI_LIMITS = (0.0, 3.0)
_FIXED_BY_DEFAULT = ("smoothness",)


@dataclass
class SourceTerm:
    """One source of the run: ``name`` ('primary' or a component's), its spectral ``family`` (one of
    fitting.model.FAMILIES, or 'configured': the run's own spectrum, only its rate fitted) in ``variable``,
    and the species it feeds with their shares of the rate."""

    name: str
    family: str
    variable: str
    shares: dict[str, float]
    models: dict[str, FluxModel] = field(default_factory=dict, repr=False)
    configured: object = field(default=None, repr=False)

    def parameter_names(self) -> list[str]:
        shape = () if self.family == "configured" else FAMILIES[self.family]
        return [f"{self.name}.{k}" for k in shape] + [f"{self.name}.log10_rate_per_Myr"]


@dataclass
class DataTerm:
    """One measured table and the name of its force-field potential parameter [GV]."""

    data: DataSet
    phi: str


@dataclass
class JointFitResult:
    """The outcome of a joint fit: best parameters, HESSE errors and covariance (over the free ones),
    MINOS intervals where asked, χ², degrees of freedom and p-value, per-table χ² and points, and
    derived quantities (each source's rate as a source density at the Sun)."""

    parameters: dict[str, float]
    errors: dict[str, float]
    covariance: np.ndarray
    free: list[str]
    chi2: float
    ndf: int
    p_value: float
    valid: bool
    tables: list[dict]
    source_density_at_sun: dict[str, float]
    minos: dict[str, tuple[float, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"joint fit of {len(self.tables)} table(s): chi2/ndf = {self.chi2:.2f}/{self.ndf}, "
            f"p-value {self.p_value:.3g}" + ("" if self.valid else " (MIGRAD: minimum NOT valid)")
        ]
        for k, v in self.parameters.items():
            if k in self.free:
                extra = ""
                if k in self.minos:
                    lo, hi = self.minos[k]
                    extra = f"  MINOS [{lo:+.3g}, {hi:+.3g}]"
                lines.append(f"  {k:34s} = {v:.5g} ± {self.errors[k]:.2g}{extra}")
            else:
                lines.append(f"  {k:34s} = {v:.5g} (fixed)")
        for t in self.tables:
            lines.append(
                f"  table {t['name']} ({t['observable']}): {len(t['value'])} points, chi2 {t['chi2']:.2f}"
            )
        for name, q in self.source_density_at_sun.items():
            lines.append(f"  {name}: source density at the Sun {q:.4g} per kpc^3 per Myr")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _observable(kind: str, fluxes: dict[str, np.ndarray], species: str | None):
    """(value, {species: ∂value/∂J_species}) of an observable from bin-averaged fluxes per species."""
    if kind == "flux":
        return fluxes[species], {species: np.ones_like(fluxes[species])}
    em, ep = fluxes["electron"], fluxes["positron"]
    if kind == "electron_plus_positron":
        return em + ep, {"electron": np.ones_like(em), "positron": np.ones_like(ep)}
    if kind == "electron_minus_positron":
        return em - ep, {"electron": np.ones_like(em), "positron": -np.ones_like(ep)}
    total = em + ep
    return ep / total, {"electron": -ep / total**2, "positron": em / total**2}


class JointFit:
    """The χ² of the run's sources against several tables (module doc) and its minimisation.

    ``result``: a Result (or its file); ``data``: table names, paths, DataSets or DataTerms (a name may
    carry its φ parameter as ``"NAME:PHI"``; by default every table gets ``phi_<table>``); ``spectra``:
    {source: family} (default: 'configured' for every source, the primary's family given by
    ``spectrum``); ``shared``: {parameter: parameter it equals}; ``fix``, ``bounds``, ``start``:
    by parameter name; ``free``: parameters fixed by default to release (smoothness); ``tally``: the tally
    at the Sun (default as ``Result.local_spectrum``); ``energy_range``: (lo, hi) kinetic energies [GeV]
    of the data points used; ``model_error``: keep C_MC in χ².
    """

    def __init__(
        self,
        result,
        data,
        *,
        spectrum: str | None = None,
        spectra: dict | None = None,
        shared: dict | None = None,
        fix: dict | None = None,
        free=(),
        bounds: dict | None = None,
        start: dict | None = None,
        tally: str | None = None,
        energy_range=None,
        model_error: bool = True,
    ):
        self.result = as_result(result)
        self.tally = select_tally(self.result, tally)
        self.model_error = model_error
        self.notes: list[str] = []
        self.sources = self._sources(spectrum, dict(spectra or {}))
        self.terms = [self._term(d) for d in (data if isinstance(data, (list, tuple)) else [data])]
        if not self.terms:
            raise ValueError("a joint fit needs at least one data table")
        self.shared = dict(shared or {})
        self.names = self._parameter_names()
        self._check_names(self.shared, "shared")
        for target in self.shared.values():
            self._check_names({target: 0}, "shared")
        fix, bounds, start = dict(fix or {}), dict(bounds or {}), dict(start or {})
        for what, mapping in (
            ("fix", fix),
            ("bounds", bounds),
            ("start", start),
            ("free", dict.fromkeys(free)),
        ):
            self._check_names(mapping, what)
        self.start = self._start_values(start, fix)
        self.limits = self._limits(bounds)
        self.fixed = set(fix) | {
            k for k in self.names if k.split(".")[-1] in _FIXED_BY_DEFAULT and k not in free
        }
        self._select_points(energy_range)
        self.minuit = None

    # ------------------------------------------------------------------ set-up
    def _sources(self, spectrum, spectra: dict) -> list[SourceTerm]:
        cfg = self.result.config
        entries = [("primary", self.result, [cfg.species.name], cfg.spectrum)]
        for comp in cfg.components:
            if comp.name not in self.result.components:
                raise ValueError(f"component '{comp.name}' is in the configuration but not in the result")
            entries.append((comp.name, self.result.components[comp.name], list(comp.species), comp.spectrum))
        known = {e[0] for e in entries}
        for k in spectra:
            if k not in known:
                raise ValueError(f"spectra: no source '{k}' (sources: {', '.join(sorted(known))})")
        if spectrum is not None:
            spectra.setdefault("primary", spectrum)
        out = []
        for name, res, species, configured in entries:
            family = spectra.get(name, "configured")
            if family != "configured" and family not in FAMILIES:
                raise ValueError(
                    f"spectrum of '{name}': '{family}' is not one of {', '.join(FAMILIES)} or 'configured'"
                )
            if self.tally not in res.tallies:
                raise ValueError(f"no tally '{self.tally}' in the result of source '{name}'")
            term = SourceTerm(name, family, configured.variable, {s: 1.0 / len(species) for s in species})
            term.configured = configured
            fixed = spectrum_from_config(configured) if family == "configured" else None
            for s in species:  # the species of one run share its tally (a pair component: half each)
                term.models[s] = FluxModel(res, self.tally, family, configured.variable, fixed, species=s)
            out.append(term)
        return out

    def _term(self, d) -> DataTerm:
        if isinstance(d, DataTerm):
            return d
        phi = None
        if isinstance(d, str) and ":" in d:
            d, phi = d.split(":", 1)
        ds = load_data(d)
        return DataTerm(ds, phi or f"phi_{ds.name}")

    def _parameter_names(self) -> list[str]:
        names = [n for s in self.sources for n in s.parameter_names()]
        for t in self.terms:
            if t.phi not in names:
                names.append(t.phi)
        return names

    def _check_names(self, mapping, what):
        for k in mapping:
            if k not in self.names:
                raise ValueError(f"unknown parameter '{k}' in {what} (parameters: {', '.join(self.names)})")

    def _start_values(self, start: dict, fix: dict) -> dict:
        p = {}
        for s in self.sources:
            conf = s.configured
            if s.family != "configured":
                for k in FAMILIES[s.family]:
                    p[f"{s.name}.{k}"] = float(getattr(conf, k)) if hasattr(conf, k) else _default_shape(k)
            p[f"{s.name}.log10_rate_per_Myr"] = math.log10(conf.rate_per_Myr)
        for t in self.terms:
            p.setdefault(t.phi, 0.5)
        for mapping in (start, fix):
            for k, v in mapping.items():
                try:
                    p[k] = float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{k} = {v!r} is not a number") from None
        return p

    def _limits(self, bounds: dict) -> dict:
        lim = {}
        for k in self.names:
            short = k.split(".")[-1]
            if k in bounds:
                lo, hi = (float(v) for v in bounds[k])
                if not lo < hi:
                    raise ValueError(f"bounds of {k} must be increasing, got {lo}, {hi}")
                lim[k] = (lo, hi)
            elif any(k == t.phi for t in self.terms):
                lim[k] = _PHI_LIMITS
            elif short in _DEFAULT_LIMITS:
                lim[k] = _DEFAULT_LIMITS[short]
            else:
                lim[k] = (None, None)
        return lim

    def _select_points(self, energy_range):
        """Keep the points whose kinetic energy lies inside every contributing run's node range (no
        extrapolation) and inside ``energy_range``."""
        p = self.physical(self.start)
        self.points = []
        for t in self.terms:
            ds = t.data
            need = ds.species_needed or (self.result.config.species.name,)
            missing = [s for s in need if not any(s in src.shares for src in self.sources)]
            if missing:
                raise ValueError(
                    f"data '{ds.name}' ({ds.observable.replace('_', ' ')}) need {', '.join(missing)}, "
                    "which no source of this run injects"
                )
            mass, charge = SPECIES[need[0]]
            T = kinetic_from_rigidity(ds.x, mass, charge) if ds.variable == "rigidity" else ds.x
            lo, hi = 0.0, math.inf
            for src in self.sources:
                for s in need:
                    if s in src.models:
                        e = src.models[s].lis_nodes(self._source_params(src, p))[0]
                        lo, hi = max(lo, e[0]), min(hi, e[-1])
            keep = (T >= lo) & (T <= hi)
            if energy_range is not None:
                keep &= (T >= energy_range[0]) & (T <= energy_range[1])
            if (~keep).any():
                self.notes.append(
                    f"{int((~keep).sum())} point(s) of '{ds.name}' outside the runs' energies "
                    f"{lo:.3g}-{hi:.3g} GeV (or the energy range) left out"
                )
            if not keep.any():
                raise ValueError(
                    f"no data point of '{ds.name}' lies inside the runs' energies {lo:.3g}-{hi:.3g} GeV"
                )
            self.points.append(np.flatnonzero(keep))

    # ------------------------------------------------------------------ the model
    def physical(self, values: dict) -> dict:
        """All parameters, the tied ones (``shared``) set from their targets."""
        p = dict(values)
        for k, target in self.shared.items():
            p[k] = p[target]
        return p

    def _source_params(self, src: SourceTerm, p: dict) -> dict:
        out = {k.split(".", 1)[1]: v for k, v in p.items() if k.startswith(src.name + ".")}
        out["phi_GV"] = 0.0
        return out

    def model(self, values: dict):
        """(model value per table, covariance of the Monte Carlo error over all kept points of all tables).

        Per table and source, B = Σ_species (∂O/∂J_s) A_s diag(σ): the observable's linear response to the
        relative errors of that source's nodes (one run feeds all its species); the covariance adds
        B C Bᵀ over the sources, C the node correlation of each run, with the rows of all tables stacked
        so that tables resting on the same run are correlated."""
        p = self.physical(values)
        values_out = []
        rows = {src.name: [] for src in self.sources}  # per source: its B of each table (or None)
        corr = {}
        node_cache = {}  # the nodes depend on a source's parameters only, not on the table or φ
        for t, idx in zip(self.terms, self.points):
            ds = t.data
            lo, hi, phi = ds.x_lo[idx], ds.x_hi[idx], p[t.phi]
            need = ds.species_needed or (self.result.config.species.name,)
            fluxes = {s: np.zeros(len(idx)) for s in need}
            parts = {}
            for src in self.sources:
                sp = self._source_params(src, p)
                for s in need:
                    if s in src.models:
                        fm = src.models[s]
                        if (src.name, s) not in node_cache:
                            node_cache[src.name, s] = fm.lis_nodes(sp)
                        m, A, nodes = fm.binned_jacobian(
                            sp, lo, hi, ds.variable, phi, node_cache[src.name, s]
                        )
                        fluxes[s] += src.shares[s] * m
                        parts.setdefault(src.name, []).append((s, src.shares[s] * A * nodes[2][None, :]))
                        corr[src.name] = fm.node_correlation()
            value, grad = _observable(ds.observable, fluxes, ds.species or need[0])
            values_out.append(value)
            for src in self.sources:
                blocks = parts.get(src.name)
                rows[src.name].append(
                    None if blocks is None else sum(grad[s][:, None] * B for s, B in blocks)
                )
        n = sum(len(v) for v in values_out)
        cov = np.zeros((n, n))
        for name, blocks in rows.items():
            if name not in corr:
                continue
            width = corr[name].shape[0]
            big = np.vstack(
                [B if B is not None else np.zeros((len(v), width)) for B, v in zip(blocks, values_out)]
            )
            cov += big @ corr[name] @ big.T
        return values_out, cov

    def chi2(self, values: dict) -> float:
        try:
            model, cov = self.model(values)
        except ValueError as exc:  # a trial spectrum that cannot be normalised (e.g. an index far out)
            if "integrates to zero or a non-finite value" in str(exc):
                return 1e30
            raise
        r = np.concatenate([t.data.value[i] - m for t, i, m in zip(self.terms, self.points, model)])
        err = np.concatenate([t.data.error[i] for t, i in zip(self.terms, self.points)])
        C = np.diag(err**2) + (cov if self.model_error else 0.0)
        if not (np.all(np.isfinite(r)) and np.all(np.isfinite(C))):
            return 1e30  # a trial point far outside the data's reach (e.g. a rate 10⁻³⁰⁰ times too large)
        try:
            L = linalg.cholesky(C, lower=True)
        except linalg.LinAlgError:
            return 1e30
        z = linalg.solve_triangular(L, r, lower=True)
        return float(z @ z)

    # ------------------------------------------------------------------ minimisation
    def _minuit(self):
        from iminuit import Minuit

        free_order = [k for k in self.names if k not in self.shared]

        def fcn(*u):
            return self.chi2(dict(zip(free_order, u)))

        m = Minuit(fcn, *[self.start[k] for k in free_order], name=free_order)
        m.errordef = Minuit.LEAST_SQUARES
        for k in free_order:
            lo, hi = self.limits[k]
            if lo is None and k.endswith("log10_rate_per_Myr"):  # ten decades either side of the start
                lo, hi = self.start[k] - 10.0, self.start[k] + 10.0
            m.limits[k] = (lo if lo is not None else -np.inf, hi if hi is not None else np.inf)
            m.fixed[k] = k in self.fixed
        self._order = free_order
        return m

    def fit(self, minos=()) -> JointFitResult:
        """MIGRAD, HESSE and MINOS for the parameters ``minos`` ('all': every free one)."""
        self._start_rates()
        m = self._minuit()
        m.migrad(ncall=20000)
        m.hesse()
        names = [k for k in self._order if not m.fixed[k]]
        want = names if minos == "all" else list(minos)
        for k in want:
            if k not in names:
                raise ValueError(f"minos: '{k}' is not a free parameter (free: {', '.join(names)})")
        if want:
            m.minos(*want)
        self.minuit = m
        return self._result(m, want)

    def _start_rates(self):
        """Each free source's log10 rate started at the value that matches the data in the mean (the model is
        linear in the rates): a common scale for the free-rate sources from a weighted least-squares fit of
        the data less the fixed-rate sources' part.  The two parts are evaluated apart (the other part's
        rates 300 decades down): their difference would lose a free part far below a fixed one."""
        rates = [f"{s.name}.log10_rate_per_Myr" for s in self.sources]
        free = [k for k in rates if k not in self.fixed and k not in self.shared]  # tied rates follow targets
        if not free:
            return

        def part(lowered):
            return self.model({**self.start, **{k: self.start[k] - 300.0 for k in lowered}})[0]

        free_part, fixed_part = part([k for k in rates if k in self.fixed]), part(free)
        num = den = 0.0
        for t, i, m_free, m_fixed in zip(self.terms, self.points, free_part, fixed_part):
            if t.data.observable == "positron_fraction":
                continue  # a ratio does not scale with the rates
            w = 1.0 / t.data.error[i] ** 2
            num += float(np.sum(w * (t.data.value[i] - m_fixed) * m_free))
            den += float(np.sum(w * m_free * m_free))
        if den > 0 and num > 0:
            shift = math.log10(num / den)
            for k in free:
                self.start[k] += shift

    def _result(self, m, minos_names) -> JointFitResult:
        values = dict(zip(self._order, m.values))
        p = self.physical(values)
        free = [k for k in self._order if not m.fixed[k]]
        errors = {k: (m.errors[k] if k in free else float("nan")) for k in self._order}
        for k, target in self.shared.items():
            errors[k] = errors.get(target, float("nan"))
        cov = (
            np.array(m.covariance)[
                np.ix_([self._order.index(k) for k in free], [self._order.index(k) for k in free])
            ]
            if free
            else np.zeros((0, 0))
        )
        chi2 = float(m.fval)
        npts = sum(len(i) for i in self.points)
        ndf = npts - len(free)
        model, mcov = self.model(p)
        tables, start = [], 0
        err_all = np.concatenate([t.data.error[i] for t, i in zip(self.terms, self.points)])
        C = np.diag(err_all**2) + (mcov if self.model_error else 0.0)
        for t, idx, mv in zip(self.terms, self.points, model):
            sl = slice(start, start + len(idx))
            r = t.data.value[idx] - mv
            Ci = C[sl, sl]
            chi2_t = float(r @ linalg.solve(Ci, r, assume_a="pos"))
            tables.append(
                {
                    "name": t.data.name,
                    "observable": t.data.observable,
                    "phi": t.phi,
                    "x": t.data.x[idx],
                    "value": t.data.value[idx],
                    "error": t.data.error[idx],
                    "model": mv,
                    "model_error": np.sqrt(np.diag(mcov)[sl]),
                    "chi2": chi2_t,
                }
            )
            start += len(idx)
        minos = {k: (float(m.merrors[k].lower), float(m.merrors[k].upper)) for k in minos_names}
        return JointFitResult(
            parameters=p,
            errors=errors,
            covariance=cov,
            free=free,
            chi2=chi2,
            ndf=ndf,
            p_value=float(stats.chi2.sf(chi2, ndf)) if ndf > 0 else float("nan"),
            valid=bool(m.valid),
            tables=tables,
            source_density_at_sun=self._source_density_at_sun(p),
            minos=minos,
            notes=list(self.notes),
        )

    def _source_density_at_sun(self, p: dict) -> dict:
        """Each source's rate as its density at the Sun: rate × ρ(x_sun) [particles kpc⁻³ Myr⁻¹]."""
        out = {}
        cfg = self.result.config
        sun = cfg.galaxy.sun_position_kpc
        for s in self.sources:
            sub = cfg if s.name == "primary" else self.result.components[s.name].config
            src = build_source(sub, grid=read_source_grid(sub.source))
            base = getattr(src, "base", src)
            if hasattr(base, "pdf") and not getattr(base, "energy_dependent", False):  # one ρ per source
                rho = float(np.asarray(base.pdf(*[np.array([c]) for c in sun])).ravel()[0])
                out[s.name] = 10.0 ** p[f"{s.name}.log10_rate_per_Myr"] * rho
        return out

    # ------------------------------------------------------------------ intervals and scans
    def profile(self, name: str, size: int = 20, bound=2):
        """(values, Δχ² profile) of one parameter with the others re-minimised (iminuit mnprofile)."""
        m = self.minuit or self._fitted()
        x, y, _ = m.mnprofile(name, size=size, bound=bound)
        return x, y - m.fval

    def contour(self, x: str, y: str, cl: float = 0.68, size: int = 50):
        """Points of the profile-likelihood contour of (x, y) at confidence level ``cl`` (mncontour)."""
        m = self.minuit or self._fitted()
        return m.mncontour(x, y, cl=cl, size=size)

    def _fitted(self):
        self.fit()
        return self.minuit

    def scan(self, grid: dict) -> dict:
        """Grid scan over 2-3 parameters: {name: values}; at every node those are fixed and the others
        re-minimised.  Returns {'axes': grid, 'chi2': array of the grid's shape, 'best': node values}."""
        if not 1 <= len(grid) <= 3:
            raise ValueError(f"a scan takes one to three parameters, got {len(grid)}")
        self._start_rates()
        for k in grid:
            self._check_names({k: 0}, "scan")
        axes = {k: np.asarray(v, dtype=float) for k, v in grid.items()}
        shape = tuple(len(v) for v in axes.values())
        chi2 = np.full(shape, np.nan)
        for idx in itertools.product(*(range(n) for n in shape)):
            m = self._minuit()
            for (k, v), i in zip(axes.items(), idx):
                m.values[k] = v[i]
                m.fixed[k] = True
            if all(m.fixed[k] for k in self._order):
                chi2[idx] = self.chi2(dict(zip(self._order, m.values)))
            else:
                m.migrad(ncall=5000)
                chi2[idx] = m.fval
        best = np.unravel_index(int(np.nanargmin(chi2)), shape)
        return {"axes": axes, "chi2": chi2, "best": {k: float(v[i]) for (k, v), i in zip(axes.items(), best)}}


def _default_shape(k: str) -> float:
    from ..config import SpectrumSection

    d = SpectrumSection()
    return float(getattr(d, k)) if hasattr(d, k) else 0.1


def joint_fit(result, data, minos=(), **options) -> JointFitResult:
    """Fit the run's sources to several tables at once (:class:`JointFit`; docs/fitting.md)."""
    return JointFit(result, data, **options).fit(minos=minos)
