"""The source term of secondary e± made by the Galactic proton sea on the interstellar gas.

From a proton run's tally (cylindrical (R, z) or cartesian (x, y, z) cells × kinetic-energy bins),
the production rate of leptons per unit volume and energy in every cell is

    q(cell, E_e) = n_H(cell) ∫ β c n_p(cell, T_p) ε(T_p) σ_inel(T_p) dN_e/dE_e(E_e; T_p) dT_p

[e± kpc⁻³ GeV⁻¹ Myr⁻¹], i.e. 4π ∫ J_p σ (dN/dE) dE_p with J_p = β c n_p/(4π); n_p the reweighted
proton density [kpc⁻³ GeV⁻¹], n_H the hydrogen-nucleus density of a gas model [cm⁻³] averaged over
the cell, ε(T_p) the Kafexhiu et al. 2014 nuclear enhancement (He and heavier nuclei in the cosmic
rays and in the ISM; emission/nuclear.py) and dN/dE the joined KAB06 + δ-approximation spectra of
emission/secondary_pairs.py (e⁺ + e⁻).  The integral over T_p is the emission-matrix product of
emission/matrices.py (``secondary_pair_matrix``).  docs/emission.md, "Secondary e± from the proton sea".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdeprop.emission import secondary_pairs
from sdeprop.emission.matrices import secondary_pair_matrix
from sdeprop.models.gas3d import GasModel, build_gas_model
from sdeprop.spectra import Tabulated
from sdeprop.units import ELECTRON_MASS_GEV, KPC_CM, MYR_S, PROTON_MASS_GEV

SOURCE_SPECIES = ("both", "positron", "electron")
_MATRIX_TO_SOURCE = 4.0 * np.pi * KPC_CM**3 * MYR_S
"""GeV⁻¹ cm⁻³ s⁻¹ sr⁻¹ (an emission matrix's unit, isotropic) → GeV⁻¹ kpc⁻³ Myr⁻¹."""


@dataclass(frozen=True)
class SecondarySource:
    """Secondary e± production on a tally's cells.

    ``source_per_kpc3_GeV_Myr``: q, shape (spatial..., n_E), at ``lepton_energies_GeV``;
    ``cell_volume_kpc3`` (spatial...); ``hydrogen_nuclei_per_cm3``: the cell-averaged n_H used;
    ``species``: "both" (e⁺ + e⁻), "positron" or "electron" (then the e⁺ share ``positron_fraction`` was
    applied; None: the energy-dependent share of ``secondary_pairs.positron_share``).
    """

    kind: str
    spatial_edges_kpc: dict[str, np.ndarray]
    lepton_energies_GeV: np.ndarray
    species: str
    source_per_kpc3_GeV_Myr: np.ndarray
    cell_volume_kpc3: np.ndarray
    hydrogen_nuclei_per_cm3: np.ndarray
    positron_fraction: float | None = None

    @property
    def rate_per_GeV_Myr(self) -> np.ndarray:
        """Galaxy-wide production rate per unit lepton energy Σ_cells q V [GeV⁻¹ Myr⁻¹], shape (n_E,)."""
        q = self.source_per_kpc3_GeV_Myr
        cells = tuple(range(q.ndim - 1))
        return np.tensordot(self.cell_volume_kpc3, q, axes=(cells, cells))

    def total_rate_per_Myr(self) -> float:
        """∫ rate dE_e [Myr⁻¹] between the first and last lepton energy (trapezoid in ln E_e)."""
        energy = self.lepton_energies_GeV
        if energy.size < 2:
            raise ValueError("the total rate needs at least two lepton energies")
        return float(np.trapezoid(self.rate_per_GeV_Myr * energy, np.log(energy)))

    def node_grid(self) -> tuple[str, list[np.ndarray], np.ndarray]:
        """(geometry, node axes [kpc], q at the nodes (spatial..., n_E)): the cell centres as the nodes of
        a tabulated source (``models.sources.grid_source`` with ``energies_GeV``), linear between them."""
        axes = [0.5 * (e[1:] + e[:-1]) for e in self.spatial_edges_kpc.values()]
        return self.kind, axes, self.source_per_kpc3_GeV_Myr

    @property
    def spatial_pdf(self) -> np.ndarray:
        """Probability per cell q V / Σ q V (dimensionless, sums to 1 over the cells) at each energy."""
        weight = self.source_per_kpc3_GeV_Myr * self.cell_volume_kpc3[..., None]
        total = self.rate_per_GeV_Myr
        return np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)


def _gas_model(gas) -> GasModel:
    if isinstance(gas, GasModel):
        return gas
    if isinstance(gas, str):
        return build_gas_model(gas)
    raise ValueError(f"gas must be a gas model name (e.g. 'galprop') or a GasModel; got {gas!r}")


def _midpoints(edges: np.ndarray, samples: int) -> np.ndarray:
    """(n_cells, samples) sub-cell midpoints of each interval."""
    fraction = (np.arange(samples) + 0.5) / samples
    return edges[:-1, None] + np.diff(edges)[:, None] * fraction[None, :]


def cell_average_hydrogen(gas: GasModel, kind: str, edges: list[np.ndarray], samples: int = 4) -> np.ndarray:
    """n_H [cm⁻³] averaged over each cell: ``samples`` sub-cell midpoints per axis (volume-weighted in R
    for cylindrical cells, also ``4 samples`` azimuths there, so spiral-arm models are averaged)."""
    if int(samples) != samples or samples < 1:
        raise ValueError(f"gas_samples must be an integer ≥ 1; got {samples!r}")
    samples = int(samples)
    if kind == "cartesian":
        x, y, z = (_midpoints(e, samples) for e in edges)
        gx, gy, gz = np.meshgrid(x.ravel(), y.ravel(), z.ravel(), indexing="ij")
        points = np.stack([gx.ravel(), gy.ravel(), gz.ravel()], axis=1)
        n = gas.hydrogen_nuclei(points).reshape(len(edges[0]) - 1, samples, len(edges[1]) - 1, samples, -1)
        n = n.reshape(n.shape[:4] + (len(edges[2]) - 1, samples))
        return n.mean(axis=(1, 3, 5))
    r_edges, z_edges = edges
    r = _midpoints(r_edges, samples)
    z = _midpoints(z_edges, samples)
    phi = 2.0 * np.pi * (np.arange(4 * samples) + 0.5) / (4 * samples)
    gr, gphi, gz = np.meshgrid(r.ravel(), phi, z.ravel(), indexing="ij")
    points = np.stack([gr.ravel() * np.cos(gphi.ravel()), gr.ravel() * np.sin(gphi.ravel()), gz.ravel()], 1)
    n = gas.hydrogen_nuclei(points).reshape(r.shape + (phi.size,) + z.shape).mean(axis=2)
    weights = r / r.sum(axis=1, keepdims=True)  # dV ∝ R dR
    return np.einsum("ia,iajb->ij", weights, n) / samples


def complete_lepton_energies(lepton_GeV, first_proton_edge_GeV: float) -> np.ndarray:
    """Per lepton energy, whether protons below the tally's first edge T₀ [GeV] could contribute to it.

    Returns a boolean array, True where q(E_e) is complete: in the δ regime (E_e < 100 GeV) a proton of
    kinetic T makes leptons up to K_π T, so E_e ≥ K_π T₀ suffices; where F_e enters (E_e ≥ 100 GeV)
    protons of total energy ≥ E_e contribute, so E_e ≥ T₀ + m_p is needed.
    """
    energy = np.asarray(lepton_GeV, dtype=float)
    delta_ok = energy >= secondary_pairs.PION_ENERGY_FRACTION * first_proton_edge_GeV
    kab_ok = energy >= first_proton_edge_GeV + PROTON_MASS_GEV
    return np.where(energy < secondary_pairs.JOINT_LOWER_GEV, delta_ok, delta_ok & kab_ok)


def _check_complete(lepton_GeV, first_edge: float) -> None:
    complete = complete_lepton_energies(lepton_GeV, first_edge)
    if not np.all(complete):
        raise ValueError(
            f"lepton_energies_GeV {np.asarray(lepton_GeV)[~complete]} need protons below the tally's first "
            f"energy edge ({first_edge:.4g} GeV kinetic): below 100 GeV E_e must be ≥ "
            f"{secondary_pairs.PION_ENERGY_FRACTION} × that edge, above it E_e ≥ edge + m_p"
        )


def secondary_source(
    proton_result,
    tally: str,
    gas="galprop",
    lepton_energies_GeV=None,
    proton_spectrum=None,
    rate_per_Myr: float | None = None,
    species: str = "both",
    positron_fraction: float | None = None,
    matching_index: float = secondary_pairs.DEFAULT_MATCHING_INDEX,
    nuclear_enhancement="kafexhiu14",
    gas_samples: int = 4,
) -> SecondarySource:
    """Secondary e± source q(cell, E_e) [kpc⁻³ GeV⁻¹ Myr⁻¹] from the proton density of ``tally``.

    ``proton_spectrum``/``rate_per_Myr``: reweight the tally to them (default: the run's own);
    ``gas``: a gas model name (models/gas3d.py) or GasModel, averaged over each cell;
    ``species``: "both" = e⁺ + e⁻ (KAB06 do not separate charges); "positron"/"electron" take the share
    ``positron_fraction`` = e⁺/(e⁺ + e⁻) of the production: a number, or by default the energy-dependent
    share of Moskalenko & Strong 1998 (``secondary_pairs.positron_share``).  Physics: module docstring.
    """
    if species not in SOURCE_SPECIES:
        raise ValueError(f"species must be one of {SOURCE_SPECIES}; got {species!r}")
    if positron_fraction is not None:
        fraction = float(positron_fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"positron_fraction must lie within [0, 1]; got {positron_fraction!r}")
    if tally not in proton_result.tallies:
        raise KeyError(f"no tally {tally!r} in the result; it has {sorted(proton_result.tallies)}")
    t = proton_result.tallies[tally]
    if getattr(t, "species", "proton") != "proton":
        raise ValueError(f"tally {tally!r} holds {t.species}s; the secondary e± source needs protons")
    if t.kind not in ("cylindrical", "cartesian"):
        raise ValueError(
            f"tally {tally!r} is a {t.kind} tally; the source term needs spatial cells: a cylindrical "
            "(R, z) or cartesian (x, y, z) tally"
        )
    if lepton_energies_GeV is None:
        raise ValueError("lepton_energies_GeV is required (energies where q is wanted [GeV])")
    axes = ("R_kpc", "z_kpc") if t.kind == "cylindrical" else ("x_kpc", "y_kpc", "z_kpc")
    edges = [np.asarray(t.edges[a], dtype=float) for a in axes]
    if proton_spectrum is None and rate_per_Myr is None:
        density = np.asarray(t.density, dtype=float)
    else:
        spectrum = t.spectrum if proton_spectrum is None else proton_spectrum
        rate = t.rate_per_Myr if rate_per_Myr is None else float(rate_per_Myr)
        density = np.asarray(t.reweight(spectrum, rate).density, dtype=float)
    matrix = secondary_pair_matrix(
        t.edges["E_GeV"], lepton_energies_GeV, matching_index, nuclear_enhancement=nuclear_enhancement
    )
    _check_complete(matrix.photon_energies_GeV, float(t.edges["E_GeV"][0]))
    if density.shape != tuple(len(e) - 1 for e in edges) + (matrix.matrix.shape[1],):
        raise ValueError(f"tally density has shape {density.shape}, not (spatial cells..., energy bins)")
    n_h = cell_average_hydrogen(_gas_model(gas), t.kind, edges, gas_samples)
    energies = matrix.photon_energies_GeV
    plus = secondary_pairs.positron_share(energies) if positron_fraction is None else fraction
    share = {"both": 1.0, "positron": plus, "electron": 1.0 - plus}[species]
    q = share * _MATRIX_TO_SOURCE * n_h[..., None] * matrix.apply(density)
    return SecondarySource(
        kind=t.kind,
        spatial_edges_kpc=dict(zip(axes, edges, strict=True)),
        lepton_energies_GeV=matrix.photon_energies_GeV,
        species=species,
        source_per_kpc3_GeV_Myr=q,
        cell_volume_kpc3=np.asarray(t.layout.cell_volume_kpc3(), dtype=float),
        hydrogen_nuclei_per_cm3=n_h,
        positron_fraction=None if positron_fraction is None else float(positron_fraction),
    )


def _toml_list(values) -> str:
    return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"


def write_secondary_source(path, source: SecondarySource, attrs: dict | None = None):
    """Write q(x, E) as a gridded source file with an energy axis (HDF5, ``io.write_source_grid``: the
    node values are q at the cell centres; a run normalises each energy's grid to p(x | E)), with the
    species, the e⁺ share and the rate per GeV as attributes; atomic.  Returns the path."""
    from sdeprop.io import write_source_grid

    geometry, axes, values = source.node_grid()
    meta = {
        "content": "secondary e± source q [kpc^-3 GeV^-1 Myr^-1] at the cell centres",
        "species": source.species,
        "positron_fraction": "Moskalenko & Strong 1998 share"
        if source.positron_fraction is None
        else source.positron_fraction,
        "rate_per_GeV_Myr": source.rate_per_GeV_Myr,
    }
    meta.update(attrs or {})
    return write_source_grid(
        path, geometry, axes, values, energies_GeV=source.lepton_energies_GeV, attrs=meta
    )


def component_table(
    source: SecondarySource, file: str, name: str, energy_min_GeV: float, energy_max_GeV: float
):
    """The ``[[components]]`` TOML table that transports these leptons in a run whose source energies are
    [energy_min_GeV, energy_max_GeV]: ``file`` (written by :func:`write_secondary_source`) as a gridded
    source, the spectrum tabulated (Σ q V per GeV at the lepton energies, log-log between them) with its
    total rate over the run's range.  ValueError if the lepton energies do not cover that range."""
    energy = source.lepton_energies_GeV
    if energy[0] > energy_min_GeV * (1 + 1e-9) or energy[-1] < energy_max_GeV * (1 - 1e-9):
        raise ValueError(
            f"the lepton energies {energy[0]:.4g}-{energy[-1]:.4g} GeV must cover the run's source range "
            f"{energy_min_GeV:.4g}-{energy_max_GeV:.4g} GeV"
        )
    if source.species == "both":
        species = '["electron", "positron"]'
    else:
        species = f'["{source.species}"]'
    rate = source.rate_per_GeV_Myr
    # ∫ Q dE over the run's range, node interval by node interval (the log-log table is smooth inside each)
    cuts = np.unique(np.clip(energy, energy_min_GeV, energy_max_GeV))
    total = float(Tabulated(energy, rate).integral(cuts[:-1], cuts[1:], ELECTRON_MASS_GEV, 1.0).sum())
    return (
        f"[[components]]\n"
        f'name = "{name}"\n'
        f"species = {species}\n"
        f"[components.source]\n"
        f'type = "gridded"\n'
        f'file = "{file}"\n'
        f"[components.spectrum]   # the production spectrum Σ q V [GeV^-1 Myr^-1] and its rate\n"
        f'type = "tabulated"\n'
        f'variable = "kinetic_energy"\n'
        f"nodes = {_toml_list(energy)}\n"
        f"values = {_toml_list(rate)}\n"
        f"rate_per_Myr = {total:.6g}\n"
    )
