"""Random pruning at initialisation: random positions, per-layer densities from a rule (paper 19).

"The Unreasonable Effectiveness of Random Pruning" (Liu et al., ICLR 2022), section 3: the only
"intelligence" of the sparse network is how dense each layer stays, d_l; the kept positions are
drawn uniformly at random, once, before training, and the mask stays fixed while the network
trains from scratch (the official code's ``--fix``). With density ratios that give small layers
more weights (ER / ERK) and a wide enough network, this matches dense training.

The per-layer densities, exact counts and mask draws are the core's
(:func:`sparsehub.nn.allocation.layer_densities`, :func:`~sparsehub.nn.allocation.random_masks`);
the masks are held through training by :func:`sparsehub.nn.masking.attach`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask
from sparsehub.nn.allocation import (
    DEFAULT_PRUNABLE,
    layer_counts,
    layer_densities,
    parameter_by_name,
    prunable_parameters,
    random_masks,
)
from sparsehub.nn.init import sparse_init_rescale_
from sparsehub.nn.masking import MaskedTraining, attach

from .snip_ratios import snip_densities

__all__ = ["DISTRIBUTIONS", "RandomPruner"]

#: Layer-wise density rules: the core's allocation rules plus ratios borrowed from SNIP scores.
DISTRIBUTIONS = ("erk", "er", "uniform", "uniform+", "snip")


def _check_density(density: Any) -> float:
    allowed = "a float in (0, 1] (the fraction of weights kept; sparsity = 1 - density)"
    if isinstance(density, bool) or not isinstance(density, (int, float, np.integer, np.floating)):
        raise bad_value("density", density, allowed)
    if not 0.0 < float(density) <= 1.0:  # NaN fails too
        raise bad_value("density", density, allowed)
    return float(density)


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise bad_value(name, value, "True or False")
    return bool(value)


def _literal(name: str) -> str:
    """An fnmatch pattern that matches exactly ``name`` (module names may hold ``*``, ``?``, ``[``)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _bernoulli_masks(shapes: Mapping[str, tuple[int, ...]], densities: Mapping[str, float], seed: int):
    """Masks that keep each entry independently with probability d_l (the official code's sampling)."""
    rng = np.random.default_rng(seed)
    return {name: Mask(rng.random(shape) < densities[name]) for name, shape in shapes.items()}


class RandomPruner:
    """Random masks at initialisation with uniform / ER / ERK / uniform+ / SNIP layer densities.

    Paper 19, section 3. ``fit(model)`` picks the prunable weights (the ``weight`` of every Linear
    and convolution, minus ``exclude``), solves the layer densities d_l whose parameter-weighted
    mean is ``density`` (= 1 - sparsity) and draws, for every layer, exactly k_l = round(d_l N_l)
    kept positions uniformly at random. ``apply(model)`` attaches those masks so that pruned
    weights stay exactly zero through every optimizer step, and rescales the kept weights by
    1 / sqrt(d_l) so that, without normalisation layers, activations keep their dense variance.

    ``distribution``:

    * ``"erk"``: d_l = eps * (sum of the dims / product of the dims) ** erk_power (kernels included);
    * ``"er"``: d_l = eps * ((n_out + n_in) / (n_out n_in)) ** erk_power;
    * ``"uniform"``: d_l = density; ``"uniform+"``: uniform, first layer dense and, below density
      0.2, the last layer held at 0.2;
    * ``"snip"``: the per-layer fractions a global SNIP top-k (|w * dL/dw| on ``data``) keeps, with
      the positions then re-drawn at random (the paper's "SNIP ratio");

    for ER / ERK, a layer whose d_l would exceed 1 is made dense and eps solved again until every
    d_l <= 1 (the capacity clamp), so the global density is met exactly.
    ``exact=False`` samples Bernoulli(d_l) per entry like the official code (realised density
    drifts; kept only for comparison). ``exclude``: module types, fnmatch name patterns or
    ``"first"`` / ``"last"``, left dense and unmasked. ``seed``: int for reproducible masks; None
    draws one (stored in ``seed_``).

    Fitted attributes: ``densities_`` (name -> target d_l), ``masks_`` (name -> core ``Mask``),
    ``density_`` (realised global density: kept / total over the pruned tensors), ``seed_``.
    """

    def __init__(
        self,
        density: float,
        distribution: str = "erk",
        exact: bool = True,
        rescale_init: bool = True,
        exclude: Iterable[str | type[nn.Module]] = (),
        erk_power: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.density = density
        self.distribution = distribution
        self.exact = exact
        self.rescale_init = rescale_init
        self.exclude = exclude
        self.erk_power = erk_power
        self.seed = seed

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (sklearn convention)."""
        return {
            "density": self.density,
            "distribution": self.distribution,
            "exact": self.exact,
            "rescale_init": self.rescale_init,
            "exclude": self.exclude,
            "erk_power": self.erk_power,
            "seed": self.seed,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"RandomPruner({args})"

    # --- fit ------------------------------------------------------------------------------------

    def _validated(self) -> tuple[float, str, bool, bool, int]:
        density = _check_density(self.density)
        rule = self.distribution
        if not isinstance(rule, str) or rule.lower() not in DISTRIBUTIONS:
            raise bad_value("distribution", rule, f"one of {list(DISTRIBUTIONS)}")
        exact = _check_flag("exact", self.exact)
        rescale = _check_flag("rescale_init", self.rescale_init)
        power = self.erk_power
        if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 <= power < math.inf:
            raise bad_value("erk_power", power, "a finite float >= 0")
        seed = self.seed
        if seed is None:
            seed = int(np.random.default_rng().integers(2**63))
        elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise bad_value("seed", seed, "None or an int >= 0")
        return density, rule.lower(), exact, rescale, int(seed)

    def fit(
        self,
        model: nn.Module,
        data: tuple[torch.Tensor, ...] | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> RandomPruner:
        """Choose the layer densities and draw the random masks for ``model``; the model is not changed.

        ``data``: ``(X, y)`` (one batch; extra elements are ignored), needed only for
        ``distribution="snip"``, whose scores are |w * dL/dw| with ``loss_fn`` (default cross-entropy).
        Returns self, with ``densities_``, ``masks_``, ``density_`` and ``seed_`` set.
        """
        density, rule, exact, _, seed = self._validated()
        if not isinstance(model, nn.Module):
            raise bad_value("model", type(model).__name__, "a torch.nn.Module")
        params = prunable_parameters(model, DEFAULT_PRUNABLE, self.exclude)
        if not params:
            raise bad_value(
                "model",
                f"<{type(model).__name__} without prunable weights>",
                f"a model with at least one Linear or convolution weight left after exclude={self.exclude!r}",
            )
        shapes = {name: tuple(p.shape) for name, p in params.items()}
        if rule == "snip":
            densities = snip_densities(model, params, data, density, loss_fn)
        else:
            densities = layer_densities(shapes, density, rule, erk_power=float(self.erk_power))
        if exact:
            masks = random_masks(shapes, densities, seed)
        else:
            masks = _bernoulli_masks(shapes, densities, seed)
        empty = [name for name, m in masks.items() if m.nnz == 0]
        if empty:
            warnings.warn(
                f"RandomPruner: layers {empty} keep no weight at all (their density is 0): the network "
                "is cut there (layer collapse); use another distribution or a higher density",
                RuntimeWarning,
                stacklevel=2,
            )
        self.densities_ = densities
        self.masks_ = masks
        self.density_ = sum(m.nnz for m in masks.values()) / sum(math.prod(s) for s in shapes.values())
        self.seed_ = seed
        return self

    def counts(self) -> dict[str, int]:
        """Kept weights per layer, k_l (exactly ``layer_counts`` of the densities when ``exact``)."""
        self._check_fitted()
        return {name: int(m.nnz) for name, m in self.masks_.items()}

    def expected_counts(self) -> dict[str, int]:
        """The exact counts the densities imply (:func:`sparsehub.nn.allocation.layer_counts`)."""
        self._check_fitted()
        return layer_counts({n: m.shape for n, m in self.masks_.items()}, self.densities_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "masks_"):
            raise RuntimeError("this RandomPruner is not fitted yet: call fit(model) first")

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> MaskedTraining:
        """Attach the fitted masks to ``model`` (the fitted one or one of the same architecture).

        The masked weights are zeroed at once and stay zero through every step of ``optimizer``
        (and of any optimizer registered later on the returned :class:`MaskedTraining`); with
        ``rescale_init`` the kept weights are then multiplied by 1 / sqrt(d_l), d_l the realised
        density of the layer's mask. Only the pruned tensors are masked. Everything is checked
        before the model changes; a model that already has masks attached is refused.
        """
        self._check_fitted()
        _, _, _, rescale, _ = self._validated()
        if not isinstance(model, nn.Module):
            raise bad_value("model", type(model).__name__, "a torch.nn.Module")
        for name, mask in self.masks_.items():
            try:
                param = parameter_by_name(model, name)
            except KeyError:
                raise bad_value(
                    "model",
                    f"<{type(model).__name__} without parameter {name!r}>",
                    "the architecture this pruner was fitted on",
                ) from None
            if tuple(param.shape) != tuple(mask.shape):
                raise bad_value(
                    "model",
                    f"<{name!r} of shape {tuple(param.shape)}>",
                    f"the fitted shape {tuple(mask.shape)}",
                    ShapeError,
                )
        others = [
            _literal(module_name)
            for module_name, module in model.named_modules()
            if isinstance(module, DEFAULT_PRUNABLE)
            and (f"{module_name}.weight" if module_name else "weight") not in self.masks_
        ]
        masking = attach(model, self.masks_, optimizer=optimizer, include=DEFAULT_PRUNABLE, exclude=others)
        if rescale:
            sparse_init_rescale_(model, self.masks_)
        return masking

    def fit_apply(
        self, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, **fit_kwargs: Any
    ) -> MaskedTraining:
        """``fit(model, **fit_kwargs)`` then ``apply(model, optimizer)``."""
        return self.fit(model, **fit_kwargs).apply(model, optimizer)
