"""`eigen report RUN_DIR`: redraw a run folder's plots, drawings and index.html, and print its generations."""
from __future__ import annotations

from pathlib import Path

from ..errors import EigenError, cannot_save, not_writable
from ..run_folder.file_types import RunConfig
from ..run_folder.folder import RunFolder, interpreting, read_json
from ..strategies import of_settings
from ..views.report import load_run, write_report
from ..views.tables import output_console


def run_settings(folder: RunFolder) -> dict:
    return read_json(folder.config, "the run's settings", RunConfig)["settings"]


def run_report(folder: RunFolder, into: Path | None = None) -> list[Path]:
    """The run's plots, drawings and index.html (with the command that reproduces the search)."""
    from ..config import SearchConfig, command_line
    settings = run_settings(folder)
    with interpreting(folder.config, "the run's settings", "restore it from a copy"):
        strategy = of_settings(settings)
    return write_report(folder, strategy, into, command_line("search", SearchConfig, settings, ("resume", "out")))


def report_command(config) -> int:
    """`eigen report RUN_DIR`: print the generations, then redraw the plots into the run's report/
    folder (or `--out`). The table comes first, so a run on a read-only share still shows it."""
    folder = RunFolder(config.run_dir)
    folder.require()
    console = output_console()
    with interpreting(folder.path, "the run's record", "restore the damaged file from a copy"):
        _, state = load_run(folder)
        if state["generations"]:
            console.print(of_settings(run_settings(folder)).closing_table(state))
        try:
            paths = run_report(folder, Path(config.out) if config.out else None)
        except OSError as e:
            if config.out is None and not_writable(e):
                raise EigenError(cannot_save(e, "the report", "pass --out DIR to draw it elsewhere")) from None
            raise
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0
