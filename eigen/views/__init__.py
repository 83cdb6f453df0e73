"""What a person sees: live progress on a terminal, plain lines in a log, and the report's plots.

- `live.py` — what every progress view shares (number formats, ETA pace, plain and live output).
- `search_progress.py`, `evolution_progress.py`, `duplicate_progress.py` — one view per command.
- `report.py` — a run folder's report: loads the run and draws every picture of `report/`.
- `figures.py` — the slide style and figure plumbing every picture shares (PNG + SVG, atomically).
- `tables.py` — the rich console and the tables a command ends with (generations, duplication).
- `search_plots.py` — the report's plots of a search, `(axes, records, state) -> title` each.
- `html_report.py` — the same run as one self-contained page (report/index.html).
- `genome_layout.py`, `genome_drawing.py` — a genome laid out and drawn (SVG, PNG, PDF, DOT).
- `genome_table.py` — a genome as a table of layers, blocks and totals (`eigen show`).
- `pareto_view.py` — the front of accuracy against size, FLOPs or latency, as a table and a plot.
"""
