"""The type of every field of the JSON files eigen reads back, other than state.json (whose fields
are the dataclasses of `search/`): a run's config.json and best.json, a final folder's plan.json,
state.json and metrics.json, a teacher's ensemble.json. `read_json(path, what, shape=...)` checks a
file against one of these where it is read (`json_types.py`), so a wrong type is one sentence naming the
file and the field, never a traceback later. Every key may be missing here (`total=False`): a
missing key is the reader's KeyError, said the same way, and older files lack some.
"""
from __future__ import annotations

from typing import Any, TypedDict

from ..genome.dna import Genome


class SavedSchedule(TypedDict, total=False):
    """A training schedule as config.json and plan.json hold it (`training.trainer.Schedule`'s fields)."""

    total: int
    milestones: list[int]
    gamma: float
    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    shape: str
    nesterov: bool
    label_smoothing: float
    ema_half_life: int  # --child-recipe fast's weight average; absent before it existed: none


class DataInfo(TypedDict, total=False):
    dataset: str
    classes: int
    image_size: int
    train: int
    val: int
    test: int
    fingerprint: str
    class_names: list[str]
    preprocess: str  # standard or gcn-zca; a search before eigen had the choice: standard


class Resolved(TypedDict, total=False):
    population: int
    stage_ends: list[int] | None  # EIGEN only
    child_steps: int | None
    schedule: SavedSchedule
    mimicry: bool
    mimicry_note: str | None
    teacher: str | None


class RunConfig(TypedDict, total=False):
    """A run's config.json (its `settings` are checked flag by flag by `check_saved_settings`)."""

    command: str
    settings: dict[str, Any]
    resolved: Resolved
    data: DataInfo | None
    device: str | None
    cpu_threads: int  # intra-op threads of its CPU trainings (eigen/executors/threads.py); absent before: unknown
    versions: dict[str, str]
    git_commit: str | None
    created: str


class Spent(TypedDict, total=False):
    """FLOPs and device-seconds spent (a generation's, or the whole search's), as state.json and
    best.json hold them; `search/spending.py` sums them."""

    flops: int
    seconds: float


class LatencySetting(TypedDict):
    """Where and at what batch a run times its genomes (`ms` in --fitness, --max-ms)."""

    device: str
    batch: int


class Answer(TypedDict, total=False):
    """best.json: the search's answer, all `eigen duplicate` needs."""

    run: str | None
    id: str
    generation: int
    fitness: float
    fitness_expression: str
    val_accuracy: float
    test_accuracy: float | None
    params: int
    flops: int
    weights: str | None
    genome: Genome
    search_cost: Spent
    data: DataInfo | None
    ensemble: dict[str, Any] | None
    latency: LatencySetting | None  # where the run timed its genomes (None: it did not)
    ms: float | None  # the best's measured latency


class SavedBlock(TypedDict, total=False):
    """A block of the best genome as plan.json holds it (`genome.blocks.Block`'s fields)."""

    number: int
    size: list[int]
    nodes: list[str]
    exit: str
    entry_sources: list[str]
    params: int
    reason: str | None


class PlanCandidate(TypedDict, total=False):
    id: str
    copies: dict[str, int]
    label: str
    params: int
    flops: int
    key: str
    genome: Genome
    latency: dict[str, Any] | None  # measured when the fitness uses ms (eigen/training/latency.py)


class PlanSource(TypedDict, total=False):
    id: str
    fitness: float
    val_accuracy: float | None
    test_accuracy: float | None
    params: int
    flops: int
    search_cost: Spent | None
    run: str | None
    picked: bool  # chosen with `eigen duplicate --pick`, not the search's best


class PlanSettings(TypedDict, total=False):
    """The flags a duplication is fixed by once planned (`final/plan.py`, PLAN_SETTINGS)."""

    seed: int
    schedule_scale: float
    max_copies: int
    max_params: int | None
    candidates: int
    preprocess: str
    final_recipe: str


class Plan(TypedDict, total=False):
    """final/plan.json: what a duplication trains, fixed when it begins."""

    version: int
    command: str
    best: str
    source: PlanSource
    fitness_expression: str
    source_key: str
    settings: PlanSettings
    teacher: str | None
    mimicry_note: str | None
    schedule: SavedSchedule
    chunk_ends: list[int]
    data: DataInfo
    blocks: list[SavedBlock]
    candidates: list[PlanCandidate]
    versions: dict[str, str]
    git_commit: str | None
    created: str
    device: str | None
    cpu_threads: int  # intra-op threads of its CPU trainings (eigen/executors/threads.py); absent before: unknown
    latency: LatencySetting | None  # where the candidates were timed, when the fitness uses ms


class CandidateProgress(TypedDict, total=False):
    step: int
    status: str
    fitness: float | None
    seconds: float
    curve: list[list[float]]  # [iteration, validation accuracy] at each chunk's end


class DuplicationProgress(TypedDict, total=False):
    """final/state.json: how far each candidate has trained."""

    version: int
    candidates: dict[str, CandidateProgress]
    tests: dict[str, float]


class FinalModel(TypedDict, total=False):
    candidate: str
    duplication: str
    copies: dict[str, int]
    val_accuracy: float | None
    test_accuracy: float | None
    test_accuracy_tta: float | None  # beside test_accuracy, never instead (absent before issue #30)
    tta: str
    params: int
    flops: int
    key: str
    ms: float | None  # measured latency, when the fitness used ms (absent before issue #31)


class FinalCandidate(TypedDict, total=False):
    id: str
    duplication: str
    params: int
    flops: int
    val_accuracy: float | None
    status: str
    device_seconds: float | None
    ms: float | None


class Normalization(TypedDict, total=False):
    kind: str  # standard (mean, std) or gcn-zca (its matrix in preprocess.pt); absent before gcn-zca: standard
    mean: list[float]
    std: list[float]
    gcn_scale: float
    zca_bias: float
    dimensions: int
    file: str


class FinalMetrics(TypedDict, total=False):
    """final/metrics.json: the final model, its cost and how to feed it."""

    model: FinalModel
    parent: dict[str, Any]
    candidates: list[FinalCandidate]
    ensemble: dict[str, Any] | None
    device_seconds: dict[str, float | None]
    device: str | None
    cost: dict[str, dict[str, float | None]]
    fitness_expression: str
    dataset: str
    classes: list[str]
    image_size: int
    input: str
    normalization: Normalization
    files: dict[str, str | None]
    mimicry: bool
    teacher: str | None
    schedule: SavedSchedule
    final_recipe: str  # paper or long (absent before issue #30: paper)
    created: str


class TeacherMember(TypedDict, total=False):
    file: str
    val_accuracy: float
    test_accuracy: float
    gpu_seconds: float
    images_per_second: float


class TeacherDescription(TypedDict, total=False):
    """A teacher folder's ensemble.json."""

    architecture: dict[str, int | float | str]
    preprocess: str  # what the members saw: standard or gcn-zca (absent: standard)
    recipe: dict[str, Any]
    params_per_member: int
    members: list[TeacherMember]
    ensemble: dict[str, float]
    data: dict[str, int | str]
    cpu_threads: int  # intra-op threads of the last sitting's CPU trainings (absent before eigen recorded it)
    created: str
    logits_cache_seconds: float


class MlflowRunIds(TypedDict, total=False):
    """A run folder's mlflow.json (`--mlflow`): the search's MLflow run at each tracking URI it
    logged to, so a resumed search goes on in the same run (`tracking/mlflow_runs.py`)."""

    runs: dict[str, str]  # tracking URI -> run id
