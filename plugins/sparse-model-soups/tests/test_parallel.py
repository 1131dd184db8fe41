"""Ingredients in worker processes: the same soup, bit for bit, as ingredients run one after another."""

import torch

from sparsehub.nn.fixtures import digits, tiny_cnn
from sparsehub_sparse_model_soups import SparseModelSoup


def test_two_worker_processes_give_a_bit_identical_soup_to_one_process():
    X, y, X_test, y_test = digits(image=True)
    model = tiny_cnn(channels=(4, 8), seed=0)
    data, val = (X[:256], y[:256]), (X_test[:128], y_test[:128])
    kwargs = {"n_ingredients": 3, "n_phases": 2, "retrain_epochs": 1, "lr": 0.05, "seed": 7}
    serial = SparseModelSoup(0.8, n_jobs=1, **kwargs)
    parallel = SparseModelSoup(0.8, n_jobs=2, **kwargs)
    a, b = serial.fit(model, data, val), parallel.fit(model, data, val)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert [h["ingredient_scores"] for h in serial.history_] == [h["ingredient_scores"] for h in parallel.history_]
