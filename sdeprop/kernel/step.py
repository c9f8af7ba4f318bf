"""One Euler–Maruyama step, in pieces: the local frame (noise and drift), the step size and the
energy update.  All are inlined into the particle loop (``particle_loop.py``).

    dX = (∇·D) dt + σ dW,   σσᵀ = 2D,   D = D⊥ I + (D∥ − D⊥) b bᵀ      (docs/design.md §2)

with b = B/sqrt(|B|² + B_f²).  The noise uses the symmetric square root of 2D,
σ = s⊥ I + c b bᵀ with s⊥ = sqrt(2D⊥) and c = (sqrt(2D⊥ + 2(D∥ − D⊥)|b|²) − s⊥)/|b|², so
no perpendicular basis is needed and the covariance is exactly 2D.  The drift is

    (∇·D)_j = (D∥ − D⊥) [ b_j (∇·b) + (b·∇) b_j ]     (docs/physics.md §1.6; D∥, D⊥ uniform in space)

with ∂_i b_j = (J_ij − b_j Σ_k b_k J_ik)/M, M = sqrt(|B|² + B_f²), J_ij = ∂B_j/∂x_i.
"""

from __future__ import annotations

import math

from numba import njit

from ..models.diffusion import diffusion_coefficients, rigidity_and_beta
from ..models.field import field_and_jacobian
from ..units import SPEED_OF_LIGHT_KPC_PER_MYR
from .records import STEP_DIRECTION


@njit(cache=True, inline="always", error_model="numpy")
def step_floor2(min_step2, mfp_number, dpar, kinetic_GeV, mass, charge):
    """Square of the shortest parallel displacement sqrt(2 D∥ dt) the field rule may ask for [kpc²]:
    the larger of a fixed length and mfp_number scattering mean free paths λ∥ = 3 D∥/v
    (the diffusion-limit relation D = λ v/3, docs/physics.md §7.1)."""
    if mfp_number <= 0.0:
        return min_step2
    beta = rigidity_and_beta(kinetic_GeV, mass, charge)[1]
    lam = mfp_number * 3.0 * dpar / (beta * SPEED_OF_LIGHT_KPC_PER_MYR)
    return max(min_step2, lam * lam)


@njit(cache=True, inline="always", error_model="numpy")
def energy_state(dkind, diff_p, kinetic_GeV, mass, charge, min_step2, min_step_mfp):
    """The energy-dependent quantities of a step: D∥, D⊥, D∥ − D⊥, sqrt(2 D⊥), 1/(2 D∥) and the
    squared step floor."""
    dpar, dperp = diffusion_coefficients(dkind, diff_p, kinetic_GeV, mass, charge)
    floor_step2 = step_floor2(min_step2, min_step_mfp, dpar, kinetic_GeV, mass, charge)
    return dpar, dperp, dpar - dperp, math.sqrt(2.0 * dperp), 0.5 / dpar, floor_step2


@njit(cache=True, inline="always", error_model="numpy")
def parallel_log_slope(dkind, diff_p, kinetic_GeV, mass, charge):
    """d ln D∥/d ln p at kinetic energy T [GeV] (central difference over ±0.1 % in p; used by
    reacceleration's drift, docs/transport.md)."""
    p = math.sqrt(kinetic_GeV * (kinetic_GeV + 2.0 * mass))
    h = 1e-3
    lo = p * math.exp(-h)
    hi = p * math.exp(h)
    t_lo = lo * lo / (math.sqrt(lo * lo + mass * mass) + mass)
    t_hi = hi * hi / (math.sqrt(hi * hi + mass * mass) + mass)
    d_lo = diffusion_coefficients(dkind, diff_p, t_lo, mass, charge)[0]
    d_hi = diffusion_coefficients(dkind, diff_p, t_hi, mass, charge)[0]
    return (math.log(d_hi) - math.log(d_lo)) / (2.0 * h)


@njit(cache=True, inline="always", error_model="numpy")
def scale_momentum(kinetic_GeV, mass, dlnp):
    """(T, ln T) after the momentum changed by the factor exp(dlnp): T = p²/(sqrt(p² + m²) + m), which
    keeps its precision for T ≪ m."""
    p = math.sqrt(kinetic_GeV * (kinetic_GeV + 2.0 * mass)) * math.exp(dlnp)
    t = p * p / (math.sqrt(p * p + mass * mass) + mass)
    return t, math.log(t)


@njit(cache=True, inline="always", error_model="numpy")
def local_frame(f, floor2, dperp, ddiff, s_perp, use_drift):
    """Field direction, noise amplitude and drift from the field and its Jacobian at a point,
    f = (B_x, B_y, B_z, J_xx, J_xy, ..., J_zz) as ``models.field.field_and_jacobian`` returns it.

    Returns (b_x, b_y, b_z, |B|², M², ‖J‖², c, v_x, v_y, v_z, ‖G‖², |κ|², ∂_z b_x, ∂_z b_y, ∂_z b_z, ∇·b):
    the unit-ish direction b = B/M, the regular field squared, M² = |B|² + B_f², the squared norm of
    the field's Jacobian, the noise coefficient c of σ = s⊥ I + c b bᵀ, the drift v = ∇·D, the
    squared norm of G = ∇b and of the curvature κ = (b·∇) b (both set the step), and ∂_z b (for
    the near-plane step), and ∇·b (0 without the drift; the field-line step's drift is (D∥ − D⊥) b ∇·b).
    """
    breg2 = f[0] * f[0] + f[1] * f[1] + f[2] * f[2]
    m2 = breg2 + floor2
    inv_m = 1.0 / math.sqrt(m2)
    bx = f[0] * inv_m
    by = f[1] * inv_m
    bz = f[2] * inv_m
    b2 = bx * bx + by * by + bz * bz
    jn2 = (f[3] * f[3] + f[4] * f[4] + f[5] * f[5] + f[6] * f[6] + f[7] * f[7] + f[8] * f[8]
           + f[9] * f[9] + f[10] * f[10] + f[11] * f[11])
    # noise: sigma = s_perp I + c b b^T
    if b2 > 1e-300:
        c = (math.sqrt(2.0 * dperp + 2.0 * ddiff * b2) - s_perp) / b2
    else:
        c = 0.0
    # G_ij = ∂_i b_j = (J_ij − b_j g_i)/M with g_i = Σ_k b_k J_ik; its norm ‖G‖² and the
    # curvature κ_j = (b·∇) b_j set both the drift and the step
    vx = 0.0
    vy = 0.0
    vz = 0.0
    g_norm2 = 0.0
    kap2 = 0.0
    dzbx = 0.0
    dzby = 0.0
    dzbz = 0.0
    divb = 0.0
    if jn2 > 0.0:
        g0 = bx * f[3] + by * f[4] + bz * f[5]
        g1 = bx * f[6] + by * f[7] + bz * f[8]
        g2 = bx * f[9] + by * f[10] + bz * f[11]
        d00 = (f[3] - bx * g0) * inv_m
        d01 = (f[4] - by * g0) * inv_m
        d02 = (f[5] - bz * g0) * inv_m
        d10 = (f[6] - bx * g1) * inv_m
        d11 = (f[7] - by * g1) * inv_m
        d12 = (f[8] - bz * g1) * inv_m
        d20 = (f[9] - bx * g2) * inv_m
        d21 = (f[10] - by * g2) * inv_m
        d22 = (f[11] - bz * g2) * inv_m
        dzbx = d20
        dzby = d21
        dzbz = d22
        kx = bx * d00 + by * d10 + bz * d20
        ky = bx * d01 + by * d11 + bz * d21
        kz = bx * d02 + by * d12 + bz * d22
        g_norm2 = (d00 * d00 + d01 * d01 + d02 * d02 + d10 * d10 + d11 * d11 + d12 * d12
                   + d20 * d20 + d21 * d21 + d22 * d22)
        kap2 = kx * kx + ky * ky + kz * kz
        if use_drift:
            # drift (∇·D)_j = (D∥ − D⊥)[b_j ∇·b + κ_j]
            divb = d00 + d11 + d22
            vx = ddiff * (bx * divb + kx)
            vy = ddiff * (by * divb + ky)
            vz = ddiff * (bz * divb + kz)
    return bx, by, bz, breg2, m2, jn2, c, vx, vy, vz, g_norm2, kap2, dzbx, dzby, dzbz, divb


@njit(cache=True, inline="always", error_model="numpy")
def field_limited_step(dt_max, step_frac2, l_geo, inv_2dpar, step_rule, dperp, ddiff, g_norm2, kap2, jn2, m2,
                       floor_step2):
    """The step [Myr] allowed by the halo size and by the field (docs/numerics.md "Step control").

    sqrt(2 D∥ dt) <= step_fraction × l_geo (min(H, R_max), or less under time.max_step_kpc), and
    either the expected squared change of b over the step, 2 dt tr(Gᵀ D G), <= step_fraction²
    (STEP_DIRECTION) or
    sqrt(2 D∥ dt) <= step_fraction × |B|/‖∇B‖ (STEP_GRADIENT), never below the step floor.
    """
    dt = min(dt_max, step_frac2 * l_geo * l_geo * inv_2dpar)
    if step_rule == STEP_DIRECTION:
        rate_b = 2.0 * (dperp * g_norm2 + ddiff * kap2)
        if rate_b * dt > step_frac2:
            dt = min(dt, max(step_frac2 / rate_b, floor_step2 * inv_2dpar))
    elif jn2 * l_geo * l_geo > m2:
        dt = min(dt, max(step_frac2 * m2 / jn2, floor_step2) * inv_2dpar)
    return dt


@njit(cache=True, inline="always", error_model="numpy")
def clip_to_schedule(dt, t, t_max, snapshot, k_snap, snap_dt, t_output):
    """The step shortened so that it ends exactly at t_max, at the next snapshot midpoint
    (k + ½) Δt and at the next burst output time t_output (inf when none is left); never negative.

    The per-step helpers of the kernel take scalars only: an array passed into an inlined helper
    costs reference counting on every step."""
    t_end = t_max
    if snapshot:
        t_end = min(t_end, (k_snap + 0.5) * snap_dt)
        t_end = min(t_end, t_output)
    if t + dt >= t_end:
        dt = t_end - t
    if dt < 0.0:
        dt = 0.0
    return dt


@njit(cache=True, inline="always", error_model="numpy")
def lose_energy(e, ln_e, q_loss, dt):
    """Energy after a step with loss coefficient q frozen: E → E/(1 + q E dt), exact for b ∝ E² over
    the step and never negative (docs/design.md §2).  ln E falls by log1p(q E dt), a 3-term series
    below 1e-4 (error < 1e-16).  Returns (E, ln E)."""
    xl = q_loss * e * dt
    e = e / (1.0 + xl)
    if xl < 1e-4:
        ln_e -= xl * (1.0 - xl * (0.5 - xl * (1.0 / 3.0)))
    else:
        ln_e -= math.log1p(xl)
    return e, ln_e


@njit(cache=True, inline="always", error_model="numpy")
def gain_energy(e, ln_e, q_loss, dt):
    """Energy after a backward step (the loss drift run in reverse, dE/ds = +q E², docs/observer.md) with q
    frozen: E → E/(1 − q E dt), exact for b ∝ E²; q E dt ≤ time.loss_fraction ≤ ½ keeps it finite.
    ln E rises by −log1p(−q E dt), a 3-term series below 1e-4.  Returns (E, ln E)."""
    xl = q_loss * e * dt
    e = e / (1.0 - xl)
    if xl < 1e-4:
        ln_e += xl * (1.0 + xl * (0.5 + xl * (1.0 / 3.0)))
    else:
        ln_e -= math.log1p(-xl)
    return e, ln_e


#: the field-line step's sub-steps keep the estimated Runge–Kutta error of one arc, measured as the
#: spurious change of R² on a circle of the line's curvature radius, below this fraction of the
#: step's perpendicular variance 4 D⊥ dt (docs/numerics.md "Field-line step")
TRACE_TOLERANCE = 0.01
#: most sub-steps of one traced arc
TRACE_MAX_SUBSTEPS = 64


@njit(cache=True, error_model="numpy")  # not inlined: one copy of the field models for all stages
def trace_field_line(fkind, field_p, field_grid, floor2, order, n_sub, x, y, z, bx, by, bz, s):
    """End point X(s) of the field line dX/ds = b(X), b = B/sqrt(|B|² + B_f²), from X(0) = (x, y, z)
    where b = (bx, by, bz), by ``n_sub`` steps of the classical Runge–Kutta method of ``order`` 4 or
    of the midpoint method (order 2) (Hairer, Nørsett & Wanner 1993, Solving ODEs I, §II.1).
    The anisotropic half of the field-line step (docs/numerics.md "Field-line step")."""
    h = s / n_sub
    for k in range(n_sub):
        if k > 0:
            f = field_and_jacobian(fkind, field_p, field_grid, x, y, z, math.sqrt(x * x + y * y))
            inv_m = 1.0 / math.sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2] + floor2)
            bx = f[0] * inv_m
            by = f[1] * inv_m
            bz = f[2] * inv_m
        # stages: k_j = b(X + a_j h k_{j−1}); RK4 a = (½, ½, 1), weights (1, 2, 2, 1)/6; midpoint a = ½
        kx, ky, kz = bx, by, bz
        sx = sy = sz = 0.0
        n_stage = 3 if order == 4 else 1
        for j in range(n_stage):
            a = 1.0 if j == 2 else 0.5
            px = x + a * h * kx
            py = y + a * h * ky
            pz = z + a * h * kz
            f = field_and_jacobian(fkind, field_p, field_grid, px, py, pz, math.sqrt(px * px + py * py))
            inv_m = 1.0 / math.sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2] + floor2)
            kx = f[0] * inv_m
            ky = f[1] * inv_m
            kz = f[2] * inv_m
            wgt = 0.5 if j == 2 else 1.0
            sx += wgt * kx
            sy += wgt * ky
            sz += wgt * kz
        if order == 4:
            x += h * (bx + 2.0 * sx) * (1.0 / 6.0)
            y += h * (by + 2.0 * sy) * (1.0 / 6.0)
            z += h * (bz + 2.0 * sz) * (1.0 / 6.0)
        else:
            x += h * sx
            y += h * sy
            z += h * sz
    return x, y, z


@njit(cache=True, inline="always", error_model="numpy")
def trace_substeps(s, kap2, b2, dperp_dt, order):
    """Sub-steps n of a traced arc of parameter length s.  On a circle of radius ρ = |b|²/|κ|
    (κ = (b·∇) b at the start) the line turns by θ = |s| |κ|/|b|, and n steps of the midpoint rule
    change R² by ρ² θ⁴/(8 n³), n RK4 steps by −ρ² θ⁶/(72 n⁵) (leading terms); n is the smallest
    count that keeps this below TRACE_TOLERANCE × 4 D⊥ dt (``dperp_dt`` = D⊥ dt)."""
    if kap2 <= 0.0 or b2 <= 0.0:
        return 1
    s2k2 = s * s * kap2
    bound = TRACE_TOLERANCE * 4.0 * max(dperp_dt, 1e-300)
    if order == 4:
        q = s2k2 * s2k2 * s * s / (b2 * 72.0 * bound)
        if q <= 1.0:
            return 1
        return min(TRACE_MAX_SUBSTEPS, int(math.ceil(q**0.2)))
    q = s2k2 * s * s / (8.0 * bound)
    if q <= 1.0:
        return 1
    return min(TRACE_MAX_SUBSTEPS, int(math.ceil(q ** (1.0 / 3.0))))
