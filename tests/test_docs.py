"""Every fenced code block of README.md and docs/*.md works as shown (issue 5).

The rules, per the block's language (every block must name one):

- ``python``: run. A file's python blocks run in order in one fresh interpreter, like the
  cells of one notebook: names carry over from block to block, a block may use top-level
  ``await`` (run with asyncio, as IPython does), and ``display`` is IPython's. A real
  ``sse-widgets serve`` hub is running and the child's environment points at it
  (``SSE_WIDGETS_URL`` / ``SSE_WIDGETS_TOKEN``, as in a kernel Jupyter starts). The file
  fails if a block raises, if anything is written to stderr (a publisher's warning about an
  unreachable hub included), or if the events it published did not all reach the hub.
  Widgets need no kernel: anywidget objects are created outside one.
- ``python`` blocks whose first line is ``# jupyter_server_config.py`` are Jupyter config
  files: they are loaded as Jupyter loads them (``c = get_config()``), and every
  ``c.SSEWidgets.*`` and ``c.ServerApp.*`` they set must be a real setting with a valid value.
- ``json``: one JSON value, or one per line (NDJSON); ``jsonl``/``ndjson``: one per line;
  ``yaml``: parses; ``toml``: parses.
- ``bash``/``sh``/``shell``/``console``: not run, but every ``sse-widgets`` command in it
  (``python -m sse_widgets.cli`` too) must name an existing subcommand and options, checked
  against ``sse_widgets.cli.build_parser()``. In ``console`` blocks only ``$ `` lines are
  commands (the rest is output).
- ``ini``/``systemd`` (unit files): their ``ExecStart=`` commands are checked like shell ones.
- Other languages in :data:`SHOWN_ONLY` (``text``, ``nginx``, ...) are shown as is.

A block opts out only with an HTML comment on the line right before its fence,
``<!-- not-run: reason -->``; each opted-out block is reported as a skipped test with its
reason, so ``pytest -ra`` lists them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
import yaml
from conftest import HubProcess, start_hub

REPO = Path(__file__).resolve().parent.parent
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

PYTHON = {"python", "py"}
SHELL = {"bash", "sh", "shell", "console"}
PARSED = {"json", "jsonl", "ndjson", "yaml", "yml", "toml"}
#: Languages shown to the reader and not checked.
SHOWN_ONLY = {
    "text", "ini", "nginx", "systemd", "caddy", "apache", "http", "html", "javascript", "js",
    "dockerfile", "diff", "traefik", "conf", "cfg", "csv", "sql", "mermaid",
}  # fmt: skip

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, when the block opted out

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order (CommonMark fences)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        language = match["info"].strip().split(" ")[0].lower() if match["info"].strip() else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                break
            text = lines[j]
            # Inside a list item the fence is indented: drop that much indentation (or less).
            body.append(text[min(indent, len(text) - len(text.lstrip())) :])
            j += 1
        else:
            raise AssertionError(f"{path.relative_to(REPO)}:{i + 1}: unclosed code fence")
        previous = _NOT_RUN.match(lines[i - 1]) if i > 0 else None
        reason = previous["reason"] if previous else None
        blocks.append(Block(path, i + 1, language, "\n".join(body) + "\n", reason))
        i = j + 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES for block in fenced_blocks(path)]


def _ids(blocks: list[Block]) -> list[str]:
    return [block.where for block in blocks]


# -- every block names a known language; opt-outs are listed -------------------------------


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=_ids(ALL_BLOCKS))
def test_block_names_a_known_language(block: Block) -> None:
    known = PYTHON | SHELL | PARSED | SHOWN_ONLY
    assert block.language, (
        f"{block.where}: name the block's language (```python, ```bash, ```text for a "
        "diagram or output, ...): the docs test decides from it how to check the block"
    )
    assert block.language in known, (
        f"{block.where}: unknown language {block.language!r}; use one of {sorted(known)} "
        "or add it to tests/test_docs.py"
    )


OPTED_OUT = [block for block in ALL_BLOCKS if block.not_run is not None]


@pytest.mark.parametrize(
    "block", OPTED_OUT or [None], ids=_ids(OPTED_OUT) if OPTED_OUT else ["none-opted-out"]
)
def test_opted_out_block(block: Block | None) -> None:
    """Each opted-out block shows up as a skip with its reason (``pytest -ra`` lists them)."""
    if block is None:
        return  # every block of the docs is checked
    assert block.not_run, f"{block.where}: <!-- not-run: ... --> needs a reason"
    count = f"{OPTED_OUT.index(block) + 1} of {len(OPTED_OUT)} opted-out blocks"
    pytest.skip(f"{block.where} ({block.language}, {count}) not run: {block.not_run}")


# -- data blocks parse -----------------------------------------------------------------------

DATA_BLOCKS = [b for b in ALL_BLOCKS if b.language in PARSED and b.not_run is None]


@pytest.mark.parametrize("block", DATA_BLOCKS, ids=_ids(DATA_BLOCKS))
def test_data_block_parses(block: Block) -> None:
    code = block.code
    if block.language == "json":
        try:
            json.loads(code)
            return
        except ValueError:
            pass  # one value per line, then
    if block.language in ("json", "jsonl", "ndjson"):
        for number, line in enumerate(code.splitlines(), block.line + 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError as exc:
                    raise AssertionError(
                        f"{block.path.relative_to(REPO)}:{number}: not JSON ({exc}): a json "
                        "block holds one JSON value, or one per line"
                    ) from None
    elif block.language in ("yaml", "yml"):
        list(yaml.safe_load_all(code))
    else:
        tomllib.loads(code)


# -- shell blocks name real commands -----------------------------------------------------------

SHELL_BLOCKS = [
    b for b in ALL_BLOCKS if b.language in SHELL | {"ini", "systemd"} and b.not_run is None
]
_SEPARATORS = {"|", "||", "&&", ";", "&", "(", ")"}


def shell_commands(block: Block) -> Iterator[list[str]]:
    """The simple commands of a shell block, as argument lists (console: ``$`` lines)."""
    lines: list[str] = []
    pending = ""
    for raw in block.code.splitlines():
        if block.language in ("ini", "systemd") and not pending:
            key, eq, value = raw.partition("=")
            if not eq or key.strip() != "ExecStart":
                continue
            raw = value.strip().lstrip("-@+!")  # systemd's prefixes: ignore failure, ...
        if block.language == "console" and not pending:
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    for line in lines:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for token in [*lexer, ";"]:
            if token in _SEPARATORS:
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def sse_widgets_arguments(command: list[str]) -> list[str] | None:
    """The arguments after ``sse-widgets`` (or ``python -m sse_widgets.cli``), else None."""
    words = list(command)
    while words and (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]) or words[0] in (
        "sudo", "exec", "env", "time", "nohup",
    )):  # fmt: skip
        words.pop(0)
    if not words:
        return None
    if words[0].rsplit("/", 1)[-1] == "sse-widgets":
        return words[1:]
    module = ["-m", "sse_widgets.cli"]
    if len(words) >= 3 and "python" in words[0].rsplit("/", 1)[-1] and words[1:3] == module:
        return words[3:]
    return None


def check_cli_arguments(arguments: list[str]) -> str | None:
    """Why ``sse-widgets <arguments>`` would be refused by the real parser, or None."""
    from sse_widgets.cli import build_parser
    from sse_widgets.server.config import SSEWidgets

    if "--help" in arguments or "-h" in arguments:
        arguments = [a for a in arguments if a not in ("--help", "-h")]
        if not arguments:
            return None
    parser = build_parser()
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            args, extra = parser.parse_known_args(arguments)
    except SystemExit:
        return errors.getvalue().strip().splitlines()[-1]
    if extra and args.command != "serve":
        return f"unrecognized arguments: {' '.join(extra)}"
    known = set(SSEWidgets.class_trait_names(config=True))
    for arg in extra:
        key, eq, _ = arg.partition("=")
        name = key.removeprefix("--SSEWidgets.")
        if not key.startswith("--SSEWidgets.") or not eq or name not in known:
            return f"unknown argument {arg!r} (serve takes --SSEWidgets.<setting>=<value>)"
    return None


def test_cli_check_catches_mistakes() -> None:
    """The checker itself: real commands pass, made-up ones do not."""
    assert check_cli_arguments(["serve", "--port", "0", "--SSEWidgets.retry_ms=50"]) is None
    assert check_cli_arguments(["tail", "jobs", "--from-start", "--count", "1"]) is None
    assert check_cli_arguments(["serve", "--prot", "1"]) is not None
    assert check_cli_arguments(["serve", "--SSEWidgets.no_such=1"]) is not None
    assert check_cli_arguments(["publsh", "a", "b", "{}"]) is not None
    assert check_cli_arguments(["tail", "jobs", "--follow"]) is not None
    block = Block(REPO, 1, "console", "$ FOO=1 sse-widgets tail a | head\nout\n", None)
    assert [sse_widgets_arguments(c) for c in shell_commands(block)] == [["tail", "a"], None]


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=_ids(SHELL_BLOCKS))
def test_shell_block_commands_exist(block: Block) -> None:
    for command in shell_commands(block):
        arguments = sse_widgets_arguments(command)
        if arguments is None:
            continue
        problem = check_cli_arguments(arguments)
        assert problem is None, f"{block.where}: `sse-widgets {' '.join(arguments)}`: {problem}"


# -- python blocks run -----------------------------------------------------------------------

_RUNNER = r"""
import ast, asyncio, inspect, json, sys

from IPython.display import display

blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__", "display": display}
for path, line, code in blocks:
    print(f"--- block at {path}:{line}", flush=True)
    # Leading newlines: tracebacks name the line of the Markdown file.
    compiled = compile("\n" * line + code, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if compiled.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(compiled, namespace))
    else:
        exec(compiled, namespace)

from sse_widgets import publisher

pub = publisher._default
if pub is not None and not pub.closed:
    accepted = pub.flush(20)
    stats = pub.stats
    if not accepted or stats["dropped"]:
        sys.exit(f"events did not all reach the hub at {pub.address.url}: {stats}")
    print(f"--- published {stats['queued']} events", flush=True)
"""

CONFIG_HEADER = "# jupyter_server_config.py"
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language in PYTHON and b.not_run is None]
CONFIG_BLOCKS = [b for b in PYTHON_BLOCKS if b.code.startswith(CONFIG_HEADER)]
PYTHON_FILES = {
    path: blocks
    for path in DOC_FILES
    if (
        blocks := [
            b for b in PYTHON_BLOCKS if b.path == path and not b.code.startswith(CONFIG_HEADER)
        ]
    )
}


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=_ids(CONFIG_BLOCKS))
def test_jupyter_config_block_loads(block: Block, tmp_path: Path) -> None:
    from jupyter_server.serverapp import ServerApp
    from traitlets.config.loader import PyFileConfigLoader

    from sse_widgets.server.config import SSEWidgets

    (tmp_path / "jupyter_server_config.py").write_text(block.code, encoding="utf-8")
    config = PyFileConfigLoader("jupyter_server_config.py", path=str(tmp_path)).load_config()
    for section, owner in (("SSEWidgets", SSEWidgets), ("ServerApp", ServerApp)):
        known = set(owner.class_trait_names(config=True))
        unknown = sorted(set(config[section]) - known) if section in config else []
        assert not unknown, f"{block.where}: c.{section} has no setting(s) {unknown}"
    SSEWidgets(config=config)  # values are validated (TraitError for a bad one)
    assert set(config) <= {"SSEWidgets", "ServerApp"}, (
        f"{block.where}: the docs test checks c.SSEWidgets and c.ServerApp only; "
        f"it sets {sorted(config)}"
    )


@pytest.fixture(scope="module")
def docs_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path_factory.mktemp("docs-hub"), token="docs-token")
    try:
        yield hub
    finally:
        hub.stop()


@pytest.mark.parametrize(
    "path", list(PYTHON_FILES), ids=[str(p.relative_to(REPO)) for p in PYTHON_FILES]
)
def test_python_blocks_run(path: Path, docs_hub: HubProcess, tmp_path: Path) -> None:
    blocks = PYTHON_FILES[path]
    env = dict(os.environ, SSE_WIDGETS_URL=docs_hub.url, SSE_WIDGETS_TOKEN=docs_hub.token)
    env.pop("SSE_WIDGETS_BROWSER_PATH", None)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    payload = [[str(b.path.relative_to(REPO)), b.line, b.code] for b in blocks]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=45,
            env=env,
            cwd=tmp_path,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        raise AssertionError(f"{path.name}: still running after 45 s; output:\n{out}") from None
    report = f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"{path.name}: a block failed\n{report}"
    assert not result.stderr.strip(), f"{path.name}: wrote to stderr\n{report}"


def test_docs_have_blocks_to_check() -> None:
    # A broken fence parser would pass every test above by finding nothing.
    assert len(ALL_BLOCKS) > 20
    assert REPO / "README.md" in PYTHON_FILES


# -- docs/api.md documents exactly the public API ---------------------------------------------

API_DOC = REPO / "docs" / "api.md"
#: Lazy public names outside ``__all__`` (resolved by the package's ``__getattr__``).
LAZY_EXTRAS = {"tqdm", "trange"}
_API_HEADING = re.compile(r"^#{3,4} `(?P<name>[A-Za-z_][\w.]*)`\s*$")
_SIGNATURE = re.compile(r"^`(?P<name>[A-Za-z_]\w*)(?P<params>\(.*\))`")


class _Auto:
    """Stands for the ``_AUTO`` sentinel defaults (``parent=<auto>`` in the docs)."""

    def __repr__(self) -> str:
        return "<auto>"


def api_entries() -> dict[str, str | None]:
    """Documented name -> the signature line under its heading (None when there is none)."""
    lines = API_DOC.read_text(encoding="utf-8").splitlines()
    entries: dict[str, str | None] = {}
    for number, line in enumerate(lines):
        match = _API_HEADING.match(line)
        if match is None:
            continue
        name = match["name"].removeprefix("sse_widgets.")
        assert name not in entries, f"docs/api.md:{number + 1}: {name} is documented twice"
        following = next((text for text in lines[number + 1 :] if text.strip()), "")
        entries[name] = following if _SIGNATURE.match(following) else None
    return entries


def resolve(name: str) -> object:
    """``sse_widgets.<name>``, importing a submodule on the way (``tqdm_bars.thread_map``)."""
    import importlib

    import sse_widgets

    obj: object = sse_widgets
    path = "sse_widgets"
    for part in name.split("."):
        path += "." + part
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(path)  # ModuleNotFoundError: no such name
    return obj


def rendered_signature(name: str, obj: object) -> str | None:
    """How api.md writes ``obj``'s signature: no annotations, ``self`` dropped."""
    import inspect

    if isinstance(obj, property) or not callable(obj):
        return None
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None  # builtin exception constructors have none worth showing
    parameters = []
    for index, parameter in enumerate(signature.parameters.values()):
        if index == 0 and parameter.name == "self":
            continue
        default = parameter.default
        if repr(default).startswith("<object object at"):
            default = _Auto()
        parameters.append(parameter.replace(annotation=parameter.empty, default=default))
    bare = signature.replace(parameters=parameters, return_annotation=signature.empty)
    return f"{name.rsplit('.', 1)[-1]}{bare}"


def test_api_reference_covers_every_public_name() -> None:
    import sse_widgets
    from sse_widgets import errors

    documented = set(api_entries())
    public = set(sse_widgets.__all__) | LAZY_EXTRAS | set(errors.__all__)
    missing = sorted(public - documented)
    assert not missing, f"docs/api.md has no `### \\`name\\`` section for {missing}"


def test_api_reference_documents_only_real_names() -> None:
    import inspect

    for name in api_entries():
        try:
            resolve(name)
        except (AttributeError, ModuleNotFoundError):
            raise AssertionError(f"docs/api.md documents {name}, which does not exist") from None
        owner, _, attribute = name.rpartition(".")
        if owner:  # a method or property: it must be the class's own public API
            assert not attribute.startswith("_"), name
            assert inspect.isclass(resolve(owner)) or inspect.ismodule(resolve(owner)), name


def test_api_reference_signatures_match_the_code() -> None:
    import inspect

    for name, shown in api_entries().items():
        owner, _, attribute = name.rpartition(".")
        obj = resolve(name)
        if owner and inspect.isclass(resolve(owner)):
            obj = inspect.getattr_static(resolve(owner), attribute)
            if isinstance(obj, staticmethod | classmethod):
                obj = obj.__func__
        expected = rendered_signature(name, obj)
        if expected is None:
            continue
        is_exception = inspect.isclass(obj) and issubclass(obj, BaseException)
        if shown is None and is_exception:
            continue
        assert shown is not None, f"docs/api.md: {name} needs its signature: `{expected}`"
        match = _SIGNATURE.match(shown)
        assert match is not None
        assert f"{match['name']}{match['params']}" == expected, (
            f"docs/api.md: the signature of {name} is `{expected}` in the code, not {shown}"
        )
