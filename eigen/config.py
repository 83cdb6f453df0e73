"""One config dataclass per command; the CLI's flags, defaults and help are generated from them.

Each field's metadata holds its help text (with units) and, where needed, a parser for its value.
Defaults are the papers' settings (EIGEN §4.1, SPEC §5-§9). The resolved config is what a command
saves in its run folder, so a run can always be explained and resumed.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from . import strategies
from .engine.fitness import DEFAULT as DEFAULT_FITNESS
from .engine.fitness import parse_fitness
from .strategies.regularized import DEFAULT_SAMPLE_SIZE

PREPROCESSING = ("standard", "gcn-zca")  # what eigen/data/preprocess.py builds
CHILD_RECIPE_NAMES = ("paper", "fast")  # eigen/training/recipes.py's CHILD_RECIPES (a test keeps them equal)
DEFAULT_CHILD_RECIPE = "paper"  # fast did not win on both counts: docs/BENCHMARKS.md, "Child recipe"


def default_preprocess(dataset: str) -> str:
    """gcn-zca on CIFAR (EIGEN §4.1's; measured 1.9 points better, docs/BENCHMARKS.md "Preprocessing"),
    standard elsewhere: an image folder's larger images would need a whitening matrix of (3 x side^2)^2
    floats (604 MB at 64 x 64), and the synthetic smoke data's classes are colours GCN normalises away."""
    return "gcn-zca" if dataset in ("cifar10", "cifar100") else "standard"


PREPROCESS_DEFAULT_HELP = "gcn-zca on cifar10/cifar100, standard on other data"


def _population_defaults() -> str:
    """"eigen: 10, large-scale: 100, ...": each strategy's own --population default."""
    return ", ".join(f"{name}: {strategies.named(name).default_population}" for name in strategies.names())


def parse_duration(text: str) -> float:
    """'90s', '30m', '2h', '1h30m', '1.5h' or a plain number of seconds -> seconds (> 0)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    cleaned = str(text).strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        seconds = float(cleaned)
    elif re.fullmatch(r"(\d+(\.\d+)?[smhd])+", cleaned):
        seconds = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", cleaned))
    else:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a duration; write it like 90s, 30m, 2h or 1h30m")
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"the duration must be longer than zero, got '{text}'")
    return seconds


def _number(kind: Callable[[str], Any], minimum: float, inclusive: bool = True) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` at least (or above) `minimum`, with a clear message."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a valid {kind.__name__}") from None
        if value < minimum or (not inclusive and value == minimum):
            bound = f"at least {minimum}" if inclusive else f"greater than {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


positive_int = _number(int, 1)
non_negative_int = _number(int, 0)
positive_float = _number(float, 0.0, inclusive=False)
non_negative_float = _number(float, 0.0)
gpu_index = _number(int, -1)


def opt(default: Any, help: str, type: Callable | None = None, choices=None, positional: bool = False,
        metavar: str | None = None, nargs: str | None = None, const: Any = None):
    """A config field with what the CLI needs to expose it. Say the default in `help` when it is None.
    With `const`, the flag's value is optional: the flag alone means `const`."""
    if metavar is None and type is not None:
        metavar = {"int": "N", "float": "X", "parse_duration": "TIME"}[type.__name__]
    meta = {"help": help, "type": type, "choices": choices, "positional": positional, "metavar": metavar,
            "nargs": nargs, "const": const}
    return field(default=default, metadata=meta)


def switch_flags(name: str) -> tuple[str, str]:
    """A switch's flag and its off form: `--elitist` / `--no-elitist`. A field named for the off state
    (`no_mimicry`) is turned back on by its plain name, `--no-mimicry` / `--mimicry`, not `--no-no-mimicry`;
    either way the field, the file key and the saved setting keep the field's name."""
    flag = name.replace("_", "-")
    return "--" + flag, "--" + (flag[len("no-"):] if flag.startswith("no-") else "no-" + flag)


@dataclass(kw_only=True)
class DataOptions:
    dataset: str = opt("cifar10", "cifar10, cifar100, imagefolder:PATH or synthetic", metavar="NAME")
    data_dir: str = opt("~/.cache/eigen", "where datasets are downloaded or found (.npz files accepted)",
                         metavar="PATH")
    image_size: int = opt(32, "side of the square images, in pixels (imagefolder data is resized)",
                          type=positive_int)


@dataclass(kw_only=True)
class DeviceOptions:
    gpu: int = opt(0, "CUDA device index; -1 runs on the CPU (slow, but it works)", type=gpu_index)
    seed: int = opt(0, "seed of every random choice: same seed, same result", type=non_negative_int)
    deterministic: bool = opt(False, "GPU: deterministic algorithms and cuDNN, so retraining repeats to the last "
                                     "digit (slower; recorded results are reused exactly either way)")


@dataclass(kw_only=True)
class ExecutorOptions:
    """Where the independent trainings of a command run (SPEC §10); they never change its results."""

    parallel: int = opt(1, "trainings at once on the device (one thread and CUDA stream each); with --ray, at once "
                           "per GPU worker", type=positive_int)
    ray: str | None = opt(None, "train on a Ray cluster, one worker per GPU (per CPU where there are none): "
                                "--ray alone starts one on this machine, --ray auto joins a running one, "
                                "--ray ADDRESS joins the one there (needs `pip install \"eigen[ray]\"`)",
                          metavar="ADDRESS", const="local")


@dataclass(kw_only=True)
class TrainingOptions:
    schedule_scale: float = opt(1.0, "multiplies every iteration count of the recipe: T1, T2, T3 in a search, "
                                     "the 25,000 iterations of a final training, the lr steps",
                                type=positive_float)
    time_budget: float | None = opt(None, "stop after this much wall-clock time in this sitting: 90s, 30m, 2h "
                                          "(default: no limit)", type=parse_duration)
    teacher: str | None = opt(None, "teacher folder for mimicry (default: teachers/<dataset>/ if it exists)",
                         metavar="PATH")
    no_mimicry: bool = opt(False, "train without the teacher's logits (plain cross-entropy)")
    tensorboard: bool = opt(False, "also write TensorBoard event files (tensorboard/ beside metrics.csv; needs "
                                   "pip install \"eigen[tensorboard]\")")


@dataclass(kw_only=True)
class SearchConfig(ExecutorOptions, TrainingOptions, DeviceOptions, DataOptions):
    """`eigen search`: find an architecture (SPEC §6)."""

    out: str | None = opt(None, "run folder (default: runs/<dataset>-<strategy>-<timestamp>)", metavar="PATH")
    resume: str | None = opt(None, "continue the run in this folder where it stopped, with its own settings "
                                   "(--gpu, --data-dir, --time-budget, --max-generations, --parallel, --ray may change)",
                             metavar="RUN_DIR")
    strategy: str = opt("eigen", "search strategy: " + "; ".join(f"{name}, {strategies.named(name).summary}"
                                                              for name in strategies.names()),
                        choices=strategies.names())
    population: int | None = opt(None, "children per generation (eigen) or population size (the others) "
                                       f"(default: by strategy, {_population_defaults()})", type=positive_int)
    primary_step: int = opt(100, "mutation step size m in the primary succession", type=positive_int)
    secondary_step: int = opt(10, "mutation step size m in the secondary succession", type=positive_int)
    t1: int = opt(5000, "iterations before the first extinction", type=positive_int)
    t2: int = opt(15000, "further iterations before the second extinction", type=positive_int)
    t3: int = opt(5000, "further iterations before the parent is chosen", type=non_negative_int)
    p: int = opt(5, "rank of the T1 threshold (Eq. 1): the p-th best child survives", type=positive_int)
    q: int = opt(2, "rank of the T2 threshold (Eq. 2): the q-th best survivor survives", type=positive_int)
    plateau_delta: float = opt(0.2, "a gain in best fitness below this many accuracy points is no progress",
                               type=non_negative_float)
    plateau_patience: int = opt(3, "generations without progress that end a succession", type=positive_int)
    max_generations: int | None = opt(None, "stop after this many generations (default: until converged)",
                                        type=positive_int)
    max_params: int | None = opt(None, "reject children with more parameters than this (default: no limit)",
                                   type=positive_int)
    max_flops: int | None = opt(None, "reject children with more forward FLOPs per image than this (default: no limit)",
                                type=positive_int)
    max_ms: float | None = opt(None, "reject children whose measured forward pass takes longer than this many "
                                     "milliseconds on --latency-device at --latency-batch, before they train (default: "
                                     "no limit)", type=positive_float, metavar="MS")
    latency_device: str | None = opt(None, "where latency (ms in --fitness, --max-ms) is measured: cpu, cuda, cuda:N "
                                           "(default: the search's own device; cpu aims a GPU search at a CPU "
                                           "deployment)", metavar="DEVICE")
    latency_batch: int = opt(1, "images per timed forward pass when latency is measured", type=positive_int,
                             metavar="N")
    inherit_weights: bool = opt(False, "eigen: children start from their parent's matching weights (an ablation; "
                                       "large-scale and random always inherit, as in the paper)")
    child_steps: int = opt(25_600, "large-scale, random, regularized: iterations each individual trains (the paper's 25,600 "
                                   "at batch 50)", type=positive_int)
    fitness: str = opt(DEFAULT_FITNESS, "what selection maximises: a linear combination of acc (validation %%), "
                                        "mparams (millions of parameters), gflops (forward GFLOPs per image) and ms "
                                        "(measured forward milliseconds, see --latency-device), e.g. "
                                        "\"acc - 2*mparams\" or \"acc - 20*ms\"", type=parse_fitness, metavar="EXPR")
    elitist: bool = opt(False, "eigen: keep the parent unless a child beats it (default: the paper's rule, the best "
                               "child that reaches T3 becomes the parent even when it is worse)")
    sample_size: int = opt(DEFAULT_SAMPLE_SIZE, "regularized: individuals sampled (with replacement) per event, the "
                                                "fittest of them the parent (S; Real et al. 2019 used S = 25 of "
                                                "P = 100)", type=positive_int)
    top_k: int = opt(2, "large-scale, random, regularized: at the end of each sitting, ensemble the best k living individuals "
                        "by validation (majority vote, as the paper's 95.6%%); 1 = no ensemble", type=positive_int)
    preprocess: str | None = opt(None, "what the networks see of an image: standard (per-channel mean and std) or "
                                       "gcn-zca (EIGEN §4.1: global contrast normalisation and ZCA whitening), fitted "
                                       f"on the training split only (default: {PREPROCESS_DEFAULT_HELP}; a resumed run keeps "
                                       "its own)", choices=PREPROCESSING, metavar="KIND")
    child_recipe: str | None = opt(None, "how each child trains: paper (EIGEN §4.1 exactly; Large-Scale Evolution's own "
                                         "schedule for large-scale and random) or fast (the same iterations and "
                                         "learning-rate steps, plus Nesterov momentum, label smoothing 0.1 and a "
                                         "moving average of the weights that is what fitness measures; "
                                         f"docs/BENCHMARKS.md, \"Child recipe\") (default: {DEFAULT_CHILD_RECIPE}; a resumed run keeps "
                                         "its own)", choices=CHILD_RECIPE_NAMES, metavar="NAME")
    mlflow: str | None = opt(None, "also log the search to MLflow at this tracking URI (a server's http://HOST:PORT, "
                                   "sqlite:///mlflow.db, ...): one run for the search, a nested run per individual "
                                   "with its curves, fitness and genome (needs pip install \"eigen[mlflow]\")",
                             metavar="URI")

    def resolved_population(self) -> int:
        return self.population or strategies.named(self.strategy).default_population


@dataclass(kw_only=True)
class TeacherConfig(ExecutorOptions, DeviceOptions, DataOptions):
    """`eigen train-teacher`: a DenseNet-BC ensemble for mimicry (SPEC §8)."""

    out: str | None = opt(None, "teacher folder (default: teachers/<dataset>/)", metavar="PATH")
    members: int = opt(4, "DenseNet-BC models in the ensemble", type=positive_int)
    depth: int = opt(40, "DenseNet-BC depth (3 dense blocks)", type=positive_int)
    growth: int = opt(60, "DenseNet-BC growth rate k", type=positive_int)
    recipe: str = opt("fast", "how each member trains: fast (the default, for a search meant to end in about an hour: "
                              "batch 64, Nesterov, 200 epochs, lr / 10 at 50%% and 75%%; docs/BENCHMARKS.md) or "
                              "densenet (DenseNet-BC's own: the same for 300 epochs)", choices=("fast", "densenet"),
                      metavar="NAME")
    epochs: int | None = opt(None, "training epochs per member (default: the recipe's, fast 200, densenet 300)",
                             type=positive_int)
    time_budget: float | None = opt(None, "stop after this much wall-clock time: 90s, 30m, 2h (default: no limit)",
                                    type=parse_duration)
    preprocess: str | None = opt(None, "what the members see of an image: standard or gcn-zca (see `eigen search "
                                       f"--help`; default: {PREPROCESS_DEFAULT_HELP}); a search may use either teacher",
                          choices=PREPROCESSING, metavar="KIND")


@dataclass(kw_only=True)
class DuplicateConfig(ExecutorOptions, TrainingOptions, DeviceOptions):
    """`eigen duplicate`: gene duplication and the final training (SPEC §9)."""

    best: str = opt("runs/best.json", "best.json of a search, or its run folder", positional=True)
    pick: str | None = opt(None, "duplicate and train this individual of the search instead of its best: an id from "
                                 "its pareto.json (a point of the front) or history.jsonl", metavar="ID")
    out: str | None = opt(None, "final folder (default: final/ in the search's run folder, final-<ID>/ with "
                                "--pick); running the same command again continues it", metavar="PATH")
    dataset: str | None = opt(None, "check that best.json was searched on this dataset (default: use the "
                                    "search's own)", metavar="NAME")
    data_dir: str = opt("~/.cache/eigen", "where datasets are downloaded or found (.npz files accepted)",
                         metavar="PATH")
    max_copies: int = opt(3, "most times any one block appears (1 = as found)", type=positive_int)
    max_params: int | None = opt(None, "skip candidates with more parameters than this (default: no limit)",
                                   type=positive_int)
    candidates: int = opt(8, "candidates trained, the genome as found first, then the fewest added copies",
                          type=positive_int)
    top_k: int = opt(1, "also ensemble the best k candidates (averaged softmax)", type=positive_int)
    onnx: bool = opt(False, "also export model.onnx beside model.pt2 (needs pip install \"eigen[onnx]\")")
    final_recipe: str = opt("paper", "how the candidates train: paper (EIGEN §4.1, as every child of the search by "
                                     "default), long (3x the iterations, cosine decay, Nesterov, label smoothing 0.1: "
                                     "what the field retrains a found network with) or fast (the paper's iterations "
                                     "with the search's --child-recipe fast additions: Nesterov, label smoothing 0.1, "
                                     "a moving average of the weights)", choices=("paper", "long", "fast"),
                            metavar="NAME")
    preprocess: str | None = opt(None, "standard or gcn-zca (see `eigen search --help`) (default: the search's own)",
                                 choices=PREPROCESSING, metavar="KIND")


@dataclass(kw_only=True)
class ReportConfig:
    """`eigen report`: redraw the plots of a run folder (SPEC §7)."""

    run_dir: str = opt(None, "run folder", positional=True)
    out: str | None = opt(None, "where to draw the plots (default: the run's report/ folder; another folder for a "
                                "run you cannot write, such as one on a read-only share)", metavar="DIR")


@dataclass(kw_only=True)
class ShowConfig:
    """`eigen show`: a genome's layers, blocks and cost, or a drawing of it."""

    path: str = opt(None, "genome.json, best.json, a run folder, a final folder or a checkpoint (.pt)", positional=True)
    pick: str | None = opt(None, "on a run folder: individual ID of its history; on a final folder: candidate ID "
                                 "(c0, c1, ...)", metavar="ID")
    out: str | None = opt(None, "draw it to this file: .svg, .png, .pdf, or .dot for Graphviz", metavar="FILE")
    json: bool = opt(False, "print the layers, blocks and totals as one JSON object")
    image_size: int | None = opt(None, "image side the cost is computed at (default: the one the files say, else 32)",
                                 type=positive_int)
    classes: int | None = opt(None, "classes of the classifier (default: the files', else 10)", type=positive_int)


@dataclass(kw_only=True)
class EvalConfig(DeviceOptions):
    """`eigen eval`: test accuracy of a final folder, a genome + weights, or an export."""

    path: str = opt(None, "final/ folder, genome.json (weights beside it), a checkpoint .pt, an export "
                          "(model.pt2, model.onnx)", positional=True)
    data_dir: str = opt("~/.cache/eigen", "where datasets are downloaded or found (.npz files accepted)",
                         metavar="PATH")
    dataset: str | None = opt(None, "dataset to evaluate on (default: the one the model was trained on)",
                               metavar="NAME")
    image_size: int | None = opt(None, "image side in pixels (default: the model's own)", type=positive_int)
    top_k: int = opt(1, "ensemble the best k candidates of a final folder (averaged softmax)", type=positive_int)
    pick: str | None = opt(None, "on a run folder: the model `eigen duplicate RUN --pick ID` made of individual ID; on "
                                 "a final folder: its candidate ID (c0, c1, ...)", metavar="ID")
    # A light command: by default it takes the GPU if there is one, else the CPU (and says which).
    gpu: int | None = opt(None, "CUDA device index; -1 runs on the CPU (default: GPU 0 if there is one, "
                                "else the CPU)", type=gpu_index)
    confusion: str | None = opt(None, "where to draw the confusion matrix (default: confusion-<model>-<dataset>.png "
                                      "and .svg beside the model)", metavar="PNG")
    json: bool = opt(False, "print the results as one JSON object (top-1, top-5, per-class accuracy, files)")
    tta: str | None = opt(None, "also report test-time augmentation: the mean softmax over the image and its mirror "
                                "(flip) or over those shifted by 2 pixels each way too (flip-translate, 10 views); "
                                "never used to choose anything", choices=("flip", "flip-translate"), metavar="KIND")


@dataclass(kw_only=True)
class PredictConfig:
    """`eigen predict`: the most probable classes of each image, from a final folder or an export."""

    model: str = opt(None, "final/ folder (or its run folder), model.pt2 or model.onnx",
                     positional=True)
    images: list = opt(None, "image files, or folders of them (png, jpg, ...)", positional=True, nargs="+")
    pick: str | None = opt(None, "on a run folder: the model `eigen duplicate RUN --pick ID` made of individual ID",
                           metavar="ID")
    top_k: int = opt(5, "classes shown per image, most probable first", type=positive_int)
    json: bool = opt(False, "print the predictions as one JSON object")


def check_saved_settings(config_class: type, saved: dict) -> None:
    """Raise ValueError naming the first setting in a saved config (a run's config.json) whose value
    the command line could not have produced: the wrong type, outside its range, not a choice.

    A hand-edited config.json that still parses would otherwise fail deep inside the search (a
    `--max-params` of `{}` compared with an int); the caller turns this error into one sentence.
    """
    kinds = {"int": int, "float": (int, float), "str": str, "bool": bool, "None": type(None)}
    for f in dataclasses.fields(config_class):
        if f.name not in saved:
            continue
        value = saved[f.name]
        allowed = tuple(k for name in str(f.type).replace(" ", "").split("|") for k in
                        (kinds[name] if isinstance(kinds.get(name), tuple) else (kinds.get(name, object),)))
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise ValueError(f"setting {f.name} is {value!r}, not a {f.type}")
        meta = f.metadata
        if value is not None and meta.get("type") is not None:
            try:
                meta["type"](str(value))
            except (argparse.ArgumentTypeError, ValueError) as e:
                raise ValueError(f"setting {f.name}: {e}") from None
        if value is not None and meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"setting {f.name} is {value!r}, not one of {', '.join(meta['choices'])}")


def command_line(command: str, config_class: type, settings: dict, leave_out: tuple[str, ...] = ()) -> str:
    """`eigen <command> ...` that sets every one of `settings` (a run's saved config) that differs
    from the command's default: the command that runs it again (the report's "reproduce" line).
    Durations are written in seconds, as saved."""
    import shlex
    words = ["eigen", command]
    for f in dataclasses.fields(config_class):
        if f.name in leave_out or f.name not in settings:
            continue
        value, default = settings[f.name], f.default
        if value == default or value is None:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(switch_flags(f.name)[0 if value else 1])
        elif f.metadata.get("positional"):
            words.append(shlex.quote(str(value)))
        else:
            text = f"{value:g}s" if f.name == "time_budget" else (f"{value:g}" if isinstance(value, float) else str(value))
            words += [flag, shlex.quote(text)]
    return " ".join(words)
