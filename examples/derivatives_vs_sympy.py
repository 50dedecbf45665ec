"""50th-order derivatives: taylorjit against sympy (time and accuracy).

For three composite functions, the normalised Taylor coefficients
``c_k = f^(k)(x0) / k!``, k = 0..50, are computed

* by taylorjit (``tj.taylor_coefficients``, double precision, one compiled
  pass of the Taylor-mode recurrences), and
* by sympy, exactly: at x0 = 0 with ``sympy.polys.ring_series.rs_series``
  (power-series arithmetic over the rationals, sympy's fast route), and at
  x0 = 0.3 (the double nearest 0.3) with mpmath's ``taylor`` at 40 digits;

and the relative errors are printed with the run times.  The textbook route,
differentiating the expression 50 times with ``sympy.diff``, is timed at low
orders only: the expressions swell combinatorially (Faa di Bruno), and order 50
is out of reach in seconds.

Run: ``python examples/derivatives_vs_sympy.py``
"""
import math
import time

import mpmath
import numpy as np
import sympy as sp
from sympy.polys.ring_series import rs_series

import taylorjit as tj

ORDER = 50


def timed(fn, repeat=1):
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def rel_errors(c, ref):
    """max_k |c_k - ref_k| / |ref_k| over the non-zero ref_k, and the largest
    absolute error where ref_k = 0."""
    ref = np.array([float(r) for r in ref])
    nz = ref != 0
    rel = np.max(np.abs(c[nz] - ref[nz]) / np.abs(ref[nz]))
    zero_abs = np.max(np.abs(c[~nz])) if np.any(~nz) else 0.0
    return rel, zero_abs


def main():
    x = tj.var("x")
    xs = sp.Symbol("x")
    cases = [
        ("exp(sin(x))", tj.exp(tj.sin(x)), sp.exp(sp.sin(xs)),
         lambda t: mpmath.exp(mpmath.sin(t))),
        ("exp(x) atan(x)", tj.exp(x) * tj.atan(x), sp.exp(xs) * sp.atan(xs),
         lambda t: mpmath.exp(t) * mpmath.atan(t)),
        ("sin(exp(x) - 1)", tj.sin(tj.exp(x) - 1), sp.sin(sp.exp(xs) - 1),
         lambda t: mpmath.sin(mpmath.exp(t) - 1)),
    ]
    print(f"Taylor coefficients c_0 .. c_{ORDER}:")
    header = (f"{'function':>16} {'x0':>4} {'taylorjit 1st':>13} {'again':>9} "
              f"{'reference':>22} {'max rel err':>11}")
    print(header)
    print("-" * len(header))
    for name, f_tj, f_sp, f_mp in cases:
        for x0 in (0.0, 0.3):
            c, t_first = timed(lambda: tj.taylor_coefficients(f_tj, [x], [x0], order=ORDER))
            _, t_again = timed(lambda: tj.taylor_coefficients(f_tj, [x], [x0], order=ORDER),
                               repeat=5)
            if x0 == 0.0:
                poly, t_ref = timed(lambda: rs_series(f_sp, xs, ORDER + 1))
                ser = sp.Poly(poly.as_expr(), xs)
                ref = [ser.coeff_monomial(xs ** k) for k in range(ORDER + 1)]
                how = "sympy rs_series"
            else:
                with mpmath.workdps(40):
                    ref, t_ref = timed(lambda: mpmath.taylor(f_mp, mpmath.mpf(x0), ORDER))
                how = "mpmath 40 digits"
            rel, zabs = rel_errors(c, ref)
            extra = f" (|c_k| <= {zabs:.0e} where exact 0)" if zabs else ""
            print(f"{name:>16} {x0:4.1f} {t_first * 1e3:10.1f} ms {t_again * 1e6:6.0f} us "
                  f"{how:>16} {t_ref:4.2f} s {rel:11.1e}{extra}")

    # the textbook sympy route: differentiate k times, substitute, evaluate
    print("\nsympy.diff(exp(sin(x)), x, k) at x = 3/10, evaluated to 20 digits:")
    f = sp.exp(sp.sin(xs))
    for k in (5, 10, 15):
        _, t = timed(lambda: sp.diff(f, xs, k).subs(xs, sp.Rational(3, 10)).evalf(20))
        print(f"  order {k:2d}: {t:6.2f} s")
    c, t = timed(lambda: tj.taylor_coefficients(tj.exp(tj.sin(x)), [x], [0.3], order=ORDER),
                 repeat=5)
    print(f"  taylorjit, all orders 0..{ORDER}: {t * 1e6:.0f} us "
          f"(f^(50)(0.3) = {c[ORDER] * math.factorial(ORDER):.6e})")


if __name__ == "__main__":
    main()
