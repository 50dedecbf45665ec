"""relu and relup (heyoka's rectified linear unit and its derivative).

* relup(a) = 1 if a > 0 else 0 (so relup(0) = 0, and relup(NaN) = 0: heyoka's
  ``x > 0 ? 1 : 0``).  A step function: its Taylor coefficients above order 0
  are 0, and so is its symbolic derivative.
* relu(a) = a if a > 0 else 0 (= max(a, 0); relu(-0.0) = +0.0 and relu(NaN) = 0
  as heyoka's ``x > 0 ? x : 0``).  Its derivative is relup(a), and its Taylor
  coefficients are those of a where a_0 > 0, else 0 (heyoka's relu Taylor
  derivative selects ``a_n`` or 0 on ``a_0 > 0``): relu_n = m a_n for n >= 1,
  where m = relup(a_0) in {0, 1} is the companion (the kernel reads only the
  order 0 of relup's row, so the recurrence is straight-line code above order
  0 and every kernel kind traces it; the product by m is exact: a_n or a signed
  zero).

The expansion is that of the branch selected by a_0: a Taylor step of an ODE
whose solution makes a cross 0 inside the step is not accurate (the kink is not
seen by the series).  Values away from the kink are exact; an integrator must
stop at the crossing (an event on a) to stay accurate through it.
"""
import mpmath

from .._symbolic.registry import kernel_op, register_function


# --- relup ------------------------------------------------------------------------------------------
@kernel_op("relup", n_out=1, n_in=1)
def relup_coeff(tc, k, o, a):
    """m = relup(a): m_0 = 1 if a_0 > 0 else 0, m_k = 0 above order 0."""
    r_o, r_a = tc[o], tc[a]
    if k == 0:
        r_o[0] = 1.0 if r_a[0] > 0.0 else 0.0
    else:
        r_o[k] = 0.0


def _relup_value(x):
    return 1.0 if x > 0.0 else 0.0


def _mp_relup(x):
    return mpmath.mpf(1) if x > 0 else mpmath.mpf(0)


# --- relu -------------------------------------------------------------------------------------------
@kernel_op("relu", n_out=1, n_in=2)
def relu_coeff(tc, k, o, a, m):
    """b = relu(a) with companion m = relup(a): b_0 = a_0 if a_0 > 0 else 0,
    b_k = m_0 a_k (heyoka's select of a_k or 0 on a_0 > 0)."""
    r_o, r_a, r_m = tc[o], tc[a], tc[m]
    if k == 0:
        r_o[0] = r_a[0] if r_a[0] > 0.0 else 0.0
    else:
        r_o[k] = r_m[0] * r_a[k]


def _relu_decompose(b, a):
    m = b.op("relup", a)[0]
    return b.op("relu", a, m)[0]


def _relu_value(x):
    return x if x > 0.0 else 0.0


def _mp_relu(x):
    return +x if x > 0 else mpmath.mpf(0)


# --- sympy ------------------------------------------------------------------------------------------
_SYMPY: dict = {}


def sympy_functions():
    """The sympy functions ``relu`` and ``relup`` (made on first use, then always the
    same classes: ``from_sympy`` maps them back by class).  sympy's ``Max(x, 0)``
    and ``Heaviside(x, 0)`` are their rewrites (``.rewrite(sympy.Max)``,
    ``.rewrite(sympy.Heaviside)``), not their translation: ``Max`` takes any
    number of arguments and sympy reorders them."""
    if _SYMPY:
        return _SYMPY
    import sympy as sp

    def _num(x):
        return x.is_Number and x.is_extended_real

    class relup_(sp.Function):  # noqa: N801 - the registry's name
        """Derivative of relu: 1 for x > 0, else 0 (relup(0) = 0)."""

        nargs = 1

        @classmethod
        def eval(cls, x):
            if _num(x):
                return sp.S.One if x > 0 else sp.S.Zero
            return None

        def fdiff(self, argindex=1):
            if argindex != 1:
                raise sp.core.function.ArgumentIndexError(self, argindex)
            return sp.S.Zero

        def _eval_rewrite_as_Heaviside(self, x, **kwargs):
            return sp.Heaviside(x, 0)

        def _eval_evalf(self, prec):
            v = self.args[0].evalf(mpmath.libmp.prec_to_dps(prec) + 5)
            if not _num(v):
                return None
            return sp.Float(1 if v > 0 else 0, precision=prec)

    class relu_(sp.Function):  # noqa: N801 - the registry's name
        """Rectified linear unit: x for x > 0, else 0."""

        nargs = 1

        @classmethod
        def eval(cls, x):
            if _num(x):
                return x if x > 0 else sp.S.Zero
            return None

        def fdiff(self, argindex=1):
            if argindex != 1:
                raise sp.core.function.ArgumentIndexError(self, argindex)
            return relup_(self.args[0])

        def _eval_rewrite_as_Max(self, x, **kwargs):
            return sp.Max(x, 0)

        def _eval_evalf(self, prec):
            v = self.args[0].evalf(mpmath.libmp.prec_to_dps(prec) + 5)
            if not _num(v):
                return None
            return sp.Float(v if v > 0 else 0, precision=prec)

    relu_.__name__ = relu_.__qualname__ = "relu"
    relup_.__name__ = relup_.__qualname__ = "relup"
    _SYMPY["relu"] = relu_
    _SYMPY["relup"] = relup_
    return _SYMPY


relup = register_function(
    "relup", 1, value=_relup_value,
    derivative=lambda a: [0.0],
    decompose=lambda b, a: b.op("relup", a)[0],
    mp=_mp_relup, domain=[(0.25, 3.0)],
    sympy=lambda sp, a: sympy_functions()["relup"](a), numpy=None,
    doc="relup(x): derivative of relu, 1 for x > 0 else 0 (relup(0) = 0, as heyoka's).")

relu = register_function(
    "relu", 1, value=_relu_value,
    derivative=lambda a: [relup(a)],
    decompose=_relu_decompose,
    mp=_mp_relu, domain=[(0.25, 3.0)],
    sympy=lambda sp, a: sympy_functions()["relu"](a), numpy=None,
    doc="relu(x): rectified linear unit max(x, 0) (relu(NaN) = 0, as heyoka's).  Its Taylor "
        "coefficients are x's where x > 0, else 0: a Taylor step must not cross x = 0.")
