"""The token–feature allocations of paper 23 (§3): who fires, given a batch's score matrix.

For a batch of B tokens and F features, the SAE picks a 0/1 matching M ⊆ B × F maximising
Σ M ⊙ ReLU(pre) under a total budget of k·B active entries:

* TopK — at most k per token (row): :func:`sparsehub.sae.topk_codes`;
* Feature Choice — at most m_i tokens per feature (column i): :func:`feature_choice_codes`,
  with capacities from :func:`uniform_capacities` (m = kB/F) or :func:`zipf_capacities`;
* Mutual Choice — only the global budget: the top k·B entries of the whole matrix
  (:func:`mutual_choice_codes`, the same rule as SAELens's BatchTopK).

Every function takes ``values`` (what a selected entry carries, ReLU'd) and ``scores`` (who is
selected); pass the same tensor twice for the paper's SAEs. Ties are broken by torch.topk; the
counts are exact either way.
"""

from __future__ import annotations

import torch

from sparsehub.errors import ShapeError, bad_value

__all__ = ["feature_choice_codes", "mutual_choice_codes", "uniform_capacities", "zipf_capacities"]


def _budget(k: float, n_tokens: int, d_sae: int) -> int:
    if not (isinstance(k, (int, float)) and not isinstance(k, bool) and 0 < k <= d_sae):
        raise bad_value("k", k, f"a number in (0, {d_sae}] (k·B cannot exceed B·F, F = d_sae)")
    return int(k * n_tokens)


def mutual_choice_codes(values: torch.Tensor, scores: torch.Tensor, k: float, *,
                        chunk_elements: int = 1 << 18) -> torch.Tensor:
    """Mutual Choice: keep the top ⌊k·B⌋ entries of ReLU(scores) over the whole [B, F] matrix.

    ``values``, ``scores`` [B, F] -> codes [B, F] with exactly ⌊k·B⌋ selected entries (their
    ReLU'd values; a selected zero stays zero). The same entries as SAELens's BatchTopK
    (``topk`` of the flattened ReLU'd matrix), computed without a dense copy of the score
    matrix: blocks of rows (about ``chunk_elements`` entries, at least two budgets) are visited
    in turn and a running pool of the best ⌊k·B⌋ candidates is merged with each block's own top
    ⌊k·B⌋ (every global winner is a winner of its block). Extra memory: one block, two pools of
    ⌊k·B⌋ entries and the output codes.
    """
    if values.ndim != 2 or scores.shape != values.shape:
        raise bad_value("scores.shape", tuple(scores.shape), f"a 2-D [B, F] matrix equal to values {tuple(values.shape)}",
                        ShapeError)
    n_tokens, d_sae = values.shape
    budget = _budget(k, n_tokens, d_sae)
    codes = torch.zeros_like(values)
    if budget == 0:
        return codes
    rows = max(1, min(n_tokens, max(chunk_elements, 2 * budget) // d_sae))
    pool_values: torch.Tensor | None = None
    pool_index: torch.Tensor | None = None
    for start in range(0, n_tokens, rows):
        block = scores[start:start + rows].relu().flatten()
        top = block.topk(min(budget, block.numel()), sorted=False)
        index = top.indices + start * d_sae
        if pool_values is None:
            pool_values, pool_index = top.values, index
            continue
        merged_values = torch.cat((pool_values, top.values))
        keep = merged_values.topk(min(budget, merged_values.numel()), sorted=False).indices
        pool_values, pool_index = merged_values[keep], torch.cat((pool_index, index))[keep]
    assert pool_values is not None and pool_index is not None
    if values is not scores:
        pool_values = values.flatten().gather(0, pool_index).relu()
    codes.view(-1).scatter_(0, pool_index, pool_values)
    return codes


def feature_choice_codes(values: torch.Tensor, scores: torch.Tensor, capacities: torch.Tensor) -> torch.Tensor:
    """Feature Choice: feature i takes its top-m_i tokens of the batch (column-wise top-k).

    ``capacities`` m [F] ints in [0, B]. Returns codes [B, F] with exactly m_i selected entries
    in column i, so a token may get any number of features and every feature with m_i > 0 fires
    whenever its pre-activations are positive: none can die.
    """
    if values.ndim != 2 or scores.shape != values.shape:
        raise bad_value("scores.shape", tuple(scores.shape), f"a 2-D [B, F] matrix equal to values {tuple(values.shape)}",
                        ShapeError)
    n_tokens, d_sae = values.shape
    if capacities.shape != (d_sae,):
        raise bad_value("capacities.shape", tuple(capacities.shape), f"({d_sae},)", ShapeError)
    top = int(capacities.max()) if d_sae else 0
    if int(capacities.min()) < 0 or top > n_tokens:
        raise bad_value("capacities", f"<range [{int(capacities.min())}, {top}]>",
                        f"per-feature capacities m_i in [0, B={n_tokens}]")
    out = torch.zeros_like(values)
    if top == 0:
        return out
    idx = scores.topk(top, dim=0, sorted=True).indices  # [top, F]: row r is each column's (r+1)-th best token
    keep = torch.arange(top, device=values.device)[:, None] < capacities.to(values.device)[None, :]
    picked = values.gather(0, idx).relu() * keep
    return out.scatter(0, idx, picked)


def _largest_remainder(shares: torch.Tensor, total: int, cap: int) -> torch.Tensor:
    """Integers m_i ≤ cap, Σ m_i = total, as close as possible to ``shares`` (Σ shares = total)."""
    shares = shares.double().clone()
    for _ in range(shares.numel()):  # clip at the cap, hand the excess to the others in proportion
        over = shares > cap
        if not bool(over.any()):
            break
        excess = float((shares[over] - cap).sum())
        shares[over] = cap
        free = shares < cap
        shares[free] += excess * shares[free] / shares[free].sum()
    base = shares.floor().clamp(max=cap)
    left = total - int(base.sum())
    if left > 0:  # largest fractional parts first; index order breaks ties (stable sort)
        order = torch.argsort(-(shares - base), stable=True)
        room = (base[order] < cap)
        order = order[room][:left]
        base[order] += 1
    return base.long()


def uniform_capacities(n_tokens: int, d_sae: int, k: float) -> torch.Tensor:
    """m_i = k·B/F for every feature, rounded so that Σ m_i = ⌊k·B⌋ exactly (lower indices take the remainder)."""
    budget = _budget(k, n_tokens, d_sae)
    return _largest_remainder(torch.full((d_sae,), budget / d_sae), budget, n_tokens)


def zipf_capacities(n_tokens: int, k: float, usage: torch.Tensor, exponent: float) -> torch.Tensor:
    """Zipf-shaped capacities: m_i ∝ rank_i^−s by usage (most used = rank 1), Σ m_i = ⌊k·B⌋, m_i ≤ B.

    ``usage`` [F] a firing-frequency estimate (EMA); ties keep index order. With s = 0 this is
    the uniform rule.
    """
    d_sae = usage.numel()
    if not exponent >= 0:
        raise bad_value("zipf_exponent", exponent, "a float >= 0")
    budget = _budget(k, n_tokens, d_sae)
    order = torch.argsort(-usage.double(), stable=True)
    shape = torch.arange(1, d_sae + 1, dtype=torch.float64).pow(-float(exponent))
    by_rank = _largest_remainder(shape * (budget / shape.sum()), budget, n_tokens)
    out = torch.empty(d_sae, dtype=torch.long)
    out[order] = by_rank
    return out
