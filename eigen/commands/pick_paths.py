"""`--pick ID` for the commands that read a model (eval, predict, show): which files ID names.

On a run folder (or its best.json), ID is an individual of the search; eval and predict read the
model `eigen duplicate RUN --pick ID` made of it (`final-<ID>/`, or `final/` when ID is the best the
plain duplicate trained). On a final folder, ID is one of its candidates (c0, c1, ...), whose
checkpoint eval reads. Anything else is one sentence that says what to run or pass instead.
"""
from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import EigenError
from ..final.pick import finalised_folder, picked_source, run_of
from ..run_folder.file_types import Plan
from ..run_folder.folder import read_json
from ..strategies import last_stage_of


def picked_path(path: str | Path, pick: str | None, command: str) -> Path:
    """What `command PATH --pick ID` reads (PATH itself without --pick)."""
    path = Path(path)
    if pick is None:
        return path
    if (path / "plan.json").exists():  # a final folder: one of its candidates
        plan = read_json(path / "plan.json", "the duplication's plan", Plan)
        ids = [str(c.get("id")) for c in plan.get("candidates", []) if isinstance(c, dict)]
        if pick not in ids:
            raise EigenError(f"{pick} is not a candidate of {path}; its candidates are {', '.join(ids)}")
        checkpoint = path / "candidates" / f"{pick}.pt"
        if not checkpoint.exists():
            raise EigenError(f"candidate {pick} of {path} has no checkpoint (it has not trained yet); run its "
                             f"`eigen duplicate` again to train it")
        return checkpoint
    run = run_of(path)
    for folder in (finalised_folder(run, pick), run / "final"):
        if (folder / "metrics.json").exists() and _finalised_id(folder) == pick:
            return folder
    picked_source(run, pick, last_stage_of)  # an unknown or untrained id: its own sentence
    raise EigenError(f"{pick} of {run} has not been finalised; run `eigen duplicate {shlex.quote(str(run))} "
                     f"--pick {pick}` first, then {command} it")


def _finalised_id(folder: Path) -> str | None:
    """The search individual a final folder finalised (from its plan)."""
    if not (folder / "plan.json").exists():
        return None
    plan = read_json(folder / "plan.json", "the duplication's plan", Plan)
    source = plan.get("source") if isinstance(plan, dict) else None
    return source.get("id") if isinstance(source, dict) else None


