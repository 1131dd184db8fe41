"""Inference modules: a sparse 1x1 convolution in CHW layout and the conversion of a whole model.

The paper's deployment (Sec. 4): train in any framework, then run every pruned 1x1 convolution as
a CHW sparse x dense product with bias and activation fused into the kernel's store. Conversion
happens at load time (XNNPACK #404: stored models keep the training layout). A 1x1 convolution
followed by BatchNorm and ReLU/ReLU6 inside an ``nn.Sequential`` becomes one module: BatchNorm is
folded into W and b with its running statistics, the activation becomes the kernel's clamp.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value
from sparsehub.mask import Mask

from .chw import clamp_bounds, spmm_chw
from .dispatch import THRESHOLDS, prefers_sparse
from .packing import pack_xnnpack

__all__ = ["FALLBACKS", "SparseConv1x1CHW", "convert", "pointwise_problem"]

FALLBACKS = ("auto", "never", "always")


def pointwise_problem(conv: Any) -> str | None:
    """Why ``conv`` cannot run as a CHW sparse 1x1 convolution, or None when it can.

    Only ``nn.Conv2d`` with a 1x1 kernel, stride 1, no padding, dilation 1, groups 1 and float
    weights is a plain matrix product over channels.
    """
    if not isinstance(conv, nn.Conv2d):
        return f"a {type(conv).__name__}, not a torch.nn.Conv2d"
    checks = [
        (tuple(conv.kernel_size) == (1, 1), f"kernel_size={tuple(conv.kernel_size)} (needs 1x1)"),
        (tuple(conv.stride) == (1, 1), f"stride={tuple(conv.stride)} (needs 1)"),
        (conv.padding in ((0, 0), "valid", 0), f"padding={conv.padding} (needs 0)"),
        (tuple(conv.dilation) == (1, 1), f"dilation={tuple(conv.dilation)} (needs 1)"),
        (conv.groups == 1, f"groups={conv.groups} (needs 1)"),
        (conv.weight.dtype in (torch.float32, torch.float64), f"dtype={conv.weight.dtype} (needs float32/64)"),
    ]
    problems = [msg for ok, msg in checks if not ok]
    return ", ".join(problems) or None


def _activation_bounds(activation: Any) -> tuple[float, float]:
    if isinstance(activation, nn.ReLU6):
        return 0.0, 6.0
    if isinstance(activation, nn.ReLU):
        return 0.0, math.inf
    if isinstance(activation, nn.Hardtanh):
        return float(activation.min_val), float(activation.max_val)
    return clamp_bounds(activation)


def _mask_array(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(mask, Mask):
        arr = np.asarray(mask.array)
    elif isinstance(mask, torch.Tensor):
        arr = mask.detach().cpu().numpy()
    else:
        arr = np.asarray(mask)
    if arr.ndim == 4 and arr.shape[2:] == (1, 1):
        arr = arr[:, :, 0, 0]
    if arr.shape != shape or arr.dtype != np.bool_:
        raise bad_value("mask", f"<{arr.dtype} array of shape {arr.shape}>", f"a bool mask of shape {shape}",
                        ShapeError)
    return arr


class SparseConv1x1CHW(nn.Module):
    """A sparse 1x1 convolution run by the CHW kernel: y = clamp(W x + b, lo, hi), for inference.

    Input (N, Cin, H, W) float tensor of the weights' dtype (channels_last tensors are made
    contiguous first), output (N, Cout, H, W). ``fallback``: ``"auto"`` runs dense ``torch.matmul``
    where :func:`~.dispatch.prefers_sparse` says the kernel does not pay (small H*W, low sparsity),
    ``"never"`` always runs the sparse kernel, ``"always"`` always runs dense. ``backend``: "numba"
    or "cuda" (the CUDA kernel, numpy in and out). Gradients do not flow through it.
    """

    def __init__(self, weight: Any, bias: Any = None, *, clamp: Any = None, fallback: str = "auto",
                 backend: str = "numba") -> None:
        super().__init__()
        if fallback not in FALLBACKS:
            raise bad_value("fallback", fallback, f"one of {', '.join(FALLBACKS)}")
        if backend not in ("numba", "cuda"):
            raise bad_value("backend", backend, "'numba' or 'cuda'")
        self.packed = pack_xnnpack(weight, bias)
        self.lo, self.hi = clamp_bounds(clamp)
        self.fallback = fallback
        self.backend = backend
        self._dense: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def in_channels(self) -> int:
        return self.packed.shape[1]

    @property
    def out_channels(self) -> int:
        return self.packed.shape[0]

    @property
    def sparsity(self) -> float:
        """Fraction of zero weights, 1 - nnz / (Cout * Cin)."""
        cout, cin = self.packed.shape
        return 1.0 - self.packed.nnz / max(1, cout * cin)

    def uses_sparse(self, hw: int) -> bool:
        """Whether an input of ``hw`` pixels per image runs the sparse kernel."""
        if self.fallback != "auto":
            return self.fallback == "never"
        return prefers_sparse(self.sparsity, hw)

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, *, mask: Any = None, sparsity: float | None = None,
                  bn: nn.BatchNorm2d | None = None, activation: Any = None, fallback: str = "auto",
                  backend: str = "numba") -> SparseConv1x1CHW:
        """Convert a 1x1 ``conv`` (optionally followed by ``bn`` and ``activation``) to the CHW module.

        The weights are taken as they are (pruned entries are exact zeros after
        :class:`~.pruning.PointwisePruner`), or masked by ``mask`` (bool, (Cout, Cin[, 1, 1]) or a
        :class:`sparsehub.Mask`), or pruned here by magnitude to ``sparsity`` (exact count, per
        layer). ``bn`` is folded with its running statistics; ``activation``: None, "relu", "relu6",
        (lo, hi), or an ``nn.ReLU`` / ``nn.ReLU6`` / ``nn.Hardtanh`` module.
        """
        problem = pointwise_problem(conv)
        if problem:
            raise bad_value("conv", f"<{problem}>", "a 1x1 torch.nn.Conv2d with stride 1, no padding, groups 1")
        if mask is not None and sparsity is not None:
            raise bad_value("sparsity", sparsity, "None when a mask is given")
        if bn is not None and (not isinstance(bn, nn.BatchNorm2d) or bn.num_features != conv.out_channels
                               or bn.running_mean is None):
            raise bad_value("bn", type(bn).__name__,
                            f"None or a BatchNorm2d over {conv.out_channels} channels with running statistics")
        lo, hi = _activation_bounds(activation)
        w = conv.weight.detach().cpu()[:, :, 0, 0].to(torch.float64)
        b = conv.bias.detach().cpu().to(torch.float64) if conv.bias is not None else torch.zeros(w.shape[0],
                                                                                                  dtype=torch.float64)
        if mask is not None:
            w = w * torch.from_numpy(_mask_array(mask, tuple(w.shape)))
        elif sparsity is not None:
            keep = Mask.from_scores(w.abs().numpy(), sparsity=sparsity).array
            w = w * torch.from_numpy(np.array(keep, dtype=bool))  # a writable copy
        if bn is not None:
            scale = bn.weight.detach().cpu().double() if bn.affine else torch.ones(w.shape[0], dtype=torch.float64)
            shift = bn.bias.detach().cpu().double() if bn.affine else torch.zeros(w.shape[0], dtype=torch.float64)
            scale = scale / torch.sqrt(bn.running_var.detach().cpu().double() + bn.eps)
            w = w * scale[:, None]
            b = (b - bn.running_mean.detach().cpu().double()) * scale + shift
        dtype = conv.weight.dtype
        return cls(w.to(dtype).numpy(), b.to(dtype).numpy(), clamp=(lo, hi), fallback=fallback, backend=backend)

    def _dense_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._dense is None:  # built on first fallback only: a dense copy costs the memory we saved
            self._dense = (torch.from_numpy(self.packed.to_dense()), torch.from_numpy(self.packed.bias.copy()))
        return self._dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise bad_value("x.shape", tuple(getattr(x, "shape", ())),
                            f"(N, {self.in_channels}, H, W): a 4-D tensor with Cin={self.in_channels}", ShapeError)
        if x.requires_grad and torch.is_grad_enabled():
            raise bad_value("x", "<tensor requiring grad>",
                            "an inference input (torch.no_grad(), or x.detach()): the CHW kernel has no backward")
        n, cin, h, w = x.shape
        if not self.uses_sparse(h * w):
            weight, bias = self._dense_weights()
            if x.dtype != weight.dtype:
                raise bad_value("x.dtype", str(x.dtype), f"{weight.dtype}, the dtype of the weights", TypeError)
            out = torch.matmul(weight, x.contiguous().reshape(n, cin, h * w)) + bias[:, None]
            return torch.clamp(out, self.lo, self.hi).reshape(n, self.out_channels, h, w)
        return spmm_chw(self.packed, x, clamp=(self.lo, self.hi), backend=self.backend)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, sparsity={self.sparsity:.3f}, "
                f"clamp=({self.lo:g}, {self.hi:g}), fallback={self.fallback!r}")


def _fusable(children: list[tuple[str, nn.Module]], i: int) -> tuple[nn.BatchNorm2d | None, Any, list[str]]:
    """The BatchNorm2d and ReLU/ReLU6/Hardtanh following child i of a Sequential, and their names."""
    bn, act, names = None, None, []
    j = i + 1
    if j < len(children) and isinstance(children[j][1], nn.BatchNorm2d):
        bn = children[j][1]
        names.append(children[j][0])
        j += 1
    if j < len(children) and isinstance(children[j][1], (nn.ReLU, nn.ReLU6, nn.Hardtanh)):
        act = children[j][1]
        names.append(children[j][0])
    return bn, act, names


def convert(model: nn.Module, *, names: Any = None, fuse: bool = True, min_sparsity: float = THRESHOLDS[0][1],
            fallback: str = "auto", backend: str = "numba", inplace: bool = False) -> tuple[nn.Module, dict[str, str]]:
    """Replace a model's pruned 1x1 convolutions by :class:`SparseConv1x1CHW` for CHW inference.

    ``names=None`` converts every ``nn.Conv2d`` that is 1x1, stride 1, groups 1 (see
    :func:`pointwise_problem`) and at least ``min_sparsity`` sparse; the others stay dense. A list of
    module names converts exactly those, and a named module that cannot be converted raises, naming
    it and the reason, before anything changes. ``fuse``: inside an ``nn.Sequential``, fold a
    following BatchNorm2d (running statistics) and ReLU/ReLU6/Hardtanh into the kernel (they become
    ``nn.Identity``). The returned model is in eval mode (a copy unless ``inplace``).

    Returns ``(model, report)``: report maps every Conv2d's name to ``"sparse ..."`` or
    ``"dense: <reason>"``.
    """
    if not isinstance(model, nn.Module):
        raise bad_value("model", type(model).__name__, "a torch.nn.Module")
    if isinstance(min_sparsity, bool) or not isinstance(min_sparsity, (int, float)) or not 0 <= min_sparsity < 1:
        raise bad_value("min_sparsity", min_sparsity, "a float in [0, 1)")
    if fallback not in FALLBACKS:
        raise bad_value("fallback", fallback, f"one of {', '.join(FALLBACKS)}")
    modules = dict(model.named_modules())
    if names is not None:
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in modules:
                raise bad_value("names", name, "names of modules of the model (model.named_modules())")
            problem = pointwise_problem(modules[name])
            if problem:
                raise bad_value("names", name, f"1x1 Conv2d modules with stride 1, groups 1; {name!r} is {problem}")
    report: dict[str, str] = {}
    chosen: list[str] = []
    for name, module in modules.items():
        if not isinstance(module, nn.Conv2d):
            continue
        problem = pointwise_problem(module)
        sparsity = float((module.weight == 0).float().mean())
        if names is not None:
            if name in names:
                chosen.append(name)
            else:
                report[name] = "dense: not named"
        elif problem:
            report[name] = f"dense: {problem}"
        elif sparsity < min_sparsity:
            report[name] = f"dense: sparsity {sparsity:.3f} < min_sparsity {min_sparsity:g} (dense is faster)"
        else:
            chosen.append(name)
    # Everything is checked: mutate (a copy, unless inplace) from here on.
    target = model if inplace else copy.deepcopy(model)
    target.eval()
    modules = dict(target.named_modules())
    for name in chosen:
        parent_name, _, child = name.rpartition(".")
        parent = modules[parent_name] if parent_name else target
        bn, act, fused = None, None, []
        if fuse and isinstance(parent, nn.Sequential):
            children = list(parent.named_children())
            bn, act, fused = _fusable(children, [c for c, _ in children].index(child))
        sparse = SparseConv1x1CHW.from_conv(modules[name], bn=bn, activation=act, fallback=fallback, backend=backend)
        setattr(parent, child, sparse)
        for other in fused:
            setattr(parent, other, nn.Identity())
        what = "+".join(type(m).__name__ for m in (bn, act) if m is not None)
        report[name] = f"sparse: sparsity {sparse.sparsity:.3f}" + (f", fused {what}" if what else "")
    order = list(modules)
    return target, dict(sorted(report.items(), key=lambda kv: order.index(kv[0])))
