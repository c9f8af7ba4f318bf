"""HDF5 output: one file per run, written atomically (temporary file, then rename).

Layout::

    /               attrs: format, sdeprop_version, seed, created_utc, git_commit
    /config         the full configuration as TOML text (defaults filled in)
    /counts         attrs: injected, escaped_z, escaped_R, alive_at_t_max, ...
    /timings        attrs: wall_s, batch_cpu_s, steps_per_s_per_core, workers
    /regimes        energy_max_GeV, t_max_Myr, snapshot_dt_Myr
    /tallies/NAME   attrs: kind, density_unit; dataset sums (5, time, spatial..., E, E0): the
                    per-history moments Σc, Σcv, Σc², Σc²v, Σc²v² (see sdeprop.tallies),
                    density and uncertainty for the configured spectrum,
                    axes/<axis> edges (kpc, GeV), output_times_Myr
"""

from __future__ import annotations

import datetime as _dt
import os
import subprocess
import tempfile
import tomllib
from pathlib import Path

import h5py
import numpy as np

from .result import DENSITY_UNIT, Result, Tally
from .tallies import TallyLayout

FORMAT = "sdeprop-result-2"


def _git_commit() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except Exception:
        return "unknown"


def write_result(result: Result, path) -> Path:
    """Write ``result`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            for k, v in result.metadata.items():
                if np.ndim(v) == 0:
                    f.attrs[k] = v
            f.attrs["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat()
            f.attrs["git_commit"] = _git_commit()
            f.create_dataset("config", data=result.config_toml)
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
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_result(path) -> Result:
    """Read a result file written by :func:`write_result`."""
    from .config import load_config
    from .models.sources import EnergySampler
    from .spectra import spectrum_from_config

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"result file '{path}' does not exist")
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"'{path}' is not an sdeprop result file (format {f.attrs.get('format')!r})")
        toml_text = f["config"][()].decode() if isinstance(f["config"][()], bytes) else str(f["config"][()])
        cfg = load_config(tomllib.loads(toml_text))
        counts = {k: int(v) for k, v in f["counts"].attrs.items()}
        timings = {k: float(v) for k, v in f["timings"].attrs.items()}
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        for k in ("energy_max_GeV", "t_max_Myr", "snapshot_dt_Myr"):
            meta[f"regime_{k}"] = f["regimes"][k][()]
        sampler = EnergySampler(cfg.energy.min_GeV, cfg.energy.max_GeV, cfg.energy.sampling, cfg.energy.sampling_index)
        spec = spectrum_from_config(cfg.spectrum)
        tallies = {}
        for name, g in f["tallies"].items():
            axes = {k: g["axes"][k][()] for k in g["axes"]}
            e = axes.pop("E_GeV")
            e0 = axes.pop("E0_GeV", None)
            kind = g.attrs["kind"]
            order = {"cylindrical": ("R_kpc", "z_kpc"), "cartesian": ("x_kpc", "y_kpc", "z_kpc"), "sphere": ()}[kind]
            lay = TallyLayout(name=name, kind=kind, spatial_axes={k: axes[k] for k in order}, energy_edges_GeV=e,
                              source_energy_edges_GeV=e0, output_times_Myr=g["output_times_Myr"][()])
            if kind == "sphere":
                lay.sphere_center_kpc = np.asarray(g.attrs["center_kpc"])
                lay.sphere_radius_kpc = float(g.attrs["radius_kpc"])
            tallies[name] = Tally(lay, g["sums"][()], int(g.attrs["n_injected"]), sampler,
                                  cfg.species.name, spec, cfg.spectrum.rate_per_Myr)
    return Result(toml_text, tallies, counts, timings, meta, None, str(path))
