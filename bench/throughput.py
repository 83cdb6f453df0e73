"""Images/s of eigen's child training vs a plain PyTorch loop, same genome, same batch, one run.

    python3 bench/throughput.py --data-dir /root/cifar --gpu 0            # both genomes, H100 figures
    python3 bench/throughput.py --data-dir /tmp/cifar --gpu -1 --iterations 20 --warmup 5   # CPU smoke

(a) plain: a torch Dataset over the CIFAR-10 training arrays that does what torchvision's CIFAR10
    does per image (PIL image, RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor,
    Normalize), a DataLoader with CPU workers, fp32, eager, SGD. torchvision's own CIFAR10 class
    cannot read the offline .npz layout, hence the array-backed Dataset; the per-image work is the same.
(b) eigen: `eigen.training.trainer.Trainer` (data on the device, augmentation gathered there, bf16 +
    channels_last, CUDA graph on a GPU).

Prints one line per genome and writes a JSON record (with torch version, device and date) to --out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torchvision.transforms as T
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_record import bench_record, save_record  # noqa: E402

from eigen import Genome, build_model  # noqa: E402
from eigen.data.datasets import load_splits  # noqa: E402
from eigen.data.device_data import DeviceData  # noqa: E402
from eigen.device import resolve_device  # noqa: E402
from eigen.training.trainer import Schedule, Trainer  # noqa: E402

GENOMES = Path(__file__).parent / "genomes"


class ArrayCIFAR(torch.utils.data.Dataset):
    """torchvision.datasets.CIFAR10.__getitem__, over arrays: PIL image, then the transform."""

    def __init__(self, x, y, transform):
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i])), int(self.y[i])


def channel_stats(splits) -> tuple[list[float], list[float]]:
    """The training images' per-channel mean and std (fractions of 255), for Normalize. Over 138 M
    values in float64 this takes a second or two and a gigabyte: compute it once per run."""
    x = splits.train.x.reshape(-1, 3)
    return (x.mean(0) / 255).tolist(), (x.std(0) / 255).tolist()


def plain_loop(genome, splits, device, batch_size, iterations, warmup, workers, stats=None):
    mean, std = stats or channel_stats(splits)
    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(ArrayCIFAR(splits.train.x, splits.train.y, transform), batch_size=batch_size,
                                         shuffle=True, drop_last=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    torch.manual_seed(0)
    model = build_model(genome, splits.num_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    done, started = 0, None
    while done < warmup + iterations:
        for x, y in loader:
            if done == warmup:
                sync(device)
                started = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            done += 1
            if done == warmup + iterations:
                break
    sync(device)
    return iterations * batch_size / (time.perf_counter() - started)


def eigen_trainer(genome, data, device, batch_size, iterations, warmup, teacher_logits=None):
    """(images/s, graphed, graph error, capture seconds) of eigen's trainer after `warmup` untimed
    iterations (the CUDA-graph capture among them; capture seconds are None on a CPU), with the
    mimicry loss when `teacher_logits` (N_train, views, K) is given."""
    torch.manual_seed(0)
    model = build_model(genome, data.num_classes)
    trainer = Trainer(model, data, Schedule(total=warmup + iterations, batch_size=batch_size), seed=0,
                      teacher_logits=teacher_logits)
    trainer.train(until=warmup)  # includes graph capture on a GPU
    sync(device)
    result = trainer.train(until=warmup + iterations)
    sync(device)
    if not result.ok:  # an error, not SystemExit: bench/gpu_check.py records it and goes on
        raise RuntimeError(f"eigen trainer failed: {result.status}")
    return iterations * batch_size / result.seconds, result.graphed, trainer.graph_error, trainer.capture_seconds


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def arguments() -> argparse.ArgumentParser:
    """The command line, apart from main, so a documented command's flags can be checked without running
    it (tests/test_doc_commands.py)."""
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default="~/.cache/eigen")
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--genomes", nargs="+", default=["six-conv-1.15m", "tiny-early"])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=500, help="timed iterations per trainer")
    ap.add_argument("--warmup", type=int, default=50, help="untimed iterations first")
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers (plain)")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)

    device = resolve_device(args.gpu)
    splits = load_splits("cifar10", args.data_dir)
    data = DeviceData(splits, device)
    rows, stats = [], channel_stats(splits)
    for name in args.genomes:
        genome = Genome.from_json((GENOMES / f"{name}.json").read_text())
        plain = plain_loop(genome, splits, device, args.batch_size, args.iterations, args.warmup, args.workers, stats)
        fast, graphed, graph_error, _ = eigen_trainer(genome, data, device, args.batch_size, args.iterations, args.warmup)
        params = sum(p.numel() for p in build_model(genome, 10).parameters())
        rows.append(dict(genome=name, params=params, plain_images_per_s=round(plain), eigen_images_per_s=round(fast),
                         ratio=round(fast / plain, 2), graphed=graphed, graph_error=graph_error))
        print(f"{name:16s} {params / 1e6:6.3f}M params   plain {plain:9.0f} img/s   eigen {fast:9.0f} img/s   "
              f"x{fast / plain:5.2f}   graphed={graphed}" + (f" ({graph_error})" if graph_error else ""), flush=True)
    save_record(bench_record(device, batch_size=args.batch_size, iterations=args.iterations, results=rows), args.out)


if __name__ == "__main__":
    main()
