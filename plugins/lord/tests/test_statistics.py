"""block_grams against Gram matrices formed from captured activations (random 2-block Llama)."""

import pytest

torch = pytest.importorskip("torch")

from sparsehub.nn.calibration import sequential_blocks  # noqa: E402
from sparsehub_lord.statistics import block_grams  # noqa: E402


def test_grams_match_captured_activations_and_shared_inputs_share_one_matrix(make_model, calibration):
    model = make_model("llama")
    step = next(iter(sequential_blocks(model, calibration)))
    roles = {n.rsplit(".", 1)[-1]: n for n in step.linears}
    inputs = [roles[r] for r in ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")]
    outputs = [roles["down_proj"], roles["o_proj"]]
    captured = {n: [] for n in (*inputs, *outputs)}

    def keep(name):
        def hook(module, args, output):
            t = output if name in outputs else args[0]
            captured[name].append(t.reshape(-1, t.shape[-1]).double())

        return hook

    hooks = [step.linears[n].register_forward_hook(keep(n)) for n in captured]
    grams = block_grams(step, inputs, outputs)
    for h in hooks:
        h.remove()
    for name, rows in captured.items():
        x = torch.cat(rows)
        assert torch.allclose(grams[name], x.T @ x, rtol=1e-10, atol=1e-10), name
    assert grams[roles["q_proj"]] is grams[roles["k_proj"]] is grams[roles["v_proj"]]
    assert grams[roles["gate_proj"]] is grams[roles["up_proj"]]
    assert grams[roles["gate_proj"]] is not grams[roles["q_proj"]]


def test_output_gram_leaves_the_bias_out(make_model, calibration):
    model = make_model("gpt2")  # Conv1D layers with biases
    step = next(iter(sequential_blocks(model, calibration)))
    name = next(n for n in step.linears if n.endswith("mlp.c_proj"))
    layer = step.linears[name]
    with torch.no_grad():
        layer.bias.fill_(3.0)
    rows = []
    hook = layer.register_forward_hook(lambda m, a, o: rows.append(a[0].reshape(-1, a[0].shape[-1]).double()))
    gram = block_grams(step, [], [name])[name]
    hook.remove()
    y = torch.cat(rows) @ layer.weight.double()  # Conv1D: y = x W + b, W (in, out)
    assert torch.allclose(gram, y.T @ y, rtol=1e-6, atol=1e-6)
