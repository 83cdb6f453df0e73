"""A trained network in forms that outlive eigen: genome JSON, safetensors weights, `torch.export`.

    genome.json             the architecture (rebuild it with `eigen.build_model`)
    model.safetensors       the network's state_dict (model.pt, a plain `torch.save`, when the
                            safetensors package is missing)
    model.pt2               a `torch.export` program with the input handling built in: it takes float
                            images (B, 3, H, W) in [0, 1], as torchvision's ToTensor makes them, for any
                            batch size, and returns logits; anything else (uint8 pixels in 0..255,
                            images already normalised) is refused with an error that says so, never
                            silently mis-normalised. `torch.export.load(path).module()` runs it
                            without eigen installed
    ensemble.pt2            the same for an ensemble: the mean of the members' softmax outputs
    model.onnx              with `--onnx` (pip install "eigen[onnx]"): the same network for
                            onnxruntime; it refuses other dtypes, but not values outside [0, 1]

Each export carries `eigen.json` (dataset, class names, image size, what the output is): an extra
file of the .pt2 archive, a metadata property of the ONNX model. TorchScript is not written:
`torch.jit.trace` and `torch.jit.load` are deprecated upstream and warn.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..errors import EigenError, first_line
from ..genome.dna import Genome
from ..genome.model import build_model
from ..run_folder.folder import disk_full, full_disk_error, write_bytes, write_torch

METADATA = "eigen.json"  # the extra file inside every export (metadata property of an ONNX model)
INPUT_RULE = ("eigen model: images must be float tensors (B, 3, H, W) with values in [0, 1]; "
              "divide uint8 pixels by 255 first")
MAX_BATCH = 1 << 16  # the largest batch an exported program accepts


class Normalized(nn.Module):
    """`net` behind the preprocessing it was trained with (eigen/data/preprocess.py: standardisation,
    or GCN + ZCA whitening), so the export, or the module `eigen.load` returns, takes images in [0, 1].

    A GenomeNet's backbone interface (timm's names) passes through: `forward_features` takes [0, 1]
    images too, the rest (`forward_head`, `get_classifier`, `reset_classifier`, `num_features`,
    `num_classes`) are the network's own, so fine-tuning code written for timm models runs on it."""

    def __init__(self, net: nn.Module, preprocess: nn.Module):
        super().__init__()
        self.net = net
        self.preprocess = copy.deepcopy(preprocess).cpu()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (B, 3, H, W) -> the feature map (B, num_features, h, w) the classifier pools."""
        return self.net.forward_features(self.preprocess(images))

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.net.forward_head(features, pre_logits=pre_logits)

    def get_classifier(self) -> nn.Module:
        return self.net.get_classifier()

    def reset_classifier(self, num_classes: int) -> None:
        self.net.reset_classifier(num_classes)

    @property
    def num_features(self) -> int:
        return self.net.num_features

    @property
    def num_classes(self) -> int:
        return self.net.num_classes


class CheckedImages(nn.Module):
    """`net` behind a check that the images are what the export says it takes: floats in [0, 1].

    uint8 pixels (0..255) or images normalised already would otherwise give confident nonsense. The
    check is a tensor assertion, so it survives `torch.export` and runs on every call."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        torch._assert_async(((images >= 0) & (images <= 1)).all(), INPUT_RULE)
        return self.net(images.float())


class SoftmaxEnsemble(nn.Module):
    """Large-Scale Evolution's ensemble: the mean of the members' class probabilities."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(images).float().softmax(dim=1) for m in self.members]).mean(dim=0)


def safetensors_available() -> bool:
    return importlib.util.find_spec("safetensors") is not None


def save_weights(model: nn.Module, folder: Path, metadata: dict[str, str] | None = None) -> Path:
    """The state_dict as model.safetensors (or model.pt without the safetensors package), atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if safetensors_available():
        from safetensors.torch import save
        path = folder / "model.safetensors"
        write_bytes(path, save(state, metadata=metadata))
    else:
        path = folder / "model.pt"
        write_torch(path, state)
    return path


def _replace_atomically(path: Path, save) -> None:
    """`save(tmp)` next to `path`, then rename over it: a reader never sees half a file. The
    temporary keeps the suffix (`.model.tmp.pt2`): torch.export warns about an archive whose name
    does not end in .pt2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        save(tmp)
        tmp.replace(path)
    except OSError:
        raise
    except Exception:
        if disk_full(path.parent):  # the library's own words for ENOSPC: say what it was
            raise full_disk_error(path) from None
        raise
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
        first = first_line(e)
        raise EigenError(f"the weights do not fit the genome ({first}); keep genome.json and its weights together") from None
    return model.eval()


def export_program(model: nn.Module, path: Path, image_size: int, metadata: dict) -> Path:
    """`torch.export` `model` (which takes [0, 1] images) on the CPU in eval mode, for any batch size,
    behind the input check, and save it atomically with `metadata` as the extra file eigen.json."""
    program = _exported(model, image_size)
    buffer = io.BytesIO()  # in memory, then written atomically: a full disk is an OSError, not torch's words
    torch.export.save(program, buffer, extra_files={METADATA: json.dumps(metadata)})
    write_bytes(path, buffer.getvalue())
    return path


def _exported(model: nn.Module, image_size: int):
    checked = CheckedImages(model.cpu().float().eval()).eval()
    example = torch.rand(2, 3, image_size, image_size)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        return torch.export.export(checked, (example,), dynamic_shapes={"images": {0: batch}})


def onnx_missing() -> str | None:
    """Why `--onnx` cannot work here (one sentence), or None when it can."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        return (f"--onnx needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}, not installed; "
                f"install them with pip install \"eigen[onnx]\" or leave out --onnx")
    return None


def export_onnx(model: nn.Module, path: Path, image_size: int, metadata: dict) -> Path:
    """The same network as ONNX (dynamo exporter, any batch size), with eigen.json as metadata."""
    checked = CheckedImages(model.cpu().float().eval()).eval()
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's progress lines and notes are not the user's business
        program = torch.onnx.export(checked, (torch.rand(2, 3, image_size, image_size),), dynamo=True,
                                    dynamic_shapes={"images": {0: batch}}, input_names=["images"],
                                    output_names=["scores"], verbose=False)
    program.model.metadata_props[METADATA] = json.dumps(metadata)
    _replace_atomically(path, lambda tmp: program.save(str(tmp)))
    return path


def load_program(path: Path, device="cpu") -> tuple[nn.Module, dict]:
    """A model.pt2 as a module on `device`, and its eigen metadata ({} for one eigen did not write)."""
    if not zipfile.is_zipfile(path):
        raise EigenError(f"{path} cannot be loaded as a torch.export program (it is not a .pt2 archive); "
                         f"export it again with `eigen duplicate`")
    extra = {METADATA: ""}
    quiet = logging.getLogger("torch.export")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # torch logs a traceback before it raises; the sentence below says it
    try:
        module = torch.export.load(str(path), extra_files=extra).module()
    except Exception as e:
        raise EigenError(f"{path} cannot be loaded as a torch.export program "
                         f"({type(e).__name__}: {first_line(e)})") from None
    finally:
        quiet.setLevel(level)
    raw = extra[METADATA]
    meta = json.loads(raw.decode() if isinstance(raw, bytes) else raw) if raw else {}
    return module.to(device), meta


class OnnxModel:
    """An ONNX export behind the interface of a module: images (a torch tensor) in, scores out."""

    def __init__(self, path: Path):
        import onnxruntime
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA)
        self.meta = json.loads(raw) if raw else {}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input: images.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out).to(images.device)

    def eval(self):
        return self


def load_onnx(path: Path) -> tuple[OnnxModel, dict]:
    if importlib.util.find_spec("onnxruntime") is None:
        raise EigenError(f"{path} is an ONNX model; reading it needs onnxruntime (pip install \"eigen[onnx]\")")
    try:
        model = OnnxModel(path)
    except Exception as e:
        raise EigenError(f"{path} cannot be loaded as an ONNX model "
                         f"({type(e).__name__}: {first_line(e)})") from None
    return model, model.meta


def is_program(path: Path) -> bool:
    """Whether `path` is a `torch.export` archive (.pt2)."""
    return path.suffix == ".pt2"

