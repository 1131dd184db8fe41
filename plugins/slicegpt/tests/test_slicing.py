"""slice_model: invariance, deletion, save/load, the untouched input, and bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import transformers

import sparsehub_slicegpt
from sparsehub.discovery import Plugins
from sparsehub.nn.layout import UnsupportedArchitecture, layout_of
from sparsehub_slicegpt import fold_norms, slice_model, sliced_width
from sparsehub_slicegpt.pca import principal_basis
from sparsehub_slicegpt.reproduction import expected_parameters


def _logits(model, tokens):
    with torch.no_grad():
        return model(input_ids=tokens).logits.double()


def _rel(a, b):
    return float((a - b).norm() / a.norm())


def test_plugin_is_discovered_through_its_entry_point():
    found = Plugins.discover()
    assert "slicegpt" in found.methods(), found.errors
    _, spec = found.methods()["slicegpt"]
    assert spec.load() is sparsehub_slicegpt.slice_model
    assert spec.load_reproduce() is sparsehub_slicegpt.reproduce


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


def test_sliced_model_can_generate(llama, calibration, tokens):
    sliced = slice_model(llama, 0.25, calibration=calibration)
    out = sliced.generate(tokens[:1, :4], max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 7)


def test_calibration_dicts_with_attention_mask_are_accepted(llama, calibration):
    batches = [{"input_ids": b, "attention_mask": torch.ones_like(b)} for b in calibration]
    sliced = slice_model(llama, 0.25, calibration=batches)
    assert sliced.config.hidden_size == 24


@pytest.mark.parametrize("d, fraction, want", [(576, 0.25, 432), (576, 0.0, 576), (128, 0.3, 88),
                                               (32, 0.1, 24), (4096, 0.3, 2864)])
def test_sliced_width_rounds_down_to_a_multiple_of_8(d, fraction, want):
    assert sliced_width(d, fraction) == want


def test_principal_basis_matches_numpy_eigh_and_is_orthogonal():
    np = pytest.importorskip("numpy")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 12, generator=gen, dtype=torch.float64) * torch.linspace(0.1, 3, 12, dtype=torch.float64)
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


@pytest.mark.parametrize("bad", [[], torch.ones(2, 4), [torch.ones(2, 4)], [torch.ones(4, dtype=torch.long)],
                                 [torch.full((2, 4), 500)], "text", [{"ids": torch.ones(2, 4).long()}]])
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


@pytest.mark.parametrize("family", ["opt", "gpt2"])
def test_layernorm_decoders_are_rejected_with_the_reason(family, make_other, calibration):
    model = make_other(family)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnsupportedArchitecture, match="LayerNorm"):
        slice_model(model, 0.25, calibration=calibration)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_unknown_architecture_is_rejected_naming_the_class(calibration):
    with pytest.raises(UnsupportedArchitecture, match="Sequential"):
        slice_model(torch.nn.Sequential(torch.nn.Linear(4, 4)), 0.25, calibration=calibration)


def test_slice_variants_equal_separate_calls(llama, calibration, tokens):
    both = sparsehub_slicegpt.slice_variants(llama, 0.25, calibration=calibration)
    for rotation, model in both.items():
        alone = slice_model(llama, 0.25, calibration=calibration, rotation=rotation)
        assert torch.equal(_logits(model, tokens), _logits(alone, tokens)), rotation
