"""The final model (SPEC §9, EIGEN §3.3): gene duplication's plan and its trainings.

- `plan.py` — what a duplication trains: the search's best genome read and checked (`read_source`),
  its candidates planned into `plan.json` (`make_plan`), a saved plan checked against the command.
- `duplication.py` — `Duplication`: the candidates trained chunk by chunk in a final folder, resumable,
  and ranked by the search's fitness.

`eigen duplicate` (`commands/duplicate.py`) runs them; `commands/duplicate_finish.py` chooses, measures, exports and reports.
"""
