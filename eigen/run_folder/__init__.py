"""The run folder (SPEC §7): the files a command writes and the next one reads, and how they are checked.

- `folder.py` — `RunFolder` and its paths; atomic writes, full-disk checks, reading a file with the
  one sentence that names it when it is damaged, the folder lock, the provenance (versions, git commit).
- `file_types.py` — the `TypedDict`s of the JSON files eigen reads back (config.json, best.json, plan.json, ...).
- `json_types.py` — `check(value, hint)`: a parsed JSON value checked against a declared type, field by field.
- `portable.py` — paths stored relative to the file that names them, so that a run folder can move.

Nothing here is imported eagerly: `folder.py`, `json_types.py` and `portable.py` sit below everything
else, and `file_types.py` only above the genome (a genome is inside some files).
"""
