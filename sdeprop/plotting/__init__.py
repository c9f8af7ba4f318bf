"""Every figure of the package, one module per subject: a result's density map and spectrum
(:mod:`.result`), a magnetic-field model (:mod:`.field`), the energy losses at a point
(:mod:`.losses`).  Each function writes a PNG and returns its path; none selects a matplotlib
backend (the ``sdeprop`` command selects Agg; a script or notebook keeps its own)."""

from .field import plot_field_maps
from .losses import plot_losses
from .result import plot_result

__all__ = ["plot_field_maps", "plot_losses", "plot_result"]
