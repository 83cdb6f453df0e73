"""The slide style and figure plumbing every picture of eigen shares (report/, the pareto plot, the
confusion matrix): one size and lettering for a slide (10 x 6 inches, 13-point text), pyplot without
a display, and each figure saved as a PNG and an SVG of the same name, atomically."""
from __future__ import annotations

from pathlib import Path

from ..run_folder.folder import write_bytes

SLIDE = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "legend.fontsize": 11,
         "xtick.labelsize": 12, "ytick.labelsize": 12, "figure.dpi": 120, "savefig.dpi": 150,
         "svg.fonttype": "none"}  # text stays text in the SVG: editable on a slide
FIGSIZE = (10, 6)  # inches: a 16:9 slide's content area at 150 dpi
STAGE_COLOURS = {"T1": "0.55", "T2": "tab:orange", "T3": "tab:blue"}


def pyplot_for_files():
    """pyplot for files (Agg: never needs a display). A title quoting a path or class name in a
    script the font lacks (CJK, say) draws boxes for those letters; matplotlib's warning per glyph
    would land on the user's console between eigen's own lines, so it is silenced."""
    import warnings

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
    return plt


def save_figure(fig, path: Path, svg: bool = True) -> None:
    """`path` (a PNG) and, with `svg`, the same figure as an SVG beside it for slides and papers; each
    drawn in memory and written atomically, so a killed report never leaves half a picture and a
    full disk is the OSError it is."""
    import io
    for target in (path, path.with_suffix(".svg")) if svg else (path,):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=target.suffix[1:])
        write_bytes(target, buffer.getvalue())
