"""IR of the fused step of an unrolled ODE kernel (llvmlite's builder).

:func:`emit_step` adds to the module of an unrolled jet (:mod:`.unroll_ir`)
the functions ``<name>_step`` and ``<name>_stepr`` that the integrator's
compiled loop calls once per step (through
``taylorjit._codegen.jetabi.call_step`` and the plain loops of
``taylorjit._integrate``): the jet's chunk functions, the step size and the
Horner update of the state in one function, with the same IEEE operations as
the numba phases of the stepper.  Only :mod:`.unroll_ir` imports it.
"""
from __future__ import annotations

import math

__all__ = ["emit_step"]


def emit_step(ir, mod, name, chunk_fns, n, order, local_slots=0):
    """The fused step ``double <name>_step(tc, pars, t, state, xnew, max_h, rhofac,
    inv_o, inv_om1)`` (pointers to the data of the integrator's arrays): order 0 of
    the ``n`` state rows from ``state``, the jet, the step size over the state rows
    and the Horner evaluation of the new state into ``xnew``; returns the signed
    step size.  It performs exactly the IEEE operations of the numba phases
    :func:`taylorjit._integrate.stepper.compute_jet`, :func:`~taylorjit._integrate.stepper.step_size`
    and :func:`~taylorjit._integrate.stepper.eval_poly` (Horner with fused multiply-adds),
    in the same order, so trajectories are bit-identical to the other kernels'
    (tested).  One function instead of three phases in numba: the coefficients
    that the step size and Horner read come from registers or store forwarding,
    the Horner chains are unrolled, and the loop keeps one call per step (heyoka's
    step function fuses the same phases).  Only for integrators without events,
    extra rows or compensated summation (:mod:`taylorjit._integrate.stepper` checks).

    ``local_slots > 0`` emits the *register step* ``<name>_stepr`` instead: the
    same function on a table of its own (a local array of ``local_slots`` rows,
    the chunks inlined), so that no coefficient goes through memory and the
    caller's ``tc`` is not touched; the caller recomputes ``tc`` with the light
    entry when it needs it (:func:`taylorjit._integrate.stepper.propagate_fused`).  Same
    operations, same results."""
    f64, i64 = ir.DoubleType(), ir.IntType(64)
    ptr = ir.PointerType()
    ncol = order + 1
    fn = ir.Function(mod, ir.FunctionType(f64, [ptr, ptr, f64, ptr, ptr, f64, f64, f64, f64]),
                     name=name + ("_stepr" if local_slots else "_step"))
    tc, pars, t, state, xnew, max_h, rhofac, inv_o, inv_om1 = fn.args
    for a in (tc, pars, state, xnew):
        a.add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    if local_slots:
        tc = b.alloca(f64, size=ir.Constant(i64, local_slots * (order + 1)))

    def at(base, i):
        return b.gep(base, [ir.Constant(i64, i)], inbounds=True, source_etype=f64)

    def c(x):
        return ir.Constant(f64, x)

    def decl(nm, nargs):
        return mod.declare_intrinsic(nm, [f64], ir.FunctionType(f64, [f64] * nargs))

    fabs, fma, pow_ = decl("llvm.fabs", 1), decl("llvm.fma", 3), decl("llvm.pow", 2)
    # phase 1 (compute_jet): order 0 of the state rows, then the jet's chunks
    for i in range(n):
        b.store(b.load(at(state, i), typ=f64), at(tc, i * ncol))
    for f in chunk_fns:
        b.call(f, [tc, pars, t])
    # phase 2 (step_size): the largest |x_i[0]|, |x_i[p]|, |x_i[p-1]| (``if m < v: m = v``)
    def vmax(j):
        m = None
        for i in range(n):
            v = b.call(fabs, [b.load(at(tc, i * ncol + j), typ=f64)])
            m = v if m is None else b.select(b.fcmp_ordered("<", m, v), v, m)
        return m

    a, mo, mom1 = vmax(0), vmax(order), vmax(order - 1)
    num = b.select(b.fcmp_ordered("<=", a, c(1.0)), c(1.0), a)
    ra, rb = b.fdiv(num, mo), b.fdiv(num, mom1)

    def log2_rough(x):          # _stepper._log2_rough, the same operations
        bits = b.bitcast(x, i64)
        e = b.and_(b.ashr(bits, ir.Constant(i64, 52)), ir.Constant(i64, 0x7FF))
        bad = b.or_(b.icmp_signed("<", bits, ir.Constant(i64, 0)),
                    b.or_(b.icmp_signed("==", e, ir.Constant(i64, 0)),
                          b.icmp_signed("==", e, ir.Constant(i64, 0x7FF))))
        m = b.bitcast(b.or_(b.and_(bits, ir.Constant(i64, 0xFFFFFFFFFFFFF)),
                            ir.Constant(i64, 0x3FF0000000000000)), f64)
        s = b.fdiv(b.fsub(m, c(1.0)), b.fadd(m, c(1.0)))
        s2 = b.fmul(s, s)
        poly = b.fadd(c(0.5770780163555854), b.fmul(s2, c(0.4121985831111324)))
        poly = b.fadd(c(0.9617966939259756), b.fmul(s2, poly))
        poly = b.fadd(c(2.8853900817779268), b.fmul(s2, poly))
        r = b.fadd(b.sitofp(b.sub(e, ir.Constant(i64, 1023)), f64), b.fmul(s, poly))
        return b.select(bad, c(math.nan), r)

    la = b.fmul(log2_rough(ra), inv_o)
    lb = b.fmul(log2_rough(rb), inv_om1)
    a_small = b.fcmp_ordered("<", la, b.fsub(lb, c(1e-4)))
    b_small = b.fcmp_ordered("<", lb, b.fsub(la, c(1e-4)))
    # the pows are calls: branch so that only the ones the rule needs run
    bb_a = fn.append_basic_block("rho_a")
    bb_nota = fn.append_basic_block("not_a")
    bb_b = fn.append_basic_block("rho_b")
    bb_both = fn.append_basic_block("rho_both")
    bb_h = fn.append_basic_block("h")
    b.cbranch(a_small, bb_a, bb_nota)
    b.position_at_end(bb_a)
    rho_a = b.call(pow_, [ra, inv_o])
    b.branch(bb_h)
    b.position_at_end(bb_nota)
    b.cbranch(b_small, bb_b, bb_both)
    b.position_at_end(bb_b)
    rho_b = b.call(pow_, [rb, inv_om1])
    b.branch(bb_h)
    b.position_at_end(bb_both)
    rho_o = b.call(pow_, [ra, inv_o])
    rho_om1 = b.call(pow_, [rb, inv_om1])
    rho_ab = b.select(b.fcmp_ordered("<", rho_om1, rho_o), rho_om1, rho_o)
    b.branch(bb_h)
    b.position_at_end(bb_h)
    rho = b.phi(f64)
    rho.add_incoming(rho_a, bb_a)
    rho.add_incoming(rho_b, bb_b)
    rho.add_incoming(rho_ab, bb_both)
    h = b.fmul(rho, rhofac)
    amh = b.call(fabs, [max_h])
    h = b.select(b.fcmp_ordered("<", amh, h), amh, h)
    h = b.select(b.fcmp_ordered("<", max_h, c(0.0)), b.fneg(h), h)
    # phase 3 (eval_poly): Horner with fused multiply-adds, every row's chain unrolled
    out = []
    for i in range(n):
        acc = b.load(at(tc, i * ncol + order), typ=f64)
        for k in range(order - 1, -1, -1):
            acc = b.call(fma, [acc, h, b.load(at(tc, i * ncol + k), typ=f64)])
        out.append(acc)
    for i, v in enumerate(out):
        b.store(v, at(xnew, i))
    b.ret(h)

