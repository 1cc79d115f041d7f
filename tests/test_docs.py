"""The docs stay honest because tests check them (as sqlite-utils' tests/test_docs.py does): every CLI
command and option, every route, every RECSYS_* setting and every public name appears in README.md
or docs/*.md, and the README's code blocks marked runnable run."""

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

import recsys
from recsys.cli import main
from recsys.server import Settings, create_app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]
FASTAPI_OWN_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*)$", re.M)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def docs() -> str:
    return "\n".join(read(path) for path in DOC_FILES)


@pytest.fixture(scope="module")
def code_in_docs(docs) -> str:
    """The text of every fenced code block and inline code span."""
    blocks = [body for _, body in FENCE.findall(docs)]
    paragraphs = re.split(r"\n[ \t]*\n", FENCE.sub("", docs))  # a code span may wrap, within a paragraph
    spans = [span for paragraph in paragraphs for span in re.findall(r"`([^`]+)`", paragraph)]
    return "\n".join(blocks + spans)


def command_sections(docs: str) -> dict[str, str]:
    """Command name -> the text under each heading that names `recsys <command>`, up to the next heading."""
    sections: dict[str, str] = {}
    headings = list(HEADING.finditer(docs))
    for heading, after in zip(headings, headings[1:] + [None]):
        match = re.search(r"`recsys ([\w-]+)", heading.group(2))
        if match:
            end = after.start() if after else len(docs)
            sections[match.group(1)] = sections.get(match.group(1), "") + docs[heading.start():end]
    return sections


def mentions_option(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_has_a_documented_section(docs, name):
    assert name in command_sections(docs), f"no heading names `recsys {name}` in README.md or docs/*.md"


@pytest.mark.parametrize("name", sorted(main.commands))
def test_command_has_help(name):
    assert main.commands[name].help, f"recsys {name} has no help text"


@pytest.mark.parametrize("name,option", sorted(
    (name, option) for name, command in main.commands.items()
    for param in command.params if param.param_type_name == "option"
    for option in [*param.opts, *param.secondary_opts]))
def test_command_option_is_documented(docs, name, option):
    section = command_sections(docs).get(name, "")
    assert mentions_option(section, option), f"`recsys {name}` {option} is not in its section of the docs"


@pytest.mark.parametrize("option", sorted(o for p in main.params for o in [*p.opts, *p.secondary_opts]))
def test_group_option_is_documented(docs, option):
    assert mentions_option(docs, f"recsys {option}"), f"`recsys {option}` is not documented"


# ------------------------------------------------------------------ the HTTP API
def _routes(routes):
    """(method, path) of every route, also inside routers that FastAPI includes lazily."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            yield from _routes(contexts())
        elif getattr(route, "methods", None):
            yield from ((method, route.path) for method in route.methods if method != "HEAD")


def app_routes() -> list[tuple[str, str]]:
    app = create_app(Settings(index=ROOT / "indexes" / "docs-test-not-loaded"))
    return sorted({(m, p) for m, p in _routes(app.routes) if p not in FASTAPI_OWN_ROUTES})


def test_routes_are_found():
    assert ("GET", "/v1/articles/{article_id}/related") in app_routes()


@pytest.mark.parametrize("method,path", app_routes())
def test_route_is_documented(docs, method, path):
    pattern = rf"\b{method} {re.escape(path)}(?![\w/{{}}-])"
    assert re.search(pattern, docs), f"`{method} {path}` is not in README.md or docs/*.md"


# ------------------------------------------------------------------ settings and public names
@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_setting_is_documented(docs, field):
    variable = f"{Settings.model_config['env_prefix']}{field.upper()}"
    assert re.search(rf"\b{variable}(?![A-Z0-9_])", docs), f"{variable} is not in README.md or docs/*.md"


@pytest.mark.parametrize("name", sorted(recsys.__all__))
def test_public_name_is_documented(code_in_docs, name):
    assert re.search(rf"(?<![\w]){re.escape(name)}(?!\w)", code_in_docs), \
        f"recsys.{name} is not named in code in README.md or docs/*.md"


# ------------------------------------------------------------------ links between the docs
def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.name)
def test_relative_links_resolve(path):
    for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", read(path))):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: broken link {target}"
        if anchor and linked.suffix == ".md":
            anchors = {slug(h) for _, h in HEADING.findall(FENCE.sub("", read(linked)))}
            assert anchor in anchors, f"{path.name}: no heading for #{anchor} in {linked.name}"


# ------------------------------------------------------------------ runnable README blocks
def readme_blocks(language: str) -> list[str]:
    return [body for info, body in FENCE.findall(read(README)) if info.split() == [language, "runnable"]]


def test_readme_has_runnable_blocks():
    assert readme_blocks("python") and readme_blocks("bash")


@pytest.mark.parametrize("code", readme_blocks("python"))
def test_readme_python_block_runs(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


@pytest.mark.parametrize("code", readme_blocks("bash"))
def test_readme_bash_block_runs(code, tmp_path, monkeypatch):
    """A runnable bash block holds only `recsys ...` lines (and comments): each runs in-process."""
    monkeypatch.chdir(tmp_path)
    for line in filter(None, (line.strip() for line in code.splitlines())):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert words[0] == "recsys", f"a runnable bash block may only run recsys commands: {line}"
        result = CliRunner().invoke(main, words[1:], catch_exceptions=False)
        assert result.exit_code == 0, f"{line}\n{result.output}"
