"""One line of `history.jsonl` (SPEC §7), typed: what every strategy writes, and what the spending,
the report and the summaries read.

A record is an individual after one stage of its training: EIGEN writes one per child per stage
(T1, T2, T3), a steady-state strategy (Large-Scale Evolution, random search) one per individual
(stage "train"). The two kinds share every field but the steady state's `event`, `killed` and
(regularized evolution's) `sampled`.
Cost accounting is Large-Scale Evolution §3.5's: each record carries the FLOPs and device-seconds
it spent; a reused result spent nothing.

Versions of the record (read by `from_json`, written as the newest):
    1  eigen 0.1.0: no `accuracy` apart from `fitness` (they were the same), no `inherited`, no CUDA-graph fields
    2  `accuracy` apart from `fitness` (--fitness), `inherited` (weight inheritance), `graphed`/`graph_error`
    3  `latency` (the measured forward time, when the run scores or limits it: issue #31);
       `sampled` (who regularized evolution's event looked at, with --strategy regularized)
The version is not written into each line: a line's fields say which it is, and lines stay as they
were for runs begun by eigen 0.1.0 and resumed since.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..run_folder import json_types
from ..training.latency import Latency

RECORD_VERSION = 3
STEADY_STAGE = "train"  # the one stage of a steady-state individual (records, fitness keys)
HISTORY_FIX = "restore it from a copy, or start a new run with `eigen search --out`"  # a damaged run file


@dataclass(frozen=True)
class HistoryRecord:
    id: str  # the individual: g<generation>c<slot> (EIGEN), i<n> or c<event> (steady state)
    parent: str | None  # the individual it was mutated from (None for a starting individual)
    generation: int  # EIGEN's generation; a steady state's population-sized block of events (0: the start)
    succession: str | None  # "primary" or "secondary" (EIGEN); None in a steady state
    step_size: int  # m: the most mutations a child of this generation received
    stage: str  # "T1", "T2", "T3", or STEADY_STAGE
    until: int  # the iteration trained to (absolute)
    key: str  # the genome's canonical key (identical networks, whatever their node ids)
    mutations: list[str]  # what made it from its parent, in order
    params: int
    flops: int  # forward FLOPs per image
    fitness: dict[str, float]  # stage -> fitness (validation accuracy unless --fitness says otherwise)
    accuracy: dict[str, float]  # stage -> validation accuracy in percent
    status: str  # "ok", "diverged", "failed: ..."
    iterations: int  # iterations this record's training ran (0 for a reused result)
    seconds: float  # device wall time of that training
    flops_spent: int  # LS §3.5: what that training cost
    reused_from: str | None  # the individual whose recorded result this one took, if any
    checkpoint: str | None  # where its weights were written (relative to the run folder), if it trained ok
    inherited: int = 0  # tensors taken from the parent's weights (weight inheritance)
    genome: dict | None = None  # the genome: at T1 (EIGEN), in every steady-state record
    graphed: bool | None = None  # the training ran as a CUDA graph (None: nothing was trained here)
    graph_error: str | None = None  # why it ran eager on a GPU, if it did
    event: int | None = None  # steady state: the reproduction event (0: the starting population); EIGEN: None
    killed: str | None = None  # steady state: who the event removed, if anyone (a tournament's loser, the oldest)
    latency: Latency | None = None  # measured forward time (`ms` in --fitness, --max-ms), else None
    sampled: list[str] | None = None  # regularized evolution: the event's sample, in the order drawn

    @property
    def ms(self) -> float | None:
        return self.latency["ms"] if self.latency else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def steady(self) -> bool:
        """Written by a steady-state strategy (Large-Scale Evolution, random search)."""
        return self.event is not None

    @property
    def value(self) -> float:
        """The fitness at this record's own stage."""
        return self.fitness[self.stage]

    def to_json(self) -> dict:
        """The line as eigen writes it (fields in this order; the optional ones only when they apply)."""
        d = {"id": self.id, "parent": self.parent, "generation": self.generation}
        if self.steady:
            d.update(event=self.event, killed=self.killed)
        if self.sampled is not None:
            d["sampled"] = list(self.sampled)
        d.update(succession=self.succession, step_size=self.step_size, stage=self.stage, until=self.until,
                 key=self.key, mutations=list(self.mutations), params=self.params, flops=self.flops,
                 fitness=dict(self.fitness), accuracy=dict(self.accuracy), status=self.status,
                 iterations=self.iterations, seconds=self.seconds, flops_spent=self.flops_spent,
                 reused_from=self.reused_from, checkpoint=self.checkpoint, inherited=self.inherited)
        if self.genome is not None:
            d["genome"] = self.genome
        if self.graphed is not None:
            d.update(graphed=self.graphed, graph_error=self.graph_error)
        if self.latency is not None:
            d["latency"] = dict(self.latency)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "HistoryRecord":
        """A line as any eigen wrote it, its types checked against this class's fields by the one
        checker of files read back (`json_types.check`); the fields an older line lacks take their
        defaults (version 1: `accuracy` was `fitness`, nothing was spent on a reused result). A
        missing field or one of the wrong kind raises KeyError or ValueError, which
        `run_folder.folder.interpreting` turns into a sentence naming the file."""
        json_types.check(d, cls, "the record")
        known = {f.name: f for f in dataclasses.fields(cls)}
        line = {"accuracy": d["fitness"], "flops_spent": 0, **{k: v for k, v in d.items() if k in known}}
        missing = [name for name, f in known.items() if name not in line and f.default is dataclasses.MISSING]
        if missing:
            raise KeyError(missing[0])
        return cls(**line)
