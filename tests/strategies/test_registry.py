"""The strategy registry: every strategy is whole, the command line offers exactly the registered ones,
and no module outside a strategy's own branches on a strategy's name."""
import ast
from pathlib import Path

import pytest

from eigen import strategies
from eigen.config import SearchConfig
from eigen.strategies.registry import Strategy

EIGEN = Path(strategies.__file__).resolve().parents[1]


def test_the_four_strategies_are_registered_eigen_first():
    assert strategies.names() == ("eigen", "large-scale", "random", "regularized")
    assert SearchConfig().strategy == strategies.names()[0]


def test_the_command_line_offers_exactly_the_registered_strategies():
    from eigen.cli import make_parser
    search = next(a for a in make_parser().commands["search"]._actions if a.dest == "strategy")
    assert tuple(search.choices) == strategies.names()


@pytest.mark.parametrize("name", strategies.names())
def test_each_strategy_names_every_part_and_its_own_settings_exist(name):
    strategy = strategies.named(name)
    for field in ("schedule", "engine", "resolved", "points", "progress", "closing_table", "plots", "done", "check"):
        assert callable(getattr(strategy, field)), field
    assert all(hasattr(SearchConfig(), setting) for setting in strategy.own_settings)
    assert strategy.default_population >= 1
    assert SearchConfig(strategy=name).resolved_population() == strategy.default_population
    for draw, filename, panels in strategy.plots():
        assert callable(draw) and filename.endswith(".png") and panels in (1, 2)


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="already registered"):
        strategies.register(Strategy(**{**strategies.named("random").__dict__}))


def _branches_on_a_name(path: Path, names: set[str]) -> list[str]:
    """Comparisons with a strategy's name (`strategy == "eigen"`, `in ("large-scale", ...)`) and
    mappings keyed by more than one, in the module at `path` (one key named "eigen", as in the
    provenance's {"eigen": version}, is the program's name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        operands = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            operands += [e for o in operands if isinstance(o, (ast.Tuple, ast.List, ast.Set)) for e in o.elts]
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if isinstance(k, ast.Constant) and k.value in names]
            operands = keys if len(keys) > 1 else []
        hits = [o.value for o in operands if isinstance(o, ast.Constant) and o.value in names]
        found += [f"{path.relative_to(EIGEN)}:{node.lineno}: {hit}" for hit in hits]
    return found


# The mutation sets are named after the papers that define them ("eigen", "large-scale"); a strategy's
# engine picks one (regularized evolution breeds with large-scale's), so those keys are not strategies.
MUTATION_SETS = EIGEN / "genome" / "mutations.py"


def test_no_module_outside_the_strategies_branches_on_a_strategys_name():
    names = set(strategies.names())
    outside = [p for p in EIGEN.rglob("*.py")
               if "strategies" not in p.relative_to(EIGEN).parts and p != MUTATION_SETS]
    assert outside
    found = [hit for path in outside for hit in _branches_on_a_name(path, names)]
    assert not found, found


def test_the_branch_finder_finds_a_branch(tmp_path):
    """The check above would see the branches it forbids (it is not blind)."""
    sample = EIGEN / "sample_branch.py"
    try:
        sample.write_text('def f(s):\n    return 1 if s.strategy == "eigen" else {"random": 2, "eigen": 3}\n')
        assert len(_branches_on_a_name(sample, set(strategies.names()))) == 3
    finally:
        sample.unlink()
