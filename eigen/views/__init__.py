"""What a person sees: live progress on a terminal, plain lines in a log, and the report's plots.

- `live.py` — what every progress view shares (number formats, ETA pace, plain and live output).
- `search_progress.py`, `evolution_progress.py`, `duplicate_progress.py` — one view per command.
- `report.py` — the PNG plots and summary tables of a run folder.
"""
