"""The confusion matrix of `eigen eval` as a picture: rows are true classes, columns predictions,
each row normalised to 100% so that rare classes read as clearly as common ones."""
from __future__ import annotations

from pathlib import Path

from .figures import pyplot_for_files, save_figure


def write_confusion_plot(matrix, classes: list[str], path: Path, title: str) -> Path:
    import numpy as np
    plt = pyplot_for_files()

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(100 * counts, rows, out=np.zeros_like(counts), where=rows > 0)
    k = len(classes)
    side = min(max(5.0, 0.45 * k + 2.5), 16.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=120)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the true class")
    if k <= 30:  # names and numbers stay readable; beyond that the colours tell it
        ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 3 else 0, ha="right"
                      if max(map(len, classes)) > 3 else "center", fontsize=9)
        ax.set_yticks(range(k), classes, fontsize=9)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if counts[i, j]:
                        ax.text(j, i, f"{share[i, j]:.0f}", ha="center", va="center", fontsize=8,
                                color="white" if share[i, j] > 60 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("\n".join(line if len(line) <= 70 else "..." + line[-67:] for line in title.splitlines()), fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return path
