"""HDF5 output (one file per run, written atomically: temporary file, then rename) and the reader of
gridded magnetic-field files (``load_field_grid``; the models never read files themselves).

HDF5 files are built in memory (h5py on an ``io.BytesIO``) and copied to disk with plain file I/O
(:func:`sdeprop.checkpoint.write_bytes_atomically`): a write that fails (disk full, file-size limit)
raises a clean OSError naming the file, where the HDF5 library writing to disk itself would leave
a half-closed file that crashes the process at exit.  The extra memory is the size of the file.

Layout::

    /               attrs: format, sdeprop_version, git_commit, host, platform, created_utc,
                    seed, batch_size, scheduler
    /config         the full configuration as TOML text (defaults filled in)
    /dependencies   attrs: python and library versions
    /counts         attrs: injected, escaped_z, escaped_R, alive_at_t_max, ...
    /timings        attrs: wall_s, batch_cpu_s, compile_s, steps_per_s_per_core, workers
    /regimes        energy_max_GeV, t_max_Myr, snapshot_dt_Myr
    /batches        one row per batch: index, seed, particles, steps, cpu_s, compile_s, host, pid.
                    Batch b of seed s draws from SFC64(SeedSequence(s, spawn_key=(b,))).
    /tallies/NAME   attrs: kind, density_unit; dataset sums (time, spatial..., E, E0, 5): the
                    per-history moments Σc, Σcv, Σc², Σc²v, Σc²v² (see sdeprop.tallies),
                    density and uncertainty for the configured spectrum,
                    axes/<axis> edges (kpc, GeV), output_times_Myr
"""

from __future__ import annotations

import io
import os
import tomllib
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np

from .checkpoint import _describe_difference, atomic_output, write_bytes_atomically
from .config import dump_toml, load_config
from .errors import ConfigError, InputOverwriteError
from .locks import output_lock
from .models.sources import EnergySampler
from .provenance import environment
from .result import DENSITY_UNIT, ObserverTally, Result, Tally
from .spectra import spectrum_from_config
from .tallies import ObserverLayout, TallyLayout

FORMAT = "sdeprop-result-2"


_BATCH_FIELDS = ("index", "seed", "particles", "steps", "cpu_s", "compile_s", "host", "pid")


def write_result(result: Result, path) -> Path:
    """Write ``result`` (and its components, in groups ``components/<name>``) to ``path``
    atomically; returns the path."""
    path = Path(path)
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        f.attrs["format"] = FORMAT
        _write_into(f, result)
        if result.components:
            cg = f.create_group("components")
            for name, comp in result.components.items():
                _write_into(cg.create_group(name), comp)
    return write_bytes_atomically(path, image.getbuffer())


def _write_into(f, result: Result):
    """One result into an open HDF5 file or group."""
    for k, v in result.metadata.items():
        if isinstance(v, (str, int, float, np.integer, np.floating)):
            f.attrs[k] = v
    f.create_dataset("config", data=result.config_toml)
    g = f.create_group("dependencies")
    for k, v in result.metadata.get("dependencies", {}).items():
        g.attrs[k] = v
    _write_batch_table(f, result.metadata.get("batch_log", []), result.metadata.get("seed", -1))
    g = f.create_group("counts")
    for k, v in result.counts.items():
        g.attrs[k] = v
    g = f.create_group("timings")
    for k, v in result.timings.items():
        g.attrs[k] = v
    g = f.create_group("regimes")
    for k in ("energy_max_GeV", "t_max_Myr", "snapshot_dt_Myr"):
        g.create_dataset(k, data=result.metadata[f"regime_{k}"])
    tg = f.create_group("tallies")
    for name, t in result.tallies.items():
        g = tg.create_group(name)
        g.attrs["kind"] = t.kind
        g.attrs["density_unit"] = DENSITY_UNIT
        g.attrs["n_injected"] = t.n_injected
        if t.kind == "sphere":
            g.attrs["center_kpc"] = t.layout.sphere_center_kpc
            g.attrs["radius_kpc"] = t.layout.sphere_radius_kpc
        if t.kind == "observer":
            g.attrs["position_kpc"] = t.layout.position_kpc
            g.attrs["radius_kpc"] = t.layout.radius_kpc
            g.attrs["shared_paths"] = t.layout.shared_paths
            g.attrs["paths"] = t.paths
        g.create_dataset("sums", data=t.sums, compression="gzip", compression_opts=4)
        d = g.create_dataset("density", data=t.density, compression="gzip", compression_opts=4)
        d.attrs["unit"] = DENSITY_UNIT
        g.create_dataset("uncertainty", data=t.uncertainty, compression="gzip", compression_opts=4)
        g.create_dataset("output_times_Myr", data=t.output_times_Myr)
        ag = g.create_group("axes")
        for axis, edges in t.edges.items():
            ag.create_dataset(axis, data=edges)
        if t.group_sums is not None:  # batch_groups: Σc, Σcv per group of batches, and their particles
            g.create_dataset("group_sums", data=t.group_sums, compression="gzip", compression_opts=4)
            g.attrs["group_particles"] = t.group_particles
        if t.layout.fold_edges_GeV is not None:  # source_energy = "fold": the grid of the applied weights
            g.attrs["source_energy"] = "fold"
            g.create_dataset("fold_edges_GeV", data=t.layout.fold_edges_GeV)


def load_result(path) -> Result:
    """Read a result file written by :func:`write_result`."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a result file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"result file '{path}' {what}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"'{path}' is not an sdeprop result (not an HDF5 file)")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise ValueError(
                    f"'{path}' is not an sdeprop result (an HDF5 file without the sdeprop format mark; "
                    f"format {f.attrs.get('format')!r})"
                )
            result = _read_from(f, path)
            if "components" in f:
                result.components = {name: _read_from(g, path) for name, g in f["components"].items()}
    except (OSError, KeyError) as exc:  # truncated, or a dataset missing: h5py's message names no file
        raise ValueError(f"'{path}' is not a readable sdeprop result ({exc})") from None
    return result


def _read_from(f, path) -> Result:
    """One result from an open HDF5 file or group."""
    toml_text = f["config"][()].decode() if isinstance(f["config"][()], bytes) else str(f["config"][()])
    cfg = load_config(tomllib.loads(toml_text), origin=f"(stored in '{path}')")
    counts = {k: int(v) for k, v in f["counts"].attrs.items()}
    meta_extra = {
        "dependencies": {k: str(v) for k, v in f["dependencies"].attrs.items()}
        if "dependencies" in f
        else {},
        "batch_log": _read_batch_table(f),
    }
    timings = {k: float(v) for k, v in f["timings"].attrs.items()}
    meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items() if k != "format"}
    for k in ("energy_max_GeV", "t_max_Myr", "snapshot_dt_Myr"):
        meta[f"regime_{k}"] = f["regimes"][k][()]
    meta.update(meta_extra)
    meta["batches"] = np.array([row["index"] for row in meta["batch_log"]], dtype=np.int64)
    sampler = EnergySampler(
        cfg.energy.min_GeV, cfg.energy.max_GeV, cfg.energy.sampling, cfg.energy.sampling_index
    )
    spec = spectrum_from_config(cfg.spectrum)
    tallies = {}
    for name, g in f["tallies"].items():
        axes = {k: g["axes"][k][()] for k in g["axes"]}
        if g.attrs["kind"] == "observer":
            lay = ObserverLayout(
                name,
                axes["E_GeV"],
                axes["E_s_GeV"],
                np.asarray(g.attrs["position_kpc"]),
                float(g.attrs.get("radius_kpc", 0.0)),
                bool(g.attrs.get("shared_paths", False)),
            )
            tallies[name] = ObserverTally(
                lay, g["sums"][()], cfg.species.name, spec, cfg.spectrum.rate_per_Myr
            )
            continue
        e = axes.pop("E_GeV")
        e0 = axes.pop("E0_GeV", None)
        kind = g.attrs["kind"]
        order = {"cylindrical": ("R_kpc", "z_kpc"), "cartesian": ("x_kpc", "y_kpc", "z_kpc"), "sphere": ()}[
            kind
        ]
        lay = TallyLayout(
            name=name,
            kind=kind,
            spatial_axes={k: axes[k] for k in order},
            energy_edges_GeV=e,
            source_energy_edges_GeV=e0,
            output_times_Myr=g["output_times_Myr"][()],
            fold_edges_GeV=g["fold_edges_GeV"][()] if "fold_edges_GeV" in g else None,
        )
        if kind == "sphere":
            lay.sphere_center_kpc = np.asarray(g.attrs["center_kpc"])
            lay.sphere_radius_kpc = float(g.attrs["radius_kpc"])
        tallies[name] = Tally(
            lay,
            g["sums"][()],
            int(g.attrs["n_injected"]),
            sampler,
            cfg.species.name,
            spec,
            cfg.spectrum.rate_per_Myr,
        )
        if "group_sums" in g:
            lay.groups = int(g["group_sums"].shape[0])
            tallies[name].set_groups(g["group_sums"][()], g.attrs["group_particles"])
    return Result(toml_text, tallies, counts, timings, meta, None, str(path))


def _write_batch_table(f, batch_log, seed):
    rows = [dict(row, seed=row.get("seed", seed)) for row in batch_log]
    dtype = [
        ("index", "i8"),
        ("seed", "i8"),
        ("particles", "i8"),
        ("steps", "i8"),
        ("cpu_s", "f8"),
        ("compile_s", "f8"),
        ("host", h5py.string_dtype()),
        ("pid", "i8"),
    ]
    table = np.zeros(len(rows), dtype=dtype)
    for i, row in enumerate(rows):
        for k in _BATCH_FIELDS:
            table[k][i] = row.get(k, 0 if k != "host" else "")
    f.create_dataset("batches", data=table)


def _read_batch_table(f) -> list[dict]:
    if "batches" not in f:
        return []
    out = []
    for row in f["batches"][()]:
        d = {}
        for k in _BATCH_FIELDS:
            v = row[k]
            d[k] = v.decode() if isinstance(v, bytes) else (v.item() if hasattr(v, "item") else v)
        out.append(d)
    return out


def _merge_key(result: Result) -> str:
    """The configuration without what may differ between runs that can be merged (seed, particles, name)."""
    data = tomllib.loads(result.config.fingerprint_toml())
    for key in ("seed", "particles", "name", "batch_size"):
        data["run"].pop(key, None)
    return dump_toml(data)


def refuse_overwriting_inputs(output, inputs, what: str = "input"):
    """Raise :class:`InputOverwriteError` when ``output`` names one of the files ``inputs``: the same
    path, another spelling of it, a symbolic or a hard link (``os.path.samefile`` where both exist)."""
    out = Path(output)
    for source in inputs:
        if source is None:
            continue
        source = Path(source)
        try:
            same = out.exists() and source.exists() and os.path.samefile(out, source)
        except OSError:
            same = False
        if same or os.path.abspath(out) == os.path.abspath(source):
            raise InputOverwriteError(
                f"the output '{out}' is the {what} file '{source}'"
                + ("" if str(out) == str(source) else " (the same file under another name)")
                + ": writing it would replace the input; choose another output path"
            )


def merge_results(paths, output=None) -> Result:
    """Combine runs of the same configuration (other seeds, or other batches of one seed).

    Per-history moments and particle counts add, so densities and uncertainties of the merged
    result are those of one run with all the histories.  Refused: different configurations
    (apart from seed, particles, name, batch size), and any batch present twice (the same seed
    and batch index, or the same seed with different batch sizes, whose streams overlap).
    With ``output``: an output that is one of the inputs (:class:`InputOverwriteError`), and an
    output that another process holds (:class:`OutputInUseError`; the lock is held while merging).
    """
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise ValueError("merge needs at least two result files")
    if output is None:
        return _merge(paths)
    refuse_overwriting_inputs(output, paths)
    with output_lock(output):
        merged = _merge(paths)
        write_result(merged, output)
    merged.path = str(output)
    return merged


def _merge(paths) -> Result:
    """The body of :func:`merge_results`: the merged result, in memory."""
    results = [load_result(p) for p in paths]
    for p, r in zip(paths, results):
        if r.components:
            raise ConfigError(
                f"'{p}' holds source components ({', '.join(r.components)}); merging them is not supported: "
                "run more particles instead"
            )
    key0 = _merge_key(results[0])
    seen: dict[tuple[int, int], str] = {}
    sizes: dict[int, tuple[int, str]] = {}
    for p, r in zip(paths, results):
        if _merge_key(r) != key0:
            diff = _describe_difference({"config": key0}, {"config": _merge_key(r)})
            raise ConfigError(f"cannot merge '{p}' with '{paths[0]}': their configurations differ ({diff})")
        seed, bsize = int(r.metadata["seed"]), int(r.metadata["batch_size"])
        if seed in sizes and sizes[seed][0] != bsize:
            raise ConfigError(
                f"'{p}' and '{sizes[seed][1]}' use seed {seed} with different batch sizes: their random "
                "streams overlap"
            )
        sizes[seed] = (bsize, str(p))
        for row in r.metadata["batch_log"]:
            k = (seed, int(row["index"]))
            if k in seen:
                raise ConfigError(
                    f"batch {k[1]} of seed {seed} is in both '{seen[k]}' and '{p}': it would be counted twice"
                )
            seen[k] = str(p)
    first = results[0]
    n_total = sum(r.counts["injected"] for r in results)
    tallies = {}
    for name, t in first.tallies.items():
        sums = sum(r.tallies[name].sums for r in results)
        if t.kind == "observer":  # the path counts are in the moments
            tallies[name] = ObserverTally(t.layout, sums, t.species, t.spectrum, t.rate_per_Myr)
            continue
        tallies[name] = Tally(t.layout, sums, n_total, t.sampler, t.species, t.spectrum, t.rate_per_Myr)
        if t.group_sums is not None:  # groups of one index hold independent batches of every run
            tallies[name].set_groups(
                sum(r.tallies[name].group_sums for r in results),
                sum(r.tallies[name].group_particles for r in results),
            )
    counts = {k: int(sum(r.counts[k] for r in results)) for k in first.counts}
    timings = {
        k: float(sum(r.timings.get(k, 0.0) for r in results)) for k in ("wall_s", "batch_cpu_s", "compile_s")
    }
    timings["steps_per_s_per_core"] = (
        counts["steps"] / timings["batch_cpu_s"] if timings["batch_cpu_s"] > 0 else 0.0
    )
    timings["workers"] = max(int(r.timings.get("workers", 1)) for r in results)
    meta = dict(first.metadata)
    meta.update(environment())
    meta["merged_from"] = ";".join(str(p) for p in paths)
    meta["batch_log"] = [
        dict(row, seed=row.get("seed", r.metadata["seed"]))
        for r in results
        for row in r.metadata["batch_log"]
    ]
    data = tomllib.loads(first.config_toml)
    data["run"]["particles"] = n_total
    data.get("observer", {}).pop("paths_per_energy", None)  # the backward estimator: the total decides
    return Result(dump_toml(data), tallies, counts, timings, meta)


# ----------------------------------------------------------------------------- field-grid files
_FIELD_GRID_DATASETS = ("x", "y", "z", "Bx", "By", "Bz")


@lru_cache(maxsize=8)
def _load_field_grid_cached(path: str, mtime: float):
    p = Path(path)
    try:
        if p.suffix == ".npz":
            with np.load(p) as f:
                data = {k: np.asarray(f[k], dtype=np.float64) for k in _FIELD_GRID_DATASETS if k in f}
        elif p.suffix in (".h5", ".hdf5"):
            with h5py.File(p, "r") as f:
                data = {k: np.asarray(f[k], dtype=np.float64) for k in _FIELD_GRID_DATASETS if k in f}
        else:
            data = None
    except Exception as exc:  # unreadable / corrupt file
        raise ValueError(f"cannot read field grid '{path}': {exc}") from None
    if data is None:
        raise ValueError(
            f"field grid '{path}': unsupported extension '{p.suffix}' (allowed: .npz, .h5, .hdf5)"
        )
    missing = [k for k in _FIELD_GRID_DATASETS if k not in data]
    if missing:
        raise ValueError(f"field grid '{path}' lacks datasets {missing} (needs x, y, z, Bx, By, Bz)")
    shape = (data["x"].size, data["y"].size, data["z"].size)
    for k in ("x", "y", "z"):
        axis = data[k]
        if axis.ndim != 1 or axis.size < 2:
            raise ValueError(f"field grid '{path}': axis {k} must be 1D with at least 2 nodes")
        step = np.diff(axis)
        if not np.all(np.isfinite(axis)) or np.any(step <= 0) or not np.allclose(step, step[0], rtol=1e-6):
            raise ValueError(f"field grid '{path}': axis {k} must be finite, increasing and uniformly spaced")
    for k in ("Bx", "By", "Bz"):
        if data[k].shape != shape:
            raise ValueError(
                f"field grid '{path}': {k} has shape {data[k].shape}, expected {shape} from the axes"
            )
        bad = ~np.isfinite(data[k])
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"field grid '{path}': {k} contains {int(bad.sum())} NaN/inf values "
                f"(first at index {idx}); all values must be finite"
            )
    return data


def load_field_grid(path: str) -> dict[str, np.ndarray]:
    """Read and check a gridded field file: 1D node coordinates x, y, z [kpc] (uniformly spaced) and
    Bx, By, Bz [μG] of shape (nx, ny, nz).  Cached on the path and the file's modification time;
    ValueError names what is wrong."""
    if not os.path.isfile(path):
        raise ValueError(f"field grid file '{path}' does not exist or is not a file")
    return _load_field_grid_cached(os.path.abspath(path), os.path.getmtime(path))


def read_field_grid(field_cfg) -> dict[str, np.ndarray] | None:
    """The arrays of the [field]'s 'grid' model (or of the one 'grid' component of a sum) for
    ``models.field.build_field(..., grid_file=...)``; None when the field has no grid."""
    parts = field_cfg.components if field_cfg.model == "sum" else [field_cfg]
    files = [c.file for c in parts if c.model == "grid"]
    return load_field_grid(files[0]) if files else None


# ----------------------------------------------------------------------------- source-density grids
#: axis datasets of a source-density grid file, by geometry (HDF5); FITS names them by CTYPEk
SOURCE_GRID_AXES = {"cartesian": ("x_kpc", "y_kpc", "z_kpc"), "cylindrical": ("R_kpc", "z_kpc")}
_SOURCE_FITS_CTYPES = {"cartesian": ("X", "Y", "Z"), "cylindrical": ("R", "Z")}
SOURCE_GRID_DATASET = "density"
SOURCE_GRID_ENERGY_AXIS = "E_GeV"


def write_source_grid(
    path,
    geometry: str,
    axes,
    values,
    dataset: str = SOURCE_GRID_DATASET,
    energies_GeV=None,
    attrs: dict | None = None,
) -> Path:
    """Write a source density on a grid atomically, in the layout :func:`load_source_grid` reads: HDF5
    (.h5, .hdf5: the node axes as datasets x_kpc, y_kpc, z_kpc or R_kpc, z_kpc and the values as
    ``dataset``) or FITS (.fits, .fit, optionally .gz: one image, the HDU named ``dataset``).  With
    ``energies_GeV`` (HDF5 only) the values carry a last axis over these kinetic energies, stored as the
    dataset E_GeV: a density that depends on the energy (``models.sources.EnergyGridSource``).  ``attrs``
    (HDF5 only) are stored as root attributes.  The inputs are checked first (ValueError)."""
    from .models.sources import grid_source

    path = Path(path)
    grid_source(geometry, axes, values, energies_GeV)  # validates the axes and values
    axes = [np.asarray(a, dtype=float) for a in axes]
    values = np.asarray(values, dtype=float)
    hdf5 = path.suffix.lower() in (".h5", ".hdf5")
    if not hdf5 and (energies_GeV is not None or attrs):
        raise ValueError(
            f"source grid '{path}': an energy axis and attributes need an HDF5 file (.h5, .hdf5)"
        )
    if hdf5:
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            f.attrs["geometry"] = geometry
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            f.create_dataset(dataset, data=values).attrs["unit"] = "arbitrary (normalised on reading)"
            for name, axis in zip(SOURCE_GRID_AXES[geometry], axes):
                f.create_dataset(name, data=axis).attrs["unit"] = "kpc"
            if energies_GeV is not None:
                energies = np.asarray(energies_GeV, dtype=float)
                f.create_dataset(SOURCE_GRID_ENERGY_AXIS, data=energies).attrs["unit"] = "GeV (kinetic)"
    elif _fits_suffix(path):
        from astropy.io import fits

        hdu = fits.PrimaryHDU(data=np.ascontiguousarray(values.T))
        for k, (axis, ctype) in enumerate(zip(axes, _SOURCE_FITS_CTYPES[geometry]), start=1):
            hdu.header[f"CTYPE{k}"] = ctype
            hdu.header[f"CUNIT{k}"] = "kpc"
            hdu.header[f"CRPIX{k}"] = 1.0
            hdu.header[f"CRVAL{k}"] = float(axis[0])
            hdu.header[f"CDELT{k}"] = float(axis[1] - axis[0])
        hdu.header["EXTNAME"] = dataset
        image = io.BytesIO()
        hdu.writeto(image)
        if path.name.lower().endswith(".gz"):
            import gzip

            image = io.BytesIO(gzip.compress(image.getvalue()))
    else:
        raise ValueError(
            f"source grid '{path}': unsupported extension "
            "(allowed: .h5, .hdf5, .fits, .fit, .fits.gz, .fit.gz)"
        )
    with output_lock(path):
        return write_bytes_atomically(path, image.getbuffer())


def _read_source_grid_hdf5(path: Path, dataset: str | None):
    want = dataset or SOURCE_GRID_DATASET
    with h5py.File(path, "r") as f:
        keys = set(f.keys())
        geometry = next((g for g, names in SOURCE_GRID_AXES.items() if set(names) <= keys), None)
        if geometry is None:
            raise ValueError(
                "axis datasets missing: needs x_kpc, y_kpc, z_kpc (cartesian) or R_kpc, z_kpc (cylindrical); "
                f"found {sorted(keys) or 'none'}"
            )
        if want not in keys or not isinstance(f[want], h5py.Dataset):
            others = sorted(k for k in keys if k not in SOURCE_GRID_AXES[geometry])
            raise ValueError(
                f"no dataset {want!r} (source.dataset{'' if dataset else ', default density'}); the file has "
                f"{others or 'no other datasets'}"
            )
        axes = [np.asarray(f[name][()], dtype=np.float64) for name in SOURCE_GRID_AXES[geometry]]
        values = np.asarray(f[want][()], dtype=np.float64)
        energies = None
        if SOURCE_GRID_ENERGY_AXIS in keys:
            energies = np.asarray(f[SOURCE_GRID_ENERGY_AXIS][()], dtype=np.float64)
    return geometry, axes, values, energies


def _read_source_grid_fits(path: Path, dataset: str | None):
    from astropy.io import fits

    with fits.open(path) as hdul:
        if dataset is None:
            hdu = hdul[0]
        else:
            named = [h for h in hdul if str(h.header.get("EXTNAME", "")).strip() == dataset]
            if not named:
                have = [str(h.header.get("EXTNAME", "")).strip() or "(unnamed)" for h in hdul]
                raise ValueError(f"no HDU with EXTNAME = {dataset!r} (source.dataset); the file has {have}")
            hdu = named[0]
        header = hdu.header.copy()
        data = None if hdu.data is None else np.asarray(hdu.data, dtype=np.float64)
    if data is None or data.ndim not in (2, 3):
        raise ValueError(
            f"the image must be 2-D (R, z) or 3-D (x, y, z), has shape {None if data is None else data.shape}"
        )
    ctypes = tuple(str(header.get(f"CTYPE{k}", "")).strip().upper() for k in range(1, data.ndim + 1))
    geometry = next((g for g, ct in _SOURCE_FITS_CTYPES.items() if ct == ctypes), None)
    if geometry is None:
        raise ValueError(
            f"CTYPE1..{data.ndim} = {ctypes} not understood (expected ('X', 'Y', 'Z') or ('R', 'Z'))"
        )
    axes = []
    for k in range(1, data.ndim + 1):
        missing = [card for card in (f"CRVAL{k}", f"CDELT{k}") if card not in header]
        if missing:
            raise ValueError(f"header card(s) {', '.join(missing)} missing")
        unit = str(header.get(f"CUNIT{k}", "kpc")).strip().lower()
        if unit not in ("kpc", ""):
            raise ValueError(f"CUNIT{k} = {unit!r}: the axes must be in kpc")
        n, crpix = header[f"NAXIS{k}"], header.get(f"CRPIX{k}", 1.0)
        axes.append(header[f"CRVAL{k}"] + (np.arange(n) + 1.0 - crpix) * header[f"CDELT{k}"])
    return geometry, axes, np.transpose(data)


@lru_cache(maxsize=8)
def _load_source_grid_cached(path: str, mtime: float, dataset: str | None):
    from .models.sources import grid_source

    p = Path(path)
    try:
        if p.suffix.lower() in (".h5", ".hdf5"):
            geometry, axes, values, energies = _read_source_grid_hdf5(p, dataset)
        elif _fits_suffix(p):
            geometry, axes, values = _read_source_grid_fits(p, dataset)
            energies = None
        else:
            raise ValueError("unsupported extension (allowed: .h5, .hdf5, .fits, .fit, .fits.gz, .fit.gz)")
        grid_source(geometry, axes, values, energies)  # shapes, uniform axes, finite and non-negative values
    except ValueError as exc:
        raise ValueError(f"source grid '{path}': {exc}") from None
    except Exception as exc:  # unreadable or corrupt file
        raise ValueError(f"cannot read source grid '{path}': {exc}") from None
    return {"geometry": geometry, "axes": axes, "values": values, "energies_GeV": energies, "file": path}


def load_source_grid(path, dataset: str | None = None) -> dict:
    """Read and check a source-density grid file: {"geometry": "cartesian" | "cylindrical", "axes": node
    axes [kpc], "values": the density at the nodes (any unit; normalised when the source is built),
    "energies_GeV", "file"}.  HDF5: axis datasets x_kpc, y_kpc, z_kpc or R_kpc, z_kpc and the values in
    ``dataset`` (default "density"), of shape (n_x, n_y, n_z) or (n_R, n_z); with a dataset E_GeV (kinetic
    energies) the values have a last axis over them, a density that depends on the energy (else
    "energies_GeV" is None).  FITS: a 3-D image with CTYPE1..3 = X, Y, Z or a 2-D
    one with CTYPE1..2 = R, Z, axes from CRVALk, CDELTk, CRPIXk in kpc (the primary HDU, or the one with
    EXTNAME = ``dataset``).  Cached on the path, the modification time and the dataset; ValueError names the
    file and what is wrong (missing, unreadable, no axes or dataset, shapes that disagree, axes not uniform
    and increasing, negative or non-finite values)."""
    path = str(path)
    if not os.path.isfile(path):
        raise ValueError(f"source grid file '{path}' does not exist or is not a file")
    return _load_source_grid_cached(os.path.abspath(path), os.path.getmtime(path), dataset)


def read_source_grid(source_cfg) -> dict | None:
    """The arrays of a [source] type = 'gridded' section for ``models.sources.build_source(cfg, grid=...)``;
    None for every other source type."""
    if getattr(source_cfg, "type", None) != "gridded":
        return None
    return load_source_grid(source_cfg.file, source_cfg.dataset)


def write_reweighted(
    result: Result, path, spectrum, rate_per_Myr: float = 1.0, tally_names=None, attrs: dict | None = None
) -> Path:
    """Write the densities of ``result``'s tallies for the injection ``spectrum`` (total source
    rate ``rate_per_Myr``) to the HDF5 file ``path``, atomically; returns the path.

    ``tally_names`` picks tallies (default: all; an unknown name is a ValueError before anything
    is written); ``attrs`` are stored as root attributes next to ``rate_per_Myr``.  Refused: a
    ``path`` that is the result's own file (``result.path``; :class:`InputOverwriteError`) and one
    that another process holds (:class:`OutputInUseError`).  Layout::

        /NAME/density (attr unit), uncertainty, axes/<axis> edges
        /NAME/burst_density, burst_uncertainty, output_times_Myr   (snapshot tallies only)
    """
    names = list(result.tallies) if tally_names is None else list(tally_names)
    for name in names:
        if name not in result.tallies:
            raise ValueError(f"no tally named '{name}' (available: {', '.join(result.tallies)})")
    path = Path(path)
    refuse_overwriting_inputs(path, [result.path], "result")
    image = io.BytesIO()
    with h5py.File(image, "w") as f:
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
        f.attrs["rate_per_Myr"] = rate_per_Myr
        for name in names:
            d = result.tallies[name].reweight(spectrum, rate_per_Myr)
            g = f.create_group(name)
            g.create_dataset("density", data=d.density).attrs["unit"] = d.unit
            g.create_dataset("uncertainty", data=d.uncertainty)
            if d.burst_density is not None:
                g.create_dataset("burst_density", data=d.burst_density)
                g.create_dataset("burst_uncertainty", data=d.burst_uncertainty)
                g.create_dataset("output_times_Myr", data=d.output_times_Myr)
            for axis, edges in d.edges.items():
                g.create_dataset(f"axes/{axis}", data=edges)
    with output_lock(path):
        return write_bytes_atomically(path, image.getbuffer())


def write_local_spectrum_csv(result: Result, path, spectrum=None, rate_per_Myr: float = 1.0) -> Path:
    """Write the spectrum at the Sun (:meth:`Result.local_spectrum`) for the injection ``spectrum``
    (default: the configured one) and total source rate ``rate_per_Myr`` as CSV with the columns
    E_GeV, density_per_kpc3_per_GeV, uncertainty, atomically; returns the path.  Refused like
    :func:`write_reweighted`: the result's own file, an output another process holds."""
    path = Path(path)
    refuse_overwriting_inputs(path, [result.path], "result")
    e, n, dn = result.local_spectrum(spectrum)
    with output_lock(path), atomic_output(path) as tmp:
        np.savetxt(
            tmp,
            np.column_stack([e, n * rate_per_Myr, dn * rate_per_Myr]),
            delimiter=",",
            header="E_GeV,density_per_kpc3_per_GeV,uncertainty",
            comments="",
        )
    return path


# ----------------------------------------------------------------------------- gas cubes
GAS_CUBE_FORMAT = "sdeprop gas cube"
GAS_CUBE_VERSION = 1
_GAS_COMPONENTS = ("n_HI", "n_H2", "n_HII")
_GAS_AXES = {"cartesian": ("x_kpc", "y_kpc", "z_kpc"), "cylindrical": ("R_kpc", "phi_rad", "z_kpc")}
_FITS_CTYPES = {"cartesian": ("X", "Y", "Z"), "cylindrical": ("R", "PHI", "Z")}
_FITS_CUNITS = {"cartesian": ("kpc", "kpc", "kpc"), "cylindrical": ("kpc", "rad", "kpc")}
_FITS_SINGLE = {"HI": 0, "H2": 1, "HII": 2}


def _fits_suffix(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz"))


def write_gas_cube(path, geometry: str, axes, densities, attrs: dict | None = None) -> Path:
    """Write a gridded gas model atomically to ``path``: HDF5 (.h5, .hdf5) or FITS (.fits, .fit,
    optionally .gz); returns the path.  The layouts are those :func:`read_gas_cube` reads
    (docs/gas.md §5).  ``geometry`` "cartesian" (axes x, y, z [kpc]) or "cylindrical"
    (R [kpc], φ [rad], z [kpc]); ``densities`` (n_HI, n_H2 molecules, n_HII) [cm⁻³] of shape
    (n0, n1, n2); ``attrs`` strings or numbers stored as root attributes (HDF5) or header cards
    (FITS, keys of at most 8 characters).  The inputs are checked first (ValueError)."""
    from .models.gas3d import grid_gas_model

    path = Path(path)
    model = grid_gas_model(path.name, geometry, axes, densities)  # validates axes and densities
    names = _GAS_AXES[geometry]
    if path.suffix.lower() in (".h5", ".hdf5"):
        image = io.BytesIO()
        with h5py.File(image, "w") as f:
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            f.attrs["format"] = GAS_CUBE_FORMAT
            f.attrs["format_version"] = GAS_CUBE_VERSION
            f.attrs["geometry"] = geometry
            f.attrs["density_unit"] = "cm^-3"
            for c, label in enumerate(_GAS_COMPONENTS):
                f.create_dataset(label, data=model.grid[c]).attrs["unit"] = "cm^-3"
            for name in names:
                f.create_dataset(name, data=model.axes[name])
    elif _fits_suffix(path):
        from astropy.io import fits

        header = fits.Header()
        for k, (name, ctype, cunit) in enumerate(zip(names, _FITS_CTYPES[geometry], _FITS_CUNITS[geometry])):
            axis = model.axes[name]
            header[f"CTYPE{k + 1}"] = ctype
            header[f"CUNIT{k + 1}"] = cunit
            header[f"CRPIX{k + 1}"] = 1.0
            header[f"CRVAL{k + 1}"] = float(axis[0])
            header[f"CDELT{k + 1}"] = float(axis[1] - axis[0]) if axis.size > 1 else 2.0 * np.pi
        header["CTYPE4"] = "COMPONENT"
        header["CRPIX4"], header["CRVAL4"], header["CDELT4"] = 1.0, 1.0, 1.0
        header["BUNIT"] = "cm-3"
        header["COMP1"], header["COMP2"], header["COMP3"] = "HI", "H2", "HII"
        header["GASGEOM"] = geometry
        header["GASFMT"] = (GAS_CUBE_FORMAT, "sdeprop gas cube, see docs/gas.md")
        header["GASFVER"] = GAS_CUBE_VERSION
        for key, value in (attrs or {}).items():
            header[key] = value
        # numpy (component, n2, n1, n0): FITS NAXIS1 = axis 0 varies fastest
        data = np.ascontiguousarray(np.transpose(model.grid, (0, 3, 2, 1)))
        image = io.BytesIO()
        fits.PrimaryHDU(data=data, header=header).writeto(image)
        if path.name.lower().endswith(".gz"):
            import gzip

            image = io.BytesIO(gzip.compress(image.getvalue()))
    else:
        raise ValueError(
            f"gas cube '{path}': unsupported extension (allowed: .h5, .hdf5, .fits, .fit, .fits.gz, .fit.gz)"
        )
    with output_lock(path):
        return write_bytes_atomically(path, image.getbuffer())


def read_gas_cube(path):
    """Read a gridded gas model (:class:`sdeprop.models.gas3d.GasModel`) from HDF5 or FITS.

    HDF5: datasets n_HI, n_H2 (molecules), n_HII [cm⁻³] of shape (n0, n1, n2) and the node axes
    x_kpc, y_kpc, z_kpc (Cartesian) or R_kpc, phi_rad, z_kpc (cylindrical; φ periodic, n nodes
    spanning 2π, or one node for no φ dependence); optional root attribute ``geometry``.  FITS: the
    primary image, 4-D (component, z, axis 1, axis 0) in numpy order with the components
    HI, H2, HII, or 3-D with the card GASCOMP naming its one component; axes from
    CTYPEk/CRVALk/CDELTk/CRPIXk, k = 1, 2, 3 (CTYPE X, Y, Z or R, PHI, Z).  Layouts: docs/gas.md §5.
    Refused with a ValueError naming the file, the dataset and the problem: a missing file or
    dataset, non-uniform or non-increasing axes, shapes that disagree, negative or non-finite
    densities."""
    from .models.gas3d import grid_gas_model

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"gas cube '{path}' does not exist or is not a file")
    if path.suffix.lower() in (".h5", ".hdf5"):
        geometry, axes, densities, meta = _read_gas_cube_hdf5(path)
    elif _fits_suffix(path):
        geometry, axes, densities, meta = _read_gas_cube_fits(path)
    else:
        raise ValueError(
            f"gas cube '{path}': unsupported extension (allowed: .h5, .hdf5, .fits, .fit, .fits.gz, .fit.gz)"
        )
    meta["file"] = str(path)
    try:
        return grid_gas_model(path.stem, geometry, axes, densities, meta)
    except ValueError as exc:
        raise ValueError(f"gas cube '{path}': {exc}") from None


def _read_gas_cube_hdf5(path: Path):
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            geometry = next((g for g, names in _GAS_AXES.items() if set(names) <= keys), None)
            declared = f.attrs.get("geometry")
            if isinstance(declared, bytes):
                declared = declared.decode()
            if geometry is None:
                have = sorted(k for k in keys if k.endswith(("_kpc", "_rad")))
                raise ValueError(
                    f"gas cube '{path}': axis datasets missing: needs x_kpc, y_kpc, z_kpc (cartesian) or "
                    f"R_kpc, phi_rad, z_kpc (cylindrical); found {have or 'none'}"
                )
            if declared is not None and declared != geometry:
                raise ValueError(
                    f"gas cube '{path}': attribute geometry={declared!r} disagrees with the axis datasets "
                    f"({', '.join(_GAS_AXES[geometry])}, i.e. {geometry!r})"
                )
            missing = [c for c in _GAS_COMPONENTS if c not in keys]
            if missing:
                raise ValueError(
                    f"gas cube '{path}': dataset(s) {', '.join(missing)} missing "
                    "(needs n_HI, n_H2, n_HII in cm^-3)"
                )
            axes = [np.asarray(f[name], dtype=np.float64) for name in _GAS_AXES[geometry]]
            densities = [np.asarray(f[c], dtype=np.float64) for c in _GAS_COMPONENTS]
            meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except ValueError:
        raise
    except Exception as exc:  # unreadable or corrupt file
        raise ValueError(f"cannot read gas cube '{path}': {exc}") from None
    for name, axis in zip(_GAS_AXES[geometry], axes):
        if axis.ndim != 1:
            raise ValueError(f"gas cube '{path}': dataset {name} must be 1D, has shape {axis.shape}")
    return geometry, axes, densities, meta


def _read_gas_cube_fits(path: Path):
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            header = hdul[0].header.copy()
            data = hdul[0].data
            data = None if data is None else np.asarray(data, dtype=np.float64)
    except Exception as exc:
        raise ValueError(f"cannot read gas cube '{path}': {exc}") from None
    if data is None or data.ndim not in (3, 4):
        shape = None if data is None else data.shape
        raise ValueError(f"gas cube '{path}': the primary image must be 3-D or 4-D, has shape {shape}")
    ctypes = tuple(str(header.get(f"CTYPE{k}", "")).strip().upper() for k in (1, 2, 3))
    geometry = next((g for g, ct in _FITS_CTYPES.items() if ct == ctypes), None)
    if geometry is None:
        raise ValueError(
            f"gas cube '{path}': CTYPE1..3 = {ctypes} not understood "
            "(expected ('X', 'Y', 'Z') or ('R', 'PHI', 'Z'))"
        )
    axes = []
    for k in (1, 2, 3):
        missing = [card for card in (f"CRVAL{k}", f"CDELT{k}") if card not in header]
        if missing:
            raise ValueError(f"gas cube '{path}': header card(s) {', '.join(missing)} missing")
        n = header[f"NAXIS{k}"]
        crpix = header.get(f"CRPIX{k}", 1.0)
        axes.append(header[f"CRVAL{k}"] + (np.arange(n) + 1.0 - crpix) * header[f"CDELT{k}"])
    cube = np.transpose(data, tuple(range(data.ndim - 1, -1, -1)))  # (n0, n1, n2[, component])
    if data.ndim == 4:
        if cube.shape[3] != 3:
            raise ValueError(
                f"gas cube '{path}': NAXIS4 = {cube.shape[3]}, expected 3 components (HI, H2, HII)"
            )
        densities = [cube[..., c] for c in range(3)]
    else:
        comp = str(header.get("GASCOMP", "")).strip().upper()
        if comp not in _FITS_SINGLE:
            raise ValueError(
                f"gas cube '{path}': a 3-D image needs the card GASCOMP = 'HI', 'H2' or 'HII' "
                f"(got {comp or 'none'!r})"
            )
        densities = [np.zeros(cube.shape) for _ in range(3)]
        densities[_FITS_SINGLE[comp]] = cube
    meta = {"BUNIT": str(header.get("BUNIT", ""))}
    if meta["BUNIT"] and meta["BUNIT"].strip().lower() not in ("cm-3", "cm^-3", "1/cm3", "cm**-3"):
        raise ValueError(f"gas cube '{path}': BUNIT = {meta['BUNIT']!r}, expected 'cm-3'")
    return geometry, axes, densities, meta
