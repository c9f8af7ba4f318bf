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

from ..models.field import FIELD_UNIFORM, field_and_jacobian
from ..models.losses import LOSS_NONE, loss_coefficient
from ..tallies import close_history, energy_cells, score, source_energy_positions
from .boundaries import bridge_escape, reflect_end_point
from .plane import plane_end_point, plane_step_wanted
from .records import (
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
    UNIFORMS_PER_STEP,
)
from .step import (
    clip_to_schedule,
    energy_state,
    field_limited_step,
    local_frame,
    lose_energy,
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
def _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps):
    """Write particle i's state back to the arrays."""
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
    # a uniform field (the same in both half-spaces) is evaluated once per particle and energy
    uniform_field = (fkind == FIELD_UNIFORM and field_p[0] == field_p[3] and field_p[1] == field_p[4]
                     and field_p[2] == field_p[5])
    refine = refine and not uniform_field

    p = particles
    for i in range(first, p.x.shape[0]):
        if p.status[i] != ALIVE:
            continue
        pid = i + 1
        x, y, z, e, t, w = p.x[i], p.y[i], p.z[i], p.energy[i], p.time[i], p.weight[i]
        t_max, snap_dt, k_snap, k_out = p.t_max[i], p.snapshot_dt[i], p.next_snapshot[i], p.next_output[i]
        ln_e = math.log(e)
        ln_e0 = math.log(p.source_energy[i])
        source_energy_positions(ti, tf, ln_e0, scoring.source_position)
        cells_below = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
        # under losses D is re-evaluated each time ln E has fallen by e_tol, at the middle of the
        # coming interval [ln E − e_tol, ln E] (docs/numerics.md "Energy losses")
        ln_e_d = ln_e
        dpar, dperp, ddiff, s_perp, inv_2dpar, floor_step2 = energy_state(
            dkind, diff_p, math.exp(ln_e - 0.5 * e_tol) if lkind != LOSS_NONE else e, physics.mass_GeV,
            physics.charge, min_step2, numerics.min_step_mean_free_paths)
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
                    or ((use_bridge or plane) and u_pos + UNIFORMS_PER_STEP > uniforms.shape[0])):
                _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps)
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
                (bx, by, bz, breg2, m2, jn2, c, vx, vy, vz, g_norm2, kap2, dzbx, dzby, dzbz,
                 divb) = local_frame(f, floor2, dperp, ddiff, s_perp, use_drift)
                fresh = uniform_field
            if lkind != LOSS_NONE:
                # loss time E/b = 1/(q E); q = b/E² is frozen over the step
                q_loss = loss_coefficient(lkind, loss_p, x, y, z, r, e, ln_e, breg2)
            if depth == 0:
                # --- time step (docs/numerics.md "Step control")
                dt = field_limited_step(numerics.dt_max_Myr, step_frac2, numerics.geometric_length_kpc,
                                        inv_2dpar, numerics.step_rule, dperp, ddiff, g_norm2, kap2, jn2, m2,
                                        floor_step2)
                if q_loss > 0.0:
                    dt = min(dt, numerics.loss_fraction / (q_loss * e))
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
                    if not plane or z * z >= 32.0 * dzz * dt:
                        s_arc = math.sqrt(2.0 * ddiff * dt) * eta
                        if uniform_field:
                            xa, ya, za = x + s_arc * bx, y + s_arc * by, z + s_arc * bz
                        else:
                            n_sub = trace_substeps(s_arc, kap2, breg2 / m2, dperp * dt, rk_order)
                            xa, ya, za = trace_field_line(fkind, field_p, field_grid, floor2, rk_order, n_sub,
                                                          x, y, z, bx, by, bz, s_arc)
                        dv = ddiff * divb * dt
                        x1 = xa + s_perp * xi0 * sq + dv * bx
                        y1 = ya + s_perp * xi1 * sq + dv * by
                        z1 = za + s_perp * xi2 * sq + dv * bz
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
                f1 = field_and_jacobian(fkind, field_p, field_grid, x1, y1, z1, math.sqrt(x1 * x1 + y1 * y1))
                fr = local_frame(f1, floor2, dperp, ddiff, s_perp, False)
                # accepted when the direction changed by less than the tolerance and the end point's own
                # step rule allows at least dt/refinement²: the step is acceptable seen from both ends
                dt_end = field_limited_step(math.inf, step_frac2, numerics.geometric_length_kpc, inv_2dpar,
                                            numerics.step_rule, dperp, ddiff, fr[10], fr[11], fr[5], fr[4],
                                            floor_step2)
                if (tensor_change2(bx, by, bz, fr[0], fr[1], fr[2]) <= refine_tol2
                        and dt <= refine_ratio * dt_end):
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
            if not snapshot:
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
            # --- energy losses: deterministic drift in E (exact for b ∝ E²)
            if lkind != LOSS_NONE:
                e, ln_e = lose_energy(e, ln_e, q_loss, dt)
                if ln_e < cells_below:
                    cells_below = energy_cells(ti, tf, ln_e, ln_e0, e_cells)
                if ln_e < ln_e_d - e_tol:
                    ln_e_d = ln_e
                    dpar, dperp, ddiff, s_perp, inv_2dpar, floor_step2 = energy_state(
                        dkind, diff_p, math.exp(ln_e - 0.5 * e_tol), physics.mass_GeV, physics.charge,
                        min_step2, numerics.min_step_mean_free_paths)
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
            if status == ALIVE and e < numerics.energy_floor_GeV:
                status = BELOW_EMIN
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
            n_touched = score(ti, tf, x, y, z, r, e_cells, 0, w * half_prev, scratch, stamp, touched,
                              n_touched, pid)
        p.pending_residence[i] = 0.0
        _store(p, i, x, y, z, e, t, k_snap, k_out, nsteps)
        p.status[i] = status
        scoring.status_counts[status] += 1
        n_touched = close_history(scoring.sums, scratch, touched, n_touched, ti, scoring.source_position)
    randoms.refinement_depth[0] = 0
    return p.x.shape[0], n_pos, u_pos, n_touched
