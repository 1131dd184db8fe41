"""Token windows from text and the perplexity of a causal LM on them: the shared LLM evaluator.

Every LLM plugin measures quality the same way, so numbers compare across plugins: the text is cut
into ``n`` consecutive, non-overlapping windows of ``length`` tokens (:func:`text_windows`) and
:func:`perplexity` is exp of the mean next-token cross-entropy over every predicted position of
every window (``length - 1`` per window; no context carried across windows).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sparsehub.errors import ShapeError, bad_value

__all__ = ["perplexity", "text_windows"]


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise bad_value(name, value, f"an int >= {minimum}")
    return value


def text_windows(tokenizer: Any, text: str, n: int, length: int, *, start: int = 0) -> torch.Tensor:
    """``n`` consecutive windows of ``length`` token ids of ``text``: a LongTensor (n, length).

    The text is tokenised once without special tokens; window i holds tokens
    ``start + i*length ... start + (i+1)*length - 1``. Use different ``start`` values (or
    different texts) for calibration and evaluation. ValueError naming ``n``/``length`` if the text
    is too short.
    """
    if not isinstance(text, str):
        raise bad_value("text", type(text).__name__, "a str")
    n = _positive_int("n", n)
    length = _positive_int("length", length, 2)
    start = _positive_int("start", start, 0)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] if callable(tokenizer) else tokenizer.encode(text)
    need = start + n * length
    if len(ids) < need:
        raise bad_value("n, length", (n, length),
                        f"at most {len(ids)} tokens from start={start}: the text has {len(ids)} tokens, "
                        f"{need} are needed")
    return torch.tensor(ids[start:need], dtype=torch.long).reshape(n, length)


def perplexity(model: nn.Module, windows: torch.Tensor, *, batch_size: int = 8) -> float:
    """exp(mean next-token negative log-likelihood) of a causal LM over ``windows`` (n, length).

    Runs in eval mode without gradients, ``batch_size`` windows per forward pass; the model's
    training flag is restored. ``windows`` must be token ids (int64) of shape (n, length >= 2).
    """
    if not isinstance(windows, torch.Tensor) or windows.dtype != torch.long:
        raise bad_value("windows", getattr(windows, "dtype", type(windows).__name__),
                        "a torch.LongTensor of token ids (see text_windows)", ShapeError)
    if windows.ndim != 2 or windows.shape[0] < 1 or windows.shape[1] < 2:
        raise bad_value("windows.shape", tuple(windows.shape), "(n, length) with n >= 1, length >= 2", ShapeError)
    batch_size = _positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for chunk in windows.split(batch_size):
                logits = model(input_ids=chunk).logits[:, :-1].float()
                target = chunk[:, 1:]
                nll = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                  reduction="sum")
                total += float(nll)
                count += target.numel()
    finally:
        model.train(was_training)
    return math.exp(total / count)
