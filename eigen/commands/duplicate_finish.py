"""The end of `eigen duplicate`: choose, measure once, export, account, report.

The chosen model is the trained candidate with the best validation accuracy; only then is the test
set touched, once for that model (and once for the --top-k ensemble), and the results are kept in
the duplication's state so that finishing again (say, with another --top-k) never re-measures a
model to pick it. `metrics.json` is written last: a final folder with it is complete.
"""
from __future__ import annotations

import datetime
import shlex
from pathlib import Path

from ..errors import EigenError
from ..final.duplication import candidate_ms
from ..genome.cost import training_flops
from ..run_folder.file_types import TeacherDescription
from ..run_folder.folder import SHAPE_ERRORS, RunFolder, read_json, write_json
from ..run_folder.portable import resolve_from_file
from ..engine.pareto import CANDIDATES_ELIGIBLE, Point, pareto_file
from ..engine.record import HistoryRecord
from ..training.individual_training import load_model
from ..training.trainer import ensemble_accuracy, evaluate
from ..training.tta import tta_accuracy
from .export import Normalized, SoftmaxEnsemble, export_onnx, export_program, save_weights

FINAL_TTA = "flip"  # the final model's test_accuracy_tta: the image and its mirror (eigen/training/tta.py)


def finish(duplication, data, top_k: int, source, onnx: bool = False, quiet: bool = False,
           data_flag: str = "") -> dict:
    """Choose, measure, export and write metrics.json; print the comparison (unless `quiet`), with a
    next step that finds the data again (`data_flag`: the run's --data-dir, where it needs one); return
    the metrics."""
    folder, plan = duplication.folder, duplication.plan
    ranked = duplication.ranked()
    if not ranked:
        statuses = ", ".join(f"{c['id']} {duplication.entry(c)['status']}" for c in duplication.candidates)
        raise EigenError(f"no candidate finished its training ({statuses}); lower --schedule-scale or the "
                         f"learning rate, or check the GPU's memory, then run again with --out elsewhere")
    chosen = ranked[0]
    model = load_model(duplication.checkpoint(chosen), data.device)
    test = duplication.measured_once(chosen["id"], lambda: evaluate(model, data, "test"))
    # Beside it, never instead (and never to choose): the mean of the image and its mirror
    test_tta = duplication.measured_once(f"{chosen['id']}:tta-{FINAL_TTA}",
                                         lambda: tta_accuracy([model], data, FINAL_TTA))
    size = plan["data"]["image_size"]
    about = {"dataset": plan["data"]["dataset"], "classes": plan["data"]["class_names"], "image_size": size,
             "input": f"float images (B, 3, {size}, {size}) in [0, 1]; the normalisation is inside"}

    write_json(folder / "genome.json", chosen["genome"])
    _draw_chosen(plan, chosen, folder / "genome.svg")
    weights = save_weights(model, folder, metadata={"genome_key": chosen["key"], "dataset": about["dataset"]})
    # the exports' eigen.json also names the preprocessing inside them (metrics.json says it as `normalization`)
    described = {**about, "preprocess": data.preprocess.kind, "output": "logits", "candidate": chosen["id"],
                 "test_accuracy": test}
    export_program(Normalized(model, data.preprocess), folder / "model.pt2", size, described)
    if onnx:
        export_onnx(Normalized(model, data.preprocess), folder / "model.onnx", size, described)

    ensemble = None
    ensemble_path = folder / "ensemble.pt2"
    members = ranked[:top_k]
    if len(members) > 1:
        models = [load_model(duplication.checkpoint(c), data.device) for c in members]
        ids = [c["id"] for c in members]
        name = "ensemble:" + "+".join(ids)
        ensemble = {"k": len(members), "members": ids, "val_accuracy": ensemble_accuracy(models, data, "val"),
                    "test_accuracy": duplication.measured_once(name, lambda: ensemble_accuracy(models, data, "test")),
                    "params": sum(c["params"] for c in members), "file": ensemble_path.name}
        # the members saw the same preprocessing: applied once (gcn-zca's matrix is 3,072^2 floats at 32x32)
        export_program(Normalized(SoftmaxEnsemble(models), data.preprocess), ensemble_path, size,
                       {**about, "preprocess": data.preprocess.kind, "output": "probabilities (mean softmax)",
                        "members": ids, "test_accuracy": ensemble["test_accuracy"]})
    else:
        ensemble_path.unlink(missing_ok=True)  # from an earlier --top-k

    as_found = plan["candidates"][0]
    teacher = teacher_description(duplication)
    seconds = device_seconds(duplication, source, teacher)
    metrics = {
        "model": {"candidate": chosen["id"], "duplication": chosen["label"], "copies": chosen["copies"],
                  "val_accuracy": duplication.entry(chosen)["fitness"], "test_accuracy": test,
                  "test_accuracy_tta": test_tta, "tta": FINAL_TTA,
                  "params": chosen["params"], "flops": chosen["flops"], "key": chosen["key"],
                  "ms": candidate_ms(chosen)},
        "parent": {"search_id": plan["source"]["id"],
                   "search_val_accuracy": plan["source"].get("val_accuracy", plan["source"]["fitness"]),
                   "search_test_accuracy": plan["source"]["test_accuracy"], "params": as_found["params"],
                   "retrained_val_accuracy": duplication.entry(as_found)["fitness"]},
        "candidates": [{"id": c["id"], "duplication": c["label"], "params": c["params"], "flops": c["flops"],
                        "val_accuracy": duplication.entry(c)["fitness"], "status": duplication.entry(c)["status"],
                        "device_seconds": round(duplication.entry(c)["seconds"], 1), "ms": candidate_ms(c)}
                       for c in plan["candidates"]],
        "ensemble": ensemble,
        # Seconds on the device that did the work, named: a CPU run's seconds are not GPU-seconds.
        "device_seconds": seconds, "device": device_name(data.device),
        "cost": end_to_end_cost(duplication, seconds, teacher),
        "fitness_expression": plan.get("fitness_expression", "acc"),
        **about,
        "normalization": data.preprocess.describe(),  # inside the exports; gcn-zca's matrix also in preprocess.pt
        "files": {"genome": "genome.json", "weights": weights.name, "program": "model.pt2",
                  "onnx": "model.onnx" if onnx else None, "ensemble": ensemble_path.name if ensemble else None,
                  "metrics": "metrics.csv"},
        "mimicry": plan["teacher"] is not None, "teacher": plan["teacher"], "schedule": plan["schedule"],
        "final_recipe": plan["settings"].get("final_recipe", "paper"),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    pareto = candidates_front(duplication, chosen["id"])
    write_json(folder / "pareto.json", pareto)
    write_json(folder / "metrics.json", metrics)
    report_note = _draw(folder, source)
    if not quiet:
        _print(metrics, folder, report_note, [p["id"] for p in pareto["front"]], data_flag)
    return metrics


def candidates_front(duplication, chosen: str) -> dict:
    """final/pareto.json: the front of the candidates trained to the end (see `search/pareto.py`)."""
    points = [Point(c["id"], duplication.entry(c)["fitness"], c["params"], c["flops"], candidate_ms(c),
                    duplication.fitness_of(c)) for c in duplication.ranked()]
    return pareto_file(points, CANDIDATES_ELIGIBLE, chosen, duplication.plan.get("latency"))


def device_name(device) -> str:
    import torch
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def teacher_description(duplication) -> dict | None:
    """The teacher's ensemble.json, read once for the cost; None without a teacher, or when it was
    moved or edited since (its cost is then unknown, which is not a reason to fail)."""
    if not duplication.plan["teacher"]:
        return None
    try:
        folder = resolve_from_file(duplication.plan["teacher"], duplication.folder / "plan.json")
        description = read_json(folder / "ensemble.json", "the teacher's description", TeacherDescription)
        return description if isinstance(description, dict) else None
    except EigenError:
        return None


def device_seconds(duplication, source, teacher: dict | None) -> dict:
    """Device seconds spent by each phase that led to this model (None where it cannot be known)."""
    training = None
    if teacher is not None:
        try:
            training = round(sum(m.get("device_seconds", m.get("gpu_seconds", 0)) for m in teacher["members"]), 1)
        except SHAPE_ERRORS:  # edited by hand since: unknown
            pass
    search = None
    if source.run is not None and RunFolder(source.run).history.exists():
        try:
            search = round(sum(HistoryRecord.from_json(r).seconds for r in RunFolder(source.run).read_history()), 1)
        except (EigenError, *SHAPE_ERRORS):  # the search's history damaged since: its cost is unknown
            pass
    duplicate = round(sum(duplication.entry(c)["seconds"] for c in duplication.candidates), 1)
    known = [s for s in (training, search, duplicate) if s is not None]
    return {"teacher": training, "search": search, "duplicate": duplicate, "total": round(sum(known), 1)}


def end_to_end_cost(duplication, seconds: dict, teacher: dict | None) -> dict:
    """What this model cost, from the teacher to the final training (LS §3.5's accounting): the
    phases' device `seconds` plus the teacher's logits cache, and the FLOPs of the search and the
    duplication (None where unknown)."""
    cache = teacher.get("logits_cache_seconds") if teacher is not None else None
    search_flops = (duplication.plan["source"].get("search_cost") or {}).get("flops")
    schedule, num_val = duplication.plan["schedule"], duplication.plan["data"].get("val")
    duplicate_flops = 0
    for c in duplication.candidates:
        entry = duplication.entry(c)
        duplicate_flops += training_flops(c["flops"], schedule["batch_size"], entry["step"],
                                          len(entry["curve"]) * (num_val or 0))  # one validation per chunk
    total = [s for s in (seconds["teacher"], cache, seconds["search"], seconds["duplicate"]) if s is not None]
    return {"seconds": {"teacher_training": seconds["teacher"], "teacher_cache": cache, "search": seconds["search"],
                        "duplicate": seconds["duplicate"], "total": round(sum(total), 1)},
            "flops": {"search": search_flops, "duplicate": duplicate_flops,
                      "total": (search_flops or 0) + duplicate_flops}}


def _draw_chosen(plan: dict, chosen: dict, path: Path) -> None:
    """final/genome.svg: the chosen network, each block of the genome as found framed and each added
    copy framed apart (EIGEN Fig. 1's view of duplication)."""
    from ..genome.dna import Genome
    from ..views.genome_drawing import write_drawing
    from ..views.genome_layout import duplication_frames
    size, classes = plan["data"]["image_size"], plan["data"]["classes"]
    genome = Genome.from_dict(chosen["genome"], size)
    as_found = Genome.from_dict(plan["candidates"][0]["genome"], size)
    copies = {int(b): int(n) for b, n in (chosen.get("copies") or {}).items()}
    write_drawing(genome, path, size, classes, blocks=duplication_frames(as_found, genome, copies, size, classes),
                  title=f"{chosen['id']}: {chosen['label']}, {chosen['params']:,} parameters")


def _draw(folder: Path, source) -> str:
    """The duplication's plots (candidates, learning curves): in the run's report when this is the run's
    final folder, else beside it."""
    from ..views.report import write_curves_plot, write_duplicates_plot
    from .report import run_report
    try:
        note = ""
        if source.run is not None and folder.resolve() == (source.run / "final").resolve():
            paths = run_report(RunFolder(source.run))
            return (f"report: {paths[-1]} ({source.run / 'report' / 'duplicates.png'}, "
                    f"{source.run / 'report' / 'final-curves.png'} beside it)")
        if source.run is not None and folder.resolve().parent == source.run.resolve():  # final-<ID>/
            note = f"; the run's page: {run_report(RunFolder(source.run))[-1]}"
        curves = write_curves_plot(folder, folder / "final-curves.png")
        return f"report: {write_duplicates_plot(folder, folder / 'duplicates.png')}, {curves}{note}"
    except OSError:  # a full disk: the command says so, and how to continue
        raise
    except Exception as e:  # the final folder is complete without the plot
        return f"the plot could not be drawn ({type(e).__name__}: {e})"


def _print(metrics: dict, folder: Path, report_note: str, front: list[str], data_flag: str) -> None:
    from ..views.tables import duplicates_table, output_console
    console = output_console()
    console.print(duplicates_table(metrics, front))
    m, p = metrics["model"], metrics["parent"]
    console.print(f"chosen: {m['candidate']} ({m['duplication']}), validation {m['val_accuracy']:.2f}%, "
                  f"test {m['test_accuracy']:.2f}% ({m['test_accuracy_tta']:.2f}% with {m['tta']} test-time "
                  f"augmentation), {m['params']:,} parameters; the genome as found: "
                  f"{p['retrained_val_accuracy']:.2f}% validation", highlight=False)
    if metrics["ensemble"]:
        e = metrics["ensemble"]
        console.print(f"ensemble of the best {e['k']} ({', '.join(e['members'])}): validation "
                      f"{e['val_accuracy']:.2f}%, test {e['test_accuracy']:.2f}%", highlight=False)
    files = ", ".join(f for f in metrics["files"].values() if f)
    console.print(f"final model: {folder}/ ({files}, metrics.json)", highlight=False)
    console.print(report_note, highlight=False)
    console.print(f"next: eigen eval {shlex.quote(str(folder))}{data_flag}", highlight=False)
