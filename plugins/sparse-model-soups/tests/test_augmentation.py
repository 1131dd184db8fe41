"""Random +-1 pixel shifts: every image is its input moved by one of the 9 offsets, zeros filling in."""

import pytest
import torch

from sparsehub.nn.fixtures import digits, tiny_cnn
from sparsehub.nn.masking import attach
from sparsehub_sparse_model_soups import RetrainSetting, magnitude_masks
from sparsehub_sparse_model_soups.augmentation import random_shifts, train_with_shifts


def _shifted(image, dy, dx):
    """Brute-force oracle: pixel (i, j) of the result is pixel (i + dy, j + dx) of the input, or 0."""
    h, w = image.shape[-2:]
    out = torch.zeros_like(image)
    for i in range(h):
        for j in range(w):
            if 0 <= i + dy < h and 0 <= j + dx < w:
                out[..., i, j] = image[..., i + dy, j + dx]
    return out


def test_every_image_is_its_input_moved_by_at_most_one_pixel_and_all_offsets_occur():
    x = torch.rand(60, 1, 8, 8)
    out = random_shifts(x, torch.Generator().manual_seed(0))
    seen = set()
    for a, b in zip(x, out):
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(_shifted(a, dy, dx), b)]
        assert offsets, "not a one-pixel shift of its input"
        seen.update(offsets)
    assert len(seen) == 9


def test_shifts_are_reproducible_from_the_generator():
    x = torch.rand(10, 1, 8, 8)
    a = random_shifts(x, torch.Generator().manual_seed(3))
    b = random_shifts(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(random_shifts(x, torch.Generator(), max_shift=0), x)


def test_training_with_shifts_keeps_the_mask_and_is_deterministic():
    X, y, _, _ = digits(image=True)
    results = []
    for _ in range(2):
        model = tiny_cnn(channels=(4, 8), seed=0)
        masks = magnitude_masks({"4.weight": model[4].weight.detach()}, 0.7)
        masking = attach(model, masks)
        train_with_shifts(model, masking, RetrainSetting(seed=1, lr=0.1, epochs=2), (X[:200], y[:200]))
        assert (model[4].weight[~masks["4.weight"].to_torch()] == 0).all()
        results.append(model[9].weight.detach().clone())
    assert torch.equal(results[0], results[1])


def test_images_that_are_not_four_dimensional_are_rejected():
    with pytest.raises(ValueError, match="images="):
        random_shifts(torch.rand(5, 64), torch.Generator())
    with pytest.raises(ValueError, match="max_shift=-1"):
        random_shifts(torch.rand(5, 1, 8, 8), torch.Generator(), max_shift=-1)
