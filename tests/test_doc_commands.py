"""Every shell command README.md and docs/ show runs in a test, so a page cannot drift from the code, and
every link between the pages leads somewhere.

A page's commands are read from its ```bash, ```sh, ```console and bare ``` blocks (```text is
output, ```python is tests/test_docs.py's) and run in document order, in one working folder per page
that starts as a copy of a small real search and its duplication, named as the pages name theirs. How
each runs:

- `eigen search|duplicate|train-teacher ...`: for real where it says `--gpu -1` (a CPU run the page
  promises), otherwise with `--print-config`, which parses and resolves its settings with the
  command's own parser and config class and trains nothing. docs/BENCHMARKS.md records commands run
  on a GPU or on real CIFAR data, so there every one is only resolved.
- any other `eigen` command (eval, predict, show, report) runs for real.
- `python3 bench/NAME.py ...`: the script's `arguments()` parser must accept the arguments.
- docs/BENCHMARKS.md also shows command lines inline (in its tables): a bench script's, and an eigen
  training's with its settings; those are checked as its blocks' are.
- `python3 -m pytest ...`: every test path it names exists; `pip install ...`: every extra it names is
  declared in pyproject.toml.
- the programs in EXTERNAL are not eigen's to run and are skipped; anything else fails the test,
  which names it so that it is either run here or added to EXTERNAL with a reason.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import json
import re
import shlex
import shutil
import sys
import traceback
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from eigen.cli import main as eigen_main
from eigen.executors.threads import with_threads

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}  # bare ``` counts: a command in one must run too
TRAINING_COMMANDS = {"search", "duplicate", "train-teacher"}  # what trains; run for real only with --gpu -1
SETTINGS_ONLY_PAGES = {"docs/BENCHMARKS.md"}  # commands run on a GPU or real CIFAR: resolved, never trained
EXTERNAL = {  # programs the pages show that are not eigen's to run, each with why
    "ray": "Ray's own cluster command: eigen joins a cluster (--ray auto), it does not start one",
    "tensorboard": "TensorBoard's viewer of the event files eigen writes",
    "mlflow": "MLflow's tracking server, which --mlflow logs to",
    "apt-get": "installs system packages: needs root and the network",
    "mkdir": "a shell utility preparing a folder", "cp": "a shell utility copying files",
    "ls": "a shell utility listing files", "cd": "the shell's change of folder",
    "test": "the shell's test of a file", "tee": "a shell utility keeping a log",
    "set": "a shell option (pipefail)", "export": "an environment variable for what follows",
    "echo": "prints a sentence", "exit": "ends the shell's command line with a code",
    "open": "opens a file in the desktop's viewer (macOS)", "xdg-open": "opens a file in the desktop's viewer (Linux)",
    "python3 -c": "a one-line probe of the machine (torch's version, the GPU's name)",
    "unpack.py": "../shared/data/unpack.py, the shared data's script: not part of this repository",
}
SEPARATORS = {"&&", "||", ";", "|", "|&", "&"}
REDIRECTIONS = {">", ">>", "<", ">&", "&>", "&>>"}
GROUPING = {"{", "}", "(", ")"}
ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
PYTHON = re.compile(r"python(3(\.\d+)?)?$")
FIXTURE_RUN = "runs/cifar10-eigen-20261123-101500"  # the run folder the pages name
# The fixture trains with 2 CPU threads on every machine: another count sums in another order, and the
# ids a page may --pick (those trained to T3: g1c2, g2c2 the best, g2c3 the front) would change with it.
FIXTURE_THREADS = 2
FIXTURE_PICK = "g2c3"  # finalised too (final-g2c3/), so `eigen eval RUN --pick g2c3` runs


def page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


# --- reading the commands a page shows ------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One simple command of a page, as the shell would run it, and where the page shows it."""

    page: str
    line: int  # the page's line where the command's (continued) line begins
    printed: str  # that line as the page shows it, continuations joined, comment dropped
    words: tuple[str, ...]  # program and arguments, wrappers (timeout, nice, VAR=1) unwrapped; $OUT and ~ kept
    stdout_to: str | None = None  # `> FILE`: stdout goes to FILE in the working folder
    alone: bool = True  # the only command of its line (else the line chains it with others: && | ;)

    def where(self) -> str:
        return f"{self.page} line {self.line}"

    def shown(self) -> str:
        """The command as the page prints it; one of a chain as the shell runs it, with its line."""
        return self.printed if self.alone else f"{shlex.join(self.words)}  (in: {self.printed})"


def shell_lines(markdown: str) -> list[tuple[int, str]]:
    """(page line, text) of each command line of the fenced blocks whose language is a shell's or none."""
    lines, fence, language, start, body = [], None, "", 0, []
    for number, line in enumerate(markdown.splitlines(), 1):
        opening = re.match(r"\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)", line)
        if fence is None and opening:
            fence, language, start, body = opening.group(1), opening.group(2).lower(), number + 1, []
        elif fence is not None and is_closing(line, fence):
            if language in SHELL_FENCES:
                lines += command_lines(prompted(body) if language == "console" else body, start)
            fence = None
        elif fence is not None:
            body.append(line)
    return lines


def is_closing(line: str, fence: str) -> bool:
    """Whether `line` closes a block opened by `fence`: the same character, at least as many, alone."""
    return line.strip().startswith(fence) and not line.strip().strip(fence[0])


def prompted(body: list[str]) -> list[str]:
    """A console block's commands: where lines start with a `$ ` prompt, those lines without it (the
    others are their output); where none does, every line."""
    if not any(line.startswith("$ ") for line in body):
        return body
    return [line[2:] if line.startswith("$ ") else "" for line in body]


def command_lines(body: list[str], first_line: int) -> list[tuple[int, str]]:
    """(page line, text) of each line of a block, a backslash-newline joining a line to the next and a
    `#` comment dropped, as the shell reads them."""
    lines, pending, start = [], "", first_line
    for number, line in enumerate(body, first_line):
        if not pending:
            start = number
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1] + " "
            continue
        text = without_comment(pending + line).strip()
        pending = ""
        if text:
            lines.append((start, text))
    return lines


def without_comment(line: str) -> str:
    """The line up to its `#` comment: a `#` that starts a word outside quotes (`"a#b"`, `x#y` stay)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote and (quote == "'" or line[i - 1] != "\\") else quote
        elif char in "'\"" and (i == 0 or line[i - 1] != "\\"):
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace() or line[i - 1] in ";&|()"):
            return line[:i]
    return line


def tokens(line: str) -> list[str]:
    """The line's words and operators as a POSIX shell splits them: quotes kept together (a `;` or `|`
    inside them too), `&&`, `|`, `>` apart."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""  # without_comment has dropped the comment, as bash does (shlex would cut `x#y`)
    return list(lexer)


def simple_commands(line: str) -> list[tuple[list[str], str | None]]:
    """(words, stdout file) of each simple command of a line: split at `&&`, `||`, `;`, `|`; `> FILE`
    taken as where stdout goes, other redirections (`2>&1`, `< in`) dropped, `{ ...; }` groups opened."""
    commands, words, stdout_to = [], [], None
    pieces = tokens(line)
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        if piece in SEPARATORS:
            commands.append((words, stdout_to))
            words, stdout_to = [], None
        elif piece in REDIRECTIONS:
            fd = words.pop() if words and words[-1].isdigit() and f"{words[-1]}{piece}" in line else None
            target = pieces[i + 1] if i + 1 < len(pieces) else ""
            i += 1
            if piece in (">", ">>", "&>", "&>>") and fd in (None, "1"):
                stdout_to = target
        else:
            words.append(piece)
        i += 1
    commands.append((words, stdout_to))
    commands = [([w for w in words if w not in GROUPING], out) for words, out in commands]  # `{ a; b; }`: a, b
    return [(words, out) for words, out in commands if words]


def after_options(words: list[str], with_value: set[str]) -> list[str]:
    """`words` after their leading options (and the values of those in `with_value`)."""
    while words and words[0].startswith("-") and words[0] != "-":
        words = words[2:] if words[0] in with_value else words[1:]
    return words


def unwrapped(words: list[str]) -> list[str]:
    """The command a wrapper runs: `VAR=1 cmd`, `time cmd`, `timeout [-s SIG] N cmd`, `nice [-n N] cmd`
    all run cmd, which is what the page documents."""
    while words:
        if ASSIGNMENT.match(words[0]):
            words = words[1:]
        elif words[0] == "time":
            words = after_options(words[1:], set())
        elif words[0] == "timeout":
            words = after_options(words[1:], {"-s", "--signal", "-k", "--kill-after"})[1:]
        elif words[0] == "nice":
            words = after_options(words[1:], {"-n", "--adjustment"})
        else:
            return words
    return words


def recorded_lines(markdown: str) -> list[tuple[int, str]]:
    """(page line, text) of the command lines a record shows inline, in its tables and prose: a bench
    script's (`python3 bench/...`, `timeout ... python3 bench/...`) and an eigen training's with its
    settings (three flags or more). A span that only names a flag (`eigen search --parallel K`) or a
    past run's file (`eigen eval final/model.pt2`) is prose, not a command to run."""
    found = []
    for number, line in enumerate(outside_blocks(markdown), 1):
        for span in re.findall(r"`([^`]+)`", line):
            if re.match(r"(timeout .*)?python3 bench/\S+\.py", span) or (
                    re.match(r"eigen (search|duplicate|train-teacher) ", span) and span.count(" --") >= 3):
                found.append((number, span))
    return found


def commands_in(markdown: str, page: str) -> list[Command]:
    """Every simple command of the page's shell blocks, in document order; on a page of records
    (BENCHMARKS.md), the command lines its tables and prose show inline too."""
    commands = []
    lines = shell_lines(markdown) + (recorded_lines(markdown) if page in SETTINGS_ONLY_PAGES else [])
    for number, text in sorted(lines):
        simple = [(unwrapped(words), stdout_to) for words, stdout_to in simple_commands(text)]
        commands += [Command(page, number, text, tuple(words), stdout_to, alone=len(simple) == 1)
                     for words, stdout_to in simple if words]
    return commands


def classified(words: tuple[str, ...]) -> tuple[str, list[str]]:
    """(kind, arguments) of a command: eigen, bench, pytest, pip, external or unknown."""
    program, rest = Path(words[0]).name, list(words[1:])
    if program == "eigen":
        return "eigen", rest
    if program in ("pip", "pip3"):
        return ("pip", rest[1:]) if rest[:1] == ["install"] else ("unknown", rest)
    if program == "pytest":
        return "pytest", rest
    if PYTHON.match(program):
        return python_classified(rest)
    return ("external", [program]) if program in EXTERNAL else ("unknown", rest)


def python_classified(rest: list[str]) -> tuple[str, list[str]]:
    """What `python3 ARGS` runs: a module (-m eigen, pytest, pip), a one-liner (-c) or a script."""
    if rest[:1] == ["-c"]:
        return "external", ["python3 -c"]
    if rest[:1] == ["-m"] and len(rest) > 1:
        module, args = rest[1], rest[2:]
        if module == "eigen":
            return "eigen", args
        if module == "pytest":
            return "pytest", args
        if module == "pip" and args[:1] == ["install"]:
            return "pip", args[1:]
        return "unknown", rest
    script = after_options(rest, set())
    if not script:
        return "unknown", rest
    if Path(script[0]).parent == Path("bench") and script[0].endswith(".py"):
        return "bench", script
    name = Path(script[0]).name
    return ("external", [name]) if name in EXTERNAL else ("unknown", rest)


# --- running them ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """Where a page's commands run: its working folder (a copy of the fixture), what $OUT and ~ mean."""

    page: str
    folder: Path
    out: Path
    home: Path

    def substituted(self, word: str) -> str:
        """`word` as the shell would pass it: $OUT, ${OUT}, $HOME and a leading ~ made this page's own."""
        word = re.sub(r"\$(?:\{OUT\}|OUT\b)", str(self.out), word)
        word = re.sub(r"\$(?:\{HOME\}|HOME\b)", str(self.home), word)
        return str(self.home) + word[1:] if word == "~" or word.startswith("~/") else word


def checked(command: Command, place: Place) -> str | None:
    """What is wrong with running `command` as the page shows it, or None when it runs."""
    kind, args = classified(command.words)
    args = [place.substituted(a) for a in args]
    if kind == "unknown":
        return (f"{command.where()} shows a command no test runs: {command.shown()}; run it here or add it to "
                f"EXTERNAL with a reason (if it is output, not a command, fence its block as ```text)")
    if kind == "external":
        return None
    return {"eigen": eigen_checked, "bench": bench_checked, "pytest": pytest_checked,
            "pip": pip_checked}[kind](command, args, place)


def eigen_checked(command: Command, args: list[str], place: Place) -> str | None:
    """The eigen command run in-process in the page's folder: for real, or its settings resolved."""
    subcommand = next((a for a in args if not a.startswith("-")), None)
    resolved_only = "--print-config" not in args and subcommand in TRAINING_COMMANDS and (
        place.page in SETTINGS_ONLY_PAGES or not on_the_cpu(args))
    if resolved_only:
        args = [*args, "--print-config"]
    elif outside := [a for a in args if a.startswith("/") and not a.startswith(str(place.out.parent))]:
        return (f"{command.where()}: {command.shown()} would run for real on {', '.join(outside)}, outside "
                f"its working folder; name a relative path or $OUT")
    code, stderr = eigen_run(args, place.folder / place.substituted(command.stdout_to) if command.stdout_to else None)
    if code == 0:
        return None
    how = "with --print-config (its settings resolved, nothing trained)" if resolved_only else "for real"
    return f"{command.where()}: {command.shown()} exits {code}, run {how}; stderr:\n{indented(stderr)}"


def on_the_cpu(args: list[str]) -> bool:
    return "--gpu=-1" in args or any(a == "--gpu" and b == "-1" for a, b in zip(args, args[1:]))


def eigen_run(args: list[str], stdout_to: Path | None) -> tuple[int, str]:
    """(exit code, stderr) of `eigen ARGS` run in-process, stdout written to `stdout_to` when given."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = eigen_main(args)
        except SystemExit as e:  # argparse: --help, --version, a bad flag
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception:  # eigen's own bug: a traceback instead of a sentence
            err.write(traceback.format_exc())
            code = 1
    if stdout_to is not None:
        stdout_to.write_text(out.getvalue())
    return code, err.getvalue()


@functools.cache
def bench_script(path: Path):
    """The script imported as `python3 bench/NAME.py` runs it: with its own folder first on sys.path,
    where its sibling modules (bench_record.py) are found."""
    spec = importlib.util.spec_from_file_location(f"bench_doc_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def bench_checked(command: Command, args: list[str], place: Place) -> str | None:
    """The bench script's own parser, `arguments()`, accepts the arguments the page gives it."""
    script, rest = args[0], args[1:]
    path = ROOT / script
    if not path.is_file():
        return f"{command.where()}: {command.shown()} names {script}, which does not exist"
    module = bench_script(path)
    if not hasattr(module, "arguments"):
        return f"{command.where()}: {command.shown()}: {script} is not a script (it has no arguments() parser)"
    err, argv = io.StringIO(), sys.argv
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        try:
            sys.argv = [script, *rest]  # as the shell runs it: argparse names the script after argv[0]
            module.arguments().parse_args(rest)
        except SystemExit as e:
            if e.code not in (0, None):
                return f"{command.where()}: {command.shown()}: {script} refuses its arguments (exit {e.code}):\n" \
                       f"{indented(err.getvalue())}"
        finally:
            sys.argv = argv
    return None


def pytest_checked(command: Command, args: list[str], place: Place) -> str | None:
    """Every test path the pytest command names exists in the repository."""
    paths = [a.split("::")[0] for a in args if not a.startswith("-") and ("/" in a or a.endswith(".py"))]
    missing = [p for p in paths if not (ROOT / p).exists()]
    return f"{command.where()}: {command.shown()} names {', '.join(missing)}, not in the repository" if missing \
        else None


def pip_checked(command: Command, args: list[str], place: Place) -> str | None:
    """pip installs eigen (with extras pyproject.toml declares) and at most pins torch and torchvision."""
    problems = []
    for requirement in (a for a in args if not a.startswith("-")):
        extras = re.fullmatch(r"(?:\.|eigen)(?:\[([\w,\s-]*)\])?", requirement)
        if extras:
            unknown = [e.strip() for e in (extras.group(1) or "").split(",") if e.strip() and e.strip() not in
                       declared_extras()]
            problems += [f"the extra [{e}], which pyproject.toml does not declare" for e in unknown]
        elif not re.fullmatch(r"(torch|torchvision)==[\w.+]+", requirement):
            problems.append(f"{requirement}, neither eigen nor a pin of torch or torchvision")
    return f"{command.where()}: {command.shown()} installs {'; '.join(problems)} " \
           f"(declared extras: {', '.join(sorted(declared_extras()))})" if problems else None


@functools.cache
def declared_extras() -> frozenset[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return frozenset(project.get("optional-dependencies", {}))


def indented(text: str) -> str:
    return "\n".join("    " + line for line in (text.strip() or "(nothing)").splitlines()[-20:])


# --- the fixture: what the pages' examples name ---------------------------------------------------

def quietly(*argv: str) -> None:
    """`eigen ARGV` in-process, its output kept out of the test's, which must succeed."""
    code, stderr = eigen_run(list(argv), None)
    assert code == 0, f"the fixture's `eigen {shlex.join(argv)}` exits {code}:\n{stderr}"


def write_images(folder: Path) -> None:
    """cat.jpg and photos/ with two images, for `eigen predict MODEL cat.jpg photos/`."""
    from PIL import Image
    colours = {"cat.jpg": (200, 120, 40), "photos/dog.jpg": (40, 90, 200), "photos/bird.png": (30, 160, 60)}
    for name, colour in colours.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (24, 20), colour).save(folder / name)


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """A folder as the pages' examples find theirs: runs/cifar10-eigen-20261123-101500/ a finished
    tiny search in the default runs/ (so runs/best.json is refreshed beside it) with its final/
    (candidates c0, c1, c2) and final-g2c3/, cat.jpg and photos/ to predict, and the repository's bench/
    (its genomes)."""
    folder = tmp_path_factory.mktemp("doc-examples")
    with pytest.MonkeyPatch.context() as mp, with_threads(FIXTURE_THREADS):
        mp.chdir(folder)
        quietly("search", "--dataset", "synthetic", "--gpu", "-1", "--schedule-scale", "0.004", "--population", "4",
                "--p", "2", "--q", "1", "--primary-step", "4", "--max-generations", "2", "--image-size", "16",
                "--out", FIXTURE_RUN)
        # 20 iterations a candidate: the pages need c0, c1 and c2 to exist, not to be accurate
        quietly("duplicate", FIXTURE_RUN, "--gpu", "-1", "--schedule-scale", "0.0008", "--top-k", "2")
        # the front's point finalised, as `eigen eval RUN --pick g2c3` needs it (final-g2c3/: c0 alone)
        quietly("duplicate", FIXTURE_RUN, "--pick", FIXTURE_PICK, "--gpu", "-1", "--schedule-scale", "0.0008",
                "--candidates", "1")
    write_images(folder)
    (folder / "bench").symlink_to(ROOT / "bench", target_is_directory=True)  # the pages run from the repository's root
    return folder


def place_for(page: str, examples: Path, tmp_path: Path, monkeypatch) -> Place:
    """A fresh copy of the examples to run the page's commands in, with its own $OUT and HOME."""
    place = Place(page, tmp_path / "work", tmp_path / "out", tmp_path / "home")
    shutil.copytree(examples, place.folder, symlinks=True)
    place.out.mkdir()
    place.home.mkdir()
    monkeypatch.setenv("HOME", str(place.home))
    monkeypatch.chdir(place.folder)
    return place


def test_the_examples_hold_what_the_pages_may_pick(examples):
    """The ids a page may pass to --pick: if this fails (another CPU's arithmetic), so does a page's --pick."""
    run = examples / FIXTURE_RUN
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in history if r["stage"] == "T3") == ["g1c2", "g2c2", "g2c3"]
    assert json.loads((examples / "runs" / "best.json").read_text())["id"] == "g2c2"
    assert [point["id"] for point in json.loads((run / "pareto.json").read_text())["front"]] == ["g2c3"]
    assert sorted(c.name for c in (run / "final" / "candidates").glob("*.pt")) == ["c0.pt", "c1.pt", "c2.pt"]
    assert (run / f"final-{FIXTURE_PICK}" / "model.pt2").is_file()


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_command_on_the_page_runs(page, examples, tmp_path, monkeypatch):
    commands = commands_in(page.read_text(), page_name(page))
    if not commands:
        return
    place = place_for(page_name(page), examples, tmp_path, monkeypatch)
    problems = [problem for command in commands if (problem := checked(command, place))]
    assert not problems, f"{len(problems)} of {page_name(page)}'s {len(commands)} commands fail:\n\n" + \
                         "\n\n".join(problems)


# --- links between the pages ----------------------------------------------------------------------

def outside_blocks(markdown: str) -> list[str]:
    """The page's lines with those of fenced blocks blanked, where a `[x](y)` or `# x` is not markup."""
    kept, fence = [], None
    for line in markdown.splitlines():
        opening = re.match(r"\s{0,3}(`{3,}|~{3,})", line)
        if fence is None and opening:
            fence = opening.group(1)
        elif fence is not None:
            fence = None if is_closing(line, fence) else fence
        else:
            kept.append(line)
            continue
        kept.append("")
    return kept


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: its text lowercased, every character but letters, digits, spaces,
    hyphens and underscores dropped (backticks and punctuation vanish), spaces made hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def headings(markdown: str) -> list[str]:
    """Every heading's text: `# x` (ATX) and a line underlined with === or --- (setext)."""
    found, previous = [], ""
    for line in outside_blocks(markdown):
        if atx := re.match(r" {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", line):
            found.append(atx.group(1) or "")
        elif re.fullmatch(r" {0,3}(=+|-+)[ \t]*", line) and previous.strip() and "|" not in previous:
            found.append(previous.strip())
        previous = line
    return found


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor, a repeated one numbered as GitHub numbers it (x, x-1, x-2)."""
    seen, found = Counter(), set()
    for heading in headings(markdown):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def link_targets(markdown: str) -> list[str]:
    """Targets of every inline link and image, `[text](target)` / `![alt](target)`, and of every
    reference definition `[name]: target`."""
    text = "\n".join(re.sub(r"`[^`]*`", "code", line) for line in outside_blocks(markdown))  # not in code spans
    inline = re.findall(r"\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)", text)
    defined = re.findall(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)", text, flags=re.M)
    return inline + defined


def broken_links(page: Path) -> list[str]:
    """What is wrong with each relative link of the page: a file that is not there, an anchor that
    names no heading."""
    problems = []
    for target in link_targets(page.read_text()):
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.exists():
            problems.append(f"({target}): {file.name} does not exist in {file.parent}")
        elif anchor and file.suffix == ".md" and unquote(anchor) not in anchors(file.read_text()):
            problems.append(f"({target}): {file.name} has no heading whose anchor is #{anchor}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_every_link_on_the_page_leads_somewhere(page):
    problems = broken_links(page)
    assert not problems, f"{page_name(page)} links to nothing:\n" + "\n".join(problems)


def test_every_docs_page_is_linked_from_the_readme():
    """A page nobody links to is lost."""
    readme = ROOT / "README.md"
    linked = {(readme.parent / unquote(t.partition("#")[0])).resolve() for t in link_targets(readme.read_text())}
    unlinked = [page_name(p) for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"README.md links to no {', '.join(unlinked)}; link each from where its subject is"


# --- the harness itself, on a page written for it -------------------------------------------------

SAMPLE = """\
Some prose with `eigen not-a-command` inline.

```bash
PYTHONPATH=. timeout -s INT 560 python3 bench/gpu_check.py --data-dir ~/c10 \\
    --out $OUT --sections tests 2>&1 | tee ${OUT}/log   # the whole check
eigen search --mlflow "http://h:5000/#x" --print-config > search.toml  # resolved settings
set -o pipefail; nice -n 5 eigen show runs/best.json && echo "done; ok" || { echo no; exit 3; }
```

```python
eigen search this is python, not a command
```

```
time python3 -m eigen eval runs/x/final --json
```
"""


def test_the_commands_of_a_page_are_read_as_a_shell_reads_them():
    commands = commands_in(SAMPLE, "sample.md")
    assert [(c.line, c.words, c.stdout_to) for c in commands] == [
        (4, ("python3", "bench/gpu_check.py", "--data-dir", "~/c10", "--out", "$OUT", "--sections", "tests"), None),
        (4, ("tee", "${OUT}/log"), None),
        (6, ("eigen", "search", "--mlflow", "http://h:5000/#x", "--print-config"), "search.toml"),
        (7, ("set", "-o", "pipefail"), None),
        (7, ("eigen", "show", "runs/best.json"), None),
        (7, ("echo", "done; ok"), None),
        (7, ("echo", "no"), None),
        (7, ("exit", "3"), None),
        (15, ("python3", "-m", "eigen", "eval", "runs/x/final", "--json"), None)]
    assert commands[0].printed.endswith("--sections tests 2>&1 | tee ${OUT}/log")  # joined, comment gone
    assert commands[2].shown() == 'eigen search --mlflow "http://h:5000/#x" --print-config > search.toml'
    assert commands[4].shown().startswith("eigen show runs/best.json  (in: set -o pipefail; nice -n 5 eigen")
    assert [classified(c.words)[0] for c in commands] == \
           ["bench", "external", "eigen", "external", "eigen", "external", "external", "external", "eigen"]
    assert classified(("python3", "-m", "pip", "install", "-e", ".[test]")) == ("pip", ["-e", ".[test]"])
    assert classified(("python3", "/root/dd/unpack.py", "/root/c20")) == ("external", ["unpack.py"])
    assert classified(("make", "all"))[0] == "unknown"
    place = Place("sample.md", Path("/w"), Path("/t/out"), Path("/t/home"))
    assert [place.substituted(w) for w in ("$OUT/a", "${OUT}", "~/c10", "imagefolder:~/pets", "$OUTPUT")] == \
           ["/t/out/a", "/t/out", "/t/home/c10", "imagefolder:~/pets", "$OUTPUT"]


def test_a_right_page_passes_and_a_wrong_one_says_where_and_why(examples, tmp_path, monkeypatch):
    """The checks pass on commands that are right, so a page's failure is the page's."""
    right = f"""\
```bash
eigen show runs/best.json && eigen duplicate runs/best.json --gpu 0     # settings only: no --gpu -1
eigen eval {FIXTURE_RUN} --pick {FIXTURE_PICK} --json > picked.json
eigen duplicate runs/best.json --top-k 2 --print-config > $OUT/duplicate.toml
python3 bench/latency.py --device cpu --batches 1 32 --out $OUT/latency.json
python3 -m pytest -q tests/test_bench.py::test_the_fidelity_summary_on_synthetic_rankings tests/genome
python3 -m pip install -e ".[test,yaml]" torch==2.14.1 && mkdir -p ~/data
```
"""
    place = place_for("right.md", examples, tmp_path, monkeypatch)
    assert [checked(c, place) for c in commands_in(right, "right.md")] == [None] * 8
    assert f"final-{FIXTURE_PICK}" in (place.folder / "picked.json").read_text()  # stdout went to the file
    assert "top-k = 2" in (place.out / "duplicate.toml").read_text()
    wrong = f"""\
```
eigen show {FIXTURE_RUN} --pick g9c9
python3 bench/latency.py --batch-size 1
python3 -m pytest tests/test_nothing.py
pip install "eigen[gpu]"
make all
```
"""
    problems = [checked(c, place) for c in commands_in(wrong, "wrong.md")]
    assert problems[0].startswith(f"wrong.md line 2: eigen show {FIXTURE_RUN} --pick g9c9 exits 2, run for real")
    assert "g9c9" in problems[0].split("stderr:")[1]
    assert "bench/latency.py refuses its arguments (exit 2)" in problems[1] and "--batch-size" in problems[1]
    assert "tests/test_nothing.py, not in the repository" in problems[2]
    assert "the extra [gpu], which pyproject.toml does not declare" in problems[3]
    assert "wrong.md line 6 shows a command no test runs: make all" in problems[4]


def test_headings_anchor_as_on_github():
    page = "# eigen\n## Seeing what was found: `eigen show` and the report page\n## Data\n### Data\n" \
           "```bash\n# a comment, not a heading\n```\nSetext\n------\n#26) not a heading\n"
    assert anchors(page) == {"eigen", "seeing-what-was-found-eigen-show-and-the-report-page", "data", "data-1",
                             "setext"}


def test_a_link_to_a_missing_file_or_heading_is_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# eigen from Python\n## Load a network\n")
    page = tmp_path / "README.md"
    page.write_text("See [the API](docs/api.md#load-a-network), [home](https://x.org/#y), [up](#using-the-model),\n"
                    "![a picture](docs/pictures/none.svg), [gone](docs/api.md#loading) and `[code](nowhere.md)`.\n"
                    "```bash\n[not](a-link.md)\n```\n## Using the model\n")
    assert broken_links(page) == [f"(docs/pictures/none.svg): none.svg does not exist in {tmp_path}/docs/pictures",
                                  "(docs/api.md#loading): api.md has no heading whose anchor is #loading"]


def test_a_records_inline_command_lines_are_commands_too():
    """On BENCHMARKS.md a table's `python3 bench/...` is a command to check; a span naming a flag is prose,
    and on other pages inline code is prose."""
    text = ("| row | `python3 bench/latency.py --device cpu` | `eigen search --parallel K` |\n"
            "| | `eigen search --dataset synthetic --gpu -1 --population 4` | `eigen eval final/model.pt2` |\n")
    assert [c.words for c in commands_in(text, "docs/BENCHMARKS.md")] == [
        ("python3", "bench/latency.py", "--device", "cpu"),
        ("eigen", "search", "--dataset", "synthetic", "--gpu", "-1", "--population", "4")]
    assert commands_in(text, "docs/searching.md") == []
