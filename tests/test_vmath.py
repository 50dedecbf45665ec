"""The SIMD vector math of ``taylorjit._codegen.vmath``: accuracy against mpmath (at 40
digits) on random points spread over the whole double domain and on hard cases,
C libm special values, widths 2, 4 (8 with AVX-512) with and without FMA, and the
per-lane libm fallback.  ``TJ_VMATH_POINTS`` sets the number of random points
per function (default 20000)."""

import ctypes
import ctypes.util
import math
import os
import struct

import mpmath
import numpy as np
import pytest

from taylorjit._codegen import vmath as vm

llb = pytest.importorskip("llvmlite.binding")

N_RANDOM = int(os.environ.get("TJ_VMATH_POINTS", "20000"))
MAX_ULP = 1.0

WIDTHS = [w for w in (2, 4, 8) if w <= vm.host_width()]
FMAS = [False, True] if vm.has_fma() else [False]
VARIANTS = [(w, f) for w in WIDTHS for f in FMAS]

_LIBM = ctypes.CDLL(ctypes.util.find_library("m"))

_MP = {
    "exp": mpmath.exp, "log": mpmath.log, "sin": mpmath.sin, "cos": mpmath.cos,
    "expm1": mpmath.expm1, "log1p": mpmath.log1p, "tan": mpmath.tan,
    "atan": mpmath.atan, "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh,
}
FUNCS = sorted(vm.VECTOR_FUNCS)
PAIRS = sorted(vm.PAIR_FUNCS)
LIBM_ONLY = ["erf", "asinh", "cbrt"]      # per-lane libm calls


# ----------------------------------------------------------------------------
# compilation


def target_machine():
    from taylorjit._codegen.unroll import target_machine as host_machine

    return host_machine(fresh=True)[0]      # host CPU and features, as the library


_ENGINES = []
_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def compile_drivers(names, width, fma, scalar=False, passes=True):
    """``{name: f}`` with ``f(x) -> y`` applying the vector function ``name``
    (``name + "_libm"``: a scalar libm loop with ``scalar``); a pair function
    gives ``f(x) -> (y0, y1)``."""
    declared = set()
    ir = vm.ir_functions(names, width, fma, declared)
    # a second fragment for the same module must not clash
    ir += vm.ir_functions(names, width, fma, declared)
    for n in names:
        ir += vm.driver_ir(n, width)
        if scalar:
            for c in vm.PAIR_COMPONENTS.get(n, (n,)):
                if c not in declared:
                    ir += f"declare double @{c}(double)\n"
                    declared.add(c)
            ir += vm.driver_ir(n, width, scalar=True)
    tm = target_machine()
    mod = llb.parse_assembly(ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    if passes:
        pb = llb.create_pass_builder(tm, llb.create_pipeline_tuning_options(speed_level=2))
        pb.getModulePassManager().run(mod, pb)
    ee = llb.create_mcjit_compiler(mod, tm)
    ee.finalize_object()
    _ENGINES.append((ee, mod))

    def wrap(addr, pair):
        cf = _PROTO(addr)

        def f(x):
            x = np.asarray(x, dtype=np.float64).ravel()
            n = len(x)
            m = -(-n // width) * width
            xi = np.zeros(m)
            xi[:n] = x
            yo = np.empty(2 * m if pair else m)
            cf(xi.ctypes.data, yo.ctypes.data, m)
            return (yo[:n], yo[m:m + n]) if pair else yo[:n]

        f.raw = cf
        return f

    out = {}
    for n in names:
        pair = n in vm.PAIR_FUNCS
        out[n] = wrap(ee.get_function_address(f"drive_{n}_w{width}"), pair)
        if scalar:
            out[n + "_libm"] = wrap(ee.get_function_address(f"drive_{n}_w{width}_libm"), pair)
    return out


_COMPILED = {}


def drivers(width, fma):
    key = (width, fma)
    if key not in _COMPILED:
        _COMPILED[key] = compile_drivers(FUNCS + PAIRS + LIBM_ONLY, width, fma)
    return _COMPILED[key]


# ----------------------------------------------------------------------------
# points and reference values


def _from_bits(b):
    return np.asarray(b, dtype=np.uint64).view(np.float64)


def loguniform(rng, n, lo, hi, signs=True):
    """``n`` doubles with magnitudes log-uniform in [lo, hi] (random mantissas),
    random signs if ``signs``."""
    blo = np.float64(lo).view(np.uint64).astype(np.int64)
    bhi = np.float64(hi).view(np.uint64).astype(np.int64)
    x = _from_bits(rng.integers(blo, bhi, n, endpoint=True).astype(np.uint64))
    if signs:
        x = np.where(rng.random(n) < 0.5, -x, x)
    return x


def _near(x, k=2):
    """x and its neighbours up to k ulps away."""
    x = np.asarray(x, dtype=np.float64)
    out = [x]
    up, dn = x.copy(), x.copy()
    for _ in range(k):
        up, dn = up[np.isfinite(up)], dn[np.isfinite(dn)]
        with np.errstate(over="ignore"):
            up, dn = np.nextafter(up, np.inf), np.nextafter(dn, -np.inf)
        out += [up, dn]
    return np.concatenate(out)


def points(name, n, seed=1):
    rng = np.random.default_rng(seed)
    tiny = 5e-324
    if name == "exp":
        x = np.concatenate([
            loguniform(rng, n // 2, tiny, 746.0),
            rng.uniform(-745.2, 709.8, n // 2),
            _near([709.782712893384, -745.1332191019411, -745.1332191019412,
                   -708.3964185322641, -708.39641853226408, -744.44007192138122,
                   0.34657359027997264, -0.34657359027997264, 1.0, 2.0**-54], 3),
            np.linspace(-745.2, -707, 500),
        ])
    elif name == "log":
        x = np.concatenate([
            loguniform(rng, n // 2, tiny, 1.7976931348623157e308, signs=False),
            1.0 + loguniform(rng, n // 4, 2.0**-53, 0.5),
            loguniform(rng, n // 4, 0.5, 2.0),
            _near([1.0, 2.0**-0.5, 2.0**0.5, 2.0, 0.5, tiny, 2.0**-1022, 1.7976931348623157e308], 3),
        ])
    elif name in ("sin", "cos", "tan"):
        k = np.concatenate([np.arange(1, 3000), rng.integers(3000, 960000, n // 10)])
        mult = k * (np.pi / 2)
        x = np.concatenate([
            loguniform(rng, n // 2, 1e-8, 2e6),
            loguniform(rng, n // 4, tiny, 1.7976931348623157e308),
            _near(mult, 1), -mult,
            _near([1e5, 1e22, 1.7e308, 1.5e6, 1.6e6, 6381956970095103 * 2.0**797,
                   5.319372648326541e255, np.pi / 4, 2.0**-26, 2.0**-27], 2),
        ])
    elif name == "expm1":
        x = np.concatenate([
            loguniform(rng, n // 2, tiny, 750.0),
            rng.uniform(-40, 710, n // 4),
            loguniform(rng, n // 4, 1e-3, 3.0),
            _near([709.782712893384, 700.0, 0.34657359027997264, -0.34657359027997264,
                   1.0397207708399179, -1.0397207708399179, 38.816242111356935, 2.0**-54], 3),
        ])
    elif name == "log1p":
        x = np.concatenate([
            loguniform(rng, n // 4, tiny, 1.7976931348623157e308, signs=False),
            -loguniform(rng, n // 4, tiny, 1.0, signs=False),
            -1.0 + loguniform(rng, n // 8, 2.0**-53, 0.5, signs=False),
            loguniform(rng, n // 4, 0.1, 3.0),
            _near([2.0**0.5 - 1, 2.0**-0.5 - 1, 1.0, 2.0**53, 2.0**54, 2.0**-53,
                   -2.0**-53, -0.5, 1e300], 3),
        ])
    elif name == "atan":
        x = np.concatenate([
            loguniform(rng, n // 2, tiny, 1.7976931348623157e308),
            loguniform(rng, n // 2, 0.1, 10.0),
            _near([0.4375, 0.6875, 1.1875, 2.4375, 2.0**66, 2.0**-27, 1.0], 3),
        ])
    elif name in ("sinh", "cosh", "tanh"):
        x = np.concatenate([
            loguniform(rng, n // 2, tiny, 800.0),
            loguniform(rng, n // 4, 1e-3, 30.0),
            rng.uniform(-712, 712, n // 8),
            _near([0.25, 2.0**-27, 22.0, 19.06, 710.4758600739439, 709.782712893384, 1.0], 3),
        ])
    else:
        x = np.concatenate([loguniform(rng, n // 2, tiny, 1.7976931348623157e308),
                            loguniform(rng, n // 2, 1e-3, 30.0)])
    return x


_AT_INF = {   # name: (f(inf), f(-inf))
    "exp": (math.inf, 0.0), "log": (math.inf, math.nan), "sin": (math.nan, math.nan),
    "cos": (math.nan, math.nan), "tan": (math.nan, math.nan), "expm1": (math.inf, -1.0),
    "log1p": (math.inf, math.nan), "atan": (math.pi / 2, -math.pi / 2),
    "sinh": (math.inf, -math.inf), "cosh": (math.inf, math.inf), "tanh": (1.0, -1.0),
}


class Ref:
    """Exact values of ``name`` at ``x`` as (hi, lo, ulp): the double nearest
    the result, the remainder in ulps, the ulp of the exact result (at least
    2^-1074)."""

    def __init__(self, name, x):
        f = _MP[name]
        self.x = x
        hi, lo, ulp = [], [], []
        with mpmath.workdps(40):
            for v in x.tolist():
                if math.isnan(v) or (name in ("log", "log1p") and v < (0 if name == "log" else -1)):
                    hi.append(math.nan), lo.append(0.0), ulp.append(1.0)
                    continue
                if math.isinf(v):
                    r = _AT_INF[name][v < 0]
                    hi.append(r), lo.append(0.0), ulp.append(1.0)
                    continue
                if v == 0 and name == "log":
                    hi.append(-math.inf), lo.append(0.0), ulp.append(1.0)
                    continue
                r = f(mpmath.mpf(v))
                h = float(r)
                if r == 0 or math.isinf(h):
                    hi.append(h), lo.append(0.0), ulp.append(1.0)
                    continue
                e = int(mpmath.floor(mpmath.log(abs(r), 2)))
                u = 2.0 ** (max(e, -1022) - 52)
                hi.append(h)
                lo.append(float((r - h) / u))
                ulp.append(u)
        self.hi, self.lo, self.ulp = np.array(hi), np.array(lo), np.array(ulp)

    def ulp_error(self, y):
        """Errors of ``y`` in ulps (inf where a non-finite value or a value not
        a finite reference is wrong)."""
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs((y - self.hi) / self.ulp - self.lo)
        special = ~np.isfinite(self.hi) | ~np.isfinite(y)
        same = (y == self.hi) | (np.isnan(y) & np.isnan(self.hi))
        err[special] = np.where(same[special], 0.0, np.inf)
        return err


_REFS = {}


def ref(name):
    if name not in _REFS:
        x = points(name, N_RANDOM)
        _REFS[name] = Ref(name, x)
    return _REFS[name]


def _fmt_worst(r, err):
    i = int(np.nanargmax(err))
    return f"max {err[i]:.3f} ulp at x={r.x[i]!r} (exact ~ {r.hi[i]!r})"


# ----------------------------------------------------------------------------
# tests


def test_host_queries():
    assert vm.host_width() in (2, 4, 8)
    feats = llb.get_host_cpu_features()
    assert (vm.host_width() == 8) == bool(feats.get("avx512f"))
    assert vm.has_fma() == bool(feats.get("fma"))


def test_ir_text():
    ir = vm.ir_functions(["exp", "sin", "erf"], 4, True)
    assert "define internal <4 x double> @tj_vm_exp_w4(<4 x double> %x)" in ir
    assert "declare double @sin(double)" in ir and "declare double @erf(double)" in ir
    for flag in (" fast ", " nnan ", " ninf ", " nsz ", " arcp ", " contract ", " afn ", " reassoc "):
        assert flag not in ir
    assert "llvm.fma" not in vm.ir_functions(sorted(vm.VECTOR_FUNCS), 8, False)
    # a caller that declares libm functions itself; fragments sharing one set
    declared = {"sin", "exp"}
    a = vm.ir_functions(["sin", "exp", "erf"], 8, True, declared)
    assert "@sin(double)" not in a.replace("call double @sin(double", "")
    assert "declare double @erf(double)" in a
    assert {"erf", "tj_vm_sin_w8", "tj_vm_exp_w8", "llvm.fma.v8f64"} <= declared
    assert vm.ir_functions(["sin", "erf"], 8, True, declared) == ""
    assert vm.symbols(["sin", "erf"], 2, False) >= {"sin", "erf", "tj_vm_sin_w2", "tj_vm_erf_w2"}
    mod = llb.parse_assembly("declare double @sin(double)\ndeclare double @exp(double)\n" + a
                             + vm.ir_functions(["sin"], 4, False, declared))
    mod.verify()
    with pytest.raises(ValueError):
        vm.ir_functions(["exp"], 3, True)
    # pair functions: a struct of two vectors, not in VECTOR_FUNCS (unary)
    ir = vm.ir_functions(["sincos", "sinhcosh"], 8, False)
    assert ("define internal {<8 x double>, <8 x double>} @tj_vm_sincos_w8(<8 x double> %x)"
            in ir)
    assert "@tj_vm_sinhcosh_w8(<8 x double> %x)" in ir
    assert not vm.PAIR_FUNCS & vm.VECTOR_FUNCS
    assert vm.PAIR_FUNCS == set(vm.PAIR_COMPONENTS)
    for comps in vm.PAIR_COMPONENTS.values():
        assert set(comps) <= vm.VECTOR_FUNCS
    assert vm.symbols(["sincos"], 4, True) >= {"sin", "cos", "tj_vm_sincos_w4"}


@pytest.mark.parametrize("width,fma", VARIANTS)
@pytest.mark.parametrize("name", FUNCS)
def test_accuracy(name, width, fma):
    r = ref(name)
    y = drivers(width, fma)[name](r.x)
    err = r.ulp_error(y)
    slow = _libm_lanes(name, r.x)
    assert np.nanmax(err[~slow]) <= MAX_ULP, _fmt_worst(r, np.where(slow, 0, err))
    # arguments beyond the fast reduction: the libm result (glibc: < 0.52 ulp on
    # random points, but 8 ulp for cos at the worst case of the reduction,
    # 6381956970095103*2^797)
    assert np.array_equal(y[slow], libm(name, r.x[slow]), equal_nan=True)


def _libm_lanes(name, x):
    if name in ("sin", "cos", "tan"):
        return ~(np.abs(x) <= vm.TRIG_FAST_MAX)
    return np.zeros(len(x), dtype=bool)


def libm(name, x):
    f = getattr(_LIBM, name)
    f.restype, f.argtypes = ctypes.c_double, [ctypes.c_double]
    return np.array([f(v) for v in np.asarray(x, dtype=np.float64).tolist()])


@pytest.mark.parametrize("name", FUNCS)
def test_variants_agree_mostly(name):
    """Widths give identical results; FMA changes a few roundings at most."""
    r = ref(name)
    base = drivers(WIDTHS[0], False)[name](r.x)
    for w, f in VARIANTS:
        y = drivers(w, f)[name](r.x)
        same = (y.view(np.int64) == base.view(np.int64)) | (np.isnan(y) & np.isnan(base))
        if not f:
            assert same.all()
        else:
            assert same.mean() > 0.9


NAN, INF = math.nan, math.inf
SPECIAL = {
    "exp": [(NAN, NAN), (INF, INF), (-INF, 0.0), (0.0, 1.0), (-0.0, 1.0), (1000.0, INF),
            (709.7827128933841, INF), (-746.0, 0.0), (-745.1332191019412, 0.0), (-745.1332191019411, 5e-324),
            (-1000.0, 0.0), (5e-324, 1.0)],
    "log": [(NAN, NAN), (INF, INF), (-INF, NAN), (0.0, -INF), (-0.0, -INF), (1.0, 0.0),
            (-1.0, NAN), (-5e-324, NAN), (5e-324, -744.4400719213812),
            (1.7976931348623157e308, 709.782712893384)],
    "sin": [(NAN, NAN), (INF, NAN), (-INF, NAN), (0.0, 0.0), (-0.0, -0.0),
            (5e-324, 5e-324), (-5e-324, -5e-324), (-1e-300, -1e-300)],
    "cos": [(NAN, NAN), (INF, NAN), (-INF, NAN), (0.0, 1.0), (-0.0, 1.0), (5e-324, 1.0)],
    "tan": [(NAN, NAN), (INF, NAN), (-INF, NAN), (0.0, 0.0), (-0.0, -0.0), (-5e-324, -5e-324)],
    "expm1": [(NAN, NAN), (INF, INF), (-INF, -1.0), (0.0, 0.0), (-0.0, -0.0), (1000.0, INF),
              (-1000.0, -1.0), (-5e-324, -5e-324), (709.7827128933841, INF)],
    "log1p": [(NAN, NAN), (INF, INF), (-INF, NAN), (0.0, 0.0), (-0.0, -0.0), (-1.0, -INF),
              (-2.0, NAN), (-5e-324, -5e-324)],
    "atan": [(NAN, NAN), (INF, math.pi / 2), (-INF, -math.pi / 2), (0.0, 0.0), (-0.0, -0.0),
             (-5e-324, -5e-324), (1e300, math.pi / 2)],
    "sinh": [(NAN, NAN), (INF, INF), (-INF, -INF), (0.0, 0.0), (-0.0, -0.0), (1000.0, INF),
             (-1000.0, -INF), (-5e-324, -5e-324)],
    "cosh": [(NAN, NAN), (INF, INF), (-INF, INF), (0.0, 1.0), (-0.0, 1.0), (1000.0, INF),
             (-1000.0, INF)],
    "tanh": [(NAN, NAN), (INF, 1.0), (-INF, -1.0), (0.0, 0.0), (-0.0, -0.0), (1000.0, 1.0),
             (-1000.0, -1.0), (-5e-324, -5e-324)],
}


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)


@pytest.mark.parametrize("width,fma", VARIANTS)
@pytest.mark.parametrize("name", FUNCS)
def test_special_values(name, width, fma):
    cases = SPECIAL[name]
    # every special value in every lane position, mixed with ordinary lanes
    x = [c[0] for c in cases]
    f = drivers(width, fma)[name]
    y = f(x)
    for (xi, want), got in zip(cases, y.tolist()):
        assert _same(got, want), (name, xi, got, want)
    for shift in range(1, width):
        y2 = f(np.roll(np.array(x), shift))
        assert all(_same(a, b) for a, b in zip(np.roll(y2, -shift).tolist(), y.tolist()))


@pytest.mark.parametrize("width,fma", VARIANTS)
def test_trig_fallback_lanes(width, fma):
    """Vectors mixing huge arguments (libm path) with ordinary ones."""
    x = np.array([1e22, 0.5, 1.7e308, -3.0, 2e6, 1e-5, np.inf, 1e6] * 3)
    d = drivers(width, fma)
    for name in ("sin", "cos"):
        y = d[name](x)
        libm = np.array([getattr(math, name)(v) if math.isfinite(v) else math.nan for v in x])
        big = np.abs(x) > 1.5e6
        assert np.array_equal(y[big], libm[big], equal_nan=True)
        assert np.all(np.abs(y[~big] - libm[~big]) <= np.spacing(np.abs(libm[~big])))


@pytest.mark.parametrize("width,fma", VARIANTS)
def test_per_lane_libm(width, fma):
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 3, 1000), [np.nan, np.inf, -np.inf, 0.0, -0.0]])
    d = drivers(width, fma)
    for name in LIBM_ONLY:
        assert name not in vm.VECTOR_FUNCS
        want = libm(name, x)
        got = d[name](x)
        assert got.view(np.int64).tolist() == want.view(np.int64).tolist()


def test_without_ir_passes():
    """The fragment compiled straight by the code generator (no IR pipeline):
    the same results."""
    w, f = VARIANTS[-1]
    d = compile_drivers(FUNCS + PAIRS, w, f, passes=False)
    for name in FUNCS:
        x = ref(name).x
        assert d[name](x).tobytes() == drivers(w, f)[name](x).tobytes(), name
    for name in PAIRS:
        x = pair_points(name, 2000)
        for a, c in zip(d[name](x), drivers(w, f)[name](x)):
            assert a.tobytes() == c.tobytes(), name


# ----------------------------------------------------------------------------
# pair functions: components bit for bit the unary functions


def pair_points(name, n, seed=7):
    """The components' test points, random doubles of every kind (random bit
    patterns: NaNs with payloads, subnormals, huge values), special values,
    shuffled so that vectors mix fast lanes with lanes of the libm branch."""
    rng = np.random.default_rng(seed)
    comps = vm.PAIR_COMPONENTS[name]
    tiny = 5e-324
    specials = sorted({c[0] for f in comps for c in SPECIAL[f]}, key=repr)
    x = np.concatenate(
        [points(f, n // 4, seed) for f in comps] + [
            _from_bits(rng.integers(0, 2**64, n // 4, dtype=np.uint64)),
            loguniform(rng, n // 4, tiny, 1.7976931348623157e308),
            loguniform(rng, n // 4, 1e-3, 2e6 if name == "sincos" else 800.0),
            _near([2.0**-26, 2.0**-27, 0.25, 22.0, 1.5e6, 710.4758600739439, 2.0**-1022,
                   tiny], 3),
            np.array(specials * 4)])
    x = np.concatenate([x, -x])
    # fast vectors only (sorted by magnitude) and mixed ones (shuffled)
    return np.concatenate([x[np.argsort(np.abs(x))], rng.permutation(x)])


@pytest.mark.parametrize("width,fma", VARIANTS)
@pytest.mark.parametrize("name", PAIRS)
def test_pair_bitwise(name, width, fma):
    x = pair_points(name, max(N_RANDOM, 20000))
    d = drivers(width, fma)
    got = d[name](x)
    for comp, y in zip(vm.PAIR_COMPONENTS[name], got):
        want = d[comp](x)
        diff = np.flatnonzero(y.view(np.uint64) != want.view(np.uint64))
        assert diff.size == 0, (comp, x[diff[:5]], y[diff[:5]], want[diff[:5]])
    if name == "sincos":      # the libm branch was taken, and gave libm's values
        slow = ~(np.abs(x) <= vm.TRIG_FAST_MAX)
        assert slow.any() and (~slow).any()
