"""The toy IOI task: balanced prompts, counterfactual pairs that differ in one attribute, a working model."""

import numpy as np
import pytest
import torch


def test_prompts_are_balanced_and_never_repeat_a_name(task):
    labels = task.prompts(2, 0)
    assert len(labels["IO"]) == 16 * 15 * 2 * 2
    assert (labels["IO"] != labels["S"]).all()
    assert set(np.bincount(labels["IO"]).tolist()) == {60}
    assert set(np.bincount(labels["Pos"]).tolist()) == {480}


@pytest.mark.parametrize("attr", ["IO", "S"])
def test_edit_pairs_change_one_attribute_only(task, attr):
    labels = task.prompts(1, 1)
    pairs = task.edit_pairs(labels, task.noise(len(labels["IO"]), 2), attr, 3)
    src, tgt = pairs["source_labels"], pairs["target_labels"]
    assert (src[attr] != tgt[attr]).all() and (tgt["IO"] != tgt["S"]).all()
    for other in {"IO", "S", "Pos"} - {attr}:
        assert np.array_equal(src[other], tgt[other])
    diff = pairs["target"] - pairs["source"]
    expected = task.alpha[attr] * (task.directions[attr][tgt[attr]] - task.directions[attr][src[attr]])
    assert torch.allclose(diff, expected, atol=1e-5)


def test_frozen_model_solves_the_task(task):
    labels = task.prompts(1, 4)
    h = task.activations(labels, task.noise(len(labels["IO"]), 5))
    out = task.logits(h)
    assert (out.argmax(1).numpy() == labels["IO"]).mean() > 0.99
    assert (out.argmin(1).numpy() == labels["S"]).mean() > 0.99
    assert (task.logit_diff_fn(labels)(h) > 0).all()
    assert not any(p.requires_grad for p in task.model.parameters())


def test_bad_toy_arguments():
    from sparsehub_sae_supervised_eval import toy_ioi

    with pytest.raises(ValueError, match="n_names"):
        toy_ioi(n_names=2)
    with pytest.raises(ValueError, match="attr"):
        toy_ioi(train_steps=1).edit_pairs({"IO": [0], "S": [1], "Pos": [0]}, torch.zeros(1, 64), "Pos", 0)
