"""The particle loop: integration of the Itô SDE over the kernel's records, by Euler–Maruyama
steps or by the field-line step (numerics.integrator; docs/design.md §2.2.1).

    dX = (∇·D) dt + σ dW,   σσᵀ = 2D      (docs/design.md §2; the pieces in step.py)
    dE = −b(X, E) dt,  b = q(X, E) E²  (q frozen over a step: E → E/(1 + q E dt), exact for b ∝ E²)

A step: the local frame (field direction, noise, drift; ``step.local_frame``), the step size
(``step.field_limited_step``, the loss time, ``clip_to_schedule``), the Euler proposal (or the
field-line step: an arc traced along the line, ``step.trace_field_line``, plus the isotropic
Gaussian), with step refinement its check at the end point and halving by a Brownian-bridge draw
(docs/numerics.md "Step refinement"), the residence-time score, the near-plane step where the tensor
jumps or has a cusp at z = 0 (``plane.plane_step_wanted``, ``plane_end_point``), the energy
update, and the walls (``boundaries``).

Particles are processed one after another; normal and uniform variates come from pre-generated
buffers (numpy's generator is much faster than per-call draws).  When a buffer runs out the
kernel returns with every particle's state saved, the caller refills it and calls again: results
depend only on the batch's random stream.

Residence-time scoring uses the trapezoid rule: a step of length dt scores dt/2 at its start and
dt/2 at its end point (carried to the next step), which removes the O(dt) excess that left-point
scoring puts into the source cell (docs/design.md §3).
"""

from __future__ import annotations

import math

from numba import njit

from ..models.advection import plane_occupation, reflected_wind_step, wind_speed
from ..models.catastrophic import CATASTROPHIC_NONE, catastrophic_rate
from ..models.diffusion import rigidity_and_beta
from ..models.field import FIELD_UNIFORM, field_and_jacobian
from ..models.losses import LOSS_NONE, loss_coefficient
from ..models.reacceleration import momentum_diffusion_rate
from ..models.sources import SOURCE_THIN_DISK, source_density, source_surface_density
from ..models.spatial_diffusion import (
    SPATIAL_GRID,
    SPATIAL_TWO_HALO,
    SPATIAL_UNIFORM,
    TH_DELTA,
    TH_HALF,
    TH_SHARP,
    rigidity_selection,
    spatial_factors,
    spatial_step_bound,
)
from ..tallies import (
    TI_NE0,
    TI_OFFSET,
    close_history,
    close_observer,
    energy_cells,
    score,
    score_observer,
    score_observer_shared,
    source_energy_positions,
)
from .boundaries import bridge_escape, reflect_end_point
from .plane import plane_end_point, plane_step_wanted, skew_interface_end
from .records import (
    ABOVE_EMAX,
    ALIVE,
    AT_TMAX,
    BELOW_EMIN,
    C_BRIDGE_ESCAPES,
    C_NTOUCHED,
    C_STEPS,
    ESCAPED_R,
    ESCAPED_Z,
    INTEGRATOR_EM,
    INTEGRATOR_FIELD_LINE,
    MAX_STEPS,
    NORMALS_PER_STEP,
    REFINE_MAX_DEPTH,
    UNIFORMS_INTERFACE,
    UNIFORMS_PER_STEP,
    UNIFORMS_THIN_SOURCE,
    UNIFORMS_WIND,
)
from .step import (
    clip_to_schedule,
    energy_state,
    field_limited_step,
    gain_energy,
    local_frame,
    lose_energy,
    parallel_log_slope,
    scale_momentum,
    trace_field_line,
    trace_substeps,
)

#: 1/√2
HALF_SQRT2 = 0.7071067811865476


@njit(cache=True, inline="always", error_model="numpy")
def tensor_change2(bx, by, bz, cx, cy, cz):
    """‖c cᵀ − b bᵀ‖²_F = |b|⁴ + |c|⁴ − 2 (b·c)² between two field directions b and c; blind to the
    sign of b, like the tensor."""
    b0 = bx * bx + by * by + bz * bz
    b1 = cx * cx + cy * cy + cz * cz
    d = bx * cx + by * cy + bz * cz
    return b0 * b0 + b1 * b1 - 2.0 * d * d


@njit(cache=True, error_model="numpy")
def transport(particles, randoms, first, n_pos, u_pos, physics, numerics, scoring):
    """Advance particles ``first..`` until all are done or a random buffer runs out.

    ``particles``, ``randoms``, ``physics``, ``numerics``, ``scoring``: the records of
    ``kernel.records``; ``n_pos``, ``u_pos``: the next unused normal and uniform variate.
    Returns (index of the first unfinished particle, normals position, uniforms position).
    """
    n_touched = scoring.counters[C_NTOUCHED]
    i, n_pos, u_pos, n_touched = follow_particles(first, particles, randoms, n_pos, u_pos, physics,
                                                  numerics, scoring, n_touched)
    scoring.counters[C_NTOUCHED] = n_touched
    return i, n_pos, u_pos


@njit(cache=True, inline="always")
def _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps, w):
    """Write particle i's state back to the arrays."""
    p.weight[i] = w
    p.x[i] = x
    p.y[i] = y
    p.z[i] = z
    p.energy[i] = e
    p.time[i] = t
    p.next_snapshot[i] = k_snap
    p.next_output[i] = k_out
    p.steps[i] = nsteps


@njit(cache=True, error_model="numpy")
def follow_particles(first, particles, randoms, n_pos, u_pos, physics, numerics, scoring, n_touched):
    """Follow particles ``first..`` one after another until all have stopped or a random buffer runs
    out (then particle i's state is saved and i is returned, so that the caller refills the buffer
    and calls again).  One loop over the batch: a call per particle measured 9-13 % slower.

    Returns (index of the first unfinished particle, normals position, uniforms position,
    touched-cell count).
    """
    # scalars of the records are read where they are used; arrays are bound to locals once, since
    # reading an array from a record inside the loop costs reference counting on every step
    H, rmax = numerics.halo_height_kpc, numerics.radius_max_kpc
    step_frac2 = numerics.step_fraction ** 2
    min_step2 = numerics.min_step_kpc ** 2
    e_tol = numerics.diffusion_energy_tolerance
    reflect = numerics.reflect
    use_drift = numerics.drift
    use_bridge = numerics.brownian_bridge and not reflect  # a reflected end point accounts for excursions
    plane_mode = numerics.plane_mode if use_drift else 0  # models.field.PLANE_*: what z = 0 holds for D
    plane = plane_mode != 0
    traced = numerics.integrator != INTEGRATOR_EM  # the field-line step (docs/numerics.md "Field-line step")
    rk_order = 4 if numerics.integrator == INTEGRATOR_FIELD_LINE else 2
    n_need = NORMALS_PER_STEP + 1 if traced else NORMALS_PER_STEP
    # step refinement (docs/numerics.md "Step refinement"): a step whose end point sees a tensor
    # ‖b₁b₁ᵀ − b₀b₀ᵀ‖² > refine_tol2 is halved; the room checked before a step covers all its halvings
    refine = numerics.refinement > 0.0
    refine_tol2 = 2.0 * (numerics.refinement * numerics.step_fraction) ** 2
    refine_ratio = numerics.refinement ** 2
    n_room = n_need * (1 + REFINE_MAX_DEPTH) if refine else n_need
    stack = randoms.refinement_stack
    depth = randoms.refinement_depth[0]  # halves pending for particle ``first`` (resumed after a refill)
    floor2 = physics.field_floor_uG * physics.field_floor_uG
    fkind, dkind, lkind = physics.field_kind, physics.diffusion_kind, physics.loss_kind
    field_p, field_grid = physics.field_params, physics.field_grid
    diff_p, loss_p = physics.diffusion_params, physics.loss_params
    snapshot = scoring.snapshot
    output_times, e_cells = scoring.output_times, scoring.energy_cells
    ti, tf = scoring.tally_ints, scoring.tally_floats
    scratch, stamp, touched = scoring.scratch, scoring.stamp, scoring.touched
    counters = scoring.counters
    normals, uniforms = randoms.normals, randoms.uniforms
    # transport beyond uniform diffusion (docs/transport.md): D varying in space, a wind, reacceleration,
    # catastrophic losses
    skind, sp = physics.spatial_kind, physics.spatial_params
    spatial = skind != SPATIAL_UNIFORM
    interface = skind == SPATIAL_TWO_HALO and sp[TH_SHARP] > 0.5  # D jumps at |z| = ξL
    h_interface = sp[TH_HALF] if interface else 0.0
    v0, dvdz = physics.wind_v0_kpc_per_myr, physics.wind_gradient_per_myr
    wind = v0 > 0.0 or dvdz > 0.0
    va2 = physics.alfven_speed_kpc_per_myr ** 2
    reacc = va2 > 0.0
    reacc_index = physics.reacceleration_index
    delta0 = diff_p[2]  # rigidity index of D∥ (power law), to which the spatial model adds its change
    ckind, cat_p = physics.catastrophic_kind, physics.catastrophic_params
    mass = physics.mass_GeV
    # the energy only falls (losses alone): D is evaluated ahead, at the middle of the coming interval;
    # backward paths (docs/observer.md) run the losses in reverse, so their energy only rises: e_sign
    backward = numerics.backward
    e_sign = 1.0 if backward else -1.0
    e_ceiling = numerics.energy_ceiling_GeV
    src_kind, src_p = scoring.source_kind, scoring.source_params
    obs_bins = ti[0, TI_NE0]
    obs_block = 2 * obs_bins + obs_bins * obs_bins
    obs_offset = ti[0, TI_OFFSET]
    obs_base = obs_offset
    obs_k = 0
    shared = numerics.shared_paths  # one path for every observer energy (docs/observer.md)
    obs_table = scoring.observer_table
    obs_count = obs_table.shape[0] if shared else 1
    thin_source = backward and src_kind == SOURCE_THIN_DISK  # met at z = 0 only (local time)
    descending = not (wind or reacc)
    u_room = (UNIFORMS_PER_STEP + (UNIFORMS_INTERFACE if interface else 0)
              + (UNIFORMS_WIND if (wind and v0 > 0.0) else 0) + (UNIFORMS_THIN_SOURCE if thin_source else 0))
    if reacc:
        n_need += 1
    # a uniform field (the same in both half-spaces) is evaluated once per particle and energy
    uniform_field = (fkind == FIELD_UNIFORM and field_p[0] == field_p[3] and field_p[1] == field_p[4]
                     and field_p[2] == field_p[5])
    cache_frame = uniform_field and not spatial and not wind
    # the end point is checked by the field's refinement test (numerics.step_refinement); where D varies in
    # space the step is bounded from its start point alone (a bound that looks at the end point biases the
    # density where ln D is steep; docs/transport.md)
    refine_field = refine and not uniform_field
    refine = refine_field
    # the step bound that looks over the step's reach (smooth two_halo, grid); turbulence: the start point's
    windowed = (skind == SPATIAL_TWO_HALO and not interface) or skind == SPATIAL_GRID
    n_room = n_need * (1 + REFINE_MAX_DEPTH) if refine else n_need

    p = particles
    for i in range(first, p.x.shape[0]):
        if p.status[i] != ALIVE:
            continue
        pid = i + 1
        x, y, z, e, t, w = p.x[i], p.y[i], p.z[i], p.energy[i], p.time[i], p.weight[i]
        t_max, snap_dt, k_snap, k_out = p.t_max[i], p.snapshot_dt[i], p.next_snapshot[i], p.next_output[i]
        ln_e = math.log(e)
        ln_e0 = math.log(p.source_energy[i])
        cells_below, cells_above = -math.inf, math.inf
        if backward and not shared:
            obs_k = p.observer_index[i]
            obs_base = obs_offset + obs_k * obs_block
        else:
            source_energy_positions(ti, tf, scoring.fold_weights, ln_e0, scoring.source_position,
                                    scoring.source_weight)
            cells_below, cells_above = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
        # under losses D is re-evaluated each time ln E has fallen by e_tol, at the middle of the
        # coming interval [ln E − e_tol, ln E] (docs/numerics.md "Energy losses"; backward: risen, and
        # [ln E, ln E + e_tol]); when E can also rise (wind, reacceleration), each time it moved by e_tol/2,
        # at the current E
        ln_e_d = ln_e
        e_d = math.exp(ln_e + e_sign * 0.5 * e_tol) if (lkind != LOSS_NONE and descending) else e
        dpar_e, dperp_e, ddiff, s_perp, inv_2dpar, floor_step2 = energy_state(
            dkind, diff_p, e_d, mass, physics.charge, min_step2, numerics.min_step_mean_free_paths)
        dpar, dperp = dpar_e, dperp_e
        sel_j, sel_dl = rigidity_selection(skind, sp,
                                           math.log(rigidity_and_beta(e_d, mass, physics.charge)[0]))
        slope_e = parallel_log_slope(dkind, diff_p, e_d, mass, physics.charge) if reacc else 0.0
        ddelta = 0.0  # the spatial model's change of D∥'s rigidity index at the particle
        rate_d = 0.0  # 2 gᵀ D g of ln D∥ and ln D⊥: the step control of a D varying in space
        bound_guess = 0.0  # the last step's window bound (spatial_step_bound), 0 when it did not bind
        ex = ey = ez = 0.0  # drift beyond the field's: ∇ of the magnitudes, and the wind
        nu = catastrophic_rate(ckind, cat_p, math.sqrt(x * x + y * y), z, e, ln_e, mass)
        k_pp = 0.0
        lfp = 0.0
        r = math.sqrt(x * x + y * y)
        last_dt = -1.0
        half_prev = p.pending_residence[i]
        sq = 0.0
        nsteps = p.steps[i]
        fresh = False
        bx = by = bz = breg2 = jn2 = g_norm2 = kap2 = c = vx = vy = vz = 0.0
        dzbx = dzby = dzbz = 0.0  # ∂_z b at the current point (for the near-plane step)
        divb = 0.0
        m2 = 1.0
        q_loss = 0.0
        status = ALIVE
        # the field at the last accepted end point (xe, ye, ze), evaluated by the refinement test
        f_next = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        have_next = False
        xe = ye = ze = 0.0
        while True:
            if (n_pos + n_room > normals.shape[0]
                    or ((use_bridge or plane or interface or wind or thin_source)
                        and u_pos + u_room > uniforms.shape[0])):
                _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps, w)
                p.pending_residence[i] = half_prev
                randoms.refinement_depth[0] = depth
                return i, n_pos, u_pos, n_touched
            # --- local field, noise amplitude and drift (kept while the field is uniform and E fixed)
            if not fresh:
                if have_next and x == xe and y == ye and z == ze:
                    f = f_next
                else:
                    f = field_and_jacobian(fkind, field_p, field_grid, x, y, z, r)
                have_next = False
                if spatial:
                    # D∥ = D∥(E) f∥(x), D⊥ = D⊥(E) f⊥(x) (models.spatial_diffusion)
                    lfp, lfq, gpx, gpy, gpz, gqx, gqy, gqz, ddelta = spatial_factors(
                        skind, sp, sel_j, sel_dl, x, y, z, f, floor2)
                    dpar = dpar_e * math.exp(lfp)
                    dperp = dperp_e * math.exp(lfq)
                    ddiff = dpar - dperp
                    s_perp = math.sqrt(2.0 * dperp)
                    inv_2dpar = 0.5 / dpar
                (bx, by, bz, breg2, m2, jn2, c, vx, vy, vz, g_norm2, kap2, dzbx, dzby, dzbz,
                 divb) = local_frame(f, floor2, dperp, ddiff, s_perp, use_drift)
                ex = ey = ez = 0.0
                if spatial:
                    # (∇·D)_j gains ∂_j D⊥ + b_j (b·∇)(D∥ − D⊥); the expected squared change of ln D over a
                    # step, 2 dt gᵀ D g, is held below step_fraction² like the field direction's
                    bgp = bx * gpx + by * gpy + bz * gpz
                    bgq = bx * gqx + by * gqy + bz * gqz
                    rate_d = 2.0 * max(dperp * (gpx * gpx + gpy * gpy + gpz * gpz) + ddiff * bgp * bgp,
                                       dperp * (gqx * gqx + gqy * gqy + gqz * gqz) + ddiff * bgq * bgq)
                    if use_drift:
                        dd = dpar * bgp - dperp * bgq
                        ex = dperp * gqx + bx * dd
                        ey = dperp * gqy + by * dd
                        ez = dperp * gqz + bz * dd
                if wind:
                    ez += wind_speed(v0, dvdz, z)
                vx += ex
                vy += ey
                vz += ez
                fresh = cache_frame
            if lkind != LOSS_NONE:
                # loss time E/b = 1/(q E); q = b/E² is frozen over the step
                q_loss = loss_coefficient(lkind, loss_p, x, y, z, r, e, ln_e, breg2)
            if reacc:
                # reacceleration: K = D_pp/p² at the particle (models.reacceleration)
                delta_pp = reacc_index if reacc_index > 0.0 else delta0 + ddelta
                k_pp = momentum_diffusion_rate(va2, delta_pp, dpar)
            if depth == 0:
                # --- time step (docs/numerics.md "Step control")
                if interface:
                    # where D jumps, both sides take the step of the faster one: a step that changes
                    # with the side would bias the residence-time score next to the jump (the trapezoid
                    # gives a point half of its predecessor's step; docs/transport.md)
                    sc = math.exp(max(sp[TH_DELTA] * sel_dl, 0.0) - lfp)
                    dt = field_limited_step(numerics.dt_max_Myr, step_frac2, numerics.geometric_length_kpc,
                                            inv_2dpar / sc, numerics.step_rule, dperp * sc, ddiff * sc,
                                            g_norm2, kap2, jn2, m2, floor_step2)
                else:
                    dt = field_limited_step(numerics.dt_max_Myr, step_frac2, numerics.geometric_length_kpc,
                                            inv_2dpar, numerics.step_rule, dperp, ddiff, g_norm2, kap2, jn2,
                                            m2, floor_step2)
                if windowed:
                    # ln D may be steepest where the start point cannot see: the bound looks over the reach
                    bound = spatial_step_bound(skind, sp, sel_dl, x, y, z, bx, by, bz, dpar, dperp, dt,
                                               step_frac2, bound_guess)
                    bound_guess = bound if bound < dt else 0.0
                    dt = max(bound, min(dt, floor_step2 * inv_2dpar))
                elif rate_d * dt > step_frac2:
                    dt = min(dt, max(step_frac2 / rate_d, floor_step2 * inv_2dpar))
                if q_loss > 0.0:
                    dt = min(dt, numerics.loss_fraction / (q_loss * e))
                if wind and dvdz > 0.0:
                    dt = min(dt, 3.0 * numerics.loss_fraction / dvdz)  # adiabatic: Δ ln p = −(dv/dz) dt/3
                if reacc:
                    dt = min(dt, numerics.loss_fraction ** 2 / (2.0 * k_pp))
                t_output = output_times[k_out] if k_out < output_times.shape[0] else math.inf
                dt = clip_to_schedule(dt, t, t_max, snapshot, k_snap, snap_dt, t_output)
                xi0, xi1, xi2 = normals[n_pos], normals[n_pos + 1], normals[n_pos + 2]
                n_pos += NORMALS_PER_STEP
                eta = 0.0
                if traced:
                    eta = normals[n_pos]
                    n_pos += 1
            else:
                # the second half of a refined step: its duration and scaled Brownian increments
                depth -= 1
                dt, xi0, xi1, xi2, eta = stack[depth, 0], stack[depth, 1], stack[depth, 2], stack[depth, 3], \
                    stack[depth, 4]
            dzz = dperp + ddiff * bz * bz
            while True:
                # --- Euler proposal
                if dt != last_dt:
                    sq = math.sqrt(dt)
                    last_dt = dt
                euler = True
                if traced:
                    # field-line step: an arc s = sqrt(2 (D∥ − D⊥) dt) η along dX/ds = b, then the
                    # isotropic Gaussian and the drift (D∥ − D⊥) b ∇·b (the arc's curvature supplies the
                    # rest of ∇·D); within 4 vertical standard deviations of a plane where the tensor
                    # jumps, and when the end point changed side, the Euler/near-plane step is taken instead
                    if (not plane or z * z >= 32.0 * dzz * dt) and ddiff > 0.0:
                        s_arc = math.sqrt(2.0 * ddiff * dt) * eta
                        if uniform_field:
                            xa, ya, za = x + s_arc * bx, y + s_arc * by, z + s_arc * bz
                        else:
                            n_sub = trace_substeps(s_arc, kap2, breg2 / m2, dperp * dt, rk_order)
                            xa, ya, za = trace_field_line(fkind, field_p, field_grid, floor2, rk_order, n_sub,
                                                          x, y, z, bx, by, bz, s_arc)
                        dv = ddiff * divb * dt
                        x1 = xa + s_perp * xi0 * sq + (dv * bx + ex * dt)
                        y1 = ya + s_perp * xi1 * sq + (dv * by + ey * dt)
                        z1 = za + s_perp * xi2 * sq + (dv * bz + ez * dt)
                        euler = plane and z * z1 <= 0.0
                if euler:
                    bxi = c * (bx * xi0 + by * xi1 + bz * xi2)
                    x1 = x + (s_perp * xi0 + bxi * bx) * sq + vx * dt
                    y1 = y + (s_perp * xi1 + bxi * by) * sq + vy * dt
                    z1 = z + (s_perp * xi2 + bxi * bz) * sq + vz * dt
                # --- step refinement: is the tensor at the end point the one the step assumed?
                # (not for steps the near-plane step ends: the jump at z = 0 has its own treatment)
                if not refine or depth >= REFINE_MAX_DEPTH:
                    break
                if plane and (z * z1 <= 0.0 or z * z < 32.0 * dzz * dt):
                    break
                f1 = field_and_jacobian(fkind, field_p, field_grid, x1, y1, z1,
                                        math.sqrt(x1 * x1 + y1 * y1))
                fr = local_frame(f1, floor2, dperp, ddiff, s_perp, False)
                # accepted when the direction changed by less than the tolerance and the end point's own
                # step rule allows at least dt/refinement²: the step is acceptable seen from both ends
                dt_end = field_limited_step(math.inf, step_frac2, numerics.geometric_length_kpc,
                                            inv_2dpar, numerics.step_rule, dperp, ddiff, fr[10], fr[11],
                                            fr[5], fr[4], floor_step2)
                accept = (tensor_change2(bx, by, bz, fr[0], fr[1], fr[2]) <= refine_tol2
                          and dt <= refine_ratio * dt_end)
                if accept:
                    f_next = f1
                    have_next = True
                    xe, ye, ze = x1, y1, z1
                    break
                # halve the step: W(dt/2) given W(dt) is Gaussian about W(dt)/2 with variance dt/4, so in
                # units of sqrt(dt/2) the halves are (ξ + ζ)/√2 and (ξ − ζ)/√2 with a fresh normal ζ
                # (the Brownian tree of Gaines & Lyons 1997, SIAM J. Appl. Math. 57, 1455)
                zeta0, zeta1, zeta2 = normals[n_pos], normals[n_pos + 1], normals[n_pos + 2]
                n_pos += NORMALS_PER_STEP
                zeta3 = 0.0
                if traced:
                    zeta3 = normals[n_pos]
                    n_pos += 1
                dt *= 0.5
                stack[depth, 0] = dt
                stack[depth, 1] = (xi0 - zeta0) * HALF_SQRT2
                stack[depth, 2] = (xi1 - zeta1) * HALF_SQRT2
                stack[depth, 3] = (xi2 - zeta2) * HALF_SQRT2
                stack[depth, 4] = (eta - zeta3) * HALF_SQRT2
                depth += 1
                xi0 = (xi0 + zeta0) * HALF_SQRT2
                xi1 = (xi1 + zeta1) * HALF_SQRT2
                xi2 = (xi2 + zeta2) * HALF_SQRT2
                eta = (eta + zeta3) * HALF_SQRT2
            # --- residence-time estimator (trapezoid): end half of the last step + start half of this one
            if backward:
                # the adjoint estimator: the source density met along the path (docs/observer.md)
                rho = source_density(src_kind, src_p, x, y, z, r, ln_e)
                if shared:
                    n_touched = score_observer_shared(obs_table, rho, w * (half_prev + 0.5 * dt), scratch,
                                                      stamp, touched, n_touched, pid)
                else:
                    n_touched = score_observer(ti, tf, obs_base, rho, e, ln_e, w * (half_prev + 0.5 * dt),
                                               scratch, stamp, touched, n_touched, pid)
                half_prev = 0.5 * dt
            elif not snapshot:
                n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * (half_prev + 0.5 * dt), scratch, stamp,
                                  touched, n_touched, pid)
                half_prev = 0.5 * dt
            if euler and plane and dt > 0.0:
                near, touched_plane, used = plane_step_wanted(plane_mode, dzz, z, z1, dt, uniforms[u_pos])
                u_pos += used
                if near or touched_plane:
                    x1, y1, z1 = plane_end_point(fkind, field_p, field_grid, floor2, dperp, ddiff, dzz, bx,
                                                 by, bz, dzbx, dzby, dzbz, x, y, z, x1, y1, z1, dt,
                                                 touched_plane, uniforms[u_pos])
                    u_pos += 1
            if interface and dt > 0.0:
                # D jumps at |z| = ξL (two-halo model, n = inf): the interface step (skew Brownian motion;
                # plane.skew_interface_end), with the interface on the start point's side of the plane
                zi = h_interface if z >= 0.0 else -h_interface
                a0 = z - zi
                a1 = z1 - zi
                hit = a0 * a1 <= 0.0
                if not hit and a0 * a1 < 40.0 * dzz * dt:
                    hit = uniforms[u_pos] < math.exp(-a0 * a1 / (dzz * dt))
                    u_pos += 1
                if hit:
                    # D_zz on each side: the start's, scaled by the ratio of the multipliers
                    f_out = math.exp(sp[TH_DELTA] * sel_dl)
                    d_in = dzz if abs(z) < h_interface else dzz / f_out
                    d_out = d_in * f_out
                    if zi > 0.0:
                        z1 = zi + skew_interface_end(a1, d_out, d_in, dzz, uniforms[u_pos])
                    else:
                        z1 = zi + skew_interface_end(a1, d_in, d_out, dzz, uniforms[u_pos])
                    u_pos += 1
            occupation = 0.0  # ∫δ(z) dt over the step [Myr/kpc] (the wind's adiabatic kick at the plane)
            if wind and v0 > 0.0 and not plane and dt > 0.0:
                # u_z = sign(z) v0 jumps at the plane: |z| is a Brownian motion with the outward drift,
                # reflected at 0 (Tanaka's formula), whose end point and local time are exact given the free
                # step, through the minimum of its Brownian bridge (models.advection.reflected_wind_step)
                occupation, z1, used = reflected_wind_step(z, z1, dzz, dt, uniforms[u_pos],
                                                           uniforms[u_pos + 1])
                u_pos += used
            if thin_source and dt > 0.0 and z * z1 < 40.0 * dzz * dt:
                # a backward path meets a source in the plane (thin disc) through its local time there: the
                # Brownian bridge's ∫δ(z) ds given the step's ends (models.advection.plane_occupation), times
                # the surface density at the mean radius of the step (docs/observer.md)
                at_plane = plane_occupation(z, z1, dzz, dt, uniforms[u_pos])
                u_pos += 1
                if at_plane > 0.0:
                    sigma = source_surface_density(src_kind, src_p,
                                                   0.5 * math.sqrt((x + x1) ** 2 + (y + y1) ** 2))
                    if shared:
                        n_touched = score_observer_shared(obs_table, sigma, w * at_plane, scratch, stamp,
                                                          touched, n_touched, pid)
                    else:
                        n_touched = score_observer(ti, tf, obs_base, sigma, e, ln_e, w * at_plane, scratch,
                                                   stamp, touched, n_touched, pid)
            # --- energy: continuous losses (a drift in E, exact for b ∝ E²), then the wind's adiabatic
            # cooling and reacceleration in ln p
            if lkind != LOSS_NONE:
                if backward:
                    # E climbs the losses; the weight gains exp(∫ ∂b/∂E ds), which over a step at the start
                    # point is exactly b(x, E_end)/b(x, E_start) (docs/observer.md)
                    e_new, ln_new = gain_energy(e, ln_e, q_loss, dt)
                    if q_loss > 0.0:
                        q_end = loss_coefficient(lkind, loss_p, x, y, z, r, e_new, ln_new, breg2)
                        w *= q_end * e_new * e_new / (q_loss * e * e)
                    e, ln_e = e_new, ln_new
                else:
                    e, ln_e = lose_energy(e, ln_e, q_loss, dt)
            if wind or reacc:
                dlnp = 0.0
                if wind:
                    dlnp -= dvdz * dt / 3.0
                    if v0 > 0.0 and plane and z * z1 < 40.0 * dzz * dt:
                        # with a field that changes at the plane: the bridge's local time given the end point
                        occupation = plane_occupation(z, z1, dzz, dt, uniforms[u_pos])
                        u_pos += 1
                    # the jump of u_z at the plane: Δ ln p = −(2 v0/3) ∫δ(z) dt over the step
                    dlnp -= 2.0 * v0 / 3.0 * occupation
                if reacc:
                    dlnp += k_pp * (3.0 - slope_e - ddelta) * dt + math.sqrt(2.0 * k_pp * dt) * normals[n_pos]
                    n_pos += 1
                e, ln_e = scale_momentum(e, mass, dlnp)
            if lkind != LOSS_NONE or wind or reacc:
                if ln_e < cells_below or ln_e >= cells_above:
                    cells_below, cells_above = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
                if (e_sign * (ln_e - ln_e_d) > e_tol) if descending else (abs(ln_e - ln_e_d) > 0.5 * e_tol):
                    ln_e_d = ln_e
                    e_d = math.exp(ln_e + e_sign * 0.5 * e_tol) if descending else e
                    dpar_e, dperp_e, ddiff, s_perp, inv_2dpar, floor_step2 = energy_state(
                        dkind, diff_p, e_d, mass, physics.charge, min_step2,
                        numerics.min_step_mean_free_paths)
                    dpar, dperp = dpar_e, dperp_e
                    ln_rig = math.log(rigidity_and_beta(e_d, mass, physics.charge)[0])
                    sel_j, sel_dl = rigidity_selection(skind, sp, ln_rig)
                    if reacc:
                        slope_e = parallel_log_slope(dkind, diff_p, e_d, mass, physics.charge)
                    fresh = False
            t += dt
            nsteps += 1
            # --- boundaries: free escape at |z| = H and R = R_max, with the Brownian bridge, or reflection
            r1 = math.sqrt(x1 * x1 + y1 * y1)
            status = ALIVE
            if reflect:
                x1, y1, z1, r1 = reflect_end_point(H, rmax, dperp, ddiff, bx, by, bz, x1, y1, z1, r1)
            elif abs(z1) >= H:
                status = ESCAPED_Z
            elif r1 >= rmax:
                status = ESCAPED_R
            elif use_bridge and dt > 0.0:
                status, used = bridge_escape(H, rmax, dpar, dperp, ddiff, bx, by, bz, x, y, z, r, z1, r1, dt,
                                             uniforms[u_pos], uniforms[u_pos + 1], uniforms[u_pos + 2])
                u_pos += used
                if status != ALIVE:
                    counters[C_BRIDGE_ESCAPES] += 1
            x, y, z, r = x1, y1, z1, r1
            if ckind != CATASTROPHIC_NONE:
                # catastrophic losses as a weight: w → w exp(−∫ν dt), ν by the trapezoid rule
                nu_end = catastrophic_rate(ckind, cat_p, r, z, e, ln_e, mass)
                w *= math.exp(-0.5 * (nu + nu_end) * dt)
                nu = nu_end
            if status == ALIVE and e < numerics.energy_floor_GeV:
                status = BELOW_EMIN
            if status == ALIVE and e >= e_ceiling:
                status = ABOVE_EMAX
            if status == ALIVE and snapshot:
                # steady state: w Δt at the midpoints (k + ½) Δt of the cadence; bursts: w at each output time
                if t >= (k_snap + 0.5) * snap_dt * (1.0 - 1e-12):
                    n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * snap_dt, scratch, stamp, touched,
                                      n_touched, pid)
                    k_snap += 1
                while k_out < output_times.shape[0] and t >= output_times[k_out] * (1.0 - 1e-12):
                    n_touched = score(ti, tf, x, y, z, r, e_cells, 1 + k_out, w, scratch, stamp, touched,
                                      n_touched, pid)
                    k_out += 1
            if status == ALIVE and t >= t_max * (1.0 - 1e-12):
                status = AT_TMAX
            if status == ALIVE and nsteps >= numerics.max_steps:
                status = MAX_STEPS
            if status != ALIVE:
                break
        depth = 0  # a stopped particle leaves its pending halves
        counters[C_STEPS] += nsteps
        if not snapshot and half_prev > 0.0 and status in (AT_TMAX, BELOW_EMIN, MAX_STEPS):
            # the particle is still inside: its last end point keeps the remaining half step
            if backward:
                rho = source_density(src_kind, src_p, x, y, z, r, ln_e)
                if shared:
                    n_touched = score_observer_shared(obs_table, rho, w * half_prev, scratch, stamp, touched,
                                                      n_touched, pid)
                else:
                    n_touched = score_observer(ti, tf, obs_base, rho, e, ln_e, w * half_prev, scratch, stamp,
                                               touched, n_touched, pid)
            else:
                n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * half_prev, scratch, stamp, touched,
                                  n_touched, pid)
        p.pending_residence[i] = 0.0
        _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps, w)
        p.status[i] = status
        scoring.status_counts[status] += 1
        if backward:
            n_touched = close_observer(scoring.sums, scratch, touched, n_touched, obs_offset, obs_bins, obs_k,
                                       obs_count)
        else:
            n_touched = close_history(scoring.sums, scratch, touched, n_touched, ti, scoring.source_position,
                                      scoring.source_weight)
    randoms.refinement_depth[0] = 0
    return p.x.shape[0], n_pos, u_pos, n_touched
