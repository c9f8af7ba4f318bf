"""The transport kernel: Euler–Maruyama integration of the Itô SDE over plain arrays.

    dX = (∇·D) dt + σ dW,   σσᵀ = 2D,   D = D⊥ I + (D∥ − D⊥) b bᵀ      (DESIGN.md §2)
    dE = −b(X, E) dt,  b = q(X, E) E²  (q frozen over a step: E → E/(1 + q E dt), exact for b ∝ E²)

with b = B/sqrt(|B|² + B_f²).  The noise uses the symmetric square root of 2D,
σ = s⊥ I + c b bᵀ with s⊥ = sqrt(2D⊥) and c = (sqrt(2D⊥ + 2(D∥ − D⊥)|b|²) − s⊥)/|b|², so
no perpendicular basis is needed and the covariance is exactly 2D.  The drift is

    (∇·D)_j = (D∥ − D⊥) [ b_j (∇·b) + (b·∇) b_j ]     (PHYSICS.md §1.6; D∥, D⊥ uniform in space)

with ∂_i b_j = (J_ij − b_j Σ_k b_k J_ik)/M, M = sqrt(|B|² + B_f²), J_ij = ∂B_j/∂x_i.

Near the plane z = 0, where many Galactic field models make the tensor jump (X-fields,
north/south haloes) or give it a cusp (UF23's poloidal halo), the Jacobian drift misses a
surface or singular part of ∇·D; steps there end by the interface step ``_plane_step``
(sheared coordinates and skew Brownian motion; docs/numerics.md).

Particles are processed one after another; normal and uniform variates come from
pre-generated buffers (numpy's generator is much faster than per-call draws).  When a
buffer runs out the kernel returns with every particle's state saved, the caller refills
it and calls again: results depend only on the batch's random stream.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .models.diffusion import diffusion_coefficients, rigidity_and_beta
from .models.field import FIELD_UNIFORM, PLANE_CUSP, PLANE_JUMP, field_and_jacobian, field_at
from .models.losses import LOSS_NONE, loss_coefficient
from .tallies import close_history, energy_cells, score, source_energy_positions
from .units import SPEED_OF_LIGHT_KPC_PER_MYR

#: the two sides of the plane z = 0 are evaluated at ±this height [kpc]
PLANE_OFFSET_KPC = 1e-9

# particle status
ALIVE = 0
ESCAPED_Z = 1
ESCAPED_R = 2
AT_TMAX = 3
BELOW_EMIN = 4
MAX_STEPS = 5
N_STATUS = 6

# counters
C_STEPS = 0
C_NTOUCHED = 1
C_BRIDGE_ESCAPES = 2
N_COUNTERS = 4

# estimator
EST_RESIDENCE = 0
EST_SNAPSHOT = 1

# simulation parameters (float array)
(SP_H, SP_RMAX, SP_DT_MAX, SP_STEP_FRAC, SP_LOSS_FRAC, SP_FLOOR, SP_MASS, SP_CHARGE, SP_E_FLOOR, SP_L_GEO,
 SP_MIN_STEP, SP_MIN_STEP_MFP, SP_E_TOL) = range(13)
N_SIM_PARAMS = 13
# simulation switches (int array)
(SI_DRIFT, SI_BRIDGE, SI_ESTIMATOR, SI_MAX_STEPS, SI_FIELD, SI_DIFF, SI_LOSS, SI_STEP_RULE, SI_REFLECT,
 SI_PLANE) = range(10)
N_SIM_SWITCHES = 10
#: uniform variates a step may use (three bridge walls, and whether and to which side it crossed
#: z = 0); the caller refills the buffer when fewer are left
UNIFORMS_PER_STEP = 5

# step rules (time.step_control)
STEP_DIRECTION = 0  # expected change of the field direction b over a step, |Δb|² = 2 dt tr(Gᵀ D G)
STEP_GRADIENT = 1   # parallel displacement against the scale length |B|/‖∇B‖ (DESIGN.md §2 as written)


@njit(cache=True, inline="always", error_model="numpy")
def _bridge_probability(d0, d1, dn, dt):
    """Probability that a Brownian path with diffusion dn crossed a wall between two points
    at distances d0, d1 > 0 from it: exp(−2 d0 d1 / (2 dn dt)) (DESIGN.md §2)."""
    a = d0 * d1 / (dn * dt)
    if a > 40.0:
        return 0.0
    return math.exp(-a)


@njit(cache=True, inline="always", error_model="numpy")
def _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z):
    """(D_zz, D_xz/D_zz, D_yz/D_zz) of the field at (x, y, z)."""
    f = field_at(fkind, field_p, field_grid, x, y, z)
    g = ddiff / (f[0] * f[0] + f[1] * f[1] + f[2] * f[2] + floor2)
    dzz = dperp + g * f[2] * f[2]
    return dzz, g * f[0] * f[2] / dzz, g * f[1] * f[2] / dzz


@njit(cache=True, inline="always", error_model="numpy")
def _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z_a, z_b):
    """∫ (D_xz/D_zz, D_yz/D_zz) dz from z_a to z_b at fixed (x, y), both ends on one side of the plane:
    two-point Gauss–Legendre (exact for the linear part; 1 % for a |z|^0.43 cusp on [0, z_b])."""
    h = 0.5 * (z_b - z_a)
    m = 0.5 * (z_a + z_b)
    d = h * 0.5773502691896258
    a = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, m - d)
    b = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, m + d)
    return h * (a[1] + b[1]), h * (a[2] + b[2])


@njit(cache=True, error_model="numpy")  # not inlined: runs only on steps near the plane
def _plane_step(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z, xr, yr, z1, touched, u):
    """End point of a step near the plane z = 0 in a field whose tensor jumps or has a cusp there
    (docs/numerics.md "Fields whose direction jumps"; DESIGN.md §2).

    Near the plane the tensor depends mostly on z: discontinuously where B_R or B_φ is odd in z
    (the X-fields of JF12 and Cerri et al. 2017, toroidal haloes with different northern and
    southern amplitudes), or with a singular derivative (UF23's poloidal B_R ∝ |z|^(p−1), p < 2).
    Write x = x' + g_x(z), y = y' + g_y(z) with g' = (D_xz, D_yz)/D_zz (g(0) = 0, continuous).
    In (x', y', z) the tensor has no xz, yz part, the flux condition at z = 0 is D_zz ∂_zψ
    continuous, and x', y' have no singular drift (Itô: dx = dx' + g' dz + g'' D_zz dt).  So:

    * (xr, yr) is the step's regular part: the Euler proposal minus g'(z) Δz and g''(z) D_zz dt
      at the start point (the caller's job);
    * the vertical end point z1 is kept, unless the path touched the plane (``touched``); then
      its last excursion ends north with probability α = √D⁺/(√D⁺ + √D⁻) and |z| is rescaled by
      √(D_zz(new)/D_zz(old)): in s = z/√D_zz the motion is skew Brownian motion (Lejay 2006,
      Probab. Surveys 3, 413, §5), the sign of each excursion independent.  The excursion is
      moved to the other side only as often as the skew needs (north kept with probability
      min(1, 2α), south with min(1, 2(1 − α))), so the Euler proposal's drift still acts on the side;
    * the end point is (xr, yr) + g(z_end) − g(z), g integrated along z at the step's lateral
      midpoint by two-point Gauss–Legendre on each side of the plane.

    For tensors uniform on each side this is exact (g piecewise linear, and Tanaka's formula
    gives the local-time drift [D_jz] dL); for a smooth field it agrees with the Euler step to
    the order of the scheme.  The sides are evaluated at z = ±PLANE_OFFSET_KPC.
    """
    xl = 0.5 * (x + xr)
    yl = 0.5 * (y + yr)
    z_end = z1
    if touched:
        dp = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, PLANE_OFFSET_KPC)[0]
        dm = _vertical_shear(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, -PLANE_OFFSET_KPC)[0]
        d0 = dp if z >= 0.0 else dm
        sp = math.sqrt(dp)
        sm = math.sqrt(dm)
        # move the proposal's last excursion to the other side only as often as the skew needs:
        # north kept with probability min(1, 2α), south with min(1, 2(1 − α)), α = √D⁺/(√D⁺ + √D⁻);
        # for a driftless proposal (ends symmetric given a touch) that gives P(north) = α, and for
        # α = ½ it keeps the Euler end point, with the drift's effect on the side
        if z1 >= 0.0:
            north = u * (sp + sm) < 2.0 * sp
        else:
            north = u * (sp + sm) >= 2.0 * sm
        if north:
            z_end = abs(z1) * sp / math.sqrt(d0)
        else:
            z_end = -abs(z1) * sm / math.sqrt(d0)
    if (z >= 0.0) == (z_end >= 0.0):
        gx, gy = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, z, z_end)
    else:
        off = PLANE_OFFSET_KPC if z >= 0.0 else -PLANE_OFFSET_KPC
        ax, ay = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, z, off)
        bx, by = _shear_integral(fkind, field_p, field_grid, floor2, dperp, ddiff, xl, yl, -off, z_end)
        gx = ax + bx
        gy = ay + by
    return xr + gx, yr + gy, z_end


@njit(cache=True, inline="always", error_model="numpy")
def _step_floor2(min_step2, mfp_number, dpar, kinetic_GeV, mass, charge):
    """Square of the shortest parallel displacement sqrt(2 D∥ dt) the field rule may ask for [kpc²]:
    the larger of a fixed length and mfp_number scattering mean free paths λ∥ = 3 D∥/v
    (the diffusion-limit relation D = λ v/3, PHYSICS.md §7.1)."""
    if mfp_number <= 0.0:
        return min_step2
    beta = rigidity_and_beta(kinetic_GeV, mass, charge)[1]
    lam = mfp_number * 3.0 * dpar / (beta * SPEED_OF_LIGHT_KPC_PER_MYR)
    return max(min_step2, lam * lam)


@njit(cache=True, inline="always", error_model="numpy")
def _energy_state(dkind, diff_p, kinetic_GeV, mass, charge, min_step2, min_step_mfp):
    """The energy-dependent quantities of a step: D∥, D⊥, D∥ − D⊥, sqrt(2 D⊥), 1/(2 D∥) and the
    squared step floor."""
    dpar, dperp = diffusion_coefficients(dkind, diff_p, kinetic_GeV, mass, charge)
    floor_step2 = _step_floor2(min_step2, min_step_mfp, dpar, kinetic_GeV, mass, charge)
    return dpar, dperp, dpar - dperp, math.sqrt(2.0 * dperp), 0.5 / dpar, floor_step2


@njit(cache=True, inline="always")
def _store(px, py, pz, pe, pt, pnext, pout, psteps, i, x, y, z, e, t, k_snap, k_out, nsteps):
    """Write particle i's state back to the arrays."""
    px[i] = x
    py[i] = y
    pz[i] = z
    pe[i] = e
    pt[i] = t
    pnext[i] = k_snap
    pout[i] = k_out
    psteps[i] = nsteps


@njit(cache=True, error_model="numpy")
def transport(
    px, py, pz, pe, pe0, pw, pt, pstatus, pnext, pout, psteps, phalf, pt_max, psnap_dt,
    first, normals, n_pos, uniforms, u_pos,
    sim_f, sim_i, field_p, field_grid, diff_p, loss_p, output_times,
    ti, tf, sums, scratch, stamp, touched, v_tally, e_cells, counters, status_counts,
):
    """Advance particles ``first..`` until all are done or a random buffer runs out.

    Returns (index of the first unfinished particle, normals position, uniforms position).
    Particle arrays: position (kpc), kinetic energy E and source energy E0 (GeV), weight,
    time (Myr), status, index of the next steady-state snapshot, index of the next output
    time, steps taken, the residence time still to be scored at the current point, and
    per-particle t_max and snapshot cadence (Myr).

    Residence-time scoring uses the trapezoid rule: a step of length dt scores dt/2 at its
    start and dt/2 at its end point (carried to the next step), which removes the O(dt)
    excess that left-point scoring puts into the source cell.
    """
    H = sim_f[SP_H]
    rmax = sim_f[SP_RMAX]
    dt_max = sim_f[SP_DT_MAX]
    step_frac2 = sim_f[SP_STEP_FRAC] ** 2
    loss_frac = sim_f[SP_LOSS_FRAC]
    floor2 = sim_f[SP_FLOOR] * sim_f[SP_FLOOR]
    mass = sim_f[SP_MASS]
    charge = sim_f[SP_CHARGE]
    e_floor = sim_f[SP_E_FLOOR]
    l_geo = sim_f[SP_L_GEO]
    min_step2 = sim_f[SP_MIN_STEP] ** 2
    min_step_mfp = sim_f[SP_MIN_STEP_MFP]
    e_tol = sim_f[SP_E_TOL]
    step_rule = sim_i[SI_STEP_RULE]
    use_drift = sim_i[SI_DRIFT] != 0
    reflect = sim_i[SI_REFLECT] != 0
    use_bridge = sim_i[SI_BRIDGE] != 0 and not reflect  # a reflected end point already accounts for excursions
    plane_mode = sim_i[SI_PLANE] if use_drift else 0  # models.field.PLANE_*: what z = 0 holds for the tensor
    plane = plane_mode != 0
    snapshot = sim_i[SI_ESTIMATOR] == EST_SNAPSHOT
    max_steps = sim_i[SI_MAX_STEPS]
    fkind = sim_i[SI_FIELD]
    dkind = sim_i[SI_DIFF]
    lkind = sim_i[SI_LOSS]
    # a uniform field (the same in both half-spaces) is evaluated once per particle and energy
    uniform_field = (fkind == FIELD_UNIFORM and field_p[0] == field_p[3] and field_p[1] == field_p[4]
                     and field_p[2] == field_p[5])
    n_norm = normals.shape[0]
    n_unif = uniforms.shape[0]
    n_out = output_times.shape[0]
    n_touched = counters[C_NTOUCHED]

    for i in range(first, px.shape[0]):
        if pstatus[i] != ALIVE:
            continue
        pid = i + 1
        x = px[i]
        y = py[i]
        z = pz[i]
        e = pe[i]
        t = pt[i]
        w = pw[i]
        t_max = pt_max[i]
        snap_dt = psnap_dt[i]
        k_snap = pnext[i]
        k_out = pout[i]
        ln_e = math.log(e)
        ln_e0 = math.log(pe0[i])
        source_energy_positions(ti, tf, ln_e0, v_tally)
        cells_below = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
        # under losses D is re-evaluated each time ln E has fallen by e_tol, at the middle of the
        # coming interval [ln E − e_tol, ln E] (docs/numerics.md "Energy losses")
        ln_e_d = ln_e
        dpar, dperp, ddiff, s_perp, inv_2dpar, floor_step2 = _energy_state(
            dkind, diff_p, math.exp(ln_e - 0.5 * e_tol) if lkind != LOSS_NONE else e, mass, charge, min_step2, min_step_mfp)
        r = math.sqrt(x * x + y * y)
        last_dt = -1.0
        half_prev = phalf[i]
        sq = 0.0
        nsteps = psteps[i]
        fresh = False
        bx = 0.0
        by = 0.0
        bz = 0.0
        b2 = 0.0
        breg2 = 0.0
        q_loss = 0.0
        m2 = 1.0
        jn2 = 0.0
        g_norm2 = 0.0
        dzbx = 0.0  # ∂_z b_x, ∂_z b_y, ∂_z b_z at the current point (for the near-plane step)
        dzby = 0.0
        dzbz = 0.0
        kap2 = 0.0
        c = 0.0
        vx = 0.0
        vy = 0.0
        vz = 0.0
        while True:
            if n_pos + 3 > n_norm or ((use_bridge or plane) and u_pos + UNIFORMS_PER_STEP > n_unif):
                _store(px, py, pz, pe, pt, pnext, pout, psteps, i, x, y, z, e, t, k_snap, k_out, nsteps)
                phalf[i] = half_prev
                counters[C_NTOUCHED] = n_touched
                return i, n_pos, u_pos
            # --- local field, noise amplitude and drift (kept while the field is uniform and E fixed)
            if not fresh:
                f = field_and_jacobian(fkind, field_p, field_grid, x, y, z, r)
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
                fresh = uniform_field
            # --- time step (docs/numerics.md "Step control")
            dt = min(dt_max, step_frac2 * l_geo * l_geo * inv_2dpar)
            if step_rule == STEP_DIRECTION:
                # expected squared change of b over the step, 2 dt tr(Gᵀ D G), <= step_fraction²
                rate_b = 2.0 * (dperp * g_norm2 + ddiff * kap2)
                if rate_b * dt > step_frac2:
                    dt = min(dt, max(step_frac2 / rate_b, floor_step2 * inv_2dpar))
            elif jn2 * l_geo * l_geo > m2:
                # sqrt(2 D∥ dt) <= step_fraction × |B|/‖∇B‖
                dt = min(dt, max(step_frac2 * m2 / jn2, floor_step2) * inv_2dpar)
            if lkind != LOSS_NONE:
                # loss time E/b = 1/(q E); q = b/E² is frozen over the step
                q_loss = loss_coefficient(lkind, loss_p, x, y, z, r, e, ln_e, breg2)
                if q_loss > 0.0:
                    dt = min(dt, loss_frac / (q_loss * e))
            t_end = t_max
            if snapshot:
                t_end = min(t_end, (k_snap + 0.5) * snap_dt)
                if k_out < n_out:
                    t_end = min(t_end, output_times[k_out])
            if t + dt >= t_end:
                dt = t_end - t
            if dt < 0.0:
                dt = 0.0
            # --- residence-time estimator (trapezoid): the end half of the last step + the start half of this one
            if not snapshot:
                n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * (half_prev + 0.5 * dt), scratch, stamp,
                                  touched, n_touched, pid)
                half_prev = 0.5 * dt
            xi0 = normals[n_pos]
            xi1 = normals[n_pos + 1]
            xi2 = normals[n_pos + 2]
            n_pos += 3
            bxi = c * (bx * xi0 + by * xi1 + bz * xi2)
            if dt != last_dt:
                sq = math.sqrt(dt)
                last_dt = dt
            x1 = x + (s_perp * xi0 + bxi * bx) * sq + vx * dt
            y1 = y + (s_perp * xi1 + bxi * by) * sq + vy * dt
            z1 = z + (s_perp * xi2 + bxi * bz) * sq + vz * dt
            if plane and dt > 0.0:
                # near a plane where the tensor jumps (PLANE_JUMP) or has a cusp (PLANE_CUSP), end the
                # step by _plane_step.  Jump: the steps whose path touched the plane (certain if it
                # changed side, else with the bridge probability exp(−z z1/(D_zz dt))); away from it
                # the step equals the Euler step for a tensor uniform on each side.  Cusp: every step
                # that starts within 4 vertical standard deviations of z = 0 (chosen by the start
                # point only: choosing by the end point would bias the mean step), and the rare
                # longer ones that changed side
                dzz = dperp + ddiff * bz * bz
                zz = z * z1
                touched_plane = zz <= 0.0
                near = touched_plane or (plane_mode == PLANE_CUSP and z * z < 32.0 * dzz * dt)
                if not touched_plane and zz < 40.0 * dzz * dt and (near or plane_mode == PLANE_JUMP):
                    touched_plane = uniforms[u_pos] < math.exp(-zz / (dzz * dt))
                    u_pos += 1
                if near or touched_plane:
                    # regular part: remove g'(z) Δz and g''(z) D_zz dt of the start point,
                    # g' = D_jz/D_zz, g'' = (∂_z D_jz − g' ∂_z D_zz)/D_zz
                    cx = ddiff * bx * bz / dzz
                    cy = ddiff * by * bz / dzz
                    dzz_z = 2.0 * ddiff * bz * dzbz
                    cxz = (ddiff * (dzbx * bz + bx * dzbz) - cx * dzz_z) / dzz
                    cyz = (ddiff * (dzby * bz + by * dzbz) - cy * dzz_z) / dzz
                    xr = x1 - cx * (z1 - z) - cxz * dzz * dt
                    yr = y1 - cy * (z1 - z) - cyz * dzz * dt
                    x1, y1, z1 = _plane_step(fkind, field_p, field_grid, floor2, dperp, ddiff, x, y, z, xr, yr, z1,
                                             touched_plane, uniforms[u_pos])
                    u_pos += 1
            # --- energy losses: deterministic drift in E (exact for b ∝ E²)
            if lkind != LOSS_NONE:
                # E -> E/(1 + q E dt): exact for b ∝ E² over the step and never negative; ln E falls
                # by log1p(q E dt) (a 3-term series below 1e-4, error < 1e-16)
                xl = q_loss * e * dt
                e = e / (1.0 + xl)
                if xl < 1e-4:
                    ln_e -= xl * (1.0 - xl * (0.5 - xl * (1.0 / 3.0)))
                else:
                    ln_e -= math.log1p(xl)
                if ln_e < cells_below:
                    cells_below = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
                if ln_e < ln_e_d - e_tol:
                    ln_e_d = ln_e
                    dpar, dperp, ddiff, s_perp, inv_2dpar, floor_step2 = _energy_state(
                        dkind, diff_p, math.exp(ln_e - 0.5 * e_tol), mass, charge, min_step2, min_step_mfp)
                    fresh = False
            t += dt
            nsteps += 1
            # --- boundaries: free escape at |z| = H and R = R_max, with the Brownian bridge
            r1 = math.sqrt(x1 * x1 + y1 * y1)
            status = ALIVE
            if reflect:
                # reflect the end point back along the conormal D n of the wall it crossed: the
                # map y -> y - 2 d D n/(n·D n) (d the distance outside) leaves the step's Gaussian
                # N(0, 2D dt) invariant, so it is the discrete zero-flux condition n·D∇ψ = 0
                # (a plain mirror is that only where D's off-diagonal n-τ part is uniform along the wall)
                for _ in range(8):
                    if abs(z1) > H:
                        sz = math.copysign(1.0, z1)
                        dn = dperp + ddiff * bz * bz
                        a = 2.0 * (abs(z1) - H) / dn
                        x1 -= a * sz * ddiff * bz * bx
                        y1 -= a * sz * ddiff * bz * by
                        z1 -= a * sz * dn
                        r1 = math.sqrt(x1 * x1 + y1 * y1)
                    elif r1 > rmax:
                        nx = x1 / r1
                        ny = y1 / r1
                        bn = bx * nx + by * ny
                        dn = dperp + ddiff * bn * bn
                        a = 2.0 * (r1 - rmax) / dn
                        x1 -= a * (dperp * nx + ddiff * bn * bx)
                        y1 -= a * (dperp * ny + ddiff * bn * by)
                        z1 -= a * ddiff * bn * bz
                        r1 = math.sqrt(x1 * x1 + y1 * y1)
                    else:
                        break
                if abs(z1) > H:  # only after 8 reflections in one step (a drift far larger than the halo)
                    z1 = math.copysign(H, z1)
                if r1 > rmax:
                    x1 *= rmax / r1
                    y1 *= rmax / r1
                    r1 = rmax
            elif abs(z1) >= H:
                status = ESCAPED_Z
            elif r1 >= rmax:
                status = ESCAPED_R
            elif use_bridge and dt > 0.0:
                # cheap screen first: the crossing probability exp(-d0 d1/(D_n dt)) is negligible
                # (< e^-40) when d0 d1 > 40 max(D∥, D⊥) dt, since every D_n <= max(D∥, D⊥)
                screen = 40.0 * max(dpar, dperp) * dt
                dzz = dperp + ddiff * bz * bz
                # upper wall, then lower wall (both: a long step may cross z = 0)
                d0 = H - z
                d1 = H - z1
                if d0 * d1 < screen:
                    p_cross = _bridge_probability(d0, d1, dzz, dt)
                    if p_cross > 0.0:
                        if uniforms[u_pos] < p_cross:
                            status = ESCAPED_Z
                        u_pos += 1
                d0 = H + z
                d1 = H + z1
                if status == ALIVE and d0 * d1 < screen:
                    p_cross = _bridge_probability(d0, d1, dzz, dt)
                    if p_cross > 0.0:
                        if uniforms[u_pos] < p_cross:
                            status = ESCAPED_Z
                        u_pos += 1
                d0 = rmax - r
                d1 = rmax - r1
                if status == ALIVE and r > 0.0 and d0 * d1 < screen:
                    br = (bx * x + by * y) / r
                    drr = dperp + ddiff * br * br
                    p_cross = _bridge_probability(d0, d1, drr, dt)
                    if p_cross > 0.0:
                        if uniforms[u_pos] < p_cross:
                            status = ESCAPED_R
                        u_pos += 1
                if status != ALIVE:
                    counters[C_BRIDGE_ESCAPES] += 1
            x = x1
            y = y1
            z = z1
            r = r1
            if status == ALIVE and e < e_floor:
                status = BELOW_EMIN
            if status == ALIVE and snapshot:
                # steady state: w Δt at the midpoints (k + 1/2) Δt of the cadence
                if t >= (k_snap + 0.5) * snap_dt * (1.0 - 1e-12):
                    n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * snap_dt, scratch, stamp, touched, n_touched, pid)
                    k_snap += 1
                while k_out < n_out and t >= output_times[k_out] * (1.0 - 1e-12):
                    n_touched = score(ti, tf, x, y, z, r, e_cells, 1 + k_out, w, scratch, stamp, touched, n_touched, pid)
                    k_out += 1
            if status == ALIVE and t >= t_max * (1.0 - 1e-12):
                status = AT_TMAX
            if status == ALIVE and nsteps >= max_steps:
                status = MAX_STEPS
            if status != ALIVE:
                break
        counters[C_STEPS] += nsteps
        if not snapshot and half_prev > 0.0 and (status == AT_TMAX or status == BELOW_EMIN or status == MAX_STEPS):
            # the particle is still inside: its last end point keeps the remaining half step
            n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * half_prev, scratch, stamp, touched, n_touched, pid)
        half_prev = 0.0
        phalf[i] = 0.0
        _store(px, py, pz, pe, pt, pnext, pout, psteps, i, x, y, z, e, t, k_snap, k_out, nsteps)
        pstatus[i] = status
        status_counts[status] += 1
        n_touched = close_history(sums, scratch, touched, n_touched, ti, v_tally)
    counters[C_NTOUCHED] = n_touched
    return px.shape[0], n_pos, u_pos
