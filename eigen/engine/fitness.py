"""User-defined fitness (EIGEN §3, SPEC §6): a linear combination of accuracy, size, compute and latency.

EIGEN scores an individual by validation accuracy and allows any fitness the user cares about; a
user who must ship a small network writes `--fitness "acc - 2*mparams"`. The expression may use

    acc      validation accuracy, in percent
    mparams  millions of parameters
    gflops   forward GFLOPs per image
    ms       measured forward milliseconds on --latency-device at --latency-batch (issue #31)

with numbers, +, -, * and / by a number, and parentheses. It is parsed with Python's `ast` into
coefficients and never evaluated (`eval` would run whatever a config file holds); anything that is
not linear in those names is refused with one sentence.
"""
from __future__ import annotations

import argparse
import ast
from dataclasses import dataclass

from ..errors import EigenError

VARIABLES = ("acc", "mparams", "gflops", "ms")
DEFAULT = "acc"
EXAMPLE = '"acc - 2*mparams"'


class FitnessError(EigenError):
    """A --fitness expression that is not a linear combination of acc, mparams, gflops and ms."""


@dataclass(frozen=True)
class Fitness:
    """fitness = acc_weight * acc + mparams_weight * mparams + gflops_weight * gflops + ms_weight * ms
    + constant."""

    expression: str
    acc_weight: float
    mparams_weight: float
    gflops_weight: float
    ms_weight: float
    constant: float

    @classmethod
    def parse(cls, expression: str) -> "Fitness":
        text = str(expression).strip()
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise FitnessError(f"--fitness '{expression}' is not an expression; write a linear combination of "
                               f"acc, mparams, gflops and ms such as {EXAMPLE}") from None
        terms = _linear(tree.body, text)
        if not any(terms.get(v) for v in VARIABLES):
            raise FitnessError(f"--fitness '{expression}' does not depend on acc, mparams, gflops or ms, so it "
                               f"cannot tell individuals apart; try {EXAMPLE}")
        return cls(text, *(float(terms.get(v, 0.0)) for v in VARIABLES), float(terms.get("1", 0.0)))

    @property
    def is_accuracy(self) -> bool:
        """The paper's fitness: validation accuracy alone."""
        return (self.acc_weight, self.mparams_weight, self.gflops_weight, self.ms_weight, self.constant) == \
            (1.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def uses_latency(self) -> bool:
        """`ms` appears in the expression: every individual's latency must be measured."""
        return self.ms_weight != 0.0

    def __call__(self, accuracy: float, params: int, flops: int, ms: float | None = None) -> float:
        """The fitness of an individual with this validation accuracy (%), parameters, forward FLOPs
        and, when the expression uses it, measured latency (ms)."""
        if self.is_accuracy:
            return accuracy  # exactly, not accuracy * 1.0 + 0.0 * ... (equal anyway, but plainly so)
        if self.uses_latency and ms is None:
            raise EigenError(f"--fitness '{self.expression}' uses ms, and this individual's latency was not measured")
        return (self.acc_weight * accuracy + self.mparams_weight * params / 1e6
                + self.gflops_weight * flops / 1e9 + self.ms_weight * (ms or 0.0) + self.constant)


def parse_fitness(text: str) -> str:
    """An argparse type: the expression as given, once it parses (so a typo fails before any work)."""
    try:
        Fitness.parse(text)
    except FitnessError as e:
        raise argparse.ArgumentTypeError(str(e).replace(f"--fitness '{text}' ", "")) from None
    return text


def _linear(node: ast.AST, expression: str) -> dict[str, float]:
    """The coefficients {name or '1': weight} of a linear expression; raises FitnessError otherwise."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return {"1": float(node.value)}
    if isinstance(node, ast.Name):
        if node.id not in VARIABLES:
            raise FitnessError(f"--fitness '{expression}' uses '{node.id}'; the names it may use are "
                               f"acc (validation %), mparams (millions of parameters), gflops (forward GFLOPs) "
                               f"and ms (measured milliseconds per forward pass)")
        return {node.id: 1.0}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        return {k: sign * v for k, v in _linear(node.operand, expression).items()}
    if isinstance(node, ast.BinOp):
        left, right = _linear(node.left, expression), _linear(node.right, expression)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            return {k: left.get(k, 0.0) + sign * right.get(k, 0.0) for k in {*left, *right}}
        if isinstance(node.op, ast.Mult):
            if set(left) <= {"1"}:
                return {k: left.get("1", 0.0) * v for k, v in right.items()}
            if set(right) <= {"1"}:
                return {k: right.get("1", 0.0) * v for k, v in left.items()}
            raise FitnessError(f"--fitness '{expression}' multiplies two of acc, mparams, gflops, ms; only a "
                               f"number may multiply them (a linear combination, such as {EXAMPLE})")
        if isinstance(node.op, ast.Div):
            if not set(right) <= {"1"}:
                raise FitnessError(f"--fitness '{expression}' divides by acc, mparams, gflops or ms; only division "
                                   f"by a number is allowed (a linear combination, such as {EXAMPLE})")
            if right.get("1", 0.0) == 0.0:
                raise FitnessError(f"--fitness '{expression}' divides by zero")
            return {k: v / right["1"] for k, v in left.items()}
    shown = ast.get_source_segment(expression, node) or type(node).__name__
    raise FitnessError(f"--fitness '{expression}': '{shown}' is not allowed; write a linear combination of acc, "
                       f"mparams, gflops and ms with numbers, + - * / and parentheses, such as {EXAMPLE}")
