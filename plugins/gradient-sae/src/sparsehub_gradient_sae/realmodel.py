"""g-SAE against TopK (ours and SAELens's) on a real language model's residual stream: reported, not asserted.

Model: :func:`sparsehub.models.tiny_lm` (2-block Llama-style byte LM, d = 128, trained once and
cached; needs the ``models`` extra's ``transformers``). Hook: the output of block 0
(``model.layers.0``), the residual stream. Loss: mean next-byte cross-entropy. Activations and
their gradients are collected on windows of 128 bytes of the LM's training text; the SAEs (width
8·d, k = 8 by default) train on the same shuffled token batches; ΔCE is measured by splicing each
SAE's reconstruction into the forward pass on held-out windows of the test text.
"""

from __future__ import annotations

from typing import Any

import torch

from sparsehub.errors import bad_value
from sparsehub.progress import progress
from sparsehub.sae import Trainer

from .downstream import collect_acts_and_grads, spliced_loss
from .sae import GradientTopKSAE

__all__ = ["real_model_comparison"]

_HOOK, _LENGTH = "model.layers.0", 128


def _next_byte_ce(output: Any, ids: torch.Tensor) -> torch.Tensor:
    logits = output.logits[:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def _windows(text: str, n: int, seed: int) -> torch.Tensor:
    data = torch.frombuffer(bytearray(text.encode()), dtype=torch.uint8).long()
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(len(data) - _LENGTH, (n,), generator=gen)
    return torch.stack([data[s : s + _LENGTH] for s in starts.tolist()])


def real_model_comparison(quick: bool = True, *, k: int = 8, expansion: int = 8, beta: float = 1.0,
                          seed: int = 0, saelens: bool = True) -> dict[str, Any]:
    """ΔCE, NMSE and dead latents of TopK, g-SAE (and SAELens TopK) on the tiny LM; a dict of numbers.

    ``quick``: 64 training windows (8192 tokens), 600 steps of 512 tokens; otherwise 256
    windows and 3000 steps. ``saelens=False`` leaves SAELens out (it is only in the bench extra).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise bad_value("k", k, "an int >= 1")
    from sparsehub.models import tiny_lm, tiny_lm_text

    model, _ = tiny_lm()
    model.requires_grad_(False)
    n_windows, steps, batch = (64, 600, 512) if quick else (256, 3000, 1024)
    xs, gs = [], []
    for chunk in _windows(tiny_lm_text("train"), n_windows, seed).split(16):
        x, g = collect_acts_and_grads(model, _HOOK, _next_byte_ce, ({"input_ids": chunk}, chunk))
        xs.append(x)
        gs.append(g)
    x_all, g_all = torch.cat(xs), torch.cat(gs)
    d_in = x_all.shape[1]
    test = _windows(tiny_lm_text("test"), 16, seed + 1)
    test_batch = ({"input_ids": test}, test)
    saes = {"TopK (ours)": GradientTopKSAE(d_in, expansion * d_in, k, beta=0.0, seed=seed),
            "g-SAE (ours)": GradientTopKSAE(d_in, expansion * d_in, k, beta=beta, seed=seed)}
    trainers: dict[str, Any] = {name: Trainer(sae, lr=1e-3, clip_grad_norm=1.0) for name, sae in saes.items()}
    if saelens:
        from sparsehub.sae.saelens import SAELensTrainStep, saelens_topk

        trainers["TopK (SAELens)"] = SAELensTrainStep(saelens_topk(d_in, expansion * d_in, k, seed=seed), lr=1e-3)
        saes["TopK (SAELens)"] = trainers["TopK (SAELens)"].sae
    gen = torch.Generator().manual_seed(seed)
    chunk = steps // 20  # about 20 progress ticks, not one per step
    for tick in progress(range(20), desc="g-SAE vs TopK on tiny_lm", label=lambda i: f"step {i * chunk}"):
        for _ in range(chunk if tick < 19 else steps - 19 * chunk):
            idx = torch.randint(x_all.shape[0], (batch,), generator=gen)
            for name, trainer in trainers.items():
                if name == "g-SAE (ours)":
                    trainer.step((x_all[idx], g_all[idx]))
                elif name == "TopK (ours)":
                    trainer.step(x_all[idx])
                else:
                    trainer(x_all[idx])
    xt, gt = collect_acts_and_grads(model, _HOOK, _next_byte_ce, test_batch)
    out: dict[str, Any] = {"model": "sparsehub.models.tiny_lm (2 blocks, d=128)", "hook": _HOOK, "k": k,
                           "d_sae": expansion * d_in, "steps": steps, "batch": batch, "beta": beta,
                           "train_tokens": int(x_all.shape[0]), "test_tokens": int(xt.shape[0])}
    for name, sae in saes.items():
        sae.eval()
        with torch.no_grad():
            codes = sae.encode(xt, gt) if isinstance(sae, GradientTopKSAE) else sae.encode(xt)
            recon = sae.decode(codes)
        nmse = float((recon - xt).pow(2).sum() / (xt - xt.mean(0)).pow(2).sum())
        result = spliced_loss(model, _HOOK, sae, _next_byte_ce, test_batch)
        out[name] = {"delta_ce": round(result.delta, 4), "clean_ce": round(result.clean, 4),
                     "nmse": round(nmse, 4), "dead_on_test": int((codes == 0).all(0).sum())}
        if name == "g-SAE (ours)":
            out[name]["delta_ce_topk_inference"] = round(
                spliced_loss(model, _HOOK, sae, _next_byte_ce, test_batch, use_grad=False).delta, 4)
    return out
