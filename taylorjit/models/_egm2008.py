"""The Earth's EGM2008 gravity model to degree and order 4: ``mu``, ``a`` and the
fully normalised ``[C, S]`` coefficients (as heyoka's ``get_egm2008_*``).

Data only; :mod:`._gravity` builds the geopotential and acceleration from it
(``egm2008_pot`` / ``egm2008_acc``) with the spherical harmonics and re-exports
the accessors.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["get_egm2008_CS", "get_egm2008_mu", "get_egm2008_a"]


# ------------------------------------------------------------------ EGM2008 to degree 4
_EGM2008_MU = 3.986004415e14     # m^3 / s^2
_EGM2008_A = 6378136.3           # m
_EGM2008_MAX = 4
# fully normalised [C, S] for n = 2..4, m = 0..n (tide-free system)
_EGM2008_CS = (
    (-0.484165143790815e-03, 0.0),
    (-0.206615509074176e-09, 0.138441389137979e-08),
    (0.243938357328313e-05, -0.140027370385934e-05),
    (0.957161207093473e-06, 0.0),
    (0.203046201047864e-05, 0.248200415856872e-06),
    (0.904787894809528e-06, -0.619005475177618e-06),
    (0.721321757121568e-06, 0.141434926192941e-05),
    (0.539965866638991e-06, 0.0),
    (-0.536157389388867e-06, -0.473567346518086e-06),
    (0.350501623962649e-06, 0.662480026275829e-06),
    (0.990856766672321e-06, -0.200956723567452e-06),
    (-0.188519633023033e-06, 0.308803882149194e-06),
)


def get_egm2008_mu():
    """The gravitational parameter of EGM2008, ``3.986004415e14`` m^3/s^2 (as
    ``heyoka.model.get_egm2008_mu``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.models.get_egm2008_mu()
    398600441500000.0
    """
    return _EGM2008_MU


def get_egm2008_a():
    """The reference radius of EGM2008, ``6378136.3`` m (as
    ``heyoka.model.get_egm2008_a``).

    Examples
    --------
    >>> import taylorjit as tj
    >>> tj.models.get_egm2008_a()
    6378136.3
    """
    return _EGM2008_A


def get_egm2008_CS():
    """The Earth's fully normalised harmonic coefficients of EGM2008, degrees 2 to 4.

    A fresh ``(12, 2)`` array of ``[C, S]`` pairs by degree then order,
    ``n = 2..4``, ``m = 0..n`` (the layout of ``heyoka.model.get_egm2008_CS``,
    which holds the full model; taylorjit carries degrees 2 to 4 only).  As
    in heyoka, prepend ``[1, 0], [0, 0], [0, 0]`` (degrees 0 and 1) to use them
    with :func:`sh_gravity_pot` / :func:`sh_gravity_acc`.

    ====  ==========================  ==========================
    n m   C_nm                        S_nm
    ====  ==========================  ==========================
    2 0   -0.484165143790815e-03      0
    2 1   -0.206615509074176e-09      0.138441389137979e-08
    2 2   0.243938357328313e-05       -0.140027370385934e-05
    3 0   0.957161207093473e-06       0
    3 1   0.203046201047864e-05       0.248200415856872e-06
    3 2   0.904787894809528e-06       -0.619005475177618e-06
    3 3   0.721321757121568e-06       0.141434926192941e-05
    4 0   0.539965866638991e-06       0
    4 1   -0.536157389388867e-06      -0.473567346518086e-06
    4 2   0.350501623962649e-06       0.662480026275829e-06
    4 3   0.990856766672321e-06       -0.200956723567452e-06
    4 4   -0.188519633023033e-06      0.308803882149194e-06
    ====  ==========================  ==========================

    Source: the EGM2008 coefficient file ``EGM2008_to2190_TideFree``
    published by the U.S. National Geospatial-Intelligence Agency (N. K.
    Pavlis, S. A. Holmes, S. C. Kenyon, J. K. Factor, "The development and
    evaluation of the Earth Gravitational Model 2008 (EGM2008)", J. Geophys.
    Res. 117 (2012) B04406); tide-free system, with ``GM = 3.986004415e14``
    m^3/s^2 and ``a = 6378136.3`` m (:func:`get_egm2008_mu`,
    :func:`get_egm2008_a`).  ``J2 = -sqrt(5) C20 = 1.08262617e-3``.

    Examples
    --------
    >>> import math, taylorjit as tj
    >>> cs = tj.models.get_egm2008_CS()
    >>> cs.shape, round(-math.sqrt(5) * float(cs[0, 0]), 11)       # (shape, J2)
    ((12, 2), 0.00108262617)
    """
    return np.array(_EGM2008_CS)


def _egm2008(n, m, what):
    for val, name in ((n, "n"), (m, "m")):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 0:
            raise ValueError(f"{what}: {name} (the maximum degree/order) must be a non-negative "
                             f"integer, got {val!r}")
    if n > _EGM2008_MAX:
        raise ValueError(f"{what}: degree n = {n} requested, but taylorjit carries EGM2008 to "
                         f"degree and order {_EGM2008_MAX} only: for higher degrees pass the "
                         "full coefficient table (e.g. heyoka.model.get_egm2008_CS(), with "
                         "[1, 0], [0, 0], [0, 0] prepended) to sh_gravity_acc")
    if m > n:
        raise ValueError(f"{what}: order m = {m} exceeds the degree n = {n}")
    shc = [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]] + [list(p) for p in _EGM2008_CS]
    return shc, int(n), int(m)
