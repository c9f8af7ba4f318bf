"""The observational data tables a fit is compared with: the measured tables bundled in
sdeprop/data (see data/README.md) or given by path, read into :class:`DataSet`.

Each table measures an observable (:data:`OBSERVABLES`): the flux of one species, the e⁻ + e⁺ flux,
the positron fraction e⁺/(e⁺ + e⁻) or the difference e⁻ − e⁺.  Units: the axis in GV (rigidity
tables) or GeV of total kinetic energy (kinetic-energy tables); fluxes in m⁻² s⁻¹ sr⁻¹ GV⁻¹ or
m⁻² s⁻¹ sr⁻¹ GeV⁻¹ (the unit of the table's axis), a fraction without unit; the errors absolute, in the
unit of the value."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
"""Folder of the bundled tables (package data; see data/README.md)."""

#: what a table can measure: the flux of one species, the lepton sum, fraction and difference
OBSERVABLES = ("flux", "electron_plus_positron", "positron_fraction", "electron_minus_positron")

# (observable, species of a flux) of each bundled table: a fit of a run of another species is refused
_BUNDLED = {
    "ams02_proton_physrep2021": ("flux", "proton"),
    "ams02_proton_prl2015": ("flux", "proton"),
    "dampe_proton_2019": ("flux", "proton"),
    "calet_proton_2019": ("flux", "proton"),
    "cream3_proton_2017": ("flux", "proton"),
    "ams02_electron_flux_physrep2021": ("flux", "electron"),
    "ams02_positron_flux_physrep2021": ("flux", "positron"),
    "ams02_electron_plus_positron_physrep2021": ("electron_plus_positron", None),
    "dampe_electron_positron_2017": ("electron_plus_positron", None),
    "calet_electron_positron_2017": ("electron_plus_positron", None),
    "calet_electron_positron_2018_dampebinning": ("electron_plus_positron", None),
    "hess_electron_2008": ("electron_plus_positron", None),
    "hess_electron_2009_lowenergy": ("electron_plus_positron", None),
    "ams02_positron_fraction": ("positron_fraction", None),
}


def axis_unit(variable: str) -> str:
    """Unit of a data table's energy axis: GV for rigidity, else GeV."""
    return "GV" if variable == "rigidity" else "GeV"


def flux_unit(variable: str) -> str:
    """Unit of a differential flux per unit of that axis."""
    return f"m^-2 s^-1 sr^-1 {axis_unit(variable)}^-1"


@dataclass
class DataSet:
    """A measured flux table.

    ``variable`` is ``"rigidity"`` (axis in GV, flux per GV) or ``"kinetic_energy"`` (axis in
    GeV, flux per GeV); fluxes in m⁻² s⁻¹ sr⁻¹ per axis unit.  ``stat`` and ``sys`` are the
    means of the lower and upper 1σ errors; ``error`` = sqrt(stat² + sys²).
    """

    name: str
    path: Path
    variable: str
    x_lo: np.ndarray
    x_hi: np.ndarray
    value: np.ndarray
    stat: np.ndarray
    sys: np.ndarray
    header: str = ""
    species: str | None = None
    observable: str = "flux"
    """One of OBSERVABLES; ``species`` names the species of a 'flux' table (None: unknown, any run)."""

    @property
    def x(self) -> np.ndarray:
        """Representative axis value of each row: the geometric mean of the bin edges [GV or GeV]."""
        return np.sqrt(self.x_lo * self.x_hi)

    @property
    def error(self) -> np.ndarray:
        """Total 1σ error sqrt(stat² + sys²), same unit as ``value``."""
        return np.hypot(self.stat, self.sys)

    @property
    def x_unit(self) -> str:
        return axis_unit(self.variable)

    @property
    def flux_unit(self) -> str:
        """The unit of ``value``: a flux per axis unit, or 1 for the positron fraction."""
        return "1" if self.observable == "positron_fraction" else flux_unit(self.variable)

    @property
    def species_needed(self) -> tuple[str, ...]:
        """The species whose densities the model of this table needs."""
        if self.observable == "flux":
            return (self.species,) if self.species else ()
        return ("electron", "positron")

    def __len__(self) -> int:
        return len(self.value)


_EDGE = re.compile(r"^(R|E|Ek)_(lo|hi)_(GV|GeV)$")


def available_data() -> list[str]:
    """Short names of the bundled tables (sdeprop/data/*.csv)."""
    return sorted(p.stem for p in DATA_DIR.glob("*.csv"))


def _resolve(name_or_path) -> tuple[Path, str, tuple[str, str | None]]:
    """(path, short name, (observable, species or None)) of a table given by bundled short name or by
    path (a table outside the bundle counts as a flux of unknown species)."""
    text = str(name_or_path)
    path = Path(text)
    short = text[:-4] if text.endswith(".csv") else text
    if not path.is_file():
        if "/" in text or short not in available_data():
            raise ValueError(
                f"no data table '{text}': not a file and not a bundled table "
                f"(bundled: {', '.join(available_data())})"
            )
        return DATA_DIR / f"{short}.csv", short, _BUNDLED.get(short, ("flux", None))
    kind = _BUNDLED.get(path.stem) if path.resolve().parent == DATA_DIR else None
    return path, path.stem, kind or ("flux", None)


def _read_csv(path: Path) -> tuple[list[str], list[str], list[list[float]]]:
    """(comment lines before the header, column names, numeric rows) of a table file."""
    header, rows, columns = [], [], None
    with open(path, newline="") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                if columns is None:
                    header.append(line.rstrip("\n"))
                continue
            cells = next(csv.reader([s]))
            if columns is None:
                columns = [c.strip() for c in cells]
                continue
            if len(cells) != len(columns):
                raise ValueError(
                    f"{path}: line {lineno} has {len(cells)} fields, the header has {len(columns)}"
                )
            try:
                rows.append([float(c) for c in cells])
            except ValueError:
                raise ValueError(f"{path}: line {lineno} holds a non-numeric field: {s!r}") from None
    if columns is None or not rows:
        raise ValueError(f"{path}: no column header or no data rows")
    return header, columns, rows


def _axis_variable(path: Path, columns: list[str]) -> str:
    """'rigidity' or 'kinetic_energy' from the names of the two bin-edge columns."""
    m_lo, m_hi = _EDGE.match(columns[0]), _EDGE.match(columns[1]) if len(columns) > 1 else None
    if not (
        m_lo
        and m_hi
        and m_lo.group(2) == "lo"
        and m_hi.group(2) == "hi"
        and m_lo.group(1) == m_hi.group(1)
        and (m_lo.group(1) == "R") == (m_lo.group(3) == "GV")
    ):
        raise ValueError(
            f"{path}: the first two columns must be bin edges R_lo_GV,R_hi_GV or "
            f"E_lo_GeV,E_hi_GeV or Ek_lo_GeV,Ek_hi_GeV (found {','.join(columns[:2])})"
        )
    return "rigidity" if m_lo.group(1) == "R" else "kinetic_energy"


def load_data(name_or_path, observable: str | None = None, species: str | None = None) -> DataSet:
    """Read a table by bundled short name (``"ams02_proton_physrep2021"``) or by path.

    Format: a ``#`` comment block (kept as ``header``), one CSV header line, then rows with
    bin edges ``R_lo_GV, R_hi_GV`` (rigidity) or ``E_lo_GeV, E_hi_GeV`` / ``Ek_lo_GeV, Ek_hi_GeV``
    (kinetic energy; equal edges for a point), optionally other columns (ignored), the value
    (``value`` or ``flux``) in m⁻² s⁻¹ sr⁻¹ per axis unit (or without unit for a fraction), and the
    absolute 1σ errors ``stat_lo, stat_hi`` with either ``sys_lo, sys_hi`` or the total
    ``toterr_lo, toterr_hi`` (then sys = sqrt(total² − stat²)).  ``observable`` (one of
    OBSERVABLES) and ``species`` override the bundled table's (a table given by path is a flux of
    unknown species unless told).  Raises ValueError with the file and row on anything else.
    """
    if isinstance(name_or_path, DataSet):
        return name_or_path
    path, name, (bundled_observable, bundled_species) = _resolve(name_or_path)
    observable = observable or bundled_observable
    species = species or bundled_species
    if observable not in OBSERVABLES:
        raise ValueError(f"observable '{observable}' is not one of {', '.join(OBSERVABLES)}")
    if species is not None and species not in ("proton", "electron", "positron"):
        raise ValueError(f"species '{species}' is not proton, electron or positron")
    header, columns, rows = _read_csv(path)
    htxt = "\n".join(header)
    if re.search(r"cm\^-2|TeV\^-1|GeV/n|per nucleon", htxt):
        raise ValueError(
            f"{path}: only fluxes in m^-2 s^-1 sr^-1 per GV or per GeV of total kinetic energy are supported"
        )
    variable = _axis_variable(path, columns)
    flux_col = [c for c in ("value", "flux") if c in columns]
    total = "sys_lo" not in columns and "toterr_lo" in columns  # stat and stat+sys (e.g. SSDC exports)
    needed = ["stat_lo", "stat_hi"] + (["toterr_lo", "toterr_hi"] if total else ["sys_lo", "sys_hi"])
    missing = [c for c in needed if c not in columns] + ([] if flux_col else ["value (or flux)"])
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (found {','.join(columns)})")
    a = np.asarray(rows, dtype=float)
    col = {c: a[:, i] for i, c in enumerate(columns)}
    lo, hi, val = col[columns[0]], col[columns[1]], col[flux_col[0]]
    errs = [col[c] for c in needed]
    bad = ~(np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi >= lo) & np.isfinite(val) & (val > 0))
    for e in errs:
        bad |= ~(np.isfinite(e) & (e >= 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{path}: data row {i + 1} is invalid (edges must be positive and increasing, "
            f"flux positive, errors non-negative): {rows[i]}"
        )
    stat = 0.5 * (errs[0] + errs[1])
    if total:
        tot = 0.5 * (errs[2] + errs[3])
        sys = np.sqrt(np.clip(tot**2 - stat**2, 0.0, None))
    else:
        sys = 0.5 * (errs[2] + errs[3])
    return DataSet(
        name=name,
        path=path,
        variable=variable,
        x_lo=lo,
        x_hi=hi,
        value=val,
        stat=stat,
        sys=sys,
        header=htxt,
        species=species if observable == "flux" else None,
        observable=observable,
    )
