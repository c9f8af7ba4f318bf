"""Measured diffuse γ-ray spectra bundled with the package (sdeprop/data/gamma, README there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

GAMMA_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "gamma"


@dataclass
class DiffuseSpectrum:
    """A measured diffuse intensity: E [GeV], I and its errors [GeV⁻¹ cm⁻² s⁻¹ sr⁻¹], the file's header."""

    name: str
    energies_GeV: np.ndarray
    intensity: np.ndarray
    stat_lo: np.ndarray
    stat_hi: np.ndarray
    sys: np.ndarray
    header: list[str]

    @property
    def error_lo(self) -> np.ndarray:
        """Statistical and systematic errors in quadrature (below)."""
        return np.hypot(self.stat_lo, self.sys)

    @property
    def error_hi(self) -> np.ndarray:
        return np.hypot(self.stat_hi, self.sys)


def available_diffuse_spectra() -> list[str]:
    """Short names of the bundled diffuse spectra."""
    return sorted(p.stem for p in GAMMA_DATA_DIR.glob("*.csv"))


def load_diffuse_spectrum(name: str) -> DiffuseSpectrum:
    """Read a bundled table (short name) of the LHAASO layout: E_TeV, phi [TeV⁻¹ cm⁻² s⁻¹ sr⁻¹], errors."""
    path = GAMMA_DATA_DIR / f"{name}.csv"
    if not path.is_file():
        raise ValueError(f"no diffuse spectrum '{name}'; bundled: {', '.join(available_diffuse_spectra())}")
    lines = path.read_text().splitlines()
    header = [s for s in lines if s.startswith("#")]
    body = [s for s in lines if s.strip() and not s.startswith("#")]
    columns = body[0].split(",")
    rows = np.array([[float(v) for v in s.split(",")] for s in body[1:]])
    col = {c: rows[:, k] for k, c in enumerate(columns)}
    tev = 1e3  # GeV per TeV: I [TeV⁻¹] = 1e3 I [GeV⁻¹]
    return DiffuseSpectrum(
        name,
        col["E_TeV"] * tev,
        col["phi"] / tev,
        col["stat_lo"] / tev,
        col["stat_hi"] / tev,
        col["sys"] / tev,
        header,
    )
