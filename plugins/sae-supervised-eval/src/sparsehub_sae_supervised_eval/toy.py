"""The toy IOI task of the brief: activations built from known attribute directions, and a frozen "model".

Prompts carry three attributes: the indirect-object name IO, the subject name S (IO ≠ S, both from
``n_names`` names) and the template order Pos ∈ {ABB, BAB}. The activation at the node is

    h(p) = μ + α_IO·u_IO[IO] + α_S·u_S[S] + α_Pos·u_Pos[Pos] + ε,     ε ~ N(0, σ²·I_d / d)

with random, non-orthogonal unit directions in d = 64. The counterfactual of an edit keeps the
prompt's noise ε (the "template"), so source and target differ in the edited attribute only. The
"model" from the node on is a small MLP trained once (frozen afterwards) to put the IO name on top and the
S name at the bottom of its name logits (cross-entropy on IO plus cross-entropy of the negated
logits on S), so both names are causally relevant to the task metric, the IO − S logit difference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sparsehub.errors import bad_value

__all__ = ["ToyIOI", "toy_ioi"]

POSITIONS = ("ABB", "BAB")


@dataclass
class ToyIOI:
    """A generated toy IOI task: directions, the frozen model and helpers to draw prompts."""

    d: int
    n_names: int
    alpha: dict[str, float]
    sigma: float
    mu: torch.Tensor
    directions: dict[str, torch.Tensor]
    model: Any = None
    train_seconds: float = 0.0
    info: dict[str, float] = field(default_factory=dict)

    def prompts(self, repeats: int, seed: int) -> dict[str, np.ndarray]:
        """A balanced prompt set: every (IO, S ≠ IO, Pos) combination ``repeats`` times, shuffled."""
        io, s, pos = np.meshgrid(
            np.arange(self.n_names), np.arange(self.n_names), np.arange(2), indexing="ij"
        )
        keep = (io != s).ravel()
        cells = np.stack([io.ravel()[keep], s.ravel()[keep], pos.ravel()[keep]], 1)
        cells = np.repeat(cells, repeats, axis=0)
        cells = cells[np.random.default_rng(seed).permutation(len(cells))]
        return {"IO": cells[:, 0], "S": cells[:, 1], "Pos": cells[:, 2]}

    def noise(self, n: int, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.d, generator=gen) * (self.sigma / self.d**0.5)

    def activations(self, labels: dict[str, np.ndarray], noise: torch.Tensor) -> torch.Tensor:
        """h for the given labels and noise, [N, d] float32."""
        h = self.mu.expand(len(noise), -1) + noise
        for attr in ("IO", "S", "Pos"):
            idx = torch.as_tensor(np.asarray(labels[attr]), dtype=torch.long)
            h = h + self.alpha[attr] * self.directions[attr][idx]
        return h

    @torch.no_grad()
    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """The frozen model: IO-name logits [N, n_names] from activations [N, d]."""
        return self.model(torch.as_tensor(h, dtype=torch.float32))

    def logit_diff_fn(self, labels: dict[str, np.ndarray]) -> Any:
        """The IOI metric for fixed prompts: h ↦ logit[IO] − logit[S] per prompt, [N] (numpy)."""
        io = torch.as_tensor(np.asarray(labels["IO"]), dtype=torch.long)[:, None]
        s = torch.as_tensor(np.asarray(labels["S"]), dtype=torch.long)[:, None]

        def metric(h: Any) -> np.ndarray:
            out = self.logits(h)
            return (out.gather(1, io) - out.gather(1, s)).squeeze(1).numpy().astype(np.float64)

        return metric

    def edit_pairs(
        self, labels: dict[str, np.ndarray], noise: torch.Tensor, attr: str, seed: int
    ) -> dict[str, Any]:
        """Counterfactual pairs that change ``attr`` (IO or S) to a third name, same other attributes and noise."""
        if attr not in ("IO", "S"):
            raise bad_value("attr", attr, "'IO' or 'S' (the name attributes)")
        rng = np.random.default_rng(seed)
        io, s = np.asarray(labels["IO"]), np.asarray(labels["S"])
        new = rng.integers(0, self.n_names, size=len(io))
        bad = (new == io) | (new == s)
        while bad.any():
            new[bad] = rng.integers(0, self.n_names, size=int(bad.sum()))
            bad = (new == io) | (new == s)
        target_labels = {**labels, attr: new}
        return {
            "source": self.activations(labels, noise),
            "target": self.activations(target_labels, noise),
            "source_labels": labels,
            "target_labels": target_labels,
        }

    @staticmethod
    def edit_success(out_edit: Any, out_target: Any) -> np.ndarray:
        """The edited run ranks names as the counterfactual run does at both ends: same top (IO) and bottom (S)."""
        a, b = torch.as_tensor(out_edit), torch.as_tensor(out_target)
        return ((a.argmax(-1) == b.argmax(-1)) & (a.argmin(-1) == b.argmin(-1))).numpy()


def toy_ioi(
    *,
    d: int = 64,
    n_names: int = 16,
    alpha_io: float = 1.0,
    alpha_s: float = 0.8,
    alpha_pos: float = 0.6,
    sigma: float = 0.3,
    mean_norm: float = 1.0,
    hidden: int = 64,
    train_steps: int = 300,
    seed: int = 0,
) -> ToyIOI:
    """Generate the toy task and train its frozen model (CE on the IO name; a second or so on CPU)."""
    for name, value in (("d", d), ("n_names", n_names), ("hidden", hidden), ("train_steps", train_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad_value(name, value, "an int >= 1")
    if n_names < 3:
        raise bad_value("n_names", n_names, "an int >= 3 (IO, S and a third name for edits)")
    gen = torch.Generator().manual_seed(seed)

    def unit(n: int) -> torch.Tensor:
        v = torch.randn(n, d, generator=gen)
        return v / v.norm(dim=1, keepdim=True)

    dirs = {"IO": unit(n_names), "S": unit(n_names), "Pos": unit(2)}
    mu = unit(1)[0] * mean_norm
    task = ToyIOI(d, n_names, {"IO": alpha_io, "S": alpha_s, "Pos": alpha_pos}, sigma, mu, dirs)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_names))
    labels = task.prompts(4, seed + 1)
    h = task.activations(labels, task.noise(len(labels["IO"]), seed + 2))
    y = torch.as_tensor(labels["IO"], dtype=torch.long)
    y_s = torch.as_tensor(labels["S"], dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(train_steps):
        out = model(h)
        # IO on top and S at the bottom: the S name is causally relevant to the IO − S logit difference
        loss = torch.nn.functional.cross_entropy(out, y) + torch.nn.functional.cross_entropy(-out, y_s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    task.model = model
    with torch.no_grad():
        out = model(h)
    task.info = {
        "train_loss": float(loss.detach()),
        "io_accuracy": float((out.argmax(1) == y).float().mean()),
        "s_accuracy": float((out.argmin(1) == y_s).float().mean()),
    }
    return task
