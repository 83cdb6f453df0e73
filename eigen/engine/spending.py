"""What a search has spent (Large-Scale Evolution §3.5): FLOPs and device-seconds, per generation
and in all, summed from the history's records so a resumed run counts every training exactly once.

Each record already carries its own cost (3 x forward FLOPs per training image + one forward pass
per validation image, and the seconds it took); a reused result carries none.
"""
from __future__ import annotations

from .record import HistoryRecord


class Spending:
    def __init__(self, records: list[HistoryRecord] = ()):
        self.by_generation: dict[int, dict] = {}
        for record in records:
            self.add(record)

    def add(self, record: HistoryRecord) -> None:
        spent = self.by_generation.setdefault(record.generation, {"flops": 0, "seconds": 0.0})
        spent["flops"] += record.flops_spent
        spent["seconds"] += record.seconds

    def of(self, generation: int) -> dict:
        spent = self.by_generation.get(generation, {"flops": 0, "seconds": 0.0})
        return {"flops": spent["flops"], "seconds": round(spent["seconds"], 3)}

    def total(self) -> dict:
        return {"flops": sum(s["flops"] for s in self.by_generation.values()),
                "seconds": round(sum(s["seconds"] for s in self.by_generation.values()), 3)}
