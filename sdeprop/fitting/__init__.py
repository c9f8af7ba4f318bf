"""Fitting injection-spectrum parameters to a measured cosmic-ray spectrum.

A stored run is reweighted (``Tally.reweight``, docs/design.md §4) to a trial injection spectrum,
turned into the intensity at the Sun, modulated by the force-field approximation and compared
with a measured flux table; ``scipy.optimize.least_squares`` adjusts the spectral parameters,
the source rate and, optionally, the modulation potential φ.  See docs/fitting.md.

Units: data axes in GV (rigidity tables) or GeV (kinetic-energy tables); fluxes in
m⁻² s⁻¹ sr⁻¹ GV⁻¹ or m⁻² s⁻¹ sr⁻¹ GeV⁻¹ (the unit of the table's axis); model densities in
kpc⁻³ GeV⁻¹; the normalisation is the total source rate in particles/Myr between the run's
injection limits ``energy.min_GeV`` and ``energy.max_GeV``, fitted as its log10.

Modules: :mod:`.data` (the measured tables: :func:`load_data`, :func:`available_data`,
:class:`DataSet`), :mod:`.model` (the flux model: :func:`flux_from_density`,
:func:`force_field`, the spectral families :data:`FAMILIES`, :func:`predict_flux`), :mod:`.fit`
(:func:`fit_spectrum`, :class:`FitResult`), :mod:`.joint` (several tables, observables and source
components at once with iminuit: :class:`JointFit`, :func:`joint_fit`, :class:`JointFitResult`).  The
figures are drawn by :func:`sdeprop.plotting.fitting.plot_fit` and ``plot_joint_fit``.
"""

from .data import DATA_DIR, DataSet, available_data, load_data
from .fit import FitResult, fit_spectrum
from .joint import DataTerm, JointFit, JointFitResult, joint_fit
from .model import (
    C_M_PER_S,
    COMMON,
    FAMILIES,
    FluxModel,
    dT_dR,
    flux_from_density,
    force_field,
    kinetic_from_rigidity,
    make_spectrum,
    predict_flux,
)

__all__ = [
    "C_M_PER_S",
    "COMMON",
    "DATA_DIR",
    "FAMILIES",
    "DataSet",
    "DataTerm",
    "FitResult",
    "JointFit",
    "JointFitResult",
    "FluxModel",
    "available_data",
    "dT_dR",
    "fit_spectrum",
    "joint_fit",
    "flux_from_density",
    "force_field",
    "kinetic_from_rigidity",
    "load_data",
    "make_spectrum",
    "predict_flux",
]
