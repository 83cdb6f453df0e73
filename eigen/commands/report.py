"""`eigen report RUN_DIR`: redraw a run folder's plots and print its generations."""
from __future__ import annotations

from ..runfolder import RunFolder, interpreting
from ..views.report import evolution_table, load_run, output_console, summary_table, write_report


def report_command(config) -> int:
    """`eigen report RUN_DIR`: redraw the plots (and print the generations) of a run folder."""
    folder = RunFolder(config.run_dir)
    folder.require()
    with interpreting(folder.path, "the run's record", "restore the damaged file from a copy"):
        paths = write_report(folder)
        _, state = load_run(folder)
    console = output_console()
    if state["generations"]:
        console.print((evolution_table if "events" in state else summary_table)(state))
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    return 0
