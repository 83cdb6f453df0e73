"""What each subcommand does, one module each; `cli.py` maps names to these functions.

- `search.py` — `eigen search`: a run folder, its data and teacher, then a strategy from `search/`.
- `train_teacher.py` — `eigen train-teacher`: the DenseNet-BC ensemble and its logits cache.
- `duplicate.py` — `eigen duplicate`: plan candidates, train each (resumable), then `final.py`.
- `final.py` — choose the final model, measure its test accuracy once, write `final/`.
- `export.py` — weights (safetensors) and TorchScript exports, and reading them back.
- `eval.py` — `eigen eval`: test accuracy of any saved form.
- `report.py` — `eigen report`: redraw a run's plots.
"""
