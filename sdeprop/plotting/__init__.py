"""Every figure of the package, one module per subject: a result's density map and spectrum
(:mod:`.result`), a magnetic-field model (:mod:`.field`), the energy losses at a point
(:mod:`.losses`), an SDE-against-grid crosscheck (:mod:`.crosscheck`), a spectral fit
(:mod:`.fitting`), sky maps (:mod:`.skymap`) and a local spectral index (:mod:`.slopes`).  Each
function writes a PNG and returns its path; none selects a matplotlib backend (the ``sdeprop``
command selects Agg; a script or notebook keeps its own)."""

from .crosscheck import plot_crosscheck
from .field import plot_field_maps
from .fitting import plot_fit
from .losses import plot_losses
from .result import plot_result
from .skymap import plot_ratio, plot_region_spectra, plot_sky
from .slopes import plot_spectral_index

__all__ = [
    "plot_crosscheck",
    "plot_field_maps",
    "plot_fit",
    "plot_losses",
    "plot_result",
    "plot_ratio",
    "plot_region_spectra",
    "plot_sky",
    "plot_spectral_index",
]
