"""``sdeprop skymap RESULT --energies ... -o sky.fits``: γ-ray or neutrino sky maps from a result."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from . import args as common

GAS_HELP = "gas model: galprop, nakanishi_sofue, spiral_arms, or a gas cube file (.h5, .hdf5, .fits)"


def add_parser(subparsers):
    p = subparsers.add_parser("skymap", help="γ-ray or neutrino sky maps (HEALPix FITS cube) from a result")
    p.add_argument("result", help="result file (HDF5) with a cartesian or cylindrical tally")
    p.add_argument(
        "--energies", required=True, help="photon or neutrino energies [GeV], comma-separated, e.g. 1e3,1e4"
    )
    p.add_argument(
        "--processes", default="pp", help="comma-separated: pp, ic, brems (photons) or nu, nu_mu, nu_e"
    )
    p.add_argument("--nside", type=common.whole_number, default=64, help="HEALPix nside (default 64)")
    p.add_argument(
        "--car", type=float, metavar="DEG", help="a plate-carrée (l, b) map with DEG pixels instead (HDF5)"
    )
    p.add_argument("--gas", default="galprop", help=GAS_HELP)
    p.add_argument("--tally", help="the tally to use (default: the first cartesian, else cylindrical one)")
    p.add_argument("--interpolation", choices=("linear", "nearest"), default="linear",
                   help="the particle density between cell centres (default linear)")  # fmt: skip
    p.add_argument("--max-distance", type=float, help="stop every ray at this distance [kpc]")
    p.add_argument("--absorption", action="store_true",
                   help="attenuate γ rays by pair production on the run's ISRF (from ~100 TeV)")  # fmt: skip
    p.add_argument("--ratio", help="another result (same tally): also write this map / that map")
    p.add_argument("--replicas", nargs="+", metavar="RESULT",
                   help="results of the same configuration with other seeds: the map is the mean of all, "
                   "its 1σ their scatter (all correlations in), the per-cell bound beside it")  # fmt: skip
    p.add_argument("--region", action="append",
                   help="write the region spectrum (CSV): lhaaso_inner, lhaaso_outer, tibet_inner, "
                   "tibet_outer, "
                   "argo_inner, argo_outer or l_min,l_max,b_min,b_max [deg] (repeatable)")  # fmt: skip
    p.add_argument("--mask", action="append", metavar="FITS",
                   help="write the spectrum of the region a HEALPix mask selects (pixels > 0.5; any nside, "
                   "regraded to the map's) (repeatable)")  # fmt: skip
    p.add_argument("--uncertainty", choices=("auto", "bound", "groups"), default="auto",
                   help="1σ of the pixels: the per-cell upper bound, or the scatter of the tally's batch "
                   "groups ([[tally]] batch_groups; all correlations in); auto: groups if kept")  # fmt: skip
    p.add_argument("--plot", action="store_true", help="also write PNG figures beside the output")
    common.add_output_option(
        p, "output: .fits (HEALPix cube + a .h5 beside it) or .h5 (default RESULT_sky.fits)"
    )
    return p


def _energies(text: str) -> np.ndarray:
    try:
        values = np.array(common.numbers(text, None, "--energies", "energies in GeV, e.g. 1e3,1e4"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if np.any(values <= 0):
        raise ConfigError(f"--energies '{text}' must be positive energies in GeV")
    return values


def _gas(text: str):
    from ..models.gas3d import build_gas_model

    if Path(text).suffix.lower() in (".h5", ".hdf5", ".fits", ".gz", ".fit"):
        from ..io import read_gas_cube

        return read_gas_cube(text)
    try:
        return build_gas_model(text)
    except ValueError as exc:
        raise ConfigError(f"--gas {text!r}: {exc}") from None


def _read_mask(path, sky) -> np.ndarray:
    """A HEALPix mask file as booleans at the map's nside (RING order)."""
    import healpy as hp

    if sky.kind != "healpix":
        raise ConfigError("--mask selects HEALPix pixels; a plate-carrée map (--car) takes --region boxes")
    try:
        values = hp.read_map(path, dtype=np.float64)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"--mask {path}: not a readable HEALPix map ({exc})") from None
    if hp.get_nside(values) != sky.nside:
        values = hp.ud_grade(values, sky.nside)
    return values > 0.5


def _write_region_csv(path: Path, spectrum, uncertainty_kind: str) -> Path:
    from ..checkpoint import atomic_output

    with atomic_output(path) as tmp, open(tmp, "w", newline="") as f:
        f.write(
            f"# region: {spectrum.region}; {spectrum.n_pixels} pixels, {spectrum.solid_angle_sr:.5g} sr\n"
        )
        f.write("# intensity: mean over the region [GeV^-1 cm^-2 s^-1 sr^-1]\n")
        f.write(f"# uncertainty: 1 sigma, {uncertainty_kind}\n")
        w = csv.writer(f)
        w.writerow(["E_GeV", "intensity", "uncertainty"])
        for row in zip(spectrum.energies_GeV, spectrum.intensity, spectrum.uncertainty):
            w.writerow([f"{v:.6g}" for v in row])
    return path


def main(args):
    from ..io import load_result
    from ..skymap.maps import make_skymap
    from ..skymap.output import write_skymap_fits, write_skymap_hdf5
    from ..skymap.regions import parse_region

    energies = _energies(args.energies)
    processes = [p.strip() for p in args.processes.split(",") if p.strip()]
    regions = [parse_region(r) for r in args.region or ()]
    gas = _gas(args.gas)
    source = Path(args.result)
    out = Path(args.output) if args.output else source.with_name(source.stem + "_sky.fits")
    if args.car is not None and out.suffix.lower() == ".fits":
        raise ConfigError(f"-o {out}: a plate-carrée map (--car) is written to HDF5; give a .h5 name")
    if out.suffix.lower() not in (".fits", ".h5", ".hdf5"):
        raise ConfigError(f"-o {out}: the output must end in .fits or .h5")
    for path in (
        [source] + ([Path(args.ratio)] if args.ratio else []) + [Path(r) for r in args.replicas or ()]
    ):
        if out.resolve() == path.resolve():
            raise ConfigError(f"-o {out} names an input file; choose another output")
    options = dict(
        processes=processes, nside=args.nside, car_pixel_deg=args.car, tally=args.tally, gas=gas,
        interpolation=args.interpolation,
        max_distance_kpc=args.max_distance if args.max_distance is not None else np.inf,
        absorption=args.absorption, uncertainty=args.uncertainty,
    )  # fmt: skip
    sky = make_skymap(load_result(source), energies, **options)
    if args.replicas:
        from ..skymap.maps import combine_replicas

        sky = combine_replicas(
            [sky] + [make_skymap(load_result(r), energies, **options) for r in args.replicas]
        )
    h5 = out if out.suffix.lower() != ".fits" else out.with_suffix(".h5")
    if out.suffix.lower() == ".fits":
        print(f"wrote {write_skymap_fits(sky, out)}")
    print(f"wrote {write_skymap_hdf5(sky, h5)}")
    print(
        f"{sky.metadata['pixels']} pixels; emissivities {sky.metadata['emission_s']:.1f} s, "
        f"line of sight {sky.metadata['line_of_sight_s']:.1f} s"
    )
    other = None
    if args.ratio:
        other = make_skymap(load_result(args.ratio), energies, **options)
        ratio_path = out.with_name(out.stem + "_ratio.h5")
        r, s = sky.ratio(other)
        ratio_map = type(sky)(
            sky.energies_GeV, r, s, sky.kind, sky.nside, sky.l_edges_deg, sky.b_edges_deg,
            metadata={"numerator": str(source), "denominator": str(args.ratio)}, unit="1",
        )  # fmt: skip
        print(f"wrote {write_skymap_hdf5(ratio_map, ratio_path)}")
    spectra = {}
    kind = "replica scatter" if args.replicas else sky.metadata["uncertainty"]
    for mask_path in args.mask or ():
        name = Path(mask_path).stem
        spectra[name] = sky.region_spectrum(_read_mask(mask_path, sky), label=name)
        print(f"wrote {_write_region_csv(out.with_name(f'{out.stem}_{name}.csv'), spectra[name], kind)}")
    for region in regions:
        spectra[region.name] = sky.region_spectrum(region)
        tag = region.name.replace(",", "_")
        print(
            f"wrote {_write_region_csv(out.with_name(f'{out.stem}_{tag}.csv'), spectra[region.name], kind)}"
        )
    if args.plot:
        from ..plotting.skymap import plot_ratio, plot_region_spectra, plot_sky

        for k, e in enumerate(energies):
            print(f"wrote {plot_sky(sky, out.with_name(f'{out.stem}_E{e:.3g}GeV.png'), k)}")
            if other is not None:
                print(
                    f"wrote {plot_ratio(sky, other, out.with_name(f'{out.stem}_ratio_E{e:.3g}GeV.png'), k)}"
                )
        if spectra:
            print(f"wrote {plot_region_spectra(spectra, out.with_name(out.stem + '_regions.png'))}")
