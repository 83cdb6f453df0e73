"""What `eigen eval` reports beyond top-1: top-5, accuracy per class and the confusion matrix, all
from one pass over the test set that keeps every image's class probabilities."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Scores:
    probabilities: torch.Tensor  # (N, K) on the CPU: the model's (or the ensemble's mean) softmax
    labels: torch.Tensor  # (N,) the true classes
    classes: list[str]  # the K class names

    def top_k(self, k: int) -> float:
        """Accuracy in percent counting a hit when the true class is among the k most probable."""
        k = min(k, self.probabilities.shape[1])
        hits = (self.probabilities.topk(k, dim=1).indices == self.labels[:, None]).any(dim=1)
        return 100.0 * hits.float().mean().item()

    def confusion(self) -> torch.Tensor:
        """(K, K) counts: row = true class, column = predicted class."""
        k = len(self.classes)
        predicted = self.probabilities.argmax(dim=1)
        return torch.bincount(self.labels * k + predicted, minlength=k * k).reshape(k, k)

    def per_class(self) -> dict[str, float | None]:
        """Accuracy in percent for each class (None for a class with no test image)."""
        matrix = self.confusion()
        totals = matrix.sum(dim=1)
        return {name: (100.0 * matrix[i, i].item() / totals[i].item() if totals[i] else None)
                for i, name in enumerate(self.classes)}


@torch.no_grad()
def score(models: list, data, raw_input: bool, batch_size: int = 1000) -> torch.Tensor:
    """(N, K) mean softmax of `models` on the test set. Models that take [0, 1] images (exports) run in
    fp32; eigen's own networks see the normalised images under bf16 autocast on a GPU, as in training."""
    if not raw_input:  # an export is in eval mode already (an exported program refuses .eval())
        for model in models:
            model.eval()
    on_gpu = data.device.type == "cuda"
    out = []
    if raw_input:
        for start in range(0, len(data.test_y), batch_size):
            x = data.test_x[start:start + batch_size].float() / 255  # (B, 3, H, W) in [0, 1]
            out.append(torch.stack([m(x).float().softmax(dim=1) for m in models]).mean(dim=0).cpu())
        return torch.cat(out)
    for x, _ in data.eval_batches("test"):
        if on_gpu:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=on_gpu):
            out.append(torch.stack([m(x).float().softmax(dim=1) for m in models]).mean(dim=0).float().cpu())
    return torch.cat(out)
