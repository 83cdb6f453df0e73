"""The commands as Python functions: `eigen.search`, `eigen.duplicate`, `eigen.train_teacher`.

Each takes the settings of its command's flags as keyword arguments named as the flags
(`max_generations=3`, `schedule_scale=0.1`, `gpu=-1`, `out="runs/x"`), or a whole config dataclass
(`config=SearchConfig(...)`: what the CLI passes, having parsed the flags), and returns a typed
result read from the folder it wrote (`results.py`). Every problem the user can fix is an
`eigen.EigenError` whose message is the CLI's sentence; the CLI calls these same functions.

`data=` takes data from Python instead of a named dataset: (x_train, y_train) arrays, with
(x_test, y_test) optionally, or a torch Dataset of (image, label) (eigen/data/in_memory.py). It is not
copied to disk: a search resumed, a duplication or a teacher made on it is given it again, and eigen
checks by its fingerprint that it is the same.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

from ..config import DuplicateConfig, SearchConfig, TeacherConfig
from ..errors import EigenError, describe_os_error
from .keywords import config_from
from .results import FinalResult, SearchResult, TeacherResult


def search(data: Any = None, *, classes=None, config: SearchConfig | None = None, quiet: bool = False,
           **settings) -> SearchResult:
    """Search an architecture (`eigen search`), on `data` given from Python or on `dataset=` (cifar10,
    cifar100, imagefolder:PATH, synthetic); `resume="runs/x"` continues a run (given the same data, if
    it was made on data from Python). `classes` names the classes of `data` (a Dataset's own
    `.classes` by default). `quiet` shows no progress and prints no summary.

    >>> result = eigen.search((x_train, y_train), max_generations=3, schedule_scale=0.05, gpu=-1)
    >>> result.best.val_accuracy, result.run
    """
    from ..commands.search import run_search
    config = _config(SearchConfig, "eigen.search", config, settings)
    config, given = _with_data(config, data, classes, settings, resumed=bool(config.resume), quiet=quiet)
    outcome = _as_eigen_error("search", lambda: run_search(config, given=given, classes=classes, quiet=quiet))
    return SearchResult.of(outcome.folder, outcome.stopped)


def duplicate(best: Any = None, data: Any = None, *, classes=None, config: DuplicateConfig | None = None,
              quiet: bool = False, **settings) -> FinalResult:
    """Gene duplication and the final training (`eigen duplicate`) of a search's `best` (its best.json,
    a `SearchResult`, or with `pick=ID` its run folder); `data` again when the search was made on data
    from Python (its classes named as the search named them, unless `classes` says). Calling it again
    continues a duplication its time budget stopped.

    >>> final = eigen.duplicate(result, data=(x_train, y_train), schedule_scale=0.05, gpu=-1)
    >>> final.test_accuracy, final.load()
    """
    from ..commands.duplicate import run_duplicate
    if isinstance(best, SearchResult):
        best = best.run if settings.get("pick") else best.best_json
    if best is not None:
        if config is not None:
            raise EigenError("eigen.duplicate() takes best or config=, not both (the config holds best)")
        settings["best"] = str(best)
    config = _config(DuplicateConfig, "eigen.duplicate", config, settings)
    outcome = _as_eigen_error("duplicate", lambda: run_duplicate(config, given=data, classes=classes, quiet=quiet))
    return FinalResult.of(outcome.folder, outcome.finished)


def train_teacher(data: Any = None, *, classes=None, config: TeacherConfig | None = None, quiet: bool = False,
                  **settings) -> TeacherResult:
    """Train the DenseNet-BC teacher ensemble that EIGEN's children mimic (`eigen train-teacher`), on
    `data` given from Python or on `dataset=`; a search on the same data then finds it by itself.
    Calling it again continues an ensemble its time budget stopped."""
    from ..commands.train_teacher import run_train_teacher
    config = _config(TeacherConfig, "eigen.train_teacher", config, settings)
    config, given = _with_data(config, data, classes, settings, resumed=False, quiet=quiet)
    outcome = _as_eigen_error("train-teacher", lambda: run_train_teacher(config, given=given, quiet=quiet))
    return TeacherResult.of(outcome.folder, outcome.finished)


def _config(config_class: type, call: str, config, settings: dict):
    if config is not None and settings:
        raise EigenError(f"{call}() takes config= or keyword settings, not both "
                         f"(dataclasses.replace(config, ...) changes a config)")
    config = config if config is not None else config_from(config_class, call, settings)
    if getattr(config, "deterministic", False):  # as the CLI does: before any tensor is made
        from ..device import use_deterministic
        use_deterministic()
    return config


def _with_data(config, data, classes, settings: dict, resumed: bool, quiet: bool):
    """The config and the `Splits` of `data` given from Python (None without): the config then names
    the in-memory dataset and the arrays' image size, and a `dataset=` beside it is refused."""
    from ..commands.setup import splits_given
    from ..data.in_memory import IN_MEMORY
    if data is None:
        if classes is not None:
            raise EigenError("classes= names the classes of data=; pass data= too, or leave classes out")
        return config, None
    if "dataset" in settings and settings["dataset"] != IN_MEMORY:
        raise EigenError(f"pass data= or dataset={settings['dataset']!r}, not both")
    if resumed:  # the run's own settings name its data and classes; run_search checks the fingerprint
        return config, data
    given = splits_given(data, classes, settings.get("image_size"), quiet=quiet)
    return dataclasses.replace(config, dataset=IN_MEMORY, image_size=given.image_size), given


def _as_eigen_error(command: str, run: Callable):
    """`run()`, with a failed read or write (a full disk, a read-only folder) as the CLI's sentence."""
    try:
        return run()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise EigenError(describe_os_error(e, command)) from None
