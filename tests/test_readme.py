"""The README against the code it describes, and the links of every page.

- The flag table equals the CLI's flags (``exporter.cli.build_parser``): every flag, its default,
  the choices of a flag that has them; none missing, none extra.
- The endpoint table equals the web routes (``exporter/web/routes.py``): the same paths, and for
  each the methods it answers, asked of the real ``Router`` with a stub backend.
- The runbook exists once, in docs/runbook.md: the README lists every alert of
  prometheus/alerts.yml with a link to the section its ``runbook_url`` names, and that section
  exists.
- Every relative link in README.md and docs/*.md points at a file that exists, and at a heading
  that exists where it names an anchor.
- docs/benchmarks.md has a row for every script in benchmarks/.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from exporter import callbacks
from exporter.callbacks.origin import Origin
from exporter.cli import build_parser
from exporter.config.fields import DEFAULT_CALLBACK_PATH
from exporter.web.http1 import Request
from exporter.web.pools import Pool
from exporter.web.routes import Router
from exporter.web.stats import WebStats

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
ROUTES = ROOT / "exporter" / "web" / "routes.py"
RUNBOOK = ROOT / "docs" / "runbook.md"
ALERTS = ROOT / "prometheus" / "alerts.yml"

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]*)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


# -- reading Markdown ----------------------------------------------------------------------------


def without_code(text: str) -> str:
    """The text without fenced blocks and code spans, where link syntax is literal."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def cells(row: str) -> list[str]:
    """A table row's cells; a ``|`` inside a code span or escaped as ``\\|`` is not a border."""
    out, cell, in_code = [], "", False
    body = row.strip().removeprefix("|").removesuffix("|")
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and body[i + 1 : i + 2] == "|":
            cell += "|"
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            out.append(cell.strip())
            cell = ""
        else:
            cell += ch
        i += 1
    out.append(cell.strip())
    return out


def table_after(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after the heading line ``heading``."""
    lines = text.splitlines()
    assert heading in lines, f"no heading {heading!r}"
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if line.startswith("|"):
            rows.append(cells(line))
        elif rows:
            break
    assert len(rows) > 2, f"no table under {heading!r}"
    header, rule, *body = rows
    assert all(set(c) <= set(":-") for c in rule), f"{heading}: not a table: {header}"
    return body


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (a repeated one gets -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def unquote(cell: str) -> str:
    """A cell that is one code span, without its backticks."""
    m = re.fullmatch(r"`([^`]+)`", cell)
    assert m, f"want one code span, got {cell!r}"
    return m.group(1)


# -- flags ---------------------------------------------------------------------------------------


def documented_default(action: Any) -> str:
    """How the table writes an argparse default: ``off`` for a switch, ``none``, or the value."""
    if action.nargs == 0:  # store_true, --help: a switch, off unless given
        return "off"
    if action.default is None:
        return "none"
    return f"`{action.default}`"


def test_flag_table_is_the_clis_flags() -> None:
    parser = build_parser()
    # argparse has no public list of its actions; _actions is what --help prints from.
    actions = {", ".join(f"`{o}`" for o in a.option_strings): a for a in parser._actions}
    rows = {row[0]: row for row in table_after(README.read_text(encoding="utf-8"), "### Flags")}
    missing, extra = sorted(actions.keys() - rows.keys()), sorted(rows.keys() - actions.keys())
    assert not missing and not extra, f"README flag table: missing {missing}, extra {extra}"
    for flag, action in actions.items():
        _, default, meaning = rows[flag]
        assert default == documented_default(action), f"{flag}: README says {default!r}"
        for choice in action.choices or ():
            assert f"`{choice}`" in meaning, f"{flag}: choice {choice!r} is not documented"
        assert meaning, flag
    assert "`--config.max-bytes`" in rows


# -- endpoints -----------------------------------------------------------------------------------


@dataclass
class StubBackend:
    """Answers every backend call at once, so that a route's status is the router's own."""

    callback_path: str | None = DEFAULT_CALLBACK_PATH

    def metrics_chunks(self, openmetrics: bool, compressed: bool) -> list[bytes]:
        return [b"# EOF\n"]

    def ready(self) -> bool:
        return True

    def healthy(self) -> bool:
        return True

    def status_page(self, query: dict[str, str]) -> str:
        return "<html></html>"

    def handle_callback(
        self, body: bytes, content_type: str | None, origin: Origin | None = None
    ) -> tuple[int, bytes]:
        return 200, b'{"code":0}'

    def reload(self) -> tuple[bool, str]:
        return True, "configuration reloaded"

    def handle_rejection(self, rejection: callbacks.Rejection) -> None:
        pass


def status(method: str, path: str, lifecycle: bool = True) -> int:
    """What the router answers ``method path`` with a small JSON body, handlers run inline."""
    router = Router(StubBackend(), {}, cast(Pool, None), WebStats(), lambda: lifecycle)
    request = Request(
        method,
        path,
        path,
        "",
        (1, 1),
        {"content-length": ["2"], "content-type": ["application/json"]},
        content_length=2,
    )
    route = router.route(request)
    if route.answer is not None:
        return route.answer.status
    assert route.handle is not None
    return route.handle(b"{}").status


def routed_paths() -> set[str]:
    """Every path routes.py compares a request's path with, and the callback receiver's."""
    paths = {DEFAULT_CALLBACK_PATH}
    for node in ast.walk(ast.parse(ROUTES.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name)
            and node.left.id == "path"
        ):
            for comparator in node.comparators:
                if isinstance(comparator, ast.Constant) and isinstance(comparator.value, str):
                    paths.add(comparator.value)
    return paths


def test_endpoint_table_is_the_web_routes() -> None:
    rows = table_after(README.read_text(encoding="utf-8"), "### Endpoints")
    table = {unquote(path): {m.strip() for m in methods.split(",")} for path, methods, _ in rows}
    routed = routed_paths()
    assert table.keys() == routed, f"README endpoints {sorted(table)}, routes.py {sorted(routed)}"
    for path, methods in table.items():
        answered = {m for m in ("GET", "HEAD", "POST") if status(m, path) == 200}
        assert methods == answered, f"{path}: README says {sorted(methods)}, routes {answered}"


def test_what_the_readme_says_of_other_paths_and_the_lifecycle_switch() -> None:
    text = README.read_text(encoding="utf-8")
    assert "Other paths answer 404 (405 to a POST)." in text
    assert (status("GET", "/nowhere"), status("POST", "/nowhere")) == (404, 405)
    assert "403 `Lifecycle API is not enabled.`" in text
    assert status("POST", "/-/reload", lifecycle=False) == 403
    assert status("GET", "/-/reload") == 405


# -- the runbook, once ---------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_the_readme_links_every_alert_to_its_runbook_section() -> None:
    text = README.read_text(encoding="utf-8")
    sections = anchors(RUNBOOK)
    rules = alert_rules()
    assert len(rules) > 20
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url.rsplit("#", 1)[0].endswith("/docs/runbook.md"), url
        anchor = url.rsplit("#", 1)[1]
        assert anchor in sections, f"docs/runbook.md has no section #{anchor} ({rule['alert']})"
        link = f"[{rule['alert']}](docs/runbook.md#{anchor})"
        assert text.count(link) == 1, f"README: want {link} once in the alert list"


def test_the_runbook_is_not_copied_into_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    assert "**Meaning.**" not in text and "**Check first.**" not in text
    names = {rule["alert"] for rule in alert_rules()}
    headings = {m.group(2) for m in HEADING.finditer(text)}
    assert not names & headings, f"README has runbook sections: {sorted(names & headings)}"


# -- links ---------------------------------------------------------------------------------------


def relative_links(path: Path) -> list[str]:
    targets = LINK.findall(without_code(path.read_text(encoding="utf-8")))
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_at_files_and_headings_that_exist(page: Path) -> None:
    links = relative_links(page)
    broken = []
    for link in links:
        file_part, _, anchor = link.partition("#")
        target = (page.parent / file_part).resolve() if file_part else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading #{anchor}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_checker_sees_links() -> None:
    """Not vacuous: the README's links are found, including ones with a code span as text."""
    links = relative_links(README)
    assert "docs/runbook.md#streamdown" in links
    assert "prometheus/alerts.yml" in links
    assert len(links) > 40
    assert slug("`metrics`") == "metrics"
    assert slug("Staying within Tencent's limits") == "staying-within-tencents-limits"
    assert slug("Sharding (`overlays/sharded`)") == "sharding-overlayssharded"


# -- benchmarks ----------------------------------------------------------------------------------


def test_the_benchmarks_page_has_every_script() -> None:
    page = ROOT / "docs" / "benchmarks.md"
    rows = table_after(page.read_text(encoding="utf-8"), "# Benchmarks")
    listed = {unquote(row[0]) for row in rows}
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert listed == scripts, (
        f"docs/benchmarks.md: missing {scripts - listed}, extra {listed - scripts}"
    )
    for row in rows:
        assert f"benchmarks/{unquote(row[0])}" in row[2], f"{row[0]}: no command to run it"


def test_the_readmes_commands_exist() -> None:
    text = README.read_text(encoding="utf-8")
    for script in sorted(set(re.findall(r"\./scripts/([\w-]+)", text))):
        path = ROOT / "scripts" / script
        assert path.is_file() and path.stat().st_mode & 0o111, f"./scripts/{script}"
    assert './scripts/test -m "not slow"' in text
