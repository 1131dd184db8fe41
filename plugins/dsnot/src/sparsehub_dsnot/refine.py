"""DSnoT's per-layer mask refinement: swap pruned and kept weights row by row, no weight update.

Paper: Zhang et al. 2024, "Dynamic Sparse No Training" (ICLR), Sec. 3 / Algorithm 1; constants
and tie rules from the official code (``zyxxmu/DSnoT`` ``lib/prune.py``, ``prune_DSnoT``).

For a layer W (out, in) with calibration inputs x, the expected output lost by row i is
``e_i = Σ_{j pruned} W_ij · E[x_j]`` (the reconstruction-error proxy, in the official code's
units: E[x_j] is the per-sequence *sum* of the input over its tokens, i.e. mean x length). While
``|e_i| > update_threshold`` and fewer than ``max_cycles`` cycles ran, each row swaps one pair:

* **grow** the pruned weight j that cancels the error best, ranked by
  ``W_ij E[x_j] / Var[x_j]^var_power`` (the largest if e_i > 0, the smallest if e_i <= 0): the
  expected change of the reconstruction error, preferring low-variance inputs;
* **prune** (unstructured) the kept weight with the smallest Wanda score ``|W_ij| ‖x_j‖₂`` among
  those whose contribution W_ij E[x_j] has the sign opposite to e_i, so that removing it also
  pushes e_i towards 0; (N:M) the kept weight of lowest initial score in the grown weight's group
  of m, so every group keeps exactly n.

``e_i <- e_i + W_ip E[x_p] - W_ig E[x_g]``. Rows are processed together (vectorised), each with
its own pointers into its candidate lists. A row makes at most ``max_cycles`` swaps, so only the
``max_cycles`` best candidates at each end of each list can be used: top-k selections replace the
official full sorts (same picks, ties aside). Every row keeps its number of kept weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RefineResult", "expected_error", "refine_nm", "refine_unstructured"]

_VAR_EPS = 1e-12  # inputs of zero variance (constant channels) would divide by zero


@dataclass
class RefineResult:
    """The refined keep mask (out, in) and what the loop did.

    ``error_before`` / ``error_after``: mean over rows of |e_i| before and after (float64, in the
    units of ``expected``); ``cycles``: cycles run; ``swaps``: grow/prune pairs applied (all rows).
    """

    keep: torch.Tensor
    error_before: float
    error_after: float
    cycles: int
    swaps: int


def expected_error(weight: torch.Tensor, expected: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """e_i = Σ_{j pruned} W_ij · expected_j per output row (out,), float64."""
    contribution = weight.detach().to(torch.float64) * expected.to(torch.float64)[None, :]
    return (contribution * (~keep)).sum(1)


def _grow_ends(contribution: torch.Tensor, var: torch.Tensor, keep: torch.Tensor, var_power: float, k: int):
    """Both ends of each row's growing list, ranked by W_ij E[x_j] / Var_j^p over the pruned positions.

    A row makes at most ``max_cycles`` swaps, so only the ``k = max_cycles`` largest (taken when
    e_i > 0) and smallest (e_i <= 0) candidates can ever be used: two top-k selections instead of
    the official full sort. ``contribution`` is float32 (ranking only). Returns (largest first,
    smallest first).
    """
    var = var.to(torch.float32).clamp_min(_VAR_EPS)
    metric = contribution / var[None, :] ** var_power if var_power else contribution
    top = torch.topk(torch.where(keep, -float("inf"), metric), k, dim=1).indices
    bottom = torch.topk(torch.where(keep, float("inf"), metric), k, dim=1, largest=False).indices
    return top, bottom


@dataclass
class _Start:
    """What both refinement loops start from: the mask copy, the ranked grow candidates, e_i."""

    keep: torch.Tensor  # a private copy, changed in place by the loop
    rows: torch.Tensor
    k: int  # candidates kept per list: a row makes at most max_cycles swaps
    w: torch.Tensor  # float32 weights (ranking)
    wd: torch.Tensor  # weights in the precision of the error updates
    expected64: torch.Tensor
    contribution: torch.Tensor  # float32 W_ij E[x_j] (ranking)
    error: torch.Tensor  # float64 e_i
    n_grow: torch.Tensor  # pruned weights per row: the grow list's length
    top: torch.Tensor  # grow candidates, largest ratio first
    bottom: torch.Tensor  # grow candidates, smallest ratio first

    def grown(self, from_top: torch.Tensor, t_top: torch.Tensor, t_bottom: torch.Tensor) -> torch.Tensor:
        """Each row's next grow candidate, from the top end where ``from_top`` else the bottom end."""
        k, rows = self.k, self.rows
        return torch.where(
            from_top, self.top[rows, t_top.clamp(max=k - 1)], self.bottom[rows, t_bottom.clamp(max=k - 1)]
        )

    def change(self, g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """The change of e_i when row i grows g and prunes p: W_ip E[x_p] - W_ig E[x_g] (float64)."""
        wd, e, rows = self.wd, self.expected64, self.rows
        return (wd[rows, p] * e[p] - wd[rows, g] * e[g]).to(torch.float64)


def _setup(
    weight: torch.Tensor,
    expected: torch.Tensor,
    var: torch.Tensor,
    keep: torch.Tensor,
    var_power: float,
    max_cycles: int,
) -> _Start:
    """float32 weights and contributions for ranking; float64 E[x] and start error e_i for the updates."""
    out_f, in_f = keep.shape
    k = min(max_cycles, in_f)
    w = weight.detach().to(torch.float32)
    expected64 = expected.to(torch.float64)
    contribution = w * expected64.to(torch.float32)[None, :]
    error = torch.mv(torch.where(keep, 0.0, weight.detach()).to(torch.float64), expected64)
    wd = weight.detach().to(torch.float64) if weight.dtype != torch.float32 else weight.detach()
    top, bottom = _grow_ends(contribution, var, keep, var_power, k)
    return _Start(
        keep.clone(),
        torch.arange(out_f),
        k,
        w,
        wd,
        expected64,
        contribution,
        error,
        in_f - keep.sum(1),
        top,
        bottom,
    )


def _unchanged(weight: torch.Tensor, expected: torch.Tensor, keep: torch.Tensor) -> RefineResult:
    e = float(expected_error(weight, expected, keep).abs().mean())
    return RefineResult(keep.clone(), e, e, 0, 0)


def refine_unstructured(
    weight: torch.Tensor,
    expected: torch.Tensor,
    var: torch.Tensor,
    norm: torch.Tensor,
    keep: torch.Tensor,
    *,
    max_cycles: int = 50,
    update_threshold: float = 0.1,
    var_power: float = 1.0,
    stop_on_sign_flip: bool = False,
) -> RefineResult:
    """Refine an unstructured keep mask (out, in) of ``weight`` (out, in); the mask is not modified.

    ``expected`` (in,): E[x_j] in the threshold's units (per-sequence sum, see the module doc);
    ``var`` (in,): Var[x_j]; ``norm`` (in,): ‖x_j‖₂ (Wanda's factor, ranks the prune candidates).
    A row stops when |e_i| <= ``update_threshold``, when ``stop_on_sign_flip`` and the swap would
    flip the sign of e_i relative to its start, or when a candidate list it needs is exhausted.
    Ties between equal scores are taken in an unspecified order.
    """
    if max_cycles == 0:
        return _unchanged(weight, expected, keep)
    st = _setup(weight, expected, var, keep, var_power, max_cycles)
    keep, rows, k, contribution, error, n_grow = st.keep, st.rows, st.k, st.contribution, st.error, st.n_grow
    out_f = keep.shape[0]
    start = error.clone()
    wanda = st.w.abs() * norm.to(torch.float32)[None, :]
    # prune candidates: kept weights of positive / negative contribution, each by ascending Wanda score
    pos_ok, neg_ok = keep & (contribution > 0), keep & (contribution < 0)
    pos = torch.topk(torch.where(pos_ok, wanda, float("inf")), k, dim=1, largest=False).indices
    neg = torch.topk(torch.where(neg_ok, wanda, float("inf")), k, dim=1, largest=False).indices
    n_pos, n_neg = pos_ok.sum(1), neg_ok.sum(1)
    t_top = torch.zeros(out_f, dtype=torch.long)  # grow candidates taken from each end
    t_bottom = torch.zeros(out_f, dtype=torch.long)
    i_pos = torch.zeros(out_f, dtype=torch.long)
    i_neg = torch.zeros(out_f, dtype=torch.long)
    active = torch.ones(out_f, dtype=torch.bool)
    cycles = swaps = 0
    while cycles < max_cycles:
        from_top = error > 0  # e > 0: grow the largest ratio, prune a negative contribution
        need_pos = error < 0
        exhausted = (t_top + t_bottom >= n_grow) | torch.where(need_pos, i_pos >= n_pos, i_neg >= n_neg)
        active &= ~exhausted & (error.abs() > update_threshold)
        if not bool(active.any()):
            break
        cycles += 1
        g = st.grown(from_top, t_top, t_bottom)
        p = torch.where(need_pos, pos[rows, i_pos.clamp(max=k - 1)], neg[rows, i_neg.clamp(max=k - 1)])
        after = error + st.change(g, p)
        if stop_on_sign_flip:
            active &= torch.sign(after) == torch.sign(start)
        r = rows[active]
        keep[r, g[active]] = True
        keep[r, p[active]] = False
        swaps += int(r.numel())
        error = torch.where(active, after, error)
        step = active.long()
        t_top = t_top + step * from_top
        t_bottom = t_bottom + step * ~from_top
        i_pos = i_pos + step * need_pos
        i_neg = i_neg + step * ~need_pos
    return RefineResult(keep, float(start.abs().mean()), float(error.abs().mean()), cycles, swaps)


def refine_nm(
    weight: torch.Tensor,
    expected: torch.Tensor,
    var: torch.Tensor,
    initial_score: torch.Tensor,
    keep: torch.Tensor,
    m: int,
    *,
    max_cycles: int = 50,
    update_threshold: float = 0.1,
    var_power: float = 1.0,
    stop_on_sign_flip: bool = True,
) -> RefineResult:
    """Refine an N:M keep mask (out, in), groups of ``m`` consecutive inputs; the mask is not modified.

    Growing is as in :func:`refine_unstructured`; the weight pruned in exchange is, inside the grown
    weight's group, the initially kept weight of lowest ``initial_score`` (the init's criterion:
    Wanda's or |W|) not pruned before, so each group keeps exactly n. The official code always
    applies the sign-flip stop in this branch, hence ``stop_on_sign_flip=True`` by default.
    """
    if max_cycles == 0:
        return _unchanged(weight, expected, keep)
    st = _setup(weight, expected, var, keep, var_power, max_cycles)
    keep, rows, error, n_grow = st.keep, st.rows, st.error, st.n_grow
    out_f = keep.shape[0]
    start = error.clone()
    score = initial_score.detach().to(torch.float64).masked_fill(~keep, float("inf"))
    offsets = torch.arange(m)
    t_top = torch.zeros(out_f, dtype=torch.long)
    t_bottom = torch.zeros(out_f, dtype=torch.long)
    active = torch.ones(out_f, dtype=torch.bool)
    cycles = swaps = 0
    while cycles < max_cycles:
        from_top = error > 0
        active &= (t_top + t_bottom < n_grow) & (error.abs() > update_threshold)
        if not bool(active.any()):
            break
        g = st.grown(from_top, t_top, t_bottom)
        group = (g - g % m)[:, None] + offsets[None, :]
        best, where = score.gather(1, group).min(1)
        p = group[rows, where]
        active &= torch.isfinite(best)  # every initially kept weight of the group already swapped out
        after = error + st.change(g, p)
        if stop_on_sign_flip:
            active &= torch.sign(after) == torch.sign(start)
        if not bool(active.any()):
            break
        cycles += 1
        r = rows[active]
        keep[r, g[active]] = True
        keep[r, p[active]] = False
        score[r, p[active]] = float("inf")
        swaps += int(r.numel())
        error = torch.where(active, after, error)
        step = active.long()
        t_top = t_top + step * from_top
        t_bottom = t_bottom + step * ~from_top
    return RefineResult(keep, float(start.abs().mean()), float(error.abs().mean()), cycles, swaps)
