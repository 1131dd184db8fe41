"""Row counts m of the l_infinity guarantee, and the epsilon a given m buys (paper, main theorems).

With probability 1 - delta, x' = argmin ||S A x - S b|| satisfies
||x' - x*||_inf <= eps / sqrt(d) * ||A x* - b|| * ||A^+|| once

- Gaussian S: m = eps^-2 d log^2(n / delta),
- SRHT S:     m = eps^-2 d log^3(n / delta),

taken here with constant 1 (the paper states them up to constants). Sparse sketches have no
such row count (the paper's lower bound). :func:`default_rows` is the practical choice
4 d ceil(log2 n), capped at n / 2, for when neither m nor (eps, delta) is given.
"""

from __future__ import annotations

import math

from sparsehub.errors import bad_value

__all__ = ["default_rows", "linf_epsilon", "linf_rows"]

_LOG_POWER = {"gaussian": 2, "srht": 3}


def _check(kind: str, n: int, d: int, delta: float) -> int:
    if kind not in _LOG_POWER:
        raise bad_value("kind", kind, "a dense sketch with an l_infinity row count: 'srht' or 'gaussian'")
    for name, value in (("n", n), ("d", d)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_value(name, value, "a positive int")
    if not (isinstance(delta, (int, float)) and 0.0 < delta < 1.0):
        raise bad_value("delta", delta, "a failure probability in (0, 1)")
    return _LOG_POWER[kind]


def linf_rows(d: int, n: int, eps: float, delta: float = 0.01, kind: str = "srht") -> int:
    """m = ceil(eps^-2 d log^p(n / delta)), p = 3 for SRHT and 2 for Gaussian (constant 1)."""
    p = _check(kind, n, d, delta)
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise bad_value("eps", eps, "a finite number > 0")
    return math.ceil(d * math.log(n / delta) ** p / eps**2)


def linf_epsilon(m: int, d: int, n: int, delta: float = 0.01, kind: str = "srht") -> float:
    """The eps that m rows guarantee: sqrt(d log^p(n / delta) / m), the inverse of :func:`linf_rows`."""
    p = _check(kind, n, d, delta)
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise bad_value("m", m, "a positive int")
    return math.sqrt(d * math.log(n / delta) ** p / m)


def default_rows(n: int, d: int) -> int:
    """4 d ceil(log2 n), capped at n // 2 and never below d (a practical default, not the theorem's)."""
    return max(d, min(4 * d * max(1, math.ceil(math.log2(n))), n // 2))
