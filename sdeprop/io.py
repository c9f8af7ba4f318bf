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
from .result import DENSITY_UNIT, Result, Tally
from .spectra import spectrum_from_config
from .tallies import TallyLayout

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
        g.create_dataset("sums", data=t.sums, compression="gzip", compression_opts=4)
        d = g.create_dataset("density", data=t.density, compression="gzip", compression_opts=4)
        d.attrs["unit"] = DENSITY_UNIT
        g.create_dataset("uncertainty", data=t.uncertainty, compression="gzip", compression_opts=4)
        g.create_dataset("output_times_Myr", data=t.output_times_Myr)
        ag = g.create_group("axes")
        for axis, edges in t.edges.items():
            ag.create_dataset(axis, data=edges)


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
        tallies[name] = Tally(t.layout, sums, n_total, t.sampler, t.species, t.spectrum, t.rate_per_Myr)
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
