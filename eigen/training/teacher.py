"""The teacher's side of mimicry (SPEC §8, EIGEN §3.2): its members and their exact cached logits.

`eigen train-teacher` (`commands/train_teacher.py`) trains the DenseNet-BC members and writes
`teachers/<dataset>/`; this module rebuilds them and serves their logits to the search.

Running the ensemble next to every student would cost more than training the students, so its
logits are computed once for every training image under every augmentation view (9 x 9 crop
offsets x 2 flips = 162; the finite set `DeviceData.augmented` can produce), averaged over the
members, stored fp16 as (N_train, 162, K), and gathered per batch by (image, view): each student
sees the teacher's output for exactly the image it trains on. The cache's key covers the data split,
the members' weights, the augmentation and the class count; a stale cache is rebuilt.
"""
from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import torch

from ..data.datasets import data_dir_flag
from ..data.device_data import NUM_VIEWS, PAD, DeviceData
from ..device import device_flag
from ..errors import EigenError
from ..progress import Tick
from ..run_folder.file_types import TeacherDescription
from ..run_folder.folder import SHAPE_ERRORS, interpreting, load_checkpoint, read_json, write_torch
from .densenet import DenseNetBC




def train_teacher_hint(splits, data_dir: str, gpu: int) -> str:
    """The `eigen train-teacher` command that trains the teacher `find_teacher` looks for, with every
    flag it needs to run as printed: the image folder's path, the image size, data folder, device; for
    data given from Python, the Python call."""
    if splits.in_memory:
        return f"eigen.train_teacher(data=...{f', gpu={gpu}' if gpu != 0 else ''})"
    dataset = f"imagefolder:{splits.folder}" if splits.folder is not None else splits.name
    words = f"eigen train-teacher --dataset {shlex.quote(dataset)}"
    if splits.image_size != 32:
        words += f" --image-size {splits.image_size}"
    return words + data_dir_flag(splits.name, data_dir) + device_flag(gpu)


def find_teacher(config, splits) -> tuple[Path | None, str]:
    """The teacher folder a search or duplication mimics (its `--teacher`, `--no-mimicry`, `--data-dir`
    and `--gpu`), or None and a sentence saying why there is none. The default folder is
    teachers/<the data's identity>: an image folder's teacher is its own."""
    hint = lambda: train_teacher_hint(splits, config.data_dir, config.gpu)
    if config.no_mimicry:
        return None, "mimicry off (--no-mimicry)"
    folder = Path(config.teacher) if config.teacher else Path("teachers") / splits.identity
    if config.teacher and not (folder / "ensemble.json").exists():
        raise EigenError(f"--teacher {folder} is not a teacher folder (no ensemble.json); train one with "
                         f"`{hint()}` or pass --no-mimicry")
    if not (folder / "ensemble.json").exists():
        return None, (f"mimicry off: no teacher for this data in {folder}/; train one with "
                      f"`{hint()}` (or pass --no-mimicry to say so)")
    return folder, f"mimicry on: every child learns from the teacher in {folder}/ (Eq. 3, T = 5, alpha = 0.9)"


def build_member(arch: dict) -> DenseNetBC:
    return DenseNetBC(arch["depth"], arch["growth"], arch["num_classes"])


def load_member(saved: dict, device) -> torch.nn.Module:
    """A trained member for inference, channels_last: the layout its convolutions run fastest in (on
    the CPU too: 2.4x for the logits cache of the tests' tiny teacher, with the same logits)."""
    model = build_member(saved["architecture"])
    model.load_state_dict(saved["model"])
    return model.to(device, memory_format=torch.channels_last).eval()


@torch.no_grad()
def ensemble_logits(models, x: torch.Tensor) -> torch.Tensor:
    """The members' mean logits for images x (B, C, H, W), fp32 (bf16 autocast on a GPU)."""
    on_gpu = x.device.type == "cuda"
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=on_gpu):
        return torch.stack([m(x).float() for m in models]).mean(dim=0)


@torch.no_grad()
def member_ensemble_accuracy(models, data: DeviceData, split: str) -> float:
    correct = total = 0
    for x, y in data.eval_batches(split):
        correct += (ensemble_logits(models, x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / total


def _teacher_fingerprint(folder: Path, ensemble: dict) -> str:
    h = hashlib.sha256()
    for member in ensemble["members"]:
        h.update((folder / member["file"]).read_bytes())
    return h.hexdigest()[:16]


def cache_key(folder: Path, ensemble: dict, data: DeviceData) -> str:
    """What the cached logits depend on: the split, the members' weights, the views, the classes."""
    parts = [data.fingerprint, _teacher_fingerprint(folder, ensemble), f"pad={PAD}", f"views={NUM_VIEWS}",
             f"classes={data.num_classes}"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def teacher_preprocess(folder: Path, ensemble: dict, data: DeviceData) -> torch.nn.Module:
    """What the teacher's members saw of an image, whatever the student sees: its own preprocessing
    (ensemble.json; a teacher from before the choice standardised), fitted on this same training
    split (gcn-zca: the folder's preprocess.pt, checked against the data)."""
    from ..data.device_data import PAD
    from ..data.preprocess import FILE, fit, load
    kind = ensemble.get("preprocess", "standard")
    if kind == data.preprocess.kind == "standard":
        return data.preprocess
    if kind == "standard":
        return fit("standard", data.train_padded[:, :, PAD:-PAD, PAD:-PAD])
    return load(folder / FILE, data.fingerprint).to(data.device)


def teacher_logits(folder: Path, data: DeviceData, say=lambda text: None, batch_size: int = 1024,
                   progress: Tick | None = None) -> torch.Tensor:
    """The ensemble's mean logits (N_train, NUM_VIEWS, K) fp16 on `data.device`; built once, then cached.
    `progress` hears (views done, views in all) while the cache is built: N_train x NUM_VIEWS forward
    passes of every member, minutes on a GPU for CIFAR."""
    folder = Path(folder)
    ensemble = read_json(folder / "ensemble.json", "the teacher's description", TeacherDescription)
    with interpreting(folder / "ensemble.json", "the teacher's description",
                      "train the teacher again with `eigen train-teacher` or pass --no-mimicry"):
        classes = int(ensemble["architecture"]["num_classes"])
        key = cache_key(folder, ensemble, data)
    if classes != data.num_classes:
        raise EigenError(f"the teacher in {folder} predicts {classes} classes, the data has {data.num_classes}; "
                         f"train a teacher for this dataset with `eigen train-teacher --dataset ...`")
    path = folder / f"logits-{key}.pt"
    if path.exists():
        try:  # a damaged cache is only a cache: it is rebuilt below
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if cached["key"] == key and tuple(cached["logits"].shape) == (data.num_train, NUM_VIEWS, classes):
                return cached["logits"].to(data.device)
        except (RuntimeError, EOFError, *SHAPE_ERRORS, __import__("pickle").UnpicklingError):
            pass
    say(f"building the teacher's logits cache ({data.num_train} images x {NUM_VIEWS} views)")
    for stale in folder.glob("logits-*.pt"):
        stale.unlink()
    fix = "train the teacher again with `eigen train-teacher` or pass --no-mimicry"
    preprocess = teacher_preprocess(folder, ensemble, data)
    models = []
    for m in ensemble["members"]:
        member = load_checkpoint(folder / m["file"], "a teacher member", fix)
        with interpreting(folder / m["file"], "a teacher member", fix):
            models.append(load_member(member, data.device))
    logits = torch.empty(data.num_train, NUM_VIEWS, classes, dtype=torch.float16, device=data.device)
    for view in range(NUM_VIEWS):
        for start in range(0, data.num_train, batch_size):
            end = min(start + batch_size, data.num_train)
            idx = torch.arange(start, end, device=data.device)
            x = preprocess(data.views_of(idx, torch.full_like(idx, view)).float() / 255)  # as the members saw it
            logits[idx, view] = ensemble_logits(models, x).half()
            if progress is not None:
                progress(view * data.num_train + end, NUM_VIEWS * data.num_train)
    write_torch(path, {"key": key, "logits": logits.cpu()})
    return logits
