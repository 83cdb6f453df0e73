"""What each subcommand does, one module each, as a few named steps; `cli.py` maps names to these functions.

- `setup.py` — what every training command sets up first: extras, folder lock, data, teacher logits, executor.
- `search.py` — `eigen search`: a run folder, its data and teacher, then a strategy from `search/`.
- `train_teacher.py` — `eigen train-teacher`: the DenseNet-BC ensemble and its logits cache.
- `duplicate.py` — `eigen duplicate`: the plan and the candidates' trainings of `final/`, then `duplicate_finish.py`.
- `duplicate_finish.py` — the end of `eigen duplicate`: choose the final model, measure its test accuracy
  once, export it, write `final/metrics.json`.
- `export.py` — weights (safetensors), `torch.export` and ONNX exports, and reading them back.
- `eval.py` — `eigen eval`: test accuracy of any saved form (`scoring.py`: top-k, per class, confusion).
- `predict.py` — `eigen predict`: the top classes of images.
- `report.py` — `eigen report`: redraw a run's plots.
- `show.py` — `eigen show`: a genome's layers, blocks and cost.
- `pick_paths.py` — `--pick ID` for eval, predict and show: which folder or checkpoint ID names.
"""
