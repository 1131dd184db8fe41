"""Reproduction of SliceGPT (arXiv:2401.15024) at small scale, on real models.

Claims (``quick=True``):

1. **Computational invariance** (§3.1-3.2): on the tiny stdlib Llama LM (``sparsehub.models.tiny_lm``),
   folding the RMSNorm scales and rotating every residual site by the PCA basis without deleting
   anything changes the logits by at most 1e-4 (relative Frobenius norm, float32).
2. **Parameter count** (§3.4): on SmolLM2-135M at 25 % slicing the sliced model has exactly the
   number of parameters the deletion implies (computed from the config, independently of the
   slicing code); the share removed is reported. The head must be untied from the embedding
   (the final norm's scale is folded into it), so the total drops by less than 25 %.
3. **PCA beats plain deletion** (§3.3, the paper's ablation): at 25 % slicing of SmolLM2, the
   perplexity on held-out text (4 x 128 tokens of ``corpus("pydoc")`` from token 60 000;
   calibration 16 x 64 tokens from its start) is below the same deletion without the rotation
   (``rotation="none"``: keep the 75 % of coordinates with the largest calibration energy).
   The same comparison on the tiny LM is reported too.

SmolLM2's "dense" weights carry 4-bit (Q4_1) quantisation noise from the GGUF file it ships in.
4. **OPT and GPT-2** (LayerNorm, §3.1 / Appendix A.1): on small random pre-LN OPT and GPT-2 models
   (random LayerNorm scales, shifts and biases), centring + folding + PCA rotation without
   deletion changes the logits by at most 1e-4 (relative).

``quick=False`` runs fractions 0.1 / 0.2 / 0.25 / 0.3 with 32 x 128 calibration tokens and 8
evaluation windows, both rotations plus the per-block bases (``basis="block"``, reported in the
details), and draws perplexity against the fraction.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sparsehub.repro import Claim, Figure, Report

from .slicing import slice_model, slice_variants, sliced_width

__all__ = ["expected_parameters", "reproduce"]

_SLUG = "slicegpt"
_FRACTION = 0.25
_INVARIANCE_TOL = 1e-4


def expected_parameters(config: Any, width: int) -> int:
    """Parameters of a model sliced to hidden size ``width``, from its (original) config alone.

    Llama family: readers (q, k, v, gate, up) keep their outputs and lose input columns, writers
    (o, down) lose output rows, embedding and head have ``width`` columns (the head untied), each
    norm ``width`` entries; biases follow ``attention_bias`` / ``mlp_bias``. OPT / GPT-2 (see
    ``sliced_models``): the same, plus the learned position table with ``width`` columns, a bias
    on every reader and on the head (the folded LayerNorm shifts) and weight-only RMSNorms.
    """
    if config.model_type in ("opt", "gpt2"):
        d = config.hidden_size
        v = config.vocab_size
        if config.model_type == "opt":
            f, positions, writer_bias = config.ffn_dim, config.max_position_embeddings + 2, config.enable_bias
        else:
            f, positions, writer_bias = config.n_inner or 4 * d, config.max_position_embeddings, True
        block = 3 * (d * width + d) + d * width + f * width + f + f * width + 2 * width
        block += 2 * width if writer_bias else 0
        return config.num_hidden_layers * block + (v + positions) * width + width + v * width + v
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    h = config.num_attention_heads * head_dim
    kv = (getattr(config, "num_key_value_heads", None) or config.num_attention_heads) * head_dim
    f = config.intermediate_size
    block = width * (h + 2 * kv) + h * width + 3 * f * width + 2 * width
    if getattr(config, "attention_bias", False):
        block += h + 2 * kv + width
    if getattr(config, "mlp_bias", False):
        block += 2 * f + width
    return config.num_hidden_layers * block + 2 * config.vocab_size * width + width


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _relative_change(reference: nn.Module, other: nn.Module, tokens: torch.Tensor) -> float:
    with torch.no_grad():
        a = reference(input_ids=tokens).logits.double()
        b = other(input_ids=tokens).logits.double()
    return float((a - b).norm() / a.norm())


def _tiny_claims(report: Report, quick: bool) -> None:
    from sparsehub import models
    from sparsehub.nn import perplexity, text_windows

    model, tok = models.tiny_lm(0)
    text = models.tiny_lm_text("test")
    calibration = text_windows(tok, text, 16, 128)
    held_out = text_windows(tok, text, 8, 128, start=16 * 128)
    rotated = slice_model(model, 0.0, calibration=calibration)
    report.add(
        Claim.check(
            "Folding the norms and rotating every residual site by the PCA basis, without deleting, "
            "leaves the tiny LM's logits unchanged",
            "relative change of the logits",
            _relative_change(model, rotated, held_out),
            op="<=",
            bound=_INVARIANCE_TOL,
            details={"model": "tiny_lm(0)", "hidden": model.config.hidden_size},
        )
    )
    variants = slice_variants(model, _FRACTION, calibration=calibration)
    pca, none = (perplexity(variants[r], held_out) for r in ("pca", "none"))
    report.add(
        Claim.compare(
            "Tiny LM, 25 % slicing: PCA rotation before deletion gives a lower perplexity than deletion alone",
            "byte perplexity (held-out stdlib)",
            pca,
            none,
            baseline_name="same deletion, no rotation",
            op="<",
            details={"dense": perplexity(model, held_out)},
        )
    )


def random_layernorm_decoder(family: str, seed: int = 0) -> nn.Module:
    """A small randomly initialised pre-LayerNorm OPT or GPT-2 LM (2 blocks, width 64, vocab 256).

    The LayerNorm scales and shifts and every bias are drawn at random too (the stock init sets
    them to 1 and 0, which would leave the folding of γ and β untested).
    """
    import transformers as t

    torch.manual_seed(seed)
    if family == "opt":
        model = t.OPTForCausalLM(
            t.OPTConfig(
                vocab_size=256,
                hidden_size=64,
                ffn_dim=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=128,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=1,
            )
        )
    else:
        model = t.GPT2LMHeadModel(
            t.GPT2Config(
                vocab_size=256,
                n_embd=64,
                n_layer=2,
                n_head=4,
                n_positions=128,
                bos_token_id=1,
                eos_token_id=1,
            )
        )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ("norm" in name or ".ln_" in name) and name.endswith("weight"):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model.eval()


def _layernorm_claims(report: Report, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed + 1)
    calibration = [torch.randint(0, 256, (4, 64), generator=gen) for _ in range(4)]
    tokens = torch.randint(0, 256, (2, 64), generator=gen)
    for family, title in (
        ("opt", "OPT (pre-LayerNorm, biases)"),
        ("gpt2", "GPT-2 (Conv1D, fused qkv, tied)"),
    ):
        model = random_layernorm_decoder(family, seed)
        rotated = slice_model(model, 0.0, calibration=calibration)
        report.add(
            Claim.check(
                f"Random {title}: centring the writers, folding LayerNorm γ/β into the readers and rotating by "
                "the PCA basis, without deleting, leaves the logits unchanged",
                "relative change of the logits",
                _relative_change(model, rotated, tokens),
                op="<=",
                bound=_INVARIANCE_TOL,
                details={
                    "model": f"random {family}, 2 blocks, hidden 64",
                    "sliced_class": type(rotated).__name__,
                },
            )
        )


def _smollm2_claims(report: Report, quick: bool) -> None:
    from sparsehub import models
    from sparsehub.nn import perplexity, text_windows

    model, tok = models.smollm2()
    text = models.corpus("pydoc")
    calibration = text_windows(tok, text, 16, 64) if quick else text_windows(tok, text, 32, 128)
    held_out = text_windows(tok, text, 4 if quick else 8, 128, start=60_000)
    dense_ppl = perplexity(model, held_out)
    dense_params = _count(model)
    fractions = [_FRACTION] if quick else [0.1, 0.2, _FRACTION, 0.3]
    curve: dict[str, list[float]] = {"pca": [], "none": []}
    for fraction in fractions:
        width = sliced_width(model.config.hidden_size, fraction)
        variants = slice_variants(model, fraction, calibration=calibration)
        pca, none = (perplexity(variants[r], held_out) for r in ("pca", "none"))
        params = _count(variants["pca"])
        del variants
        curve["pca"].append(pca)
        curve["none"].append(none)
        extra = {}
        if not quick:  # the paper's per-block bases with shortcut matrices, for comparison (README)
            per_block = slice_model(model, fraction, calibration=calibration, basis="block")
            curve.setdefault("block", []).append(perplexity(per_block, held_out))
            extra = {"per_block_ppl": curve["block"][-1], "per_block_params": _count(per_block)}
            del per_block
        expected = expected_parameters(model.config, width)
        report.add(
            Claim.check(
                f"SmolLM2-135M, {fraction:.0%} slicing (D {model.config.hidden_size} -> {width}): the parameter "
                "count is exactly what the deletion implies",
                "|parameters - expected|",
                abs(params - expected),
                op="<=",
                bound=0,
                details={
                    "dense_params": dense_params,
                    "sliced_params": params,
                    "removed_share": 1 - params / dense_params,
                    "removed_share_without_embeddings": 1
                    - (params - 2 * model.config.vocab_size * width - width)
                    / (
                        dense_params
                        - model.config.vocab_size * model.config.hidden_size
                        - model.config.hidden_size
                    ),
                },
            )
        )
        report.add(
            Claim.compare(
                f"SmolLM2-135M, {fraction:.0%} slicing: PCA rotation before deletion gives a lower perplexity "
                "than the same deletion without rotation",
                "perplexity (held-out pydoc text)",
                pca,
                none,
                baseline_name="same deletion, no rotation",
                op="<",
                details={
                    "dense_ppl": dense_ppl,
                    "note": "dense SmolLM2 carries Q4_1 quantisation noise",
                    **extra,
                },
            )
        )
    if not quick:

        def draw(ax: Any) -> None:
            ax.plot(fractions, curve["pca"], "o-", label="SliceGPT (PCA)")
            ax.plot(fractions, curve["none"], "s--", label="deletion without rotation")
            ax.plot(fractions, curve["block"], "^:", label="SliceGPT, per-block bases + shortcuts")
            ax.axhline(dense_ppl, color="grey", lw=0.8, label="dense")
            ax.set_xlabel("slicing fraction")
            ax.set_ylabel("perplexity")
            ax.set_yscale("log")
            ax.legend()

        report.figures.append(Figure("slicegpt_perplexity", draw, "SmolLM2-135M: perplexity vs slicing"))


def reproduce(quick: bool = True, seed: int = 0) -> Report:
    """Measure the claims above; ``quick=True`` takes about a minute on 2 quiet cores (SmolLM2 cached).

    ``seed`` is recorded; nothing here is random (PCA and the fixed text windows are deterministic).
    """
    report = Report(
        _SLUG,
        [],
        quick=quick,
        seed=seed,
        notes="SmolLM2-135M weights are dequantised from a Q4_1 GGUF (4-bit noise in 'dense'); "
        "one global PCA basis for all residual sites by default; quick=False also reports the paper's "
        "per-block bases with shortcut matrices (details: per_block_ppl), see README",
    )
    torch.manual_seed(seed)
    with report.timed():
        _tiny_claims(report, quick)
        _layernorm_claims(report, seed)
        _smollm2_claims(report, quick)
    return report
