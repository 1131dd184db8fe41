"""Supervised feature dictionaries (Makelov, Lange & Nanda 2024, §3): centred conditional means.

For attributes A with values v and activations h(p) at a node,

    u_{A=v} = E[h | A = v] − E[h],        ĥ(p) = E[h] + Σ_A u_{A, a_A(p)},

and the edit of attribute A from v to v′ is h′ = h − u_{A=v} + u_{A=v′} (two dictionary edits).
The expectations are weighted (``weighting="cell"``, the default) so that every observed
combination of attribute values counts equally: on an unbalanced prompt set the plain means of
one attribute would absorb the others' imbalance. ``weighting="none"`` uses the plain means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from sparsehub.errors import ShapeError, bad_value

from .labels import as_activations, check_labels

__all__ = ["SupervisedDictionary"]

_WEIGHTINGS = ("cell", "none")


class SupervisedDictionary:
    """Mean feature dictionary of ``attributes`` (fit on activations H [N, d] and per-prompt labels).

    Learned state: ``mean_`` [d] (the grand mean E[h]), ``values_[A]`` (sorted values of A),
    ``features_[A]`` [n_values, d] (rows u_{A=v}), ``counts_[A]``. As an SAE-like object it also
    exposes ``W_dec`` [Σ n_values, d] (all rows stacked, attributes in order) and
    :meth:`codes` (one-hot of the labels), which is what the control and interpretability
    evaluations use.
    """

    def __init__(self, attributes: Sequence[str], *, weighting: str = "cell", min_count: int = 5):
        self.attributes = attributes
        self.weighting = weighting
        self.min_count = min_count

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, H: Any, labels: Any) -> SupervisedDictionary:
        """Estimate the grand mean and the centred conditional means u_{A=v}; returns self."""
        attrs = self._check_params()
        X = as_activations(H).double()
        lab = check_labels(labels, attrs, X.shape[0], min_values=2, min_count=self.min_count)
        n = X.shape[0]
        if self.weighting == "cell":
            cells = np.unique(
                np.stack([np.unique(lab[a], return_inverse=True)[1] for a in attrs], 1),
                axis=0,
                return_inverse=True,
            )[1].reshape(-1)
            w = 1.0 / np.bincount(cells)[cells]
        else:
            w = np.ones(n)
        w = torch.as_tensor(w / w.sum(), dtype=torch.float64)
        mean = w @ X
        values, features, counts = {}, {}, {}
        for a in attrs:
            uniq, inv, cnt = np.unique(lab[a], return_inverse=True, return_counts=True)
            onehot = torch.zeros(n, len(uniq), dtype=torch.float64)
            onehot[torch.arange(n), torch.as_tensor(inv.reshape(-1))] = 1.0
            mass = w @ onehot  # P_w(A = v)
            features[a] = (onehot * w[:, None]).T @ X / mass[:, None] - mean
            values[a], counts[a] = uniq.tolist(), dict(zip(uniq.tolist(), cnt.tolist(), strict=True))
        self.attributes_ = attrs
        self.mean_, self.values_, self.features_, self.counts_ = mean, values, features, counts
        self.d_ = X.shape[1]
        return self

    def _check_params(self) -> list[str]:
        attrs = [self.attributes] if isinstance(self.attributes, str) else list(self.attributes)
        if not attrs or not all(isinstance(a, str) for a in attrs) or len(set(attrs)) != len(attrs):
            raise bad_value(
                "attributes", self.attributes, "a non-empty sequence of distinct attribute names (str)"
            )
        if self.weighting not in _WEIGHTINGS:
            raise bad_value("weighting", self.weighting, f"one of {_WEIGHTINGS}")
        if isinstance(self.min_count, bool) or not isinstance(self.min_count, int) or self.min_count < 1:
            raise bad_value("min_count", self.min_count, "an int >= 1")
        return attrs

    def _fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise RuntimeError("this SupervisedDictionary is not fitted yet: call fit(H, labels) first")

    def _index(self, attr: str, values: Any, name: str) -> torch.Tensor:
        """Row indices of ``values`` (scalar or [N]) in ``features_[attr]``; unknown values are refused."""
        if attr not in self.values_:
            raise bad_value("attr", attr, f"one of the fitted attributes {self.attributes_}", KeyError)
        known = {v: i for i, v in enumerate(self.values_[attr])}
        arr = np.atleast_1d(
            values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        )
        try:
            return torch.as_tensor([known[v] for v in arr.tolist()], dtype=torch.long)
        except KeyError as exc:
            raise bad_value(
                name, exc.args[0], f"a value of {attr!r} seen in fit: {self.values_[attr]}"
            ) from None

    # -- the dictionary as an SAE-like object -------------------------------------------------
    @property
    def W_dec(self) -> torch.Tensor:
        """All feature rows stacked, [Σ_A n_values(A), d] (attributes in order, values sorted)."""
        self._fitted()
        return torch.cat([self.features_[a] for a in self.attributes_])

    def atoms(self) -> list[tuple[str, Any]]:
        """The (attribute, value) of every row of :attr:`W_dec`."""
        self._fitted()
        return [(a, v) for a in self.attributes_ for v in self.values_[a]]

    def codes(self, labels: Any) -> torch.Tensor:
        """One-hot codes [N, Σ n_values]: the supervised dictionary's "activations" of each prompt."""
        self._fitted()
        lab = check_labels(labels, self.attributes_)
        n = len(next(iter(lab.values())))
        blocks = []
        for a in self.attributes_:
            idx = self._index(a, lab[a], f"labels[{a!r}]")
            block = torch.zeros(n, len(self.values_[a]), dtype=torch.float64)
            block[torch.arange(n), idx] = 1.0
            blocks.append(block)
        return torch.cat(blocks, 1)

    def decode(self, codes: Any) -> torch.Tensor:
        """E[h] + codes · W_dec, [N, d]."""
        return self.mean_ + torch.as_tensor(codes, dtype=torch.float64) @ self.W_dec

    # -- reconstruction and editing -----------------------------------------------------------
    def reconstruct(self, labels: Any) -> torch.Tensor:
        """ĥ(p) = E[h] + Σ_A u_{A, a_A(p)} for every prompt, [N, d] float64."""
        return self.decode(self.codes(labels))

    def edit(self, h: Any, attr: str, old: Any, new: Any) -> Any:
        """h′ = h − u_{attr=old} + u_{attr=new}; ``old``/``new`` scalars or one per row. Same type and dtype as h."""
        self._fitted()
        is_numpy = isinstance(h, np.ndarray)
        if getattr(h, "ndim", None) not in (1, 2):
            raise bad_value(
                "h",
                type(h).__name__,
                f"an array or tensor of shape [d] or [N, d] with d = {self.d_}",
                TypeError,
            )
        X = as_activations(h if h.ndim == 2 else h[None], "h", self.d_)
        i_old, i_new = self._index(attr, old, "old"), self._index(attr, new, "new")
        for name, idx in (("old", i_old), ("new", i_new)):
            if len(idx) not in (1, X.shape[0]):
                raise bad_value(
                    f"len({name})", len(idx), f"1 or {X.shape[0]} (one value per row of h)", ShapeError
                )
        U = self.features_[attr]
        out = (X.double() - U[i_old] + U[i_new]).to(X.dtype)
        out = out if h.ndim == 2 else out[0]
        return out.numpy() if is_numpy else out
