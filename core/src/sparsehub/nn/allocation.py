"""Layer-wise sparsity allocation: which tensors are pruned, how dense each one stays, exact counts.

The pipeline of random pruning (paper 19, "The Unreasonable Effectiveness of Random Pruning"):
:func:`prunable_parameters` collects the weight tensors, :func:`layer_densities` turns one global
density D into per-layer densities d_l (uniform, uniform+, ER, ERK), :func:`layer_counts` turns
densities into exact integer kept counts, and :func:`random_masks` draws masks with exactly those
counts (never Bernoulli sampling, whose realised density drifts on small layers).
:func:`global_magnitude_densities` gives the ratios that one global magnitude threshold implies.

Layer order is the insertion order of the mapping (for :func:`prunable_parameters`, the order in
which modules were registered); "first" and "last" layer refer to that order.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask

__all__ = [
    "DEFAULT_PRUNABLE",
    "RULES",
    "as_keep_tensor",
    "global_magnitude_densities",
    "layer_counts",
    "layer_densities",
    "parameter_by_name",
    "prunable_parameters",
    "random_masks",
]

#: Module types whose ``weight`` is prunable by default: linear and every (transposed) convolution.
#: Embeddings are left dense unless asked for (``include=DEFAULT_PRUNABLE + (nn.Embedding,)``).
DEFAULT_PRUNABLE: tuple[type[nn.Module], ...] = (nn.Linear, nn.modules.conv._ConvNd)

#: The allocation rules of :func:`layer_densities`.
RULES = ("uniform", "uniform+", "er", "erk")

_UNIFORM_PLUS_LAST = 0.2  # paper 19: the classifier keeps at least this density when D < 0.2
_TOL = 1e-12


# --------------------------------------------------------------------------------------------------
# Which tensors


def _weight_of(module: nn.Module) -> nn.Parameter | None:
    """The trainable tensor behind ``module.weight``, also when a mask re-parametrises it.

    torch.nn.utils.parametrize keeps it at ``parametrizations.weight.original``, torch.nn.utils.prune
    at ``weight_orig``; in both cases ``module.weight`` is a computed tensor, not the parameter.
    """
    params = getattr(module, "parametrizations", None)
    if params is not None and "weight" in params:
        original = getattr(params["weight"], "original", None)
        return original if isinstance(original, nn.Parameter) else None
    orig = module._parameters.get("weight_orig")
    if isinstance(orig, nn.Parameter):
        return orig
    weight = module._parameters.get("weight")
    return weight if isinstance(weight, nn.Parameter) else None


def _excluded(spec: Any, name: str, module_name: str, module: nn.Module, positions: set[str]) -> bool:
    if isinstance(spec, type):
        return isinstance(module, spec)
    if spec in positions:
        return True
    return fnmatch.fnmatchcase(name, spec) or fnmatch.fnmatchcase(module_name, spec)


def prunable_parameters(
    model: nn.Module,
    include: Sequence[type[nn.Module]] = DEFAULT_PRUNABLE,
    exclude: Iterable[str | type[nn.Module]] = (),
) -> dict[str, nn.Parameter]:
    """The weight tensors to prune, in module registration order: name -> Parameter.

    Only ``weight`` of modules that are instances of ``include`` (default: Linear and all
    convolutions); biases, norm parameters and non-float or empty tensors are never returned.
    A parameter shared by several modules (tied weights) appears once, under its first name.
    Names are ``"<module path>.weight"`` as in ``model.named_parameters()``, also when the weight is
    currently re-parametrised by torch's ``parametrize`` or ``prune`` (the Parameter returned is then
    the underlying ``original`` / ``weight_orig``).

    ``exclude``: module types, fnmatch patterns matched against the parameter name or the module
    name (``"fc"``, ``"*.classifier.*"``), and the words ``"first"`` / ``"last"`` for the first and
    last prunable weight (e.g. keep the input layer dense, as paper 31 does).
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    include = tuple(include) if not isinstance(include, type) else (include,)
    if not include or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in include):
        raise bad_value("include", include, "a non-empty tuple of nn.Module subclasses")
    exclude = [exclude] if isinstance(exclude, (str, type)) else list(exclude)
    for spec in exclude:
        if not (isinstance(spec, str) or (isinstance(spec, type) and issubclass(spec, nn.Module))):
            raise bad_value("exclude", spec, "module types, name patterns (str) or 'first' / 'last'")
    found: list[tuple[str, str, nn.Module, nn.Parameter]] = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if not isinstance(module, include):
            continue
        weight = _weight_of(module)
        if weight is None or id(weight) in seen or not weight.is_floating_point() or weight.numel() == 0:
            continue
        seen.add(id(weight))
        found.append((f"{module_name}.weight" if module_name else "weight", module_name, module, weight))
    result: dict[str, nn.Parameter] = {}
    for i, (name, module_name, module, weight) in enumerate(found):
        positions = {"first"} if i == 0 else set()
        if i == len(found) - 1:
            positions.add("last")
        if not any(_excluded(spec, name, module_name, module, positions) for spec in exclude):
            result[name] = weight
    return result


def parameter_by_name(model: nn.Module, name: str) -> nn.Parameter:
    """The Parameter called ``name`` (``"fc.weight"``), also when that weight is re-parametrised.

    Resolves plain parameters, ``parametrize``'d ones (``fc.parametrizations.weight.original``) and
    torch-prune ones (``fc.weight_orig``). KeyError naming the parameter when there is none.
    """
    module_name, _, attr = name.rpartition(".")
    try:
        module = model.get_submodule(module_name) if module_name else model
    except AttributeError:
        module = None
    if module is not None:
        params = getattr(module, "parametrizations", None)
        if params is not None and attr in params:
            return params[attr].original
        for key in (attr, f"{attr}_orig"):
            value = module._parameters.get(key)
            if isinstance(value, nn.Parameter):
                return value
    raise KeyError(f"model has no parameter {name!r}")


def as_keep_tensor(mask: Any, shape: Sequence[int] | None = None, device: Any = None) -> torch.Tensor:
    """A mask given as a core Mask, a bool/0-1 torch tensor or a numpy array -> torch bool tensor.

    ShapeError when ``shape`` is given and differs; ValueError for values other than 0 and 1.
    """
    if isinstance(mask, Mask):
        keep = mask.to_torch(device)
    elif isinstance(mask, torch.Tensor):
        keep = mask.detach()
    elif isinstance(mask, np.ndarray):
        keep = torch.from_numpy(np.ascontiguousarray(mask))
    else:
        raise bad_value("mask", type(mask).__name__, "a sparsehub Mask, a torch tensor or a numpy array")
    if keep.dtype != torch.bool:
        if not bool(((keep == 0) | (keep == 1)).all()):
            raise bad_value("mask", f"<{keep.dtype} tensor with values other than 0 and 1>", "a boolean mask")
        keep = keep != 0
    if shape is not None and tuple(keep.shape) != tuple(shape):
        raise bad_value("mask.shape", tuple(keep.shape), f"the parameter's shape {tuple(shape)}", ShapeError)
    return keep if device is None else keep.to(device)


# --------------------------------------------------------------------------------------------------
# How dense each layer stays


def _check_density(density: Any, name: str = "density") -> float:
    if isinstance(density, bool) or not isinstance(density, (int, float, np.floating, np.integer)):
        raise bad_value(name, density, "a float in (0, 1]")
    value = float(density)
    if not 0.0 < value <= 1.0:
        raise bad_value(name, density, "a float in (0, 1]")
    return value


def _shapes(shapes: Any) -> dict[str, tuple[int, ...]]:
    """A mapping name -> shape (tuples, torch.Size or anything with ``.shape``) -> dict of int tuples."""
    if not isinstance(shapes, Mapping) or not shapes:
        raise bad_value("shapes", shapes, "a non-empty mapping name -> shape")
    result = {}
    for name, shape in shapes.items():
        shape = getattr(shape, "shape", shape)
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise bad_value(f"shapes[{name!r}]", shape, "a tuple of non-negative ints") from None
        if any(d < 0 for d in dims) or any(isinstance(d, bool) for d in shape):
            raise bad_value(f"shapes[{name!r}]", shape, "a tuple of non-negative ints")
        result[name] = dims
    return result


def _raw_score(shape: tuple[int, ...], rule: str, power: float) -> float:
    """r_l of ER ((n_out + n_in) / (n_out n_in), first two dims) or ERK (sum / product of all dims)."""
    dims = shape[:2] if rule == "er" else shape
    return (sum(dims) / math.prod(dims)) ** power


def layer_densities(
    shapes: Mapping[str, Any],
    density: float,
    rule: str = "erk",
    *,
    erk_power: float = 1.0,
    dense_first: bool = False,
    dense_last: bool = False,
    min_last: float | None = None,
) -> dict[str, float]:
    """Per-layer densities d_l whose parameter-weighted mean is exactly the global ``density`` D.

    Paper 19, section 2. Every layer gets d_l = eps * r_l with a raw score r_l:

    * ``"uniform"``: r_l = 1, so d_l = D.
    * ``"er"``: r_l = ((n_out + n_in) / (n_out * n_in)) ** erk_power over the first two dims.
    * ``"erk"``: r_l = (sum(shape) / prod(shape)) ** erk_power (kernel sizes included).
    * ``"uniform+"``: uniform with the first layer dense and, when D < 0.2, the last layer held at
      density 0.2 (``min_last`` overrides the 0.2); the rest of the budget is spread over the others.

    eps solves  eps * sum_{free l} r_l N_l = D * N_total - sum_{fixed l} d_l N_l,  where "fixed"
    layers are those held dense (``dense_first``, ``dense_last``) or at ``min_last``. If some
    eps * r_l exceeds 1, the layers with the largest r_l become dense and eps is solved again, until
    every d_l <= 1 (at most one round per layer, so the loop ends even if everything goes dense).
    A last layer below ``min_last`` is fixed at ``min_last`` the same way.

    ``shapes``: name -> shape (or tensors; anything with ``.shape``), in layer order. Empty tensors
    get density 1.0 and take no part. ValueError when the fixed layers alone exceed the budget.
    Returns name -> d_l in (0, 1], same order.
    """
    dims = _shapes(shapes)
    density = _check_density(density)
    if not isinstance(rule, str) or rule.lower() not in RULES:
        raise bad_value("rule", rule, f"one of {list(RULES)}")
    rule = rule.lower()
    if (
        isinstance(erk_power, bool)
        or not isinstance(erk_power, (int, float))
        or not 0 <= erk_power < math.inf
    ):
        raise bad_value("erk_power", erk_power, "a finite float >= 0")
    if min_last is not None:
        min_last = _check_density(min_last, "min_last")
    if rule == "uniform+":
        dense_first = True
        if min_last is None and density < _UNIFORM_PLUS_LAST:
            min_last = _UNIFORM_PLUS_LAST

    sizes = {name: math.prod(shape) for name, shape in dims.items()}
    result = dict.fromkeys(dims, 1.0)
    if density == 1.0:
        return result
    names = [name for name in dims if sizes[name] > 0]
    if not names:
        raise bad_value("shapes", shapes, "at least one non-empty tensor")
    raw = {
        name: 1.0 if rule in ("uniform", "uniform+") else _raw_score(dims[name], rule, erk_power)
        for name in names
    }
    first, last = names[0], names[-1]
    fixed: dict[str, float] = {}
    if dense_first:
        fixed[first] = 1.0
    if dense_last:
        fixed[last] = 1.0
    total = sum(sizes[name] for name in names)
    free_density: dict[str, float] = {}
    for _ in range(len(names) + 1):
        free = [name for name in names if name not in fixed]
        if not free:
            break
        budget = density * total - sum(d * sizes[name] for name, d in fixed.items())
        if budget <= 0:
            held = sorted(fixed)
            raise bad_value(
                "density",
                density,
                f"a density high enough for the layers held fixed ({held}) to leave weights for the others",
            )
        eps = budget / sum(raw[name] * sizes[name] for name in free)
        free_density = {name: eps * raw[name] for name in free}
        top = max(raw[name] for name in free)
        if eps * top > 1.0 + _TOL:
            fixed.update(dict.fromkeys((name for name in free if raw[name] == top), 1.0))
            continue
        if min_last is not None and last in free_density and free_density[last] < min_last:
            fixed[last] = min_last
            continue
        break
    for name in names:
        result[name] = fixed[name] if name in fixed else min(free_density[name], 1.0)
    achieved = sum(result[name] * sizes[name] for name in names) / total
    if abs(achieved - density) > 1e-9:
        raise bad_value(
            "density",
            density,
            f"a density the fixed layers allow: with {sorted(fixed)} held fixed the model has density {achieved:.6g}",
        )
    return result


def global_magnitude_densities(params: Mapping[str, Any], density: float) -> dict[str, float]:
    """The per-layer densities implied by one global magnitude threshold at overall ``density``.

    Keeps the round(D * N_total) largest |w| over all tensors together (the core's exact global
    top-k, ties to the earlier tensor then the lower index, tensors never concatenated), and
    reports the fraction each tensor keeps. ``params``: name -> tensor / array, in layer order.
    """
    density = _check_density(density)
    if not isinstance(params, Mapping) or not params:
        raise bad_value("params", params, "a non-empty mapping name -> tensor")
    scores = {
        name: (p.detach().abs() if isinstance(p, torch.Tensor) else np.abs(np.asarray(p)))
        for name, p in params.items()
    }
    sparsity = float(1 - Fraction(repr(density)))  # 1 - 0.7 as the decimal 0.3, not 0.30000000000000004
    masks = Mask.from_scores(scores, sparsity=sparsity, scope="global")
    return {name: mask.density for name, mask in masks.items()}


# --------------------------------------------------------------------------------------------------
# Exact counts and random masks


def _densities_for(dims: Mapping[str, tuple[int, ...]], densities: Any) -> dict[str, float]:
    if not isinstance(densities, Mapping):
        if isinstance(densities, bool) or not isinstance(densities, (int, float, np.floating)):
            raise bad_value("densities", densities, "a float in [0, 1] or a mapping name -> float")
        densities = dict.fromkeys(dims, densities)
    if set(densities) != set(dims):
        extra = sorted(set(densities) - set(dims))
        missing = sorted(set(dims) - set(densities))
        raise bad_value(
            "densities", f"<mapping with extra keys {extra} and missing keys {missing}>", "the keys of shapes"
        )
    result = {}
    for name in dims:
        d = densities[name]
        if (
            isinstance(d, bool)
            or not isinstance(d, (int, float, np.floating, np.integer))
            or not 0.0 <= float(d) <= 1.0
        ):
            raise bad_value(f"densities[{name!r}]", d, "a float in [0, 1]")
        result[name] = float(d)
    return result


def layer_counts(shapes: Mapping[str, Any], densities: Mapping[str, float] | float) -> dict[str, int]:
    """Exact kept counts k_l per layer for densities d_l (a mapping, or one float for every layer).

    Rounding: each d_l is read as the decimal it prints as (0.3, not 0.29999...), the targets
    t_l = d_l * N_l are exact rationals, and the total kept is T = sum t_l rounded to the nearest
    integer with halves rounded *down* (so the pruned total has halves rounded up, the rule of
    :func:`sparsehub.mask.pruned_count`). T is split by largest remainder: every layer gets
    floor(t_l), the leftover units go to the largest fractional parts (earlier layer first on
    ties). Hence for one density D everywhere, sum k_l = N - pruned_count(N, 1 - D), the nearest
    integer to D * N; and a lone layer keeps exactly what ``Mask.from_scores`` would keep.
    Every layer with d_l > 0 keeps at least one weight, taken back from the layer with the most
    surplus over its target so that the total stays T (unless T is smaller than the number of
    such layers); d_l = 0 keeps none.
    """
    dims = _shapes(shapes)
    dens = _densities_for(dims, densities)
    names = list(dims)
    sizes = {name: math.prod(dims[name]) for name in names}
    target = {name: Fraction(repr(dens[name])) * sizes[name] for name in names}
    total = sum(target.values(), Fraction(0))
    want = math.ceil(total - Fraction(1, 2))  # nearest integer, halves down
    counts = {name: math.floor(target[name]) for name in names}
    order = sorted(names, key=lambda n: (-(target[n] - counts[n]), names.index(n)))
    leftover = want - sum(counts.values())
    for name in order:
        if leftover <= 0:
            break
        if target[name] > counts[name]:
            counts[name] += 1
            leftover -= 1
    for name in names:
        if counts[name] == 0 and dens[name] > 0 and sizes[name] > 0:
            counts[name] = 1
            donors = [n for n in names if counts[n] > 1]
            if donors:
                counts[max(donors, key=lambda n: (counts[n] - target[n], -names.index(n)))] -= 1
    return counts


def _random_keep(n: int, k: int, rng: Any) -> np.ndarray:
    """A flat bool array of length n with exactly k True entries at uniformly random positions."""
    if isinstance(rng, torch.Generator):
        keep = torch.zeros(n, dtype=torch.bool)
        keep[torch.randperm(n, generator=rng)[:k]] = True
        return keep.numpy()
    # Drawing the smaller of the kept / pruned sets keeps sparse layers cheap.
    pick_kept = k <= n - k
    chosen = rng.choice(n, size=k if pick_kept else n - k, replace=False)
    keep = np.full(n, not pick_kept)
    keep[chosen] = pick_kept
    return keep


def random_masks(
    shapes: Mapping[str, Any],
    densities: Mapping[str, float] | float,
    seed: int | np.random.Generator | torch.Generator,
) -> dict[str, Mask]:
    """Random unstructured masks with exactly :func:`layer_counts` kept entries per layer.

    Positions are uniform without replacement, drawn layer after layer from one generator:
    ``seed`` is an int (numpy ``default_rng(seed)``), a ``numpy.random.Generator`` or a seeded
    ``torch.Generator`` (``torch.randperm``); the same seed, shapes and densities give the same masks.
    Returns name -> Mask of the layer's shape, in layer order.
    """
    if seed is None or isinstance(seed, bool):
        raise bad_value("seed", seed, "an int, a numpy.random.Generator or a torch.Generator")
    if isinstance(seed, torch.Generator):
        rng: Any = seed
    elif isinstance(seed, (int, np.integer, np.random.Generator)):
        rng = np.random.default_rng(seed)
    else:
        raise bad_value("seed", seed, "an int, a numpy.random.Generator or a torch.Generator")
    dims = _shapes(shapes)
    counts = layer_counts(dims, densities)
    return {
        name: Mask(_random_keep(math.prod(dims[name]), counts[name], rng).reshape(dims[name]))
        for name in dims
    }
