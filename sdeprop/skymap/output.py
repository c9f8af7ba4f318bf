"""Writing and reading sky maps: HEALPix FITS cubes (healpy and gammapy read them), HDF5, PNG figures.

FITS layout (the GADF HEALPix convention that gammapy's ``Map.read`` follows):

* ``SKYMAP``: a binary table, one column ``CHANNEL<k>`` per energy (float64, RING order), header
  PIXTYPE = 'HEALPIX', ORDERING = 'RING', NSIDE, COORDSYS = 'GAL', BUNIT, BANDSHDU = 'SKYMAP_BANDS';
* ``SKYMAP_BANDS``: CHANNEL, ENERGY and its ENERGY_MIN/ENERGY_MAX (GeV; geometric mid-points
  between the map energies, for display only: the maps are differential intensities AT ENERGY);
* ``UNCERTAINTY``: the same table for the 1σ (the per-cell upper bound, or the replica scatter, then
  with the bound in ``UNCERTAINTY_BOUND``);
* one ``SKYMAP_<PROCESS>`` table per process when there are several.

``healpy.read_map(path, field=k)`` reads energy k of the total map.  Plate-carrée maps go to HDF5
only.  All files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import io
import json
import logging

import h5py
import numpy as np

from ..checkpoint import write_bytes_atomically
from .maps import SkyMap

log = logging.getLogger(__name__)


def _band_edges(energies: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.asarray(energies, float)
    if len(e) == 1:
        return e / np.sqrt(10.0), e * np.sqrt(10.0)
    mid = np.sqrt(e[1:] * e[:-1])
    lo = np.concatenate([[e[0] ** 2 / mid[0]], mid])
    hi = np.concatenate([mid, [e[-1] ** 2 / mid[-1]]])
    return lo, hi


def _map_hdu(data: np.ndarray, sky: SkyMap, extname: str):
    from astropy.io import fits

    cols = [fits.Column(name=f"CHANNEL{k}", format="D", array=data[k]) for k in range(data.shape[0])]
    hdu = fits.BinTableHDU.from_columns(cols, name=extname)
    h = hdu.header
    h["PIXTYPE"] = "HEALPIX"
    h["ORDERING"] = "RING"
    h["INDXSCHM"] = "IMPLICIT"
    h["NSIDE"] = sky.nside
    h["FIRSTPIX"] = 0
    h["LASTPIX"] = data.shape[1] - 1
    h["COORDSYS"] = "GAL"
    h["HPX_CONV"] = "GADF"
    h["BANDSHDU"] = "SKYMAP_BANDS"
    h["BUNIT"] = sky.unit
    return hdu


def skymap_fits_bytes(sky: SkyMap) -> bytes:
    """The FITS image of a HEALPix sky map (module docstring)."""
    from astropy.io import fits

    if sky.kind != "healpix":
        raise ValueError("only HEALPix maps are written to FITS; write plate-carrée maps to HDF5")
    primary = fits.PrimaryHDU()
    for k, v in sky.metadata.items():
        key = f"HIERARCH SDEPROP {k.upper()}"
        primary.header[key] = json.dumps(v.tolist() if isinstance(v, np.ndarray) else v)[:60]
    hdus = [primary, _map_hdu(sky.intensity, sky, "SKYMAP")]
    lo, hi = _band_edges(sky.energies_GeV)
    bands = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="CHANNEL", format="K", array=np.arange(len(sky.energies_GeV))),
            fits.Column(name="ENERGY", format="D", unit="GeV", array=sky.energies_GeV),
            fits.Column(name="ENERGY_MIN", format="D", unit="GeV", array=lo),
            fits.Column(name="ENERGY_MAX", format="D", unit="GeV", array=hi),
        ],
        name="SKYMAP_BANDS",
    )
    bands.header["AXCOLS1"] = "ENERGY"
    bands.header["INTERP1"] = "log"
    hdus.append(bands)
    hdus.append(_map_hdu(sky.uncertainty, sky, "UNCERTAINTY"))
    if sky.uncertainty_bound is not None:
        hdus.append(_map_hdu(sky.uncertainty_bound, sky, "UNCERTAINTY_BOUND"))
    if len(sky.processes) > 1:
        for proc, (I, _) in sky.processes.items():
            hdus.append(_map_hdu(I, sky, f"SKYMAP_{proc.upper()}"))
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


def write_skymap_fits(sky: SkyMap, path):
    """Write a HEALPix sky map as a FITS cube, atomically; returns the path.

    The columns are float64, but gammapy reads HEALPix maps into float32: values below ~1e-38 vanish
    there.  A warning says so when the map is that faint (a run normalised to rate_per_Myr = 1 rather
    than the Galaxy's source rate, ~1e55 protons per Myr)."""
    peak = float(np.nanmax(np.abs(sky.intensity))) if sky.intensity.size else 0.0
    if 0.0 < peak < 1e-30:
        log.warning(
            "the brightest pixel of the map is %.3g %s: float32 readers (gammapy's Map.read) lose values "
            "below ~1e-38; set spectrum.rate_per_Myr to the physical source rate (or reweight) for maps "
            "meant for gammapy",
            peak,
            sky.unit,
        )
    return write_bytes_atomically(path, skymap_fits_bytes(sky))


def write_skymap_hdf5(sky: SkyMap, path):
    """Write any sky map to HDF5, atomically: /energies_GeV, /intensity, /uncertainty, /processes/<p>/…,
    the pixel grid (attrs nside, or /l_edges_deg and /b_edges_deg) and the metadata as attributes."""
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        f.attrs["kind"] = sky.kind
        f.attrs["unit"] = sky.unit
        if sky.nside is not None:
            f.attrs["nside"] = sky.nside
            f.attrs["ordering"] = "RING"
        else:
            f["l_edges_deg"] = sky.l_edges_deg
            f["b_edges_deg"] = sky.b_edges_deg
        f["energies_GeV"] = sky.energies_GeV
        f["intensity"] = sky.intensity
        f["uncertainty"] = sky.uncertainty
        if sky.uncertainty_bound is not None:
            f["uncertainty_bound"] = sky.uncertainty_bound
        for proc, (I, S) in sky.processes.items():
            g = f.create_group(f"processes/{proc}")
            g["intensity"] = I
            g["uncertainty"] = S
        meta = f.create_group("metadata")
        for k, v in sky.metadata.items():
            meta.attrs[k] = v
    return write_bytes_atomically(path, image.getbuffer())


def read_skymap_hdf5(path) -> SkyMap:
    """Read a sky map written by :func:`write_skymap_hdf5`."""
    with h5py.File(path, "r") as f:
        kind = str(f.attrs["kind"])
        procs = {
            p: (f[f"processes/{p}/intensity"][()], f[f"processes/{p}/uncertainty"][()])
            for p in f.get("processes", {})
        }
        return SkyMap(
            energies_GeV=f["energies_GeV"][()],
            intensity=f["intensity"][()],
            uncertainty=f["uncertainty"][()],
            kind=kind,
            nside=int(f.attrs["nside"]) if "nside" in f.attrs else None,
            l_edges_deg=f["l_edges_deg"][()] if "l_edges_deg" in f else None,
            b_edges_deg=f["b_edges_deg"][()] if "b_edges_deg" in f else None,
            processes=procs,
            metadata=dict(f["metadata"].attrs) if "metadata" in f else {},
            unit=str(f.attrs["unit"]),
            uncertainty_bound=f["uncertainty_bound"][()] if "uncertainty_bound" in f else None,
        )
