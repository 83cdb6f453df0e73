"""Each genome's latency, measured once per key and kept in the run folder (issue #31).

A search that scores or limits latency (`ms` in `--fitness`, `--max-ms`) measures a genome when it
is first drawn, before it is trained, so that `--max-ms` can redraw it without spending a training.
Every later draw of the same network (a twin, a child identical to its parent, the same child drawn
again after a kill) takes the recorded answer: a measurement is noisy, and a resumed run must make
the choices an unkilled one made, so no key is ever measured twice in a run.

`latency.jsonl` holds one line per key, appended (on disk before the measurement is used) as it is
measured, rejected draws included; a resumed run reads it back, and also takes any latency that
history.jsonl carries (the records carry theirs too). A last line cut short by a kill is dropped.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from ..errors import EigenError
from ..genome.dna import Genome
from ..run_folder import json_types
from ..run_folder.file_types import LatencySetting
from ..run_folder.folder import named
from ..training.latency import Latency, measure_latency
from .fitness import Fitness

MeasureLatency = Callable[[Genome, int, int, str, int], Latency]
FILE = "latency.jsonl"
FIX = "remove it to measure every genome again (a resumed run may then choose differently)"


def times_latency(fitness: str, max_ms: float | None) -> bool:
    """Whether a search times its genomes: `ms` in its --fitness, or a --max-ms."""
    return max_ms is not None or Fitness.parse(fitness).uses_latency


def saved_latency_setting(settings: dict) -> LatencySetting | None:
    """Where and at what batch a run timed its genomes, from its saved settings (config.json's);
    None when it timed nothing (its latency device is set only then)."""
    device = settings.get("latency_device")
    return {"device": device, "batch": settings.get("latency_batch", 1)} if device else None


class Latencies:
    """Latency by genome key for one run: read from `folder/latency.jsonl`, measured when missing."""

    def __init__(self, folder: Path, device: str, batch: int, image_size: int, num_classes: int,
                 measure: MeasureLatency = measure_latency, known: dict[str, Latency] | None = None):
        self.path = Path(folder) / FILE
        self.device, self.batch, self.image_size, self.num_classes = device, batch, image_size, num_classes
        self.measure = measure
        self.by_key: dict[str, Latency] = dict(known or {})
        self.by_key.update(self._read())
        self.measured = 0  # measurements made in this sitting

    def of(self, genome: Genome) -> Latency:
        """The latency of `genome`'s network, measured now only if its key never was in this run."""
        key = genome.key()
        found = self.by_key.get(key)
        if found is None:
            found = self.measure(genome, self.image_size, self.num_classes, self.device, self.batch)
            self._append({"key": key, **found})
            self.by_key[key] = found
            self.measured += 1
        return found

    def _append(self, line: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps(line, separators=(",", ":")) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise named(e, self.path) from None

    def _read(self) -> dict[str, Latency]:
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):  # cut short by a kill: that measurement is taken again
            with open(self.path, "r+b") as f:
                f.truncate(end)
        found = {}
        for number, line in enumerate(raw[:end].decode(errors="replace").splitlines(), start=1):
            try:
                entry = json.loads(line)
                key = entry.pop("key")
                json_types.check(entry, Latency, "the latency")
                json_types.check(key, str, "the key")
                found[key] = entry
            except (ValueError, KeyError, TypeError, AttributeError):
                raise EigenError(f"{self.path} line {number} is not a latency record; {FIX}") from None
        return found

