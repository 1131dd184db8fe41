"""slice_model: invariance, deletion, save/load, the untouched input, and bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import transformers

import sparsehub_slicegpt
from sparsehub.nn.layout import UnsupportedArchitecture, layout_of
from sparsehub.testing import assert_discovered
from sparsehub_slicegpt import fold_norms, slice_model, sliced_width
from sparsehub_slicegpt.pca import principal_basis
from sparsehub_slicegpt.reproduction import expected_parameters


def _logits(model, tokens):
    with torch.no_grad():
        return model(input_ids=tokens).logits.double()


def _rel(a, b):
    return float((a - b).norm() / a.norm())


def test_plugin_is_discovered_through_its_entry_point():
    assert_discovered("slicegpt", sparsehub_slicegpt.slice_model, sparsehub_slicegpt.reproduce)


def test_folding_norm_scales_keeps_logits_and_sets_norms_to_one(llama, tokens):
    before = _logits(llama, tokens)
    folded = copy.deepcopy(llama)
    fold_norms(folded, layout_of(folded))
    assert _rel(before, _logits(folded, tokens)) < 1e-6
    for name, p in folded.named_parameters():
        if "norm" in name:
            assert torch.all(p == 1), name
    assert folded.lm_head.weight is not folded.model.embed_tokens.weight  # untied


@pytest.mark.parametrize("tied, bias", [(True, True), (False, False)])
def test_rotation_without_deletion_keeps_logits(tied, bias, make_llama, calibration, tokens):
    model = make_llama(tied=tied, bias=bias)
    rotated = slice_model(model, 0.0, calibration=calibration)
    assert rotated.config.hidden_size == model.config.hidden_size
    assert _rel(_logits(model, tokens), _logits(rotated, tokens)) < 1e-4
    # the rotation is not the identity: the embedding really changed
    assert not torch.allclose(rotated.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_input_model_is_left_unchanged(llama, calibration):
    state = {k: v.clone() for k, v in llama.state_dict().items()}
    slice_model(llama, 0.25, calibration=calibration)
    after = llama.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert llama.lm_head.weight is llama.model.embed_tokens.weight
    assert llama.config.hidden_size == 32 and llama.config.tie_word_embeddings


def test_sliced_model_has_the_expected_shapes_and_parameter_count(llama, calibration, tokens):
    sliced = slice_model(llama, 0.25, calibration=calibration)
    assert type(sliced) is type(llama)
    assert sliced.config.hidden_size == 24
    assert sliced.model.layers[0].self_attn.q_proj.weight.shape == (32, 24)
    assert sliced.model.layers[0].self_attn.k_proj.weight.shape == (16, 24)  # GQA outputs kept
    assert sliced.model.layers[0].mlp.down_proj.weight.shape == (24, 64)
    assert sliced.lm_head.weight.shape == (96, 24)
    assert sum(p.numel() for p in sliced.parameters()) == expected_parameters(llama.config, 24)
    assert torch.isfinite(_logits(sliced, tokens)).all()


def test_sliced_norm_over_new_width_equals_weightless_norm_over_original_width(llama, calibration):
    # rms over D' with eps*D/D' and weight sqrt(D/D') == x * rsqrt(sum(x^2)/D + eps)
    model = llama
    sliced = slice_model(model, 0.5, calibration=calibration)
    norm = sliced.model.norm
    x = torch.randn(5, 16, dtype=torch.float64)
    want = x * torch.rsqrt((x * x).sum(-1, keepdim=True) / 32 + model.config.rms_norm_eps)
    got = norm.to(torch.float64)(x)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-7)


def test_sliced_model_round_trips_save_pretrained(llama, calibration, tokens, tmp_path):
    sliced = slice_model(llama, 0.25, calibration=calibration)
    sliced.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert loaded.config.hidden_size == 24
    assert torch.equal(_logits(sliced, tokens), _logits(loaded, tokens))


def test_width_not_a_multiple_of_the_heads_still_saves_and_loads(calibration, tokens, tmp_path):
    # SmolLM2 has 9 heads: D' = 456 at 20 % slicing; the stock LlamaConfig refuses to save that
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=96,
        hidden_size=48,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=3,
        max_position_embeddings=64,
    )
    model = transformers.LlamaForCausalLM(cfg).eval()
    sliced = slice_model(model, 0.25, calibration=calibration)  # 36 -> 32, not a multiple of 3
    assert sliced.config.hidden_size == 32 and not hasattr(sliced.model.layers[0], "attn_shortcut")
    assert sum(p.numel() for p in sliced.parameters()) == expected_parameters(model.config, 32)
    sliced.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert torch.equal(_logits(sliced, tokens), _logits(loaded, tokens))
    mistral = transformers.MistralForCausalLM(
        transformers.MistralConfig(
            **{
                k: v
                for k, v in cfg.to_dict().items()
                if k
                in (
                    "vocab_size",
                    "hidden_size",
                    "intermediate_size",
                    "num_hidden_layers",
                    "num_attention_heads",
                )
            }
        )
    )
    with pytest.raises(ValueError, match=r"fraction.*num_attention_heads"):
        slice_model(mistral, 0.25, calibration=calibration)


def test_sliced_model_can_generate(llama, calibration, tokens):
    sliced = slice_model(llama, 0.25, calibration=calibration)
    out = sliced.generate(tokens[:1, :4], max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 7)


def test_calibration_dicts_with_attention_mask_are_accepted(llama, calibration):
    batches = [{"input_ids": b, "attention_mask": torch.ones_like(b)} for b in calibration]
    sliced = slice_model(llama, 0.25, calibration=batches)
    assert sliced.config.hidden_size == 24


@pytest.mark.parametrize(
    "d, fraction, want", [(576, 0.25, 432), (576, 0.0, 576), (128, 0.3, 88), (32, 0.1, 24), (4096, 0.3, 2864)]
)
def test_sliced_width_rounds_down_to_a_multiple_of_8(d, fraction, want):
    assert sliced_width(d, fraction) == want


def test_principal_basis_matches_numpy_eigh_and_is_orthogonal():
    np = pytest.importorskip("numpy")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 12, generator=gen, dtype=torch.float64) * torch.linspace(
        0.1, 3, 12, dtype=torch.float64
    )
    h = x.t() @ x
    q = principal_basis(h)
    assert torch.allclose(q.t() @ q, torch.eye(12, dtype=torch.float64), atol=1e-12)
    damped = h.numpy() + 0.01 * np.trace(h.numpy()) / 12 * np.eye(12)
    values = np.sort(np.linalg.eigvalsh(damped))[::-1]
    rayleigh = np.einsum("ij,jk,ki->i", q.t().numpy(), damped, q.numpy())
    assert np.allclose(rayleigh, values, rtol=1e-10)


def test_no_rotation_baseline_keeps_highest_energy_coordinates():
    h = torch.diag(torch.tensor([1.0, 5.0, 3.0], dtype=torch.float64))
    q = principal_basis(h, rotation="none")
    assert torch.equal(q[:, 0], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.equal(q[:, 1], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


# --- bad input: a clear error, raised before anything is changed ------------------------------------


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, math.nan, "0.25", True, None])
def test_fraction_outside_0_1_is_rejected(llama, calibration, fraction):
    with pytest.raises(ValueError, match="fraction"):
        slice_model(llama, fraction, calibration=calibration)


def test_fraction_that_deletes_every_dimension_is_rejected(llama, calibration):
    with pytest.raises(ValueError, match="fraction"):
        slice_model(llama, 0.8, calibration=calibration)  # 32 * 0.2 = 6 -> 0 after rounding to 8


@pytest.mark.parametrize(
    "bad",
    [
        [],
        torch.ones(2, 4),
        [torch.ones(2, 4)],
        [torch.ones(4, dtype=torch.long)],
        [torch.full((2, 4), 500)],
        "text",
        [{"ids": torch.ones(2, 4).long()}],
    ],
)
def test_bad_calibration_is_rejected_naming_it(llama, bad):
    state = {k: v.clone() for k, v in llama.state_dict().items()}
    with pytest.raises((ValueError, TypeError), match="calibration"):
        slice_model(llama, 0.25, calibration=bad)
    assert all(torch.equal(v, llama.state_dict()[k]) for k, v in state.items())


def test_unknown_rotation_is_rejected(llama, calibration):
    with pytest.raises(ValueError, match="rotation"):
        slice_model(llama, 0.25, calibration=calibration, rotation="random")


def test_post_layernorm_bert_is_rejected_with_the_reason(make_other, calibration):
    with pytest.raises(UnsupportedArchitecture, match=r"post-LayerNorm.*invariance"):
        slice_model(make_other("bert"), 0.25, calibration=calibration)


@pytest.mark.parametrize("overrides", [{"do_layer_norm_before": False}, {"word_embed_proj_dim": 16}])
def test_post_layernorm_or_projected_opt_is_rejected(overrides, make_other, calibration):
    model = make_other("opt", **overrides)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    match = "post-LayerNorm.*invariance" if "do_layer_norm_before" in overrides else "word_embed_proj_dim"
    with pytest.raises(UnsupportedArchitecture, match=match):
        slice_model(model, 0.25, calibration=calibration)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_layernorm_decoder_body_without_head_is_rejected(make_other, calibration):
    with pytest.raises(UnsupportedArchitecture, match="no LM head"):
        slice_model(make_other("gpt2").transformer, 0.25, calibration=calibration)


# --- pre-LayerNorm decoders (OPT, GPT-2): centring + folding, sliced_models classes ------------------


@pytest.mark.parametrize(
    "family, overrides",
    [
        ("opt", {}),
        ("gpt2", {}),
        ("opt", {"enable_bias": False}),
        ("opt", {"layer_norm_elementwise_affine": False}),
        ("gpt2", {"n_inner": 48, "activation_function": "relu"}),
    ],
)
def test_layernorm_decoders_rotation_without_deletion_keeps_logits(
    family, overrides, make_other, calibration, tokens
):
    model = make_other(family, **overrides)
    rotated = slice_model(model, 0.0, calibration=calibration)
    assert _rel(_logits(model, tokens), _logits(rotated, tokens)) < 1e-4
    assert sum(p.numel() for p in slice_model(model, 0.25, calibration=calibration).parameters()) == (
        expected_parameters(model.config, 24)
    )
    embed = rotated.get_input_embeddings().weight
    assert embed.shape == model.get_input_embeddings().weight.shape
    assert not torch.allclose(embed, model.get_input_embeddings().weight)  # really rotated


@pytest.mark.parametrize("family", ["opt", "gpt2"])
def test_layernorm_decoders_sliced_parameter_count_and_round_trip(
    family, make_other, calibration, tokens, tmp_path
):
    model = make_other(family)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sliced = slice_model(model, 0.25, calibration=calibration)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # input untouched
    assert sliced.config.sliced_hidden_size == 24 and sliced.config.hidden_size == 32
    assert sum(p.numel() for p in sliced.parameters()) == expected_parameters(model.config, 24)
    assert sliced.get_input_embeddings().weight.shape == (96, 24)
    logits = _logits(sliced, tokens)
    assert torch.isfinite(logits).all()
    sliced.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(sliced)
    assert torch.equal(logits, _logits(loaded, tokens))
    assert sliced.generate(tokens[:1, :4], max_new_tokens=3, do_sample=False).shape == (1, 7)


@pytest.mark.parametrize("family", ["opt", "gpt2"])
def test_layernorm_decoders_slicing_keeps_most_of_the_function(family, make_other, calibration, tokens):
    # PCA keeps the high-variance directions: deleting 25 % changes the logits less than the ablation
    model = make_other(family)
    both = sparsehub_slicegpt.slice_variants(model, 0.25, calibration=calibration)
    dense = _logits(model, tokens)
    assert _rel(dense, _logits(both["pca"], tokens)) < _rel(dense, _logits(both["none"], tokens))


def test_fold_layernorms_makes_layernorm_an_rmsnorm(make_other, tokens):
    from sparsehub_slicegpt.slicing import _layernorm_state

    model = make_other("opt")
    layout = layout_of(model)
    state = _layernorm_state(model, layout)
    # centred writers: every output column of o/down and every embedding row sums to zero
    for index in range(len(layout)):
        for writer in layout.writers(index).values():
            assert state[f"{writer}.weight"].sum(0).abs().max() < 1e-12
    for name in layout.embeddings:
        assert state[f"{name}.weight"].sum(1).abs().max() < 1e-12
    assert all(f"{n}.bias" not in state for n in sparsehub_slicegpt.invariance.norm_names(layout))


def test_unknown_architecture_is_rejected_naming_the_class(calibration):
    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        slice_model(torch.nn.Sequential(torch.nn.Linear(4, 4)), 0.25, calibration=calibration)


# --- per-block bases (the paper's Q_ℓ per site with shortcut matrices) --------------------------------


def test_per_block_rotation_without_deletion_keeps_logits_and_round_trips(
    llama, calibration, tokens, tmp_path
):
    rotated = slice_model(llama, 0.0, calibration=calibration, basis="block")
    assert _rel(_logits(llama, tokens), _logits(rotated, tokens)) < 1e-4
    sliced = slice_model(llama, 0.25, calibration=calibration, basis="block")
    shortcut = sliced.model.layers[0].attn_shortcut.weight
    assert shortcut.shape == (24, 24) and not torch.allclose(shortcut, torch.eye(24))  # bases really differ
    n_shortcuts = 2 * llama.config.num_hidden_layers * 24 * 24
    assert sum(p.numel() for p in sliced.parameters()) == expected_parameters(llama.config, 24) + n_shortcuts
    sliced.save_pretrained(tmp_path)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(sliced)
    assert torch.equal(_logits(sliced, tokens), _logits(loaded, tokens))
    assert torch.equal(_logits(sliced, tokens), _logits(copy.deepcopy(sliced), tokens))  # hooks follow copies
    # cached greedy decoding (the hooks see one new token per step) equals argmax over full forwards
    ids = tokens[:1, :4]
    for _ in range(3):
        with torch.no_grad():
            step = loaded(input_ids=ids, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, step], dim=1)
    assert torch.equal(loaded.generate(tokens[:1, :4], max_new_tokens=3, do_sample=False), ids)


def test_per_block_shortcut_equals_change_of_basis_between_sites(llama, calibration):
    # with nothing deleted, each shortcut Q_aᵀQ_b is orthogonal
    rotated = slice_model(llama, 0.0, calibration=calibration, basis="block")
    for layer in rotated.model.layers:
        for s in (layer.attn_shortcut.weight, layer.mlp_shortcut.weight):
            assert torch.allclose(s @ s.t(), torch.eye(32), atol=1e-5)


def test_per_block_bases_are_the_principal_axes_of_the_sliced_models_own_signals(llama, calibration):
    # sequential calibration (official rotate_and_slice_sequential): each site's basis is the PCA of
    # the signal of the already sliced model, so in the sliced model every site's covariance is diagonal
    sliced = slice_model(llama, 0.25, calibration=calibration, basis="block")
    covs = {}

    def hook(name):
        def grab(module, args):
            x = args[0].detach().double().reshape(-1, args[0].shape[-1])
            covs[name] = covs.get(name, 0) + x.t() @ x

        return grab

    norms = [n for n, m in sliced.named_modules() if n.endswith("layernorm") or n == "model.norm"]
    handles = [sliced.get_submodule(n).register_forward_pre_hook(hook(n)) for n in norms]
    with torch.no_grad():
        for batch in calibration:
            sliced(input_ids=batch)
    for h in handles:
        h.remove()
    assert len(covs) == 2 * llama.config.num_hidden_layers + 1
    for name, c in covs.items():
        off = c - torch.diag(torch.diagonal(c))
        assert off.abs().max() < 1e-4 * torch.diagonal(c).max(), name
        assert torch.all(torch.diagonal(c)[:-1] >= torch.diagonal(c)[1:] * (1 - 1e-6)), name  # sorted


@pytest.mark.parametrize("family", ["opt", "gpt2"])
def test_per_block_basis_is_rejected_outside_llama(family, make_other, calibration):
    with pytest.raises(ValueError, match="basis"):
        slice_model(make_other(family), 0.25, calibration=calibration, basis="block")


def test_unknown_basis_is_rejected(llama, calibration):
    with pytest.raises(ValueError, match="basis"):
        slice_model(llama, 0.25, calibration=calibration, basis="layer")


def test_slice_variants_equal_separate_calls(llama, calibration, tokens):
    both = sparsehub_slicegpt.slice_variants(llama, 0.25, calibration=calibration)
    for rotation, model in both.items():
        alone = slice_model(llama, 0.25, calibration=calibration, rotation=rotation)
        assert torch.equal(_logits(model, tokens), _logits(alone, tokens)), rotation
