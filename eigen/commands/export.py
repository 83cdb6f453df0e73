"""A trained network in forms that outlive eigen: genome JSON, safetensors weights, TorchScript.

    genome.json             the architecture (rebuild it with `eigen.build_model`)
    model.safetensors       the network's state_dict (model.pt, a plain `torch.save`, when the
                            safetensors package is missing)
    model.torchscript.pt    the network with the input normalisation built in: it takes float images
                            (B, 3, H, W) in [0, 1], as torchvision's ToTensor makes them, and returns
                            logits; `torch.jit.load` runs it without eigen installed
    ensemble.torchscript.pt the same for an ensemble: the mean of the members' softmax outputs

Each TorchScript file carries `eigen.json` (dataset, class names, image size, what the output is)
as an extra file, so `eigen eval` can tell what it is looking at. The export is traced: the forward
pass of a genome has no data-dependent control flow, so the trace is the whole network.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import EigenError
from ..genome.dna import Genome
from ..genome.model import build_model

METADATA = "eigen.json"  # the extra file inside every TorchScript export


class Normalized(nn.Module):
    """`net` behind the training normalisation: (images in [0, 1] - mean) / std."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.detach().float().reshape(1, -1, 1, 1).cpu().clone())
        self.register_buffer("std", std.detach().float().reshape(1, -1, 1, 1).cpu().clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)


class SoftmaxEnsemble(nn.Module):
    """Large-Scale Evolution's ensemble: the mean of the members' class probabilities."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(images).float().softmax(dim=1) for m in self.members]).mean(dim=0)


def safetensors_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("safetensors") is not None


def save_weights(model: nn.Module, folder: Path, metadata: dict[str, str] | None = None) -> Path:
    """The state_dict as model.safetensors (or model.pt without the safetensors package), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if safetensors_available():
        from safetensors.torch import save_file
        path = folder / "model.safetensors"
        save = lambda target: save_file(state, str(target), metadata=metadata)
    else:
        path = folder / "model.pt"
        save = lambda target: torch.save(state, target)
    _replace_atomically(path, save)
    return path


def _replace_atomically(path: Path, save) -> None:
    """`save(tmp)` next to `path`, then rename over it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            if not safetensors_available():
                raise EigenError(f"{path} is a safetensors file; install the safetensors package to read it "
                                 f"(pip install safetensors)")
            from safetensors.torch import load_file
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except EigenError:
        raise
    except Exception as e:
        raise EigenError(f"{path} cannot be read as weights ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "trainer" in state:  # an eigen checkpoint: the weights are inside
        state = state["trainer"]["model"]
    return state


def weights_file(folder: Path) -> Path | None:
    """The weights saved beside a genome.json, if any."""
    for name in ("model.safetensors", "model.pt"):
        if (folder / name).exists():
            return folder / name
    return None


def model_from(genome: Genome, state: dict[str, torch.Tensor], num_classes: int, image_size: int) -> nn.Module:
    """Build `genome` and load `state` into it; a mismatch is a clear error, not a traceback."""
    model = build_model(genome, num_classes, image_size)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise EigenError(f"the weights do not fit the genome ({first}); keep genome.json and its weights together") from None
    return model.eval()


def export_torchscript(model: nn.Module, path: Path, image_size: int, metadata: dict) -> Path:
    """Trace `model` (which takes [0, 1] images) on the CPU in eval mode and save it with `metadata`."""
    model = model.cpu().float().eval()
    example = torch.rand(2, 3, image_size, image_size)
    with warnings.catch_warnings(), torch.no_grad():
        # torch >= 2.10 marks tracing deprecated in favour of torch.export; TorchScript is still what
        # loads anywhere with a bare `torch.jit.load`, which is the point of this file.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        _replace_atomically(path, lambda tmp: torch.jit.save(traced, str(tmp), _extra_files={METADATA: json.dumps(metadata)}))
    return path


def is_torchscript(path: Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip with compiled code) rather than a pickled checkpoint."""
    import zipfile
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name.split("/", 1)[-1].startswith("code/") for name in z.namelist())


def load_torchscript(path: Path, device="cpu") -> tuple[torch.jit.ScriptModule, dict]:
    """A TorchScript export and its eigen metadata ({} for one eigen did not write)."""
    extra = {METADATA: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as e:
        raise EigenError(f"{path} cannot be loaded as TorchScript ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    raw = extra[METADATA]
    meta = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
    return module.eval(), meta
