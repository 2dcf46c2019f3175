"""``docs/config.md`` and ``docs/config.schema.json``, written from the config tree (``gateway.config_schema``).

``python -m gateway.config_docs`` rewrites both; ``tests/gateway/test_config_docs.py`` fails
when either differs from what the tree gives, so the reference never drifts from the code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config_schema import CONFIG, TABLES
from .config_types import ArrayOf, Key, MapOf, Table, Tagged, ValueType

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
MARKDOWN = DOCS_DIR / "config.md"
JSON_SCHEMA = DOCS_DIR / "config.schema.json"
SCHEMA_ID = "https://satudata.trenggalekkab.go.id/schemas/gateway-config.json"

_INTRO = """\
# Configuration reference

<!-- Written by `python -m gateway.config_docs` from gateway/config_schema.py; do not edit by hand. -->

The gateway reads one TOML file (`satudata serve --config FILE`). Every table and key is below,
with its type and default. The file is checked as a whole when the gateway starts (and on each
reload): an unknown key is refused with the closest known one (`gateway.produktion is not a key
of [gateway]; did you mean "production"?`), a wrong type names the key, what it must be and what
was given, and the gateway exits with code 2 before it serves.

- `satudata config check FILE` checks a file without serving it: `OK`, or every problem (exit 2).
- Editors that read JSON Schema (e.g. VS Code with Even Better TOML / Taplo) can check the file
  as it is typed: put `#:schema ./config.schema.json` (a path to `docs/config.schema.json`) on the
  first line of the config.
- A value written `"env:VAR"` (where a type says so) is read from the environment variable `VAR`
  at start-up, so secrets and addresses need not be in the file.
- **Reload**: `kill -HUP <pid>` or `satudata reload --pid-file FILE` re-reads the file and swaps
  in a new runtime (sources, policy, limits, documents...) while requests in flight finish on the
  old one; a file with a problem is refused and the running config keeps serving. Keys marked
  *Needs a restart* are the server's own and keep their value until the process restarts.
"""


def markdown() -> str:
    parts = [_INTRO]
    for name, key in TABLES.items():
        parts.append(_table_section(name, key))
    return "\n".join(parts).rstrip() + "\n"


def json_schema() -> dict[str, Any]:
    schema = CONFIG.schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, "title": "Satu Data gateway config", **schema}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _table_section(name: str, key: Key) -> str:
    out: list[str] = []
    value = key.type
    required = " (required)" if key.required else ""
    if isinstance(value, ArrayOf):
        out.append(f"## [[{name}]]{required}\n")
        out.extend(_tables(f"[[{name}]]", value.table, level=None, path=f"{name}[]"))
    elif isinstance(value, MapOf) and isinstance(value.value, Tagged):
        out.append(f"## [{name}.{value.name}]{required}\n\n{key.description} Its keys depend on its "
                   f"`{value.value.tag}`.\n")
        for table in value.value.variants.values():
            kind = next(k for k, t in value.value.variants.items() if t is table)
            out.extend(_tables(f"[{name}.{value.name}] with {value.value.tag} = \"{kind}\"", table, level=3,
                               path=f"{name}.{value.name}"))
    elif isinstance(value, Table):
        default = "" if key.default_doc is None else f" Absent: {key.default_doc}."
        out.append(f"## [{name}]\n")
        out.extend(_tables(f"[{name}]", value, level=None, path=name, extra=default))
    return "\n".join(out)


def _tables(title: str, table: Table, *, level: int | None, path: str = "", extra: str = "") -> Iterator[str]:
    """The table's own keys as rows, then a section for each nested table below it."""

    if level is not None:
        yield f"{'#' * level} {title}\n"
    if table.description:
        yield f"{table.description}{extra}\n"
    if table.example:
        yield f"```toml\n{table.example}\n```\n"
    rows = [key for key in table.keys if not _nested(key.type)]
    if rows:
        yield "| key | type | default | description |\n|---|---|---|---|"
        yield "\n".join(f"| `{k.name}` | {k.type.doc()} | {k.default_text()} | {_cell(k.description)} |" for k in rows)
        yield ""
    for key in table.keys:
        nested = _nested(key.type)
        if nested is None:
            continue
        label, inner = nested
        where = f"{path}.{key.name}{label}" if path else f"{key.name}{label}"
        choices = key.type.key_choices if isinstance(key.type, MapOf) else None
        named = f" `{key.type.name}` is one of: {', '.join(choices)}." if choices and isinstance(key.type, MapOf) else ""
        yield from _tables(f"[{where}]", inner, level=(level or 2) + 1, path=where, extra=named)
        if key.description and not inner.description:
            yield f"{key.description}\n"


def _nested(value: ValueType) -> tuple[str, Table] | None:
    """A key whose value is (a map of, an array of) tables gets a section of its own."""

    if isinstance(value, Table):
        return "", value
    if isinstance(value, MapOf) and isinstance(value.value, Table):
        return f".{value.name}", value.value
    if isinstance(value, ArrayOf):
        return "", value.table
    return None


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write() -> None:
    DOCS_DIR.mkdir(exist_ok=True)
    MARKDOWN.write_text(markdown(), encoding="utf-8")
    JSON_SCHEMA.write_text(json_schema_text(), encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {MARKDOWN} and {JSON_SCHEMA}", file=sys.stderr)
