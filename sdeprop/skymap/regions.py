"""Sky regions in Galactic coordinates: the named Galactic-plane windows of the air-shower arrays and
user boxes in (l, b).

The named regions are |b| ≤ 5° strips (longitudes in degrees):

=================  ===========  =============================================================
name               l range      source
=================  ===========  =============================================================
``lhaaso_inner``   15°–125°     LHAASO-KM2A diffuse emission, Cao et al. 2023 (PRL 131, 151001)
``lhaaso_outer``   125°–235°    same
``argo_inner``     15°–125°     ARGO-YBJ diffuse emission, Bartoli et al. 2015 (ApJ 806, 20)
``argo_outer``     125°–235°    same
``tibet_inner``    25°–100°     Tibet ASγ diffuse emission, Amenomori et al. 2021 (PRL 126, 141101)
``tibet_outer``    50°–200°     same
=================  ===========  =============================================================

The experiments mask their resolved sources; a model map has none, so a model's region spectrum is
the mean over the whole strip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class Box:
    """l_min ≤ l ≤ l_max (through l = 0 when l_min > l_max) and b_min ≤ b ≤ b_max [deg]."""

    l_min_deg: float
    l_max_deg: float
    b_min_deg: float
    b_max_deg: float
    name: str = "box"

    def contains(self, l_deg, b_deg) -> np.ndarray:
        l = np.asarray(l_deg, float) % 360.0
        b = np.asarray(b_deg, float)
        lo, hi = self.l_min_deg % 360.0, self.l_max_deg % 360.0
        if self.l_max_deg - self.l_min_deg >= 360.0:
            in_l = np.ones_like(l, dtype=bool)
        elif lo <= hi:
            in_l = (l >= lo) & (l <= hi)
        else:
            in_l = (l >= lo) | (l <= hi)
        return in_l & (b >= self.b_min_deg) & (b <= self.b_max_deg)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.l_min_deg:g}° ≤ l ≤ {self.l_max_deg:g}°, "
            f"{self.b_min_deg:g}° ≤ b ≤ {self.b_max_deg:g}°"
        )


NAMED_REGIONS = {
    "lhaaso_inner": Box(15.0, 125.0, -5.0, 5.0, "lhaaso_inner"),
    "lhaaso_outer": Box(125.0, 235.0, -5.0, 5.0, "lhaaso_outer"),
    "argo_inner": Box(15.0, 125.0, -5.0, 5.0, "argo_inner"),
    "argo_outer": Box(125.0, 235.0, -5.0, 5.0, "argo_outer"),
    "tibet_inner": Box(25.0, 100.0, -5.0, 5.0, "tibet_inner"),
    "tibet_outer": Box(50.0, 200.0, -5.0, 5.0, "tibet_outer"),
}


def parse_region(text: str) -> Box:
    """A named region, or a box "l_min,l_max,b_min,b_max" [deg] (l_min > l_max wraps through l = 0)."""
    if text in NAMED_REGIONS:
        return NAMED_REGIONS[text]
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 4 or not all(np.isfinite(values)):
        raise ConfigError(
            f"region {text!r} is neither a named region ({', '.join(NAMED_REGIONS)}) nor a box "
            "'l_min,l_max,b_min,b_max' in degrees"
        )
    l0, l1, b0, b1 = values
    if not (-90.0 <= b0 < b1 <= 90.0):
        raise ConfigError(f"region {text!r}: the latitudes must satisfy -90 ≤ b_min < b_max ≤ 90 (degrees)")
    if not (0.0 <= l0 <= 360.0 and 0.0 <= l1 <= 360.0) or l0 == l1:
        raise ConfigError(f"region {text!r}: the longitudes must lie in [0, 360] degrees and differ")
    return Box(l0, l1, b0, b1, name=text)
