"""The run configuration: one schema, loaded from TOML or a dict, validated at load time.

Every key carries a description, a unit (in its name or description), a default and
an allowed range.  Unknown keys are errors.  Validation errors are turned into
:class:`ConfigError` messages that name the key, the bad value and what is allowed.
``sdeprop config`` prints the annotated defaults; docs/configuration.md is generated
by ``sdeprop config --markdown > docs/configuration.md``.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError  # defined in errors.py; `from sdeprop.config import ConfigError` still works

# ----------------------------------------------------------------------------- checks handed in
#: Names of the checks that only the code using a key can make: a Galactic field model's variant and
#: parameter overrides (models.field.gmf_params), the 'jf12_random' overrides (models.gmf_jf12), the
#: ISRF lists (models.isrf), the loss processes a species has (models.losses), the contents of a
#: field-grid file (io.load_field_grid) or of a source-density grid (io.load_source_grid).  This module
#: imports none of them: the models and readers are built from a configuration, never the other way round
#: (tests/test_architecture.py).
#: sdeprop/config_checks.py hands them in with register_check when the package is imported, so
#: load_config still rejects every bad key at load time.  Each check raises ValueError, TypeError
#: or KeyError with a message; the schema puts the key in front of it.
CHECK_NAMES = (
    "field_model_parameters",
    "turbulence_parameters",
    "isrf",
    "loss_processes",
    "field_grid_file",
    "field_grid_extent",
    "turbulent_diffusion",
    "diffusion_grid_file",
    "source_grid_file",
)
_checks: dict[str, Callable[..., Any]] = {}


def register_check(name: str, check: Callable[..., Any]) -> None:
    """Hand in the check ``name`` (one of ``CHECK_NAMES``) that the schema calls during validation."""
    if name not in CHECK_NAMES:
        raise KeyError(f"unknown configuration check {name!r}; known: {', '.join(CHECK_NAMES)}")
    _checks[name] = check


def _check(name: str, *args) -> Any:
    try:
        check = _checks[name]
    except KeyError:
        raise RuntimeError(
            f"the configuration check {name!r} is not registered: sdeprop/__init__.py imports "
            "sdeprop.config_checks, which registers it"
        ) from None
    return check(*args)


log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- strict values
#: Values are strict: a number key takes a number (an integer is fine where a float is expected), never
#: true/false or a quoted string; a true/false key takes true or false only; a string key takes a string.
#: Numbers are finite (a NaN or an infinity is refused) except where a model's own parameters allow an
#: infinity (the Galactic field models' ``overrides``, e.g. ``r_max = inf``).  An integer key also takes
#: a float with an integral value, because a physicist writes ``particles = 1e5``; ``1.5`` is refused.
def _whole_number(value):
    """An integral float (1e5) as the int it spells; anything else is left for the strict int check."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return value


def _lists(value):
    """Tuples as lists, at any depth (a Python caller may write a position as a tuple)."""
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


Integer = Annotated[int, BeforeValidator(_whole_number)]


def _not_nan(value: float) -> float:
    if math.isnan(value):
        raise ValueError("must be a number, not nan")
    return value


#: a model's own parameter: an infinity may mean something there (r_max = inf), the model's check judges
ModelParameter = Annotated[float, AllowInfNan(True), AfterValidator(_not_nan)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _tuples_as_lists(cls, data):
        return _lists(data) if isinstance(data, dict) else data


Vector3 = Annotated[list[float], Field(min_length=3, max_length=3)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: the largest field strength a key takes [μG]: 1 G, a million times the Galaxy's field, so a larger value is
#: a slip (and far larger ones, ~1e154 μG, would overflow |B|² in the kernel's frame)
FIELD_STRENGTH_MAX_UG = 1.0e6
FieldStrength = Annotated[float, Field(gt=0, le=FIELD_STRENGTH_MAX_UG)]
#: a field component of either sign [μG]
FieldComponent = Annotated[float, Field(ge=-FIELD_STRENGTH_MAX_UG, le=FIELD_STRENGTH_MAX_UG)]


# ----------------------------------------------------------------------------- run
class RunSection(_Section):
    name: str = Field("sdeprop_run", description="Run name; used in the default output file name.")
    seed: Integer = Field(
        12345,
        ge=0,
        le=2**63 - 1,  # stored as a 64-bit integer in the output
        description="Master random seed. Batch streams are spawned from it (numpy SeedSequence).",
    )
    particles: Integer = Field(10000, ge=1, le=10**10, description="Number of pseudo-particles injected.")
    batch_size: Integer = Field(
        2000,
        ge=1,
        le=10**8,
        description="Pseudo-particles per batch (one independent random stream each). Results depend on "
        "it, not on the number of workers.",
    )
    workers: Integer = Field(1, ge=1, le=4096, description="Parallel worker processes (joblib).")
    output: str = Field(
        "outputs/{name}.h5",
        description="HDF5 output path; '{name}' is replaced by run.name. Relative paths are relative to "
        "the working directory.",
    )
    progress: bool = Field(True, description="Show a progress bar while running.")
    memory_budget_GiB: PositiveFloat = Field(
        4.0,
        description="Largest memory one process (the main one or a worker) may need for the tallies "
        "[GiB]; larger configurations are refused before running.",
    )
    max_cpu_hours: float = Field(
        1.0e4,
        ge=0,
        allow_inf_nan=False,
        description="Largest expected CPU time of the run [CPU hours, all workers together]. Before any "
        "batch runs, a short pilot estimates it (docs/production.md, 'Cost estimate'); a larger run is "
        "refused with the estimate. 0 switches the check off.",
    )


class ParallelSection(_Section):
    scheduler: str = Field(
        "",
        description="Address of a Dask distributed scheduler (e.g. 'tcp://10.0.0.1:8786'); batches then "
        "run on that cluster through joblib's dask backend. Empty: local worker processes "
        "(run.workers).",
    )

    @field_validator("scheduler")
    @classmethod
    def _address(cls, v):
        if v and "://" not in v:
            raise ValueError(f"'{v}' is not a scheduler address (expected e.g. tcp://HOST:8786)")
        return v


# ----------------------------------------------------------------------------- species / energy
class SpeciesSection(_Section):
    name: Literal["proton", "electron", "positron"] = Field(
        "proton", description="Cosmic-ray species. Energies are kinetic energies per particle."
    )


class EnergySection(_Section):
    min_GeV: PositiveFloat = Field(1.0, description="Lowest injected kinetic energy [GeV].")
    max_GeV: PositiveFloat = Field(1.0e4, description="Highest injected kinetic energy [GeV].")
    sampling: Literal["log_uniform", "power_law"] = Field(
        "log_uniform",
        description="Distribution of injected energies: flat in ln E (default; reweight afterwards) or a "
        "power law E^-sampling_index.",
    )
    sampling_index: float = Field(
        2.0,
        ge=-10,
        le=10,
        allow_inf_nan=False,
        description="Index of the power-law sampling distribution (only with sampling = 'power_law').",
    )

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_GeV >= self.max_GeV:
            raise ValueError(f"energy.min_GeV = {self.min_GeV} must be below energy.max_GeV = {self.max_GeV}")
        return self


# ----------------------------------------------------------------------------- galaxy
class GalaxySection(_Section):
    halo_height_kpc: PositiveFloat = Field(
        4.0, description="Half-height H of the diffusive halo: the boundary at |z| = H [kpc]."
    )
    radius_max_kpc: PositiveFloat = Field(
        20.0, description="Galactocentric radius R_max of the outer boundary [kpc]."
    )
    sun_position_kpc: Vector3 = Field(
        [-8.3, 0.0, 0.0],
        description="Position of the Sun in the Galactocentric frame (Sun on the negative x axis) [kpc].",
    )
    boundary: Literal["escape", "reflect"] = Field(
        "escape",
        description="What happens at |z| = H and R = R_max. escape: free escape (absorbing; "
        "docs/design.md §2). reflect: mirror reflection (zero flux), a closed galaxy in which "
        "particles live until t_max; for conservation checks and closed-box studies.",
    )


# ----------------------------------------------------------------------------- field
class _FieldModel(_Section):
    scale: float = Field(
        1.0,
        ge=-1e3,
        le=1e3,
        allow_inf_nan=False,
        description="Factor applied to this field (or component of a sum).",
    )


class UniformField(_FieldModel):
    model: Literal["uniform"] = "uniform"
    direction: Vector3 = Field(
        [0.0, 0.0, 1.0], description="Direction of the field (normalised internally; must be non-zero)."
    )
    strength_uG: FieldStrength = Field(1.0, description="Field strength [μG].")
    south_direction: Vector3 | None = Field(
        None,
        description="Direction of the field for z < 0 (default: the same as north). Two half-spaces with "
        "different fields are the simplest case of a tensor that jumps across the plane "
        "(numerics.plane_interface); for validation.",
    )
    south_strength_uG: FieldStrength | None = Field(
        None, description="Field strength for z < 0 [μG] (default: strength_uG)."
    )

    @field_validator("direction", "south_direction")
    @classmethod
    def _nonzero(cls, v):
        if v is not None and (not all(math.isfinite(c) for c in v) or math.hypot(*v) == 0.0):
            raise ValueError(f"direction {v} must be a finite, non-zero 3-vector")
        return v


class CerriToyField(_FieldModel):
    model: Literal["cerri_toy"] = "cerri_toy"
    B0_phi_uG: FieldStrength = Field(
        3.0,
        description="Azimuthal amplitude B0φ in B_φ = B0φ (1 − exp(−R/R0)) [μG] (Cerri et al. 2017 eq. 3.1).",
    )
    R0_kpc: PositiveFloat = Field(3.0, description="Radial scale R0 of the toy field [kpc].")
    epsilon_B: float = Field(
        0.5,
        ge=0,
        le=1e3,
        allow_inf_nan=False,
        description="Vertical-to-azimuthal ratio ε_B in B_z = ε_B B0φ exp(−R/R0).",
    )


class CylindricalUniformField(_FieldModel):
    model: Literal["cylindrical_uniform"] = "cylindrical_uniform"
    B_R_uG: FieldComponent = Field(0.0, description="Radial component B_R, the same at every point [μG].")
    B_phi_uG: FieldComponent = Field(
        0.0, description="Azimuthal component B_φ, the same at every point [μG]."
    )
    B_z_uG: FieldComponent = Field(1.0, description="Vertical component B_z away from the peak [μG].")
    B_z_peak_uG: FieldComponent = Field(
        0.0,
        description="Peak added to B_z: B_z + B_z_peak exp(−(R² + z²)/L²) (Cerri et al. 2017 app. B, "
        "case P3) [μG].",
    )
    peak_scale_kpc: PositiveFloat = Field(1.0, description="Scale L of the B_z peak [kpc].")

    @model_validator(mode="after")
    def _not_zero(self):
        if self.B_R_uG == self.B_phi_uG == self.B_z_uG == self.B_z_peak_uG == 0.0:
            raise ValueError("field model 'cylindrical_uniform': every component is zero")
        return self


class GridField(_FieldModel):
    model: Literal["grid"] = "grid"
    file: str = Field(
        ...,
        description="HDF5 (.h5/.hdf5) or NumPy (.npz) file with datasets Bx, By, Bz [μG] of shape (nx, "
        "ny, nz) and 1D x, y, z node coordinates [kpc], uniformly spaced.",
    )

    @field_validator("file")
    @classmethod
    def _readable(cls, v):
        _check("field_grid_file", v)  # io.load_field_grid: ValueError with a clear message
        return v


class _GalacticField(_FieldModel):
    variant: str | None = None
    overrides: dict[str, ModelParameter | bool] = Field(
        default_factory=dict,
        description="Model parameters to change, by the names of the model's parameter table (see its "
        "module docstring); also component switches and scales.",
    )

    @model_validator(mode="after")
    def _check_parameters(self):
        try:
            _check("field_model_parameters", self.model, self.variant, dict(self.overrides))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"field model '{self.model}': {exc}") from None
        return self


class Jf12Field(_GalacticField):
    model: Literal["jf12"] = "jf12"
    variant: str | None = Field(
        None,
        description="Parameter set of sdeprop.models.gmf_jf12.jf12_params (default: Jansson & Farrar 2012a).",
    )


class Jf12SolenoidalField(_GalacticField):
    model: Literal["jf12_solenoidal"] = "jf12_solenoidal"


class Uf23Field(_GalacticField):
    model: Literal["uf23"] = "uf23"
    variant: str | None = Field(
        "base",
        description="Unger & Farrar 2024 model: base, expX, spur, neCL, twistX, nebCor, cre10 or synCG.",
    )


class Pt11Field(_GalacticField):
    model: Literal["pt11"] = "pt11"
    variant: str | None = Field("ASS", description="Pshirkov et al. 2011 disc: ASS or BSS.")


class Cerri17Field(_GalacticField):
    model: Literal["cerri17"] = "cerri17"


ComponentField = Annotated[
    UniformField
    | CerriToyField
    | CylindricalUniformField
    | GridField
    | Jf12Field
    | Jf12SolenoidalField
    | Uf23Field
    | Pt11Field
    | Cerri17Field,
    Field(discriminator="model"),
]


class SumField(_FieldModel):
    model: Literal["sum"] = "sum"
    components: list[ComponentField] = Field(
        ...,
        min_length=1,
        description="Fields added together, each with its own scale ([[field.components]] tables).",
    )

    @model_validator(mode="after")
    def _one_grid(self):
        if sum(isinstance(c, GridField) for c in self.components) > 1:
            raise ValueError("a sum may contain at most one 'grid' component")
        return self


FieldSection = Annotated[
    UniformField
    | CerriToyField
    | CylindricalUniformField
    | GridField
    | Jf12Field
    | Jf12SolenoidalField
    | Uf23Field
    | Pt11Field
    | Cerri17Field
    | SumField,
    Field(discriminator="model"),
]


# ----------------------------------------------------------------------------- turbulence
class TurbulenceSection(_Section):
    model: Literal["none", "constant", "jf12_random"] = Field(
        "none",
        description="Strength of the turbulent field δB_rms(x) (sdeprop.models.turbulence): 'none', "
        "'constant' (rms_uG everywhere) or 'jf12_random' (Jansson & Farrar 2012b random-field "
        "amplitude). Enters the synchrotron losses with the coherent field.",
    )
    rms_uG: float = Field(
        0.0, ge=0, le=FIELD_STRENGTH_MAX_UG, description="δB_rms of the 'constant' model [μG]."
    )
    variant: Literal["jf12", "planck"] | None = Field(
        None,
        description="'jf12_random' parameter set: 'jf12' (default) or 'planck' (Planck Collaboration Int. "
        "XLII 2016).",
    )
    scale: float = Field(1.0, ge=0, le=1e3, allow_inf_nan=False, description="Factor applied to δB_rms.")
    overrides: dict[str, ModelParameter | bool | list[ModelParameter]] = Field(
        default_factory=dict,
        description="'jf12_random' parameters to change (names of "
        "sdeprop.models.gmf_jf12.JF12_RANDOM_DEFAULTS).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.model != "jf12_random" and (self.variant is not None or self.overrides):
            raise ValueError(f"variant and overrides apply to model 'jf12_random' only, not '{self.model}'")
        if self.model == "jf12_random":
            try:
                _check("turbulence_parameters", self.variant, dict(self.overrides))
            except (ValueError, TypeError, KeyError) as exc:
                raise ValueError(f"turbulence model 'jf12_random': {exc}") from None
        return self


# ----------------------------------------------------------------------------- diffusion
class TwoHaloSection(_Section):
    inner_half_thickness_kpc: PositiveFloat = Field(
        0.8,
        description="Half-thickness ξL of the inner halo [kpc] (ξ ≈ 0.16 of L ≈ 5 kpc in the two-halo "
        "study); the index is δ(z) = delta_par + delta_change (|z|/ξL)^n inside and delta_par + delta_change "
        "outside.",
    )
    delta_change: float = Field(
        0.39,
        ge=-2,
        le=2,
        allow_inf_nan=False,
        description="Δ: the rigidity index of D grows from delta_par (δ0) in the plane to δ0 + Δ in the "
        "outer halo.",
    )
    transition_index: float = Field(
        5.0, ge=1, le=100, allow_inf_nan=False, description="n of the transition (|z|/ξL)^n (smooth)."
    )
    sharp: bool = Field(
        False,
        description="D jumps at |z| = ξL (the limit n → ∞; transition_index is then unused): the interface "
        "step handles the jump (docs/transport.md).",
    )


class DiffusionTurbulenceSection(_Section):
    model: str = Field(
        "quasi_linear",
        description="How D∥ and D⊥ scale with the turbulence level η = δB/B "
        "(sdeprop.models.turbulent_diffusion.TURBULENCE_DIFFUSION_MODELS; docs/transport.md).",
    )
    reference_eta: PositiveFloat = Field(
        0.5,
        description="η_ref where D takes its configured value (D0 and the rigidity law); D ∝ f(R, η/η_ref).",
    )
    eta_min: PositiveFloat = Field(
        1e-3, description="Lower end of the η table; η is clamped to it (where δB → 0)."
    )
    eta_max: PositiveFloat = Field(
        1e3, description="Upper end of the η table; η is clamped to it (where the regular field vanishes)."
    )
    options: dict[str, float] = Field(
        default_factory=dict,
        description="The model's own options (names, defaults and bounds in docs/transport.md).",
    )

    @model_validator(mode="after")
    def _check(self):
        if not self.eta_min < self.reference_eta < self.eta_max:
            raise ValueError(
                "need eta_min < reference_eta < eta_max; got "
                f"{self.eta_min}, {self.reference_eta}, {self.eta_max}"
            )
        try:
            _check("turbulent_diffusion", self.model, dict(self.options))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"diffusion.turbulence: {exc}") from None
        return self


class DiffusionGridSection(_Section):
    file: str = Field(
        ...,
        description="HDF5 file with ln D∥ and ln D⊥ multipliers on a Cartesian grid, with a rigidity axis or "
        "per-node index changes (layout in docs/transport.md; "
        "sdeprop.models.spatial_diffusion.write_diffusion_grid).",
    )

    @field_validator("file")
    @classmethod
    def _readable(cls, value):
        try:
            _check("diffusion_grid_file", value)
        except (ValueError, TypeError, KeyError, OSError) as exc:
            raise ValueError(str(exc)) from None
        return value


class DiffusionSection(_Section):
    form: Literal["power_law", "broken_power_law"] = Field(
        "power_law",
        description="'power_law': D∥ = D0 β (R/R0)^delta_par. 'broken_power_law': D∥ = D0 β "
        "(R/R_br)^gamma1 / [1 + (R/R_br)^(gamma2 − gamma1)] (Dörner et al. ICRC2025 eq. 1).",
    )
    D0_cm2_per_s: PositiveFloat = Field(
        3.0e28, description="Normalisation D0 of the parallel diffusion coefficient [cm²/s]."
    )
    reference_rigidity_GV: PositiveFloat = Field(
        4.0, description="Reference rigidity R0 of the power law, and where D⊥ = ε D∥ [GV]."
    )
    delta_par: float = Field(
        0.5, ge=-1, le=3, allow_inf_nan=False, description="Rigidity index of D∥ (power_law form)."
    )
    epsilon: float = Field(
        0.1, ge=0, le=1, allow_inf_nan=False, description="Anisotropy ε = D⊥/D∥ at the reference rigidity."
    )
    delta_perp: float | None = Field(
        None,
        ge=-1,
        le=3,
        allow_inf_nan=False,
        description="Rigidity index of D⊥; default: D⊥ follows D∥ (D⊥ = ε D∥ at all rigidities).",
    )
    beta: bool = Field(True, description="Multiply D by the particle speed β = v/c.")
    break_rigidity_GV: PositiveFloat = Field(
        64.38, description="Break rigidity R_br of the broken power law [GV] (Dörner et al. ICRC2025)."
    )
    gamma1: float = Field(
        0.335, ge=-3, le=3, allow_inf_nan=False, description="High-rigidity index γ1 of the broken power law."
    )
    gamma2: float = Field(
        -0.321,
        ge=-3,
        le=3,
        allow_inf_nan=False,
        description="γ2 of the broken power law (low-rigidity slope is 2γ1 − γ2).",
    )
    spatial: Literal["uniform", "two_halo", "turbulence", "grid"] = Field(
        "uniform",
        description="How D varies in space: 'uniform'; 'two_halo' (the index grows away from the plane; "
        "[diffusion.two_halo]); 'turbulence' (D∥, D⊥ scale with η = δB/B; [diffusion.turbulence]); 'grid' "
        "(multipliers from a file; [diffusion.grid]). docs/transport.md.",
    )
    two_halo: TwoHaloSection | None = Field(None, description="Parameters of spatial = 'two_halo'.")
    turbulence: DiffusionTurbulenceSection | None = Field(
        None, description="Parameters of spatial = 'turbulence'."
    )
    grid: DiffusionGridSection | None = Field(None, description="Parameters of spatial = 'grid'.")

    @model_validator(mode="after")
    def _spatial_tables(self):
        for name in ("two_halo", "turbulence", "grid"):
            if getattr(self, name) is not None and self.spatial != name:
                raise ValueError(
                    f"[diffusion.{name}] is given but diffusion.spatial = '{self.spatial}'; set "
                    f"spatial = '{name}' or remove the table"
                )
        if self.spatial == "two_halo":
            if self.two_halo is None:
                self.two_halo = TwoHaloSection()
            if self.form != "power_law":
                raise ValueError("spatial = 'two_halo' needs form = 'power_law' (δ0 is delta_par)")
        if self.spatial == "turbulence" and self.turbulence is None:
            self.turbulence = DiffusionTurbulenceSection()
        if self.spatial == "grid" and self.grid is None:
            raise ValueError("spatial = 'grid' needs a [diffusion.grid] table with its file")
        return self


# ----------------------------------------------------------------------------- advection, reacceleration
class AdvectionSection(_Section):
    v0_km_s: float = Field(
        0.0,
        ge=0,
        le=3000,
        allow_inf_nan=False,
        description="Wind speed at the plane v0 [km/s]: u_z = sign(z)(v0 + dv/dz |z|).",
    )
    dvdz_km_s_per_kpc: float = Field(
        0.0, ge=0, le=3000, allow_inf_nan=False, description="Wind gradient dv/dz [km/s/kpc]."
    )


class ReaccelerationSection(_Section):
    alfven_speed_km_s: float = Field(
        0.0,
        ge=0,
        le=1000,
        allow_inf_nan=False,
        description="Alfvén speed v_A [km/s]; 0 switches reacceleration off. Momentum diffusion "
        "D_pp = 4 p² v_A² / (3 δ (4 − δ²)(4 − δ) ω D∥) (Seo & Ptuskin 1994) with ω = 1.",
    )
    turbulence_index: float | None = Field(
        None,
        gt=0,
        lt=2,
        allow_inf_nan=False,
        description="δ in D_pp (the turbulence spectrum's index); default: the local rigidity index of D∥ "
        "(diffusion.delta_par, δ(z) in the two-halo model).",
    )


class CatastrophicSection(_Section):
    inelastic: bool = Field(
        False,
        description="Inelastic collisions with the gas (protons: σ_inel of Kafexhiu et al. 2014 on n_H, "
        "helium targets scaled by losses.gas.helium_ratio × helium_cross_section_ratio), applied as a weight "
        "exp(−∫ν dt) on every score.",
    )
    helium_cross_section_ratio: float = Field(
        3.5,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="σ_inel(p He)/σ_inel(p p) for the helium targets.",
    )
    decay_lifetime_Myr: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Rest-frame lifetime τ [Myr] of an unstable species: ν = 1/(γ τ).",
    )


# ----------------------------------------------------------------------------- losses
LossProcess = Literal[
    "synchrotron", "inverse_compton", "bremsstrahlung", "coulomb_ionisation", "pion_production"
]


class IsrfSection(_Section):
    model: Literal["delahaye10", "custom"] = Field(
        "delahaye10",
        description="Interstellar radiation field as grey bodies (sdeprop.models.isrf). delahaye10: CMB + "
        "dust IR + optical + 3 UV components at the Sun (Delahaye et al. 2010, "
        "docs/physics.md §2.1). custom: the 'components' list.",
    )
    components: list[Annotated[list[float], Field(min_length=2, max_length=2)]] | None = Field(
        None,
        description="For model 'custom': [[T_K, U_eV_per_cm3], ...]; the first component is the CMB "
        "(always uniform).",
    )
    scale: float = Field(
        1.0, ge=0, le=100, allow_inf_nan=False, description="Factor applied to every non-CMB energy density."
    )
    scale_lengths_kpc: PositiveFloat | list[PositiveFloat] | None = Field(
        None,
        description="Radial scale lengths R_i of the non-CMB components, U_i ∝ exp[−(R − R_sun)/R_i − "
        "|z|/z_i] (docs/physics.md §2.1 option 2): one value for all or one per component. "
        "Default: uniform (no primary source gives values).",
    )
    scale_heights_kpc: PositiveFloat | list[PositiveFloat] | None = Field(
        None,
        description="Vertical scale heights z_i of the non-CMB components [kpc]; one value or one per "
        "component. Default: uniform.",
    )
    R_sun_kpc: PositiveFloat = Field(
        8.5, description="Galactocentric radius where the local energy densities apply [kpc]."
    )

    @model_validator(mode="after")
    def _check(self):
        if self.model == "custom" and not self.components:
            raise ValueError("isrf model 'custom' needs components = [[T_K, U_eV_per_cm3], ...]")
        if self.model != "custom" and self.components is not None:
            raise ValueError(f"isrf.components applies to model 'custom' only, not '{self.model}'")
        try:
            _check("isrf", self)
        except ValueError as exc:
            raise ValueError(f"isrf: {exc}") from None
        return self


class GasSection(_Section):
    xco: Literal["SM96", "galprop_2004", "galprop_2010", "constant"] = Field(
        "SM96",
        description="CO-to-H2 conversion X_CO(R) of the GALPROP analytic gas model (sdeprop.models.gas, "
        "docs/physics.md §5.1).",
    )
    xco_value: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="X_CO for xco = 'constant' [10²⁰ cm⁻² (K km/s)⁻¹]."
    )
    scale_HI: float = Field(
        1.0, ge=0, le=100, allow_inf_nan=False, description="Factor on the atomic hydrogen density."
    )
    scale_H2: float = Field(
        1.0, ge=0, le=100, allow_inf_nan=False, description="Factor on the molecular hydrogen density."
    )
    scale_HII: float = Field(
        1.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Factor on the ionised hydrogen (free-electron) density (Cordes et al. 1991).",
    )
    helium_ratio: float = Field(
        0.1,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Neutral helium density as a fraction of the neutral hydrogen nuclei density n_HI + 2 "
        "n_H2 (docs/physics.md §3).",
    )
    electron_temperature_K: PositiveFloat = Field(
        1.0e4,
        description="Temperature of the ionised gas, for the Coulomb loss of protons [K] (docs/physics.md "
        "§3.2).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.xco == "constant" and self.xco_value is None:
            raise ValueError("gas.xco = 'constant' needs gas.xco_value")
        if self.xco != "constant" and self.xco_value is not None:
            raise ValueError(f"gas.xco_value applies to xco = 'constant' only, not '{self.xco}'")
        return self


class LossesSection(_Section):
    model: Literal["none", "quadratic", "galactic"] = Field(
        "none",
        description="Continuous energy losses, a drift dE = −b dt. 'none'. 'quadratic': b(E) = b0 E² (the "
        "Thomson-limit synchrotron/IC form; Syrovatskii 1959), uniform in space. 'galactic': "
        "the sum of the switched-on processes in the Galaxy's field, radiation and gas "
        "(docs/losses.md).",
    )
    b0_per_GeV_per_s: float = Field(
        1.0e-16,
        gt=0,
        allow_inf_nan=False,
        description="Coefficient b0 of b = b0 E² [GeV⁻¹ s⁻¹] (model 'quadratic').",
    )
    energy_floor_GeV: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Particles that cool below this energy are removed and counted; default: the lowest "
        "tally energy edge (or energy.min_GeV / 10).",
    )
    processes: list[LossProcess] | None = Field(
        None,
        description="Processes of model 'galactic'. e±: synchrotron, inverse_compton, bremsstrahlung, "
        "coulomb_ionisation (ionisation of neutral gas + Coulomb in ionised gas); default all "
        "four. Protons: coulomb_ionisation, pion_production; default both when energy.min_GeV "
        "< 10, none above (they are negligible there).",
    )
    klein_nishina: Literal["fang21", "moderski05", "khangulyan14", "thomson"] = Field(
        "fang21",
        description="Inverse-Compton cross-section treatment on each grey body: fang21 (Fang et al. 2021 "
        "fit, < 1.5 % from the exact integral), moderski05 (Moderski et al. 2005 (1 + "
        "4γε/mc²)^−3/2), khangulyan14 (Khangulyan et al. 2014 spectrum integrated; exact "
        "reference), thomson (no suppression). docs/physics.md §2.3.",
    )
    magnetic_field_uG: float | None = Field(
        None,
        ge=0,
        le=1e4,
        allow_inf_nan=False,
        description="Total field strength for synchrotron losses [μG], the same everywhere. Default: from "
        "the coherent [field] model plus the [turbulence] δB_rms at the particle, B² = "
        "|B_reg|² + δB_rms².",
    )
    pion_inelasticity: float = Field(
        0.5,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Inelasticity κ of the continuous pion-production loss b = κ σ_inel c n T "
        "(docs/physics.md §3.2).",
    )
    isrf: IsrfSection = Field(default_factory=IsrfSection)
    gas: GasSection = Field(default_factory=GasSection)
    table_points_per_decade: Integer = Field(
        32,
        ge=4,
        le=1000,
        description="Energy nodes per decade of the loss table (the spatially smooth processes are "
        "tabulated as Σ_k c_k(R, z) g_k(E) at set-up and interpolated; docs/losses.md gives "
        "the accuracy).",
    )
    table_R_spacing_kpc: float = Field(
        0.05,
        gt=0.001,
        le=1.0,
        allow_inf_nan=False,
        description="Radial spacing of the loss table's gas and radiation densities [kpc].",
    )
    table_z_resolution_kpc: float = Field(
        0.0025,
        gt=0.0001,
        le=0.5,
        allow_inf_nan=False,
        description="Vertical spacing of the loss table at z = 0 [kpc]; the nodes are uniform in z/(|z| + "
        "0.25 kpc), so the spacing grows ∝ (|z| + 0.25 kpc)² away from the plane.",
    )
    table_turbulence_spacing_kpc: float = Field(
        0.2,
        ge=0.02,
        le=2.0,
        allow_inf_nan=False,
        description="Spacing of the Cartesian table of δB_rms² used by synchrotron with a "
        "position-dependent [turbulence] model [kpc] (trilinear; docs/losses.md gives the "
        "accuracy).",
    )


def component_config(cfg: Config, component: ComponentSection) -> Config:
    """The configuration that transports one [[components]] entry: the run's galaxy, field,
    diffusion, losses, time and tallies with the component's species, source, spectrum and
    particles, and its own random seed (derived from run.seed and the component's position)."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    k = [c.name for c in cfg.components].index(component.name)
    data.pop("components", None)
    data["species"] = {"name": component.species[0]}
    data["source"] = component.source.model_dump(mode="json", exclude_none=True)
    data["spectrum"] = component.spectrum.model_dump(mode="json", exclude_none=True)
    run = data["run"]
    run["name"] = f"{cfg.run.name}.{component.name}"
    run["seed"] = int(np.random.SeedSequence([cfg.run.seed, k + 1]).generate_state(1)[0])
    if component.particles is not None and not (
        cfg.estimator.method == "backward" and cfg.observer.paths_per_energy is not None
    ):
        run["particles"] = component.particles
    return load_config(data)


# ----------------------------------------------------------------------------- sources
class PointSource(_Section):
    type: Literal["point"] = "point"
    position_kpc: Vector3 = Field([-8.3, 0.0, 0.0], description="Source position [kpc].")


class _ObserverBias(_Section):
    observer_fraction: float = Field(
        0.0,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="Importance sampling toward an observer: this fraction of the particles starts within "
        "observer_radius_kpc of it (uniform in direction and distance), all carrying weights "
        "that keep every tally unbiased (docs/losses.md). For local spectra of e±, which "
        "reach the Sun only from within their loss horizon. 0: off.",
    )
    observer_radius_kpc: PositiveFloat = Field(
        1.0, description="Radius of the biased region around the observer [kpc]."
    )
    observer_center_kpc: Vector3 | None = Field(
        None, description="The observer [kpc]; default galaxy.sun_position_kpc."
    )


class DiskSource(_ObserverBias):
    type: Literal["disk"] = "disk"
    radius_kpc: PositiveFloat = Field(15.0, description="Radius R_d of the uniform disk [kpc].")
    z_profile: Literal["gaussian", "exponential", "thin"] = Field(
        "gaussian",
        description="Vertical profile: Gaussian (σ = z_scale_kpc), exponential exp(−|z|/z_scale_kpc), or "
        "thin (z = 0).",
    )
    z_scale_kpc: PositiveFloat = Field(
        0.1, description="Vertical scale of the disk [kpc]; must be below the halo height."
    )


class RadialProfileSource(_ObserverBias):
    type: Literal["radial_profile"] = "radial_profile"
    a: float = Field(
        1.9,
        ge=0,
        le=20,
        allow_inf_nan=False,
        description="Index a in (R/R_sun)^a exp(−b (R − R_sun)/R_sun) (Lorimer et al. 2006; "
        "docs/physics.md §4.1).",
    )
    b: float = Field(
        5.0, ge=0, le=50, allow_inf_nan=False, description="Exponential index b of the radial profile."
    )
    R_sun_kpc: PositiveFloat = Field(8.3, description="Solar radius used in the profile [kpc].")
    z0_kpc: PositiveFloat = Field(0.2, description="Exponential scale height exp(−|z|/z0) [kpc].")
    R_cut_kpc: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Sources are drawn at R < R_cut [kpc]; default: galaxy.radius_max_kpc.",
    )


class GaussianSource(_ObserverBias):
    type: Literal["gaussian"] = "gaussian"
    position_kpc: Vector3 = Field([-8.3, 0.0, 0.0], description="Centre of the Gaussian cloud [kpc].")
    sigma_kpc: PositiveFloat = Field(
        0.1,
        description="Standard deviation of the isotropic Gaussian density along each axis [kpc] (a point "
        "source smoothed, for the backward estimator and for Green's-function studies).",
    )


SPIRAL_MODELS = ("faucher_giguere_kaspi06", "steiman_cameron10")


class SpiralArmsSource(_ObserverBias):
    type: Literal["spiral_arms"] = "spiral_arms"
    model: Literal["faucher_giguere_kaspi06", "steiman_cameron10"] = Field(
        "faucher_giguere_kaspi06",
        description="The arm pattern (docs/sources.md §1). faucher_giguere_kaspi06: the four arms of "
        "Faucher-Giguère & Kaspi 2006 (Norma, Carina-Sagittarius, Perseus, Crux-Scutum), Gaussian across "
        "each arm, their centre blur, the Yusifov & Küçük 2004 radial profile and exp(−|z|/0.05 kpc). "
        "steiman_cameron10: the four arms of Steiman-Cameron et al. 2010 as the spiral gas places them "
        "(docs/gas.md §3) on the Lorimer et al. 2006 radial profile with exp(−|z|/0.2 kpc).",
    )
    arm_width_fraction: float | None = Field(
        None,
        gt=0,
        le=0.3,
        allow_inf_nan=False,
        description="faucher_giguere_kaspi06 only: standard deviation of the Gaussian across an arm as a "
        "fraction of R; default 0.07 (their σ = 0.07 r).",
    )
    arm_width_deg: float | None = Field(
        None,
        gt=0,
        le=90,
        allow_inf_nan=False,
        description="steiman_cameron10 only: δ of the azimuthal arm profile exp(−Δφ²/δ²) [deg]; default 15.",
    )
    centre_blur: Literal["one_sided", "symmetric", "none"] | None = Field(
        None,
        description="faucher_giguere_kaspi06 only: the azimuthal blur near the Galactic centre, a shift t "
        "uniform on [0, W] (one_sided, the paper's θ_corr; default), on [−W, W] (symmetric) or none, "
        "W = 2π exp(−0.35 R/kpc).",
    )
    arm_weights: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        [1.0, 1.0, 1.0, 1.0],
        min_length=4,
        max_length=4,
        description="Relative share of the sources in each arm, in the model's order (docs/sources.md); not "
        "all zero.",
    )
    interarm_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Part of the sources spread evenly in azimuth at every R (the radial profile unchanged).",
    )
    rotation_deg: float = Field(
        0.0,
        ge=-360,
        le=360,
        allow_inf_nan=False,
        description="Turns the arm pattern about the z axis [deg, counter-clockwise seen from the north "
        "Galactic pole]; 0: the published pattern with its Sun in the direction of galaxy.sun_position_kpc.",
    )
    scale_to_sun: bool = Field(
        True,
        description="Stretch the pattern (arms, radial profile, blur) by R_sun/8.5 kpc, the Sun's distance "
        "in both papers, so that the arms keep their place relative to galaxy.sun_position_kpc.",
    )
    radial_a: float | None = Field(
        None,
        ge=0,
        le=20,
        allow_inf_nan=False,
        description="Index a of the radial profile ((R + R₁)/(R⊙ + R₁))^a exp(−b (R − R⊙)/(R⊙ + R₁)); "
        "default 1.64 (faucher_giguere_kaspi06, R₁ = 0.55 kpc) or 1.9 (steiman_cameron10, R₁ = 0).",
    )
    radial_b: float | None = Field(
        None,
        ge=0,
        le=50,
        allow_inf_nan=False,
        description="Index b of the radial profile; default 4.01 or 5.0.",
    )
    z0_kpc: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Exponential scale height exp(−|z|/z0) [kpc]; default 0.05 (faucher_giguere_kaspi06) "
        "or 0.2 (steiman_cameron10).",
    )
    R_cut_kpc: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Sources lie at R < R_cut [kpc]; default: galaxy.radius_max_kpc.",
    )

    @model_validator(mode="after")
    def _model_keys(self):
        own = {
            "faucher_giguere_kaspi06": ("arm_width_fraction", "centre_blur"),
            "steiman_cameron10": ("arm_width_deg",),
        }
        for model, keys in own.items():
            for key in keys:
                if self.model != model and getattr(self, key) is not None:
                    raise ValueError(
                        f"{key} = {_shown(getattr(self, key))} applies to model = '{model}' only, not "
                        f"'{self.model}'"
                    )
        if sum(self.arm_weights) <= 0:
            raise ValueError(f"arm_weights = {self.arm_weights}: at least one weight must be > 0")
        return self


class SnrSource(_ObserverBias):
    type: Literal["snr"] = "snr"
    population: Literal["type_ia", "core_collapse", "total"] = Field(
        "total",
        description="Supernova rates of Ferrière 2001 (docs/sources.md §2): type_ia, 7.3 kpc⁻³ Myr⁻¹ × "
        "exp(−(R − 8.5 kpc)/4.5 kpc) exp(−|z|/0.325 kpc); core_collapse, 50 kpc⁻³ Myr⁻¹ × her radial "
        "factor × [0.79 exp(−(z/0.212 kpc)²) + 0.21 exp(−(z/0.636 kpc)²)]; total, their sum.",
    )
    R_cut_kpc: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Sources lie at R < R_cut [kpc]; default: galaxy.radius_max_kpc.",
    )


class GriddedSource(_ObserverBias):
    type: Literal["gridded"] = "gridded"
    file: str = Field(
        ...,
        description="HDF5 (.h5, .hdf5) or FITS (.fits, .fit, .gz) file of a density on a uniform grid: "
        "cartesian (axes x_kpc, y_kpc, z_kpc; trilinear) or cylindrical (R_kpc, z_kpc; axisymmetric, "
        "bilinear); any unit, normalised on reading; zero outside the grid, and it must vanish outside the "
        "halo (docs/sources.md §3). Relative paths are relative to the working directory.",
    )
    dataset: str | None = Field(
        None,
        description="HDF5: the dataset holding the values (default 'density'); FITS: the EXTNAME of the "
        "image (default the primary HDU).",
    )


SourceSection = Annotated[
    PointSource
    | DiskSource
    | RadialProfileSource
    | GaussianSource
    | SpiralArmsSource
    | SnrSource
    | GriddedSource,
    Field(discriminator="type"),
]


# ----------------------------------------------------------------------------- spectrum
class SpectrumSection(_Section):
    type: Literal["power_law", "power_law_cutoff", "broken_power_law", "log_uniform", "tabulated"] = Field(
        "power_law",
        description="Injection spectrum applied to the stored tallies for the default densities (any "
        "other can be applied later with reweighting). 'log_uniform' keeps the raw sampling "
        "(dQ/dE ∝ 1/E); 'tabulated': dQ/dx given at `nodes` (log-log between them, zero outside).",
    )
    nodes: list[PositiveFloat] | None = Field(
        None,
        description="Values of `variable` at which a tabulated spectrum is given (at least two, increasing; "
        "type = 'tabulated').",
    )
    values: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        None,
        description="dQ/dx at `nodes` (any unit: rate_per_Myr sets the normalisation; type = 'tabulated').",
    )
    index: float = Field(
        2.2,
        ge=-10,
        le=10,
        allow_inf_nan=False,
        description="Spectral index α of dQ/dx ∝ x^-α (power_law, power_law_cutoff).",
    )
    cutoff: PositiveFloat = Field(
        1.0e6, description="Cutoff x_c in exp(−x/x_c), in units of `variable` (power_law_cutoff)."
    )
    index_low: float = Field(
        2.0,
        ge=-10,
        le=10,
        allow_inf_nan=False,
        description="Index below the break (broken_power_law; dQ/dp ∝ p^-index_low).",
    )
    index_high: float = Field(
        2.4, ge=-10, le=10, allow_inf_nan=False, description="Index above the break (broken_power_law)."
    )
    break_value: PositiveFloat = Field(
        100.0, description="Break position in units of `variable` (broken_power_law)."
    )
    smoothness: PositiveFloat = Field(0.1, description="Break width w of the smooth broken power law.")
    variable: Literal["kinetic_energy", "momentum", "rigidity"] = Field(
        "rigidity",
        description="Variable x of the spectral shape: kinetic energy [GeV], momentum [GeV/c] or rigidity "
        "[GV].",
    )
    rate_per_Myr: PositiveFloat = Field(
        1.0,
        description="Total source rate between energy.min_GeV and energy.max_GeV [particles/Myr]; "
        "densities scale linearly with it.",
    )

    @model_validator(mode="after")
    def _table(self):
        given = [k for k in ("nodes", "values") if getattr(self, k) is not None]
        if self.type != "tabulated":
            if given:
                raise ValueError(f"{' and '.join(given)} apply to type = 'tabulated' only, not '{self.type}'")
            return self
        if len(given) < 2:
            raise ValueError("type = 'tabulated' needs nodes = [...] and values = [...]")
        x, y = self.nodes, self.values
        if len(x) < 2 or len(x) != len(y):
            raise ValueError(f"nodes ({len(x)}) and values ({len(y)}) must have the same length, at least 2")
        if any(b <= a for a, b in zip(x, x[1:])):
            raise ValueError(f"nodes must increase strictly; got {x}")
        if not any(v > 0 for v in y):
            raise ValueError("values are all zero: the tabulated spectrum injects nothing")
        return self


class ComponentSection(_Section):
    name: str = Field(
        ...,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Component name (letters, digits, _); its result is stored under components/<name>.",
    )
    species: list[Literal["proton", "electron", "positron"]] = Field(
        ["electron", "positron"],
        min_length=1,
        description="Species this source injects; the rate is shared equally (['electron', 'positron']: a "
        "pair source, e.g. pulsar wind nebulae). All must share mass and |charge|, since they "
        "are transported once.",
    )
    source: SourceSection = Field(
        default_factory=RadialProfileSource,
        description="Spatial distribution of this component ([components.source], same keys as [source]).",
    )
    spectrum: SpectrumSection = Field(
        default_factory=SpectrumSection,
        description="Injection spectrum and total rate of this component ([components.spectrum], same "
        "keys as [spectrum]).",
    )
    particles: Integer | None = Field(
        None, ge=1, le=10**10, description="Pseudo-particles for this component; default run.particles."
    )

    @model_validator(mode="after")
    def _same_transport(self):
        if len(set(self.species)) != len(self.species):
            raise ValueError(f"species {self.species} lists a species twice")
        if "proton" in self.species and len(self.species) > 1:
            raise ValueError(
                f"species {self.species}: protons and leptons are transported differently; use one "
                "component each"
            )
        return self


# ----------------------------------------------------------------------------- time / estimator / numerics
class Regime(_Section):
    energy_max_GeV: PositiveFloat = Field(
        ...,
        description="Upper kinetic energy of this regime [GeV]; regimes are listed in increasing order, "
        "the last must reach energy.max_GeV.",
    )
    t_max_Myr: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Time after which particles of this regime are no longer followed [Myr]; default: 5 "
        "H²/(2 D_min) at the regime's lowest energy, D_min = max(D⊥, 1e-4 D∥) (five mean escape times "
        "under D⊥ alone, which is all that moves a particle whose field line stays in the halo); with "
        "boundary = 'reflect' D_min = max(D⊥, 0.01 D∥). A given value is used as it is.",
    )
    snapshot_dt_Myr: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Snapshot cadence Δt for the snapshot estimator [Myr]; default: t_max/400 of a given "
        "t_max, else 5 H²/(2 max(D⊥, 0.01 D∥))/400 (t_max/400 when D⊥ ≥ 0.01 D∥).",
    )


class TimeSection(_Section):
    dt_max_Myr: PositiveFloat = Field(1.0, description="Largest time step [Myr].")
    step_fraction: float = Field(
        0.1,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Accuracy of a step: sqrt(2 D∥ dt) ≤ step_fraction × min(H, R_max), and the field "
        "rule of step_control with the same fraction.",
    )
    step_control: Literal["field_direction", "field_gradient"] = Field(
        "field_direction",
        description="How the field limits a step. field_direction: the expected change of the field "
        "direction over a step, sqrt(2 dt tr(Gᵀ D G)) with G = ∇b, stays below step_fraction "
        "(only what changes the tensor counts, each direction weighted by its own D). "
        "field_gradient: sqrt(2 D∥ dt) ≤ step_fraction × |B|/‖∇B‖ (stricter; kept for "
        "comparison).",
    )
    max_step_kpc: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Cap on the parallel displacement sqrt(2 D∥ dt) of any step [kpc], on top of "
        "step_fraction × min(H, R_max) and the rules of step_control. Default: the e-folding length "
        "of the narrowest logistic transition the field model declares, which a rule evaluated at "
        "the start point cannot see coming (JF12 and its solenoidal form: w_h/2 = 0.1 kpc; UF23: "
        "min(w_d, w_p), 0.107 kpc in base); no cap for the other models. Set it to the halo size to "
        'switch it off; see docs/numerics.md "Convergence in realistic fields".',
    )
    min_step_kpc: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="The field rule never makes sqrt(2 D∥ dt) shorter than this [kpc]. 0: no floor. "
        "Bounds the steps taken where a coherent model's field reverses over a few pc; see "
        "docs/numerics.md for the bias measured.",
    )
    min_step_mean_free_paths: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="The same floor in units of the parallel scattering mean free path λ∥ = 3 D∥/v at the "
        "particle's energy (diffusion does not describe transport below λ∥). The larger of "
        "the two floors applies. 0: none.",
    )
    loss_fraction: float = Field(
        0.02,
        gt=0,
        le=0.5,
        allow_inf_nan=False,
        description="A step lasts at most this fraction of the loss time E/b.",
    )
    regimes: list[Regime] = Field(
        default_factory=list,
        description="Per-energy-range time schedule (t_max, snapshot cadence). Empty: one regime over the "
        "whole energy range with automatic values.",
    )


class EstimatorSection(_Section):
    method: Literal["residence_time", "snapshot", "backward"] = Field(
        "residence_time",
        description="Steady-state estimator (docs/design.md §3): residence time (track length, default), "
        "burst snapshots summed with Δt, or backward: paths started at the [observer] point, the energy "
        "running back up the losses, that integrate the source density along the way (the adjoint "
        "estimator of docs/observer.md; the point density at a few energies, no [[tally]]).",
    )
    output_times_Myr: list[PositiveFloat] = Field(
        default_factory=list,
        description="Snapshot estimator only: times after a burst at t = 0 where the time-dependent "
        "density is also stored [Myr].",
    )


class ObserverSection(_Section):
    position_kpc: Vector3 | None = Field(
        None, description="Backward estimator: the point where the density is wanted [kpc]; default the Sun."
    )
    radius_kpc: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="0: the density at position_kpc. > 0: paths start at points drawn uniformly in a ball of "
        "this radius about it, so the result is the ball's mean density, what a forward sphere tally of "
        "that radius measures [kpc].",
    )
    energies_GeV: list[PositiveFloat] | None = Field(
        None,
        description="Backward estimator: kinetic energies at the observer [GeV], each followed by its own "
        "paths. Or give energy_min_GeV, energy_max_GeV and energy_points for a log grid.",
    )
    energy_min_GeV: PositiveFloat | None = Field(None, description="Lowest energy of the log grid [GeV].")
    energy_max_GeV: PositiveFloat | None = Field(None, description="Highest energy of the log grid [GeV].")
    energy_points: Integer | None = Field(
        None, ge=1, le=1000, description="Energies of the log grid (both ends included)."
    )
    paths_per_energy: Integer | None = Field(
        None,
        ge=1,
        le=10**9,
        description="Paths started at each energy; sets run.particles = paths × energies. Without it, "
        "run.particles paths are shared among the energies in turn.",
    )
    shared_paths: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Without energy losses, with D(x, E) = D(E) F(x) (D⊥/D∥ the same at every energy, D "
        "uniform in space) and no catastrophic losses, a path at one energy "
        "is the path at any other run at the speed D(E): one set of paths then serves every observer "
        "energy, each scored with the factor D(E_ref)/D(E) (docs/observer.md). auto: where it holds; on: "
        "required (an error says why not); off: own paths per energy.",
    )
    source_energy_bins_per_decade: Integer = Field(
        16,
        ge=1,
        le=200,
        description="Bins per decade of the source energy E_s at which a path meets the source; the "
        "reweighting applies a weight linear in ln E_s within each (docs/observer.md).",
    )

    def energies(self) -> list[float]:
        """The observer energies [GeV], ascending (from the list or the log grid); [] when none is set."""
        if self.energies_GeV is not None:
            return sorted(self.energies_GeV)
        if None in (self.energy_min_GeV, self.energy_max_GeV, self.energy_points):
            return []
        if self.energy_points == 1:
            return [self.energy_min_GeV]
        return [float(e) for e in np.geomspace(self.energy_min_GeV, self.energy_max_GeV, self.energy_points)]


class NumericsSection(_Section):
    drift: bool = Field(
        True,
        description="Include the Itô drift ∇·D. Only switched off in tests that show what goes wrong "
        "without it.",
    )
    brownian_bridge: bool = Field(
        True, description="Brownian-bridge correction for boundary crossings within a step."
    )
    integrator: Literal["auto", "euler_maruyama", "field_line"] = Field(
        "auto",
        description="The step. auto: field_line where D∥/D⊥ reaches 30 somewhere in the run's energy "
        "range and the field is not uniform, euler_maruyama otherwise (the measured cheaper one for "
        'per-cent accuracy, docs/numerics.md "Field-line step"). euler_maruyama: Gaussian '
        "displacement with covariance 2D dt along the "
        "straight chord of b at the start point, drift ∇·D. field_line: the isotropic part as a "
        "straight Gaussian, the parallel part as an arc traced along the curved field line (RK4), "
        "drift (D∥ − D⊥) b ∇·b; removes the curvature bias of strongly anisotropic diffusion at "
        'the cost of 3 or more field evaluations per step (docs/numerics.md "Field-line step").',
    )
    step_refinement: float = Field(
        0.0,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Refine a step whose end point sees a different tensor: when the field direction "
        "at the proposed end point differs from the start's by ‖b₁b₁ᵀ − b₀b₀ᵀ‖ > this factor × "
        "sqrt(2) × step_fraction (a feature the start point's step rule could not see: a narrow "
        "transition, a jump of the model), the step is halved with the Brownian increment split "
        "by a Brownian-bridge draw, so the path keeps its law (Gaines & Lyons 1997); at most "
        '10 halvings. 0: off (docs/numerics.md "Step refinement").',
    )
    field_floor_uG: float = Field(
        1.0e-3,
        gt=0,
        le=FIELD_STRENGTH_MAX_UG,
        description="Regularisation B_f: b = B/sqrt(|B|² + B_f²), so D tends smoothly to D⊥ I where |B| → "
        "0 [μG].",
    )
    field_grid_spacing_kpc: float | None = Field(
        None,
        gt=0.005,
        le=5,
        allow_inf_nan=False,
        description="Precompute the field (B and its Jacobian) on a grid of this spacing over the halo "
        "and interpolate it trilinearly; cached on disk. Default: evaluate the model at every "
        "step.",
    )
    plane_interface: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Where the tensor jumps across z = 0 (X-fields with B_R odd in z, toroidal haloes "
        "with different northern and southern amplitudes), end the steps that touch the plane "
        "by the interface rule (continuity of ψ and of the flux; skew diffusion, "
        "docs/numerics.md). auto: on when the field has such a jump (checked at set-up on a "
        "0.1 kpc grid in the plane). on: always (for fields whose cusp at z = 0 the check "
        "misses). off: plain Euler steps (biased near such planes; kept for comparison).",
    )
    field_grid_jacobian: Literal["analytic", "finite_difference"] = Field(
        "analytic",
        description="Jacobian stored on the precomputed grid. analytic: the model's own. "
        "finite_difference: central differences of the sampled B, which spreads a jump or "
        "kink of the field direction (JF12's X-field at z = 0) over one spacing so that the "
        "drift accounts for it; see docs/numerics.md.",
    )
    diffusion_energy_tolerance: float = Field(
        1e-3,
        ge=0,
        le=0.05,
        allow_inf_nan=False,
        description="Under energy losses, D(E) and the step quantities that follow from it are "
        "re-evaluated each time ln E has fallen by this much since the last evaluation, at "
        "the middle of the coming interval, so D is off by at most ±δ × tolerance/2 and not "
        "biased to first order. 0: every step.",
    )
    max_steps_per_particle: Integer = Field(
        10**7,
        ge=1,
        le=10**15,  # a 64-bit integer in the kernel
        description="Safety limit of steps per particle; particles reaching it stop and are counted as "
        "max_steps_reached.",
    )


# ----------------------------------------------------------------------------- tallies
class _TallyBase(_Section):
    name: str = Field(..., min_length=1, description="Tally name (key in the output file).")
    energy_bins: Integer = Field(
        20, ge=1, le=10000, description="Number of logarithmic bins of the current kinetic energy E."
    )
    energy_min_GeV: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Lower edge of the energy axis [GeV]; default energy.min_GeV.",
    )
    energy_max_GeV: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Upper edge of the energy axis [GeV]; default energy.max_GeV.",
    )
    source_energy_bins: Integer | None = Field(
        None,
        ge=1,
        le=10000,
        description="Bins of the source-energy (E0) axis, kept when the energy moves (losses, a wind, "
        "reacceleration); default: energy_bins over "
        "the injection range.",
    )
    batch_groups: Integer = Field(
        0,
        ge=0,
        le=64,
        description="Keep this tally's sums also per group of batches (batch index modulo batch_groups, "
        "0 = off, else at least 2): independent estimates whose scatter gives the error of anything "
        "computed from the tally, correlations between cells included (sky maps, docs/skymaps.md).",
    )
    source_energy: Literal["keep", "fold"] = Field(
        "keep",
        description="'keep': store the source-energy axis E0 where the energy moves, so that any injection "
        "spectrum can be applied afterwards. 'fold': apply the configured [spectrum] while scoring (the "
        "same in-bin weights on the same source_energy_bins) and store no E0 axis: source_energy_bins "
        "times less memory (docs/skymaps.md), but the tally can no longer be reweighted.",
    )

    @model_validator(mode="after")
    def _check_groups(self):
        if self.batch_groups == 1:
            raise ValueError(
                f"tally '{self.name}': batch_groups = 1 gives no scatter; use 0 (off) or 2 to 64"
            )
        return self


class CylindricalTally(_TallyBase):
    type: Literal["cylindrical"] = "cylindrical"
    R_min_kpc: float = Field(0.0, ge=0, allow_inf_nan=False, description="Inner radius [kpc].")
    R_max_kpc: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Outer radius [kpc]; default galaxy.radius_max_kpc."
    )
    R_bins: Integer = Field(40, ge=1, le=100000, description="Number of radial bins.")
    z_min_kpc: float | None = Field(None, allow_inf_nan=False, description="Lower z edge [kpc]; default −H.")
    z_max_kpc: float | None = Field(None, allow_inf_nan=False, description="Upper z edge [kpc]; default +H.")
    z_bins: Integer = Field(40, ge=1, le=100000, description="Number of z bins.")


class CartesianTally(_TallyBase):
    type: Literal["cartesian"] = "cartesian"
    x_range_kpc: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        [-20.0, 20.0], description="[x_min, x_max] [kpc]."
    )
    y_range_kpc: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        [-20.0, 20.0], description="[y_min, y_max] [kpc]."
    )
    z_range_kpc: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        [-4.0, 4.0], description="[z_min, z_max] [kpc]."
    )
    bins: Annotated[list[Integer], Field(min_length=3, max_length=3)] = Field(
        [40, 40, 8], description="Number of bins along x, y, z."
    )

    @model_validator(mode="after")
    def _ranges(self):
        for key in ("x_range_kpc", "y_range_kpc", "z_range_kpc"):
            lo, hi = getattr(self, key)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and math.isfinite(hi - lo)):
                raise ValueError(f"{key} = {[lo, hi]} must be finite and increasing, with a finite width")
        if any(n < 1 for n in self.bins):
            raise ValueError(f"bins = {self.bins} must all be >= 1")
        return self


class SphereTally(_TallyBase):
    type: Literal["sphere"] = "sphere"
    center_kpc: Vector3 | None = Field(
        None, description="Centre of the observer sphere [kpc]; default galaxy.sun_position_kpc."
    )
    radius_kpc: PositiveFloat = Field(0.1, description="Radius of the observer sphere [kpc].")


TallySection = Annotated[CylindricalTally | CartesianTally | SphereTally, Field(discriminator="type")]


def _default_tallies():
    return [CylindricalTally(name="galaxy")]


# ----------------------------------------------------------------------------- top level
def _check_sphere_inside(tally: SphereTally, galaxy: GalaxySection) -> None:
    """An observer sphere centred outside the galaxy (R > R_max or |z| > H) would score nothing."""
    H, Rmax = galaxy.halo_height_kpc, galaxy.radius_max_kpc
    if tally.center_kpc is not None:
        key, c = f"tally '{tally.name}': center_kpc", tally.center_kpc
    else:
        key, c = (
            f"galaxy.sun_position_kpc (the centre of sphere tally '{tally.name}')",
            galaxy.sun_position_kpc,
        )
    R = math.hypot(c[0], c[1])
    if R > Rmax or abs(c[2]) > H:
        raise ValueError(
            f"{key} = {c} lies outside the galaxy (R = {R:.4g} kpc, |z| = {abs(c[2]):.4g} kpc; needs R ≤ "
            f"galaxy.radius_max_kpc = {Rmax} and |z| ≤ galaxy.halo_height_kpc = {H}): no particle reaches "
            "it, the tally would hold only zeros; move the sphere inside the halo"
        )


_warned_field_grids: set = set()


def _warn_partial_field_grid(field, galaxy: GalaxySection) -> None:
    """Log a warning (once per file and galaxy) when a 'grid' field covers only part of the galaxy's box
    x, y ∈ [−R_max, R_max], z ∈ [−H, H]: outside its nodes the field is zero."""
    H, Rmax = galaxy.halo_height_kpc, galaxy.radius_max_kpc
    parts = field.components if isinstance(field, SumField) else [field]
    for i, part in enumerate(parts):
        if not isinstance(part, GridField):
            continue
        key = "field.file" if part is field else f"field.components[{i}].file"
        (x0, x1), (y0, y1), (z0, z1) = _check("field_grid_extent", part.file)
        slack = 1e-9 * max(Rmax, H)
        covered = min(-x0, x1, -y0, y1) >= Rmax - slack and min(-z0, z1) >= H - slack
        seen = (os.path.abspath(part.file), (x0, x1, y0, y1, z0, z1), H, Rmax)
        if covered or seen in _warned_field_grids:
            continue
        _warned_field_grids.add(seen)
        log.warning(
            "%s = '%s': the field grid covers x ∈ [%g, %g], y ∈ [%g, %g], z ∈ [%g, %g] kpc, only part of the "
            "galaxy (R ≤ galaxy.radius_max_kpc = %g, |z| ≤ galaxy.halo_height_kpc = %g: x, y ∈ [%g, %g], "
            "z ∈ [%g, %g] kpc); outside the grid the field is zero, so diffusion there is isotropic "
            "(D⊥ in every direction)",
            key,
            part.file,
            x0,
            x1,
            y0,
            y1,
            z0,
            z1,
            Rmax,
            H,
            -Rmax,
            Rmax,
            -H,
            H,
        )


def shared_paths_obstacle(cfg) -> str:
    """Why one set of backward paths cannot serve every observer energy (docs/observer.md, shared paths);
    '' when it can: no continuous or catastrophic losses, D uniform in space, D⊥/D∥ the same at every
    rigidity, and a step floor in fixed lengths only."""
    if cfg.losses.model != "none":
        return f"losses.model = '{cfg.losses.model}' changes the energy along the path"
    if cfg.catastrophic.inelastic or cfg.catastrophic.decay_lifetime_Myr is not None:
        return "catastrophic losses weight the path with a rate that does not scale with D(E)"
    if cfg.diffusion.spatial != "uniform":
        return f"diffusion.spatial = '{cfg.diffusion.spatial}' changes D's shape with rigidity"
    d = cfg.diffusion
    if d.delta_perp is not None and d.form == "power_law" and d.delta_perp != d.delta_par:
        return f"diffusion.delta_perp = {d.delta_perp} differs from delta_par = {d.delta_par} (D⊥/D∥ varies)"
    if d.delta_perp is not None and d.form != "power_law":
        return "diffusion.delta_perp with the broken power law makes D⊥/D∥ vary with rigidity"
    if cfg.time.min_step_mean_free_paths > 0.0:
        return "time.min_step_mean_free_paths sets a step floor that depends on the energy"
    return ""


def _check_backward(cfg) -> None:
    """What the backward estimator needs (docs/observer.md): observer energies inside the source range, an
    observer inside the halo, a source with a volume density, no wind or reacceleration; and the number
    of paths.  Sets run.particles from observer.paths_per_energy."""
    obs = cfg.observer
    energies = obs.energies()
    if not energies:
        raise ValueError(
            "estimator.method = 'backward' needs the observer energies: set observer.energies_GeV = [...] "
            "or observer.energy_min_GeV, observer.energy_max_GeV and observer.energy_points"
        )
    if obs.energies_GeV is not None and len(set(obs.energies_GeV)) != len(obs.energies_GeV):
        raise ValueError(f"observer.energies_GeV = {obs.energies_GeV} lists an energy twice")
    if obs.energies_GeV is None and obs.energy_min_GeV >= obs.energy_max_GeV and obs.energy_points > 1:
        raise ValueError(
            f"observer.energy_min_GeV = {obs.energy_min_GeV} must be below observer.energy_max_GeV = "
            f"{obs.energy_max_GeV}"
        )
    if energies[-1] >= cfg.energy.max_GeV:
        raise ValueError(
            f"observer energy {energies[-1]:.6g} GeV is not below energy.max_GeV = {cfg.energy.max_GeV}: a "
            "path ends where its energy leaves the source range, so the observer energies must lie below it"
        )
    c = obs.position_kpc if obs.position_kpc is not None else cfg.galaxy.sun_position_kpc
    a = obs.radius_kpc
    if not (
        abs(c[2]) + a < cfg.galaxy.halo_height_kpc and math.hypot(c[0], c[1]) + a < cfg.galaxy.radius_max_kpc
    ):
        raise ValueError(
            f"observer.position_kpc = {c}"
            + (f" with radius_kpc = {a}" if a else "")
            + " reaches outside the halo"
        )
    src = cfg.source
    if isinstance(src, PointSource):
        raise ValueError(
            "estimator.method = 'backward' integrates the source density along paths, which a point source "
            "does not have; use source.type = 'gaussian' (a smoothed point) or the forward method"
        )
    if cfg.advection.v0_km_s > 0.0 or cfg.advection.dvdz_km_s_per_kpc > 0.0:
        raise ValueError(
            "estimator.method = 'backward' does not yet take a wind ([advection]): the adjoint drift −u and "
            "the weight exp(−(2/3)∫∇·u ds) are derived in docs/observer.md but not built; use the forward "
            "method"
        )
    if cfg.reacceleration.alfven_speed_km_s > 0.0:
        raise ValueError(
            "estimator.method = 'backward' does not yet take reacceleration: its adjoint momentum process is "
            "derived in docs/observer.md but not built; use the forward method"
        )
    why_not = shared_paths_obstacle(cfg)
    if obs.shared_paths == "on" and why_not:
        raise ValueError(f"observer.shared_paths = 'on' needs transport that scales with D(E), but {why_not}")
    if obs.paths_per_energy is not None:
        shared = obs.shared_paths != "off" and not why_not and len(energies) > 1
        total = obs.paths_per_energy * (1 if shared else len(energies))
        if "particles" in cfg.run.model_fields_set and cfg.run.particles != total:
            how = "shared by all energies" if shared else f"× {len(energies)} energies"
            raise ValueError(
                f"run.particles = {cfg.run.particles} disagrees with observer.paths_per_energy = "
                f"{obs.paths_per_energy} ({how} = {total} paths); give one of the two"
            )
        cfg.run.particles = total


def _check_source_heights(src, H, sun):
    """The scale heights of a spiral-arm or supernova source lie below the halo height, and the spiral arms
    have a Sun to be placed by."""
    if isinstance(src, SnrSource):
        largest = {"type_ia": 0.325, "core_collapse": 0.636, "total": 0.636}[src.population]
        if largest >= H:
            raise ValueError(
                f"source.population = '{src.population}' has scale heights up to {largest} kpc, which must "
                f"be below galaxy.halo_height_kpc = {H}"
            )
        return
    z0 = (
        src.z0_kpc
        if src.z0_kpc is not None
        else {"faucher_giguere_kaspi06": 0.05, "steiman_cameron10": 0.2}[src.model]
    )
    if z0 >= H:
        raise ValueError(f"source.z0_kpc = {z0} must be below galaxy.halo_height_kpc = {H}")
    if math.hypot(sun[0], sun[1]) == 0.0:
        raise ValueError(
            f"galaxy.sun_position_kpc = {sun} lies on the z axis: source.type = 'spiral_arms' places the "
            "arms by the Sun's direction and distance from the axis"
        )


class Config(_Section):
    """A complete, validated run configuration."""

    run: RunSection = Field(default_factory=RunSection)
    parallel: ParallelSection = Field(default_factory=ParallelSection)
    species: SpeciesSection = Field(default_factory=SpeciesSection)
    energy: EnergySection = Field(default_factory=EnergySection)
    galaxy: GalaxySection = Field(default_factory=GalaxySection)
    field: FieldSection = Field(default_factory=CerriToyField)
    turbulence: TurbulenceSection = Field(default_factory=TurbulenceSection)
    diffusion: DiffusionSection = Field(default_factory=DiffusionSection)
    losses: LossesSection = Field(default_factory=LossesSection)
    advection: AdvectionSection = Field(default_factory=AdvectionSection)
    reacceleration: ReaccelerationSection = Field(default_factory=ReaccelerationSection)
    catastrophic: CatastrophicSection = Field(default_factory=CatastrophicSection)
    source: SourceSection = Field(default_factory=RadialProfileSource)
    spectrum: SpectrumSection = Field(default_factory=SpectrumSection)
    time: TimeSection = Field(default_factory=TimeSection)
    estimator: EstimatorSection = Field(default_factory=EstimatorSection)
    observer: ObserverSection = Field(
        default_factory=ObserverSection,
        description="The point and energies of the backward estimator (estimator.method = 'backward').",
    )
    numerics: NumericsSection = Field(default_factory=NumericsSection)
    tally: list[TallySection] = Field(
        default_factory=_default_tallies, description="Tallies ([[tally]] tables)."
    )
    components: list[ComponentSection] = Field(
        default_factory=list,
        description="Further sources ([[components]] tables), each with its own species, spatial "
        "distribution and spectrum, transported with the same galaxy, field, diffusion and "
        "losses; e.g. a pulsar-wind-nebula e± pair component next to primary electrons. "
        "Secondary e± from protons on gas are a planned component kind.",
    )

    @model_validator(mode="after")
    def _cross_checks(self):
        H = self.galaxy.halo_height_kpc
        Rmax = self.galaxy.radius_max_kpc
        src = self.source
        if isinstance(src, PointSource):
            x, y, z = src.position_kpc
            if not (abs(z) < H and math.hypot(x, y) < Rmax):
                raise ValueError(
                    f"source.position_kpc = {src.position_kpc} lies outside the halo (needs |z| < "
                    f"galaxy.halo_height_kpc = {H} and R < galaxy.radius_max_kpc = {Rmax})"
                )
        elif isinstance(src, DiskSource):
            if src.radius_kpc > Rmax:
                raise ValueError(
                    f"source.radius_kpc = {src.radius_kpc} exceeds galaxy.radius_max_kpc = {Rmax}; the "
                    "source must lie inside the halo"
                )
            if src.z_scale_kpc >= H:
                raise ValueError(
                    f"source.z_scale_kpc = {src.z_scale_kpc} must be below galaxy.halo_height_kpc = {H}"
                )
        elif isinstance(src, GaussianSource):
            x, y, z = src.position_kpc
            if not (abs(z) < H and math.hypot(x, y) < Rmax):
                raise ValueError(
                    f"source.position_kpc = {src.position_kpc} lies outside the halo (needs |z| < "
                    f"galaxy.halo_height_kpc = {H} and R < galaxy.radius_max_kpc = {Rmax})"
                )
        elif isinstance(src, RadialProfileSource):
            if src.R_cut_kpc is not None and src.R_cut_kpc > Rmax:
                raise ValueError(
                    f"source.R_cut_kpc = {src.R_cut_kpc} exceeds galaxy.radius_max_kpc = {Rmax}; the source "
                    "must lie inside the halo"
                )
            if src.z0_kpc >= H:
                raise ValueError(f"source.z0_kpc = {src.z0_kpc} must be below galaxy.halo_height_kpc = {H}")
        elif isinstance(src, (SpiralArmsSource, SnrSource)):
            if src.R_cut_kpc is not None and src.R_cut_kpc > Rmax:
                raise ValueError(
                    f"source.R_cut_kpc = {src.R_cut_kpc} exceeds galaxy.radius_max_kpc = {Rmax}; the source "
                    "must lie inside the halo"
                )
            _check_source_heights(src, H, self.galaxy.sun_position_kpc)
        elif isinstance(src, GriddedSource):
            try:
                _check("source_grid_file", src.file, src.dataset, H, Rmax)
            except ValueError as exc:
                raise ValueError(f"source.file = {_shown(src.file)}: {exc}") from None
        if getattr(src, "observer_fraction", 0.0) > 0.0:
            if isinstance(src, DiskSource) and src.z_profile == "thin":
                raise ValueError(
                    "source.observer_fraction needs a source with a volume density; not with z_profile = "
                    "'thin'"
                )
            c = (
                src.observer_center_kpc
                if src.observer_center_kpc is not None
                else self.galaxy.sun_position_kpc
            )
            if not (abs(c[2]) < H and math.hypot(c[0], c[1]) < Rmax):
                raise ValueError(f"the observer {c} of source.observer_fraction lies outside the halo")
        _warn_partial_field_grid(self.field, self.galaxy)
        names = [t.name for t in self.tally]
        if len(set(names)) != len(names):
            raise ValueError(f"tally names {names} must be unique")
        if not self.tally:
            raise ValueError("at least one [[tally]] is required")
        for t in self.tally:
            lo = t.energy_min_GeV if t.energy_min_GeV is not None else self.energy.min_GeV
            hi = t.energy_max_GeV if t.energy_max_GeV is not None else self.energy.max_GeV
            if lo >= hi:
                raise ValueError(
                    f"tally '{t.name}': energy_min_GeV = {lo} must be below energy_max_GeV = {hi}"
                )
            if isinstance(t, CylindricalTally):
                rmax = t.R_max_kpc if t.R_max_kpc is not None else Rmax
                zlo = t.z_min_kpc if t.z_min_kpc is not None else -H
                zhi = t.z_max_kpc if t.z_max_kpc is not None else H
                if t.R_min_kpc >= rmax:
                    raise ValueError(
                        f"tally '{t.name}': R_min_kpc = {t.R_min_kpc} must be below R_max_kpc = {rmax}"
                    )
                if zlo >= zhi:
                    raise ValueError(f"tally '{t.name}': z_min_kpc = {zlo} must be below z_max_kpc = {zhi}")
                if not math.isfinite(zhi - zlo):
                    raise ValueError(
                        f"tally '{t.name}': z_max_kpc − z_min_kpc = {zhi} − {zlo} overflows; give a "
                        "finite width"
                    )
            if isinstance(t, SphereTally):
                _check_sphere_inside(t, self.galaxy)
        prev = 0.0
        for i, reg in enumerate(self.time.regimes):
            if reg.energy_max_GeV <= prev:
                raise ValueError(
                    f"time.regimes[{i}].energy_max_GeV = {reg.energy_max_GeV} must increase from regime to "
                    "regime"
                )
            prev = reg.energy_max_GeV
        if self.time.regimes and prev < self.energy.max_GeV:
            raise ValueError(
                f"time.regimes[-1].energy_max_GeV = {prev} must reach energy.max_GeV = {self.energy.max_GeV}"
            )
        if self.losses.processes is not None:
            try:
                _check("loss_processes", self.species.name, self.losses.processes)
            except ValueError as exc:
                raise ValueError(f"losses.processes: {exc}") from None
            if self.losses.model != "galactic":
                raise ValueError(
                    f"losses.processes applies to model 'galactic' only, not '{self.losses.model}'"
                )
        if self.estimator.method == "backward":  # before the components, which copy run.particles
            _check_backward(self)
        names = [c.name for c in self.components]
        if len(set(names)) != len(names) or "primary" in names:
            raise ValueError(f"component names {names} must be unique and not 'primary'")
        for c in self.components:
            try:
                component_config(self, c)
            except ConfigError as exc:
                raise ValueError(f"component '{c.name}': {exc}") from None
        if self.estimator.output_times_Myr and self.estimator.method != "snapshot":
            raise ValueError("estimator.output_times_Myr needs estimator.method = 'snapshot'")
        return self

    # convenience -------------------------------------------------------------
    @property
    def output_path(self) -> Path:
        return Path(self.run.output.replace("{name}", self.run.name))

    def _dump(self) -> dict:
        data = self.model_dump(mode="json", exclude_none=True)
        if not data.get("components"):
            data.pop("components", None)  # no [[components]]: keep the TOML as it was before they existed
        return data

    def to_toml(self) -> str:
        """The full configuration (defaults filled in) as TOML text."""
        return dump_toml(self._dump())

    def fingerprint_toml(self) -> str:
        """The configuration without the keys that only say how it is executed (workers, progress,
        output path, memory and CPU budgets, scheduler): what must match to resume or merge runs."""
        data = self._dump()
        for key in ("workers", "progress", "output", "memory_budget_GiB", "max_cpu_hours"):
            data["run"].pop(key, None)
        data.pop("parallel", None)
        return dump_toml(data)


# ----------------------------------------------------------------------------- error messages
def _unwrap(annotation):
    """(the type inside ``Annotated``/``X | None``, the constraint metadata found on the way)."""
    metadata = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation, metadata = args[0], metadata + list(args[1:])
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation, metadata
            annotation = members[0]
        else:
            return annotation, metadata


def _union_members(annotation) -> list:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return []


def _model_class(annotation):
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _tag_of(cls) -> tuple[str, Any] | None:
    for key in DISCRIMINATOR_KEYS:
        info = cls.model_fields.get(key)
        if (
            info is not None
            and get_origin(info.annotation) is Literal
            and len(get_args(info.annotation)) == 1
        ):
            return key, get_args(info.annotation)[0]
    return None


class _Place:
    """Where an error's location points in the schema: the key as written in the file, the union the
    value may take (``branch``: the key of a non-discriminated union whose member failed), and the
    annotation and constraints at the place."""

    def __init__(self, root, loc):
        self.key = ""
        self.branch: str | None = None
        self.metadata: list = []
        self.annotation: Any = root
        for part in loc:
            annotation, metadata = _unwrap(self.annotation)
            members = _union_members(annotation)
            cls = _model_class(annotation)
            if members and all(_model_class(m) for m in members) and isinstance(part, str):
                tagged = {(_tag_of(m) or (None, None))[1]: m for m in members}
                if part in tagged:  # the tag of a discriminated union: the key stays
                    self.annotation = tagged[part]
                    continue
            if members and isinstance(part, str):  # a member of a plain union (float | str | bool ...)
                self.branch = self.branch or self.key
                self.annotation = next((m for m in members if _branch_name(m) == part.split("[")[0]), None)
                continue
            if cls is not None and isinstance(part, str):
                info = cls.model_fields.get(part)
                self.key = f"{self.key}.{part}" if self.key else part
                self.annotation = info.annotation if info is not None else None
                self.metadata = list(info.metadata) if info is not None else []
                continue
            origin = get_origin(annotation)
            if isinstance(part, int) and origin is list:
                self.key += f"[{part}]"
                self.annotation = get_args(annotation)[0]
                self.metadata = []
                continue
            if origin is dict:
                self.key = f"{self.key}.{part}" if self.key else str(part)
                self.annotation = get_args(annotation)[1]
                self.metadata = []
                continue
            self.key = f"{self.key}.{part}" if self.key else str(part)  # a key the schema does not know
            self.annotation = None
            self.metadata = []
        if self.annotation is not None:
            self.annotation, extra = _unwrap(self.annotation)
            self.metadata += extra

    def choices(self, discriminator: str) -> list:
        """The values of ``discriminator`` the union at this place takes."""
        members = _union_members(self.annotation) or [self.annotation]
        return [get_args(m.model_fields[discriminator].annotation)[0] for m in members if _model_class(m)]

    def allowed(self) -> str:
        parts = []
        for m in self.metadata:
            for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
                val = getattr(m, attr, None)
                if val is not None:
                    parts.append(f"{sym} {val}")
        if get_origin(self.annotation) is Literal:
            parts.append("one of " + ", ".join(repr(a) for a in get_args(self.annotation)))
        return ", ".join(parts)


def _branch_name(annotation) -> str:
    """The first word of pydantic's label of a union member ('float', 'str', 'bool', 'list', ...)."""
    inner, _ = _unwrap(annotation)
    origin = get_origin(inner)
    if origin is not None:
        return getattr(origin, "__name__", str(origin))
    if inner is int:
        return "function-before"  # Integer: a before-validator in front of int
    return getattr(inner, "__name__", str(inner))


#: what a value of each kind is called in a message, by pydantic's error type
_KIND = {
    "float_type": "a number",
    "finite_number": "a finite number (not nan or inf)",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "string_type": "a string (in quotes)",
    "list_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def _shown(value) -> str:
    """A bad value as the TOML file spells it (true/false; strings and lists as Python writes them)."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _what_it_is(err_type: str, value) -> str:
    """What the refused value is instead, and how to write it when the slip is a common one."""
    if err_type not in _KIND or err_type == "finite_number":
        return ""
    if isinstance(value, bool):
        return ", not true/false"
    if isinstance(value, str):
        if err_type in ("float_type", "int_type"):
            try:
                float(value)
            except ValueError:
                return ", not a string"
            return f", not a string; write {value.strip()} without quotes"
        if err_type == "bool_type" and value.lower() in ("true", "false"):
            return f", not a string; write {value.lower()} without quotes"
        return ", not a string"
    if isinstance(value, float) and err_type in ("int_type", "int_from_float"):
        return f"; {value!r} is not whole (an integral float such as 1e5 is fine)"
    if isinstance(value, (int, float)) and err_type in ("bool_type", "string_type"):
        return ", not a number"
    if isinstance(value, list) and err_type != "list_type":
        return ", not a list"
    if isinstance(value, dict) and err_type not in ("dict_type", "model_type", "model_attributes_type"):
        return ", not a table"
    return ""


def _one_error(place: _Place, err: dict, value) -> str:
    kind, key = err["type"], place.key
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    msg = msg.replace("List should have", "must have").replace(" after validation", "")
    if kind == "extra_forbidden":
        parent = key.rsplit(".", 1)[0] if "." in key else "the top level"
        return (
            f"unknown key '{key}' (not allowed in {parent}; see docs/configuration.md for the allowed keys)"
        )
    if kind == "missing":
        return f"missing required key '{key}'"
    if kind == "union_tag_not_found":
        disc = str(err.get("ctx", {}).get("discriminator", "model")).strip("'")
        choices = ", ".join(repr(c) for c in place.choices(disc))
        where = f"[{key}]" if key else "the table"
        return f"missing required key '{key}.{disc}': {where} must say which {disc} it is (one of {choices})"
    if kind == "union_tag_invalid":
        disc = str(err.get("ctx", {}).get("discriminator", "model")).strip("'")
        tag = value.get(disc) if isinstance(value, dict) else err.get("ctx", {}).get("tag")
        choices = ", ".join(repr(c) for c in place.choices(disc))
        return f"{key}.{disc} = {_shown(tag)}: must be one of {choices}"
    if kind in _KIND:
        allowed = place.allowed() if kind != "finite_number" else ""
        return (
            f"{key} = {_shown(value)}: must be {_KIND[kind]}"
            + (f" ({allowed})" if allowed else "")
            + _what_it_is(kind, value)
        )
    if key:
        return f"{key} = {_shown(value)}: {msg}" if not isinstance(value, dict) else f"{key}: {msg}"
    return msg


def _format_validation_error(exc: ValidationError, root=None) -> str:
    """One line naming each bad key (as the file spells it), its value and what is allowed."""
    if root is None:
        root = {c.__name__: c for c in [Config] + [m for _, m in _SECTIONS]}.get(exc.title, Config)
    grouped: dict[str, list] = {}
    for err in exc.errors():
        place = _Place(root, err["loc"])
        grouped.setdefault(place.branch if place.branch is not None else place.key, []).append((place, err))
    lines = []
    for errs in grouped.values():
        if len(errs) == 1 or errs[0][0].branch is None:
            lines += [_one_error(place, err, err.get("input")) for place, err in errs]
            continue
        # a plain union (e.g. float | str | bool): the members whose type fitted say what is wrong;
        # if none fitted, list what the value may be
        fitted = [(p, e) for p, e in errs if e["type"] not in _KIND]
        if fitted:
            lines += [_one_error(p, e, e.get("input")) for p, e in fitted]
        else:
            kinds = list(dict.fromkeys(_KIND[e["type"]] for _, e in errs))
            value = errs[0][1].get("input")
            what = ", ".join(kinds[:-1]) + " or " + kinds[-1] if len(kinds) > 1 else kinds[0]
            lines.append(f"{errs[0][0].branch} = {_shown(value)}: must be {what}")
    return "invalid configuration: " + "; ".join(dict.fromkeys(lines))


def read_toml(path) -> dict:
    """The raw table of a TOML configuration file (ConfigError naming the file if it is missing, not a
    file, unreadable, not text or not valid TOML)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"configuration file '{path}' is a directory, not a TOML file")
    if not path.exists():
        raise ConfigError(f"configuration file '{path}' does not exist")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file '{path}': {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"configuration file '{path}' is not a text (TOML) file: byte {exc.start} is not UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"configuration file '{path}' is a binary file (it holds NUL bytes), not TOML")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file '{path}' is not valid TOML: {exc}") from None


def load_config(source: str | os.PathLike | dict | Config, origin: str | None = None) -> Config:
    """Load and validate a run configuration from a TOML file path, a dict, or a Config.

    ``origin`` names where a table came from in the error message (a file path is named by itself).

    Raises
    ------
    ConfigError
        With a message naming the file, each bad key, its value and the allowed range.
    """
    if isinstance(source, Config):
        return source
    if isinstance(source, dict):
        data = source
    else:
        data = read_toml(source)
        origin = origin or f"'{source}'"
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        message = _format_validation_error(exc, Config)
        if origin:
            message = message.replace("invalid configuration", f"invalid configuration {origin}", 1)
        raise ConfigError(message) from None


# ----------------------------------------------------------------------------- TOML writing
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r or "inf" in r or "nan" in r) else r + ".0"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v)} to TOML")


def dump_toml(data: dict) -> str:
    """Write a nested dict of plain values (as produced by the schema) as TOML text."""
    out = []
    scalars = {
        k: v
        for k, v in data.items()
        if not isinstance(v, (dict, list)) or (isinstance(v, list) and not (v and isinstance(v[0], dict)))
    }
    for k, v in scalars.items():
        out.append(f"{k} = {_toml_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            sub = {
                kk: vv
                for kk, vv in v.items()
                if not (isinstance(vv, list) and vv and isinstance(vv[0], dict))
            }
            out.append(f"\n[{k}]")
            out.extend(f"{kk} = {_toml_value(vv)}" for kk, vv in sub.items())
            for kk, vv in v.items():
                if isinstance(vv, list) and vv and isinstance(vv[0], dict):
                    for item in vv:
                        out.append(f"\n[[{k}.{kk}]]")
                        out.extend(f"{a} = {_toml_value(b)}" for a, b in item.items())
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                out.append(f"\n[[{k}]]")
                out.extend(f"{a} = {_toml_value(b)}" for a, b in item.items())
    return "\n".join(out).lstrip() + "\n"


# ----------------------------------------------------------------------------- documentation
_SECTIONS = [
    ("run", RunSection),
    ("parallel", ParallelSection),
    ("species", SpeciesSection),
    ("energy", EnergySection),
    ("galaxy", GalaxySection),
    ("field (model = 'uniform')", UniformField),
    ("field (model = 'cerri_toy')", CerriToyField),
    ("field (model = 'cylindrical_uniform')", CylindricalUniformField),
    ("field (model = 'grid')", GridField),
    ("field (model = 'jf12')", Jf12Field),
    ("field (model = 'jf12_solenoidal')", Jf12SolenoidalField),
    ("field (model = 'uf23')", Uf23Field),
    ("field (model = 'pt11')", Pt11Field),
    ("field (model = 'cerri17')", Cerri17Field),
    ("field (model = 'sum')", SumField),
    ("turbulence", TurbulenceSection),
    ("diffusion", DiffusionSection),
    ("losses", LossesSection),
    ("losses.isrf", IsrfSection),
    ("losses.gas", GasSection),
    ("source (type = 'point')", PointSource),
    ("source (type = 'disk')", DiskSource),
    ("source (type = 'radial_profile')", RadialProfileSource),
    ("source (type = 'gaussian')", GaussianSource),
    ("source (type = 'spiral_arms')", SpiralArmsSource),
    ("source (type = 'snr')", SnrSource),
    ("source (type = 'gridded')", GriddedSource),
    ("spectrum", SpectrumSection),
    ("time", TimeSection),
    ("time.regimes (list of tables)", Regime),
    ("estimator", EstimatorSection),
    ("observer", ObserverSection),
    ("numerics", NumericsSection),
    ("tally (type = 'cylindrical')", CylindricalTally),
    ("tally (type = 'cartesian')", CartesianTally),
    ("tally (type = 'sphere')", SphereTally),
    ("components (list of tables)", ComponentSection),
]


def _constraints(info) -> str:
    parts = []
    for m in info.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            val = getattr(m, attr, None)
            if val is not None:
                parts.append(f"{sym} {val}")
    ann = info.annotation
    args = getattr(ann, "__args__", ())
    if getattr(ann, "__origin__", None) is Literal:
        parts.append("one of " + ", ".join(repr(a) for a in args))
    return ", ".join(parts)


#: keys whose value selects which table of keys applies (a model, a source type, an estimator ...)
DISCRIMINATOR_KEYS = ("model", "type", "method", "form")


def discriminator_choices() -> dict[tuple[str, str], list[str]]:
    """{(section, key): allowed values} for every discriminator key of the schema, in schema order."""
    out: dict[tuple[str, str], list[str]] = {}
    for title, model in _SECTIONS:
        section = title.split(" (")[0]
        for key, info in model.model_fields.items():
            if key not in DISCRIMINATOR_KEYS or getattr(info.annotation, "__origin__", None) is not Literal:
                continue
            values = out.setdefault((section, key), [])
            values += [v for v in info.annotation.__args__ if v not in values]
    return out


def describe_schema_markdown() -> str:
    """Markdown table of every key: default, allowed range and description (docs/configuration.md),
    after a table of the discriminators (``model``, ``type``, ``method``, ``form``) and their choices."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `sdeprop config --markdown > docs/configuration.md` from the schema in "
        "`sdeprop/config.py`; do not edit by hand (tests/test_reference_docs.py checks it).",
        "Run configurations are TOML files; every key below is optional unless its default is *required*.",
        "Unknown keys are errors. Units are in the key names (`_kpc`, `_Myr`, `_GeV`, `_GV`, `_uG`, "
        "`_cm2_per_s`).",
        "`sdeprop config` prints a complete configuration with all defaults filled in.",
        "Values are strict: a number key takes a finite number (an integer is fine where a float is "
        "expected; `nan` and `inf` are refused, except in a field model's `overrides`), never `true`/`false` "
        "or a quoted string; an integer key also takes a float with an integral value (`particles = 1e5`), "
        "not `1.5`; a `true`/`false` key takes `true` or `false` only; a string key takes a quoted string.",
        "",
        "## Choices",
        "",
        "These keys select a model, a type or a method; the tables below list the keys each choice takes.",
        "",
        "| key | choices |",
        "|---|---|",
    ]
    for (section, key), values in discriminator_choices().items():
        lines.append(f"| `{section}.{key}` | {', '.join(f'`{v}`' for v in values)} |")
    lines.append("")
    for title, model in _SECTIONS:
        lines += [f"## [{title}]", "", "| key | default | allowed | description |", "|---|---|---|---|"]
        for key, info in model.model_fields.items():
            if info.is_required():
                default = "*required*"
            elif info.default_factory is not None:
                default = "`[]`" if key != "tally" else "…"
                if isinstance(info.default_factory, type) and issubclass(info.default_factory, BaseModel):
                    default = "(table below)"
            else:
                default = f"`{info.default}`" if info.default is not None else "(derived)"
            lines.append(f"| `{key}` | {default} | {_constraints(info)} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(describe_schema_markdown(), end="")
