"""The reproduction protocol: every plugin proves its paper's claims at small scale.

A plugin's ``reproduce(quick=True, seed=0)`` returns a :class:`Report`, a list of
:class:`Claim` objects: the paper's claim in one sentence, the metric, our value, the
baseline's value, the criterion and whether it held. ``sparsehub repro`` prints the table;
the plugin's tests assert :attr:`Report.passed`.
"""

from __future__ import annotations

import json
import math
import operator
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import bad_value

__all__ = ["Claim", "Figure", "Report"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass
class Claim:
    """One claim of the paper, measured.

    ``criterion`` is the human-readable rule that decided ``passed``, e.g.
    ``"ours <= 0.2 * baseline"``. ``baseline`` is None for absolute claims
    (a correctness check against an oracle, a bound from the paper).
    """

    statement: str
    metric: str
    ours: float
    baseline: float | None
    criterion: str
    passed: bool
    baseline_name: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def compare(
        cls,
        statement: str,
        metric: str,
        ours: float,
        baseline: float,
        *,
        baseline_name: str,
        op: str = ">=",
        margin: float = 0.0,
        scale: float = 1.0,
        **kwargs: Any,
    ) -> Claim:
        """Build a claim whose criterion is ``ours <op> scale * baseline + margin``.

        ``op`` is one of ``>``, ``>=``, ``<``, ``<=``. NaN on either side fails the claim.
        """
        if op not in _OPS:
            raise bad_value("op", op, f"one of {', '.join(_OPS)}")
        target = scale * float(baseline) + margin
        rhs = "baseline" if scale == 1 else f"{scale:g} * baseline"
        if margin:
            rhs += f" {'+' if margin > 0 else '-'} {abs(margin):g}"
        ok = _finite(ours, baseline) and _OPS[op](float(ours), target)
        return cls(statement, metric, float(ours), float(baseline), f"ours {op} {rhs}", bool(ok),
                   baseline_name=baseline_name, **kwargs)

    @classmethod
    def check(
        cls, statement: str, metric: str, ours: float, *, op: str, bound: float, **kwargs: Any
    ) -> Claim:
        """Build an absolute claim: ``ours <op> bound`` (no baseline)."""
        if op not in _OPS:
            raise bad_value("op", op, f"one of {', '.join(_OPS)}")
        ok = _finite(ours) and _OPS[op](float(ours), float(bound))
        return cls(statement, metric, float(ours), None, f"ours {op} {bound:g}", bool(ok), **kwargs)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(float(v)) for v in values)


@dataclass
class Figure:
    """A plot a reproduction can draw: ``draw(ax)`` paints on a matplotlib Axes."""

    name: str
    draw: Callable[[Any], None]
    title: str = ""


@dataclass
class Report:
    """All claims of one plugin's reproduction run."""

    slug: str
    claims: list[Claim] = field(default_factory=list)
    quick: bool = True
    seed: int = 0
    seconds: float = 0.0
    notes: str = ""
    figures: list[Figure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when there is at least one claim and every claim held."""
        return bool(self.claims) and all(c.passed for c in self.claims)

    def add(self, claim: Claim) -> Claim:
        self.claims.append(claim)
        return claim

    @contextmanager
    def timed(self) -> Iterator[None]:
        """Add the wall time of the ``with`` body to :attr:`seconds`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def failures(self) -> list[Claim]:
        return [c for c in self.claims if not c.passed]

    def claim(self, text: str) -> Claim:
        """The one claim whose statement contains ``text``; LookupError listing the statements otherwise."""
        found = [c for c in self.claims if text in c.statement]
        if len(found) != 1:
            statements = [c.statement for c in self.claims]
            raise LookupError(f"{len(found)} claims of {self.slug!r} contain {text!r}; the claims: {statements}")
        return found[0]

    def assert_passed(self) -> None:
        """Raise AssertionError listing every failed claim with its numbers (for tests)."""
        if not self.claims:
            raise AssertionError(f"{self.slug}: the report has no claims")
        bad = self.failures()
        if bad:
            lines = [f"{self.slug}: {len(bad)} of {len(self.claims)} claims failed"]
            lines += [f"  - {c.statement}: {c.metric} ours={_fmt(c.ours)} baseline={_fmt(c.baseline)} "
                      f"({c.criterion})" for c in bad]
            raise AssertionError("\n".join(lines))

    def table(self) -> str:
        """The claims as a markdown table (the format of every plugin README)."""
        rows = ["| claim | metric | ours | baseline | criterion | status |",
                "|---|---|---|---|---|---|"]
        for c in self.claims:
            base = _fmt(c.baseline) + (f" ({c.baseline_name})" if c.baseline_name else "")
            rows.append(f"| {c.statement} | {c.metric} | {_fmt(c.ours)} | {base} | {c.criterion} | "
                        f"{'pass' if c.passed else 'FAIL'} |")
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("figures")
        out["figures"] = [f.name for f in self.figures]
        out["passed"] = self.passed
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=_jsonable, **kwargs)

    def plot(self, directory: str) -> list[str]:
        """Draw each figure to ``<directory>/<slug>-<name>.png``; returns the paths (needs matplotlib)."""
        import os

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(directory, exist_ok=True)
        paths = []
        for fig_spec in self.figures:
            fig, ax = plt.subplots(figsize=(6, 4))
            fig_spec.draw(ax)
            ax.set_title(fig_spec.title or f"{self.slug}: {fig_spec.name}")
            path = os.path.join(directory, f"{self.slug}-{fig_spec.name}.png")
            fig.tight_layout()
            fig.savefig(path, dpi=110)
            plt.close(fig)
            paths.append(path)
        return paths


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    x = float(x)
    if x == 0 or (1e-3 <= abs(x) < 1e5):
        return f"{x:.4g}"
    return f"{x:.3e}"


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return str(x)
