"""``megawatch schemas``: write (or check) the JSON Schemas generated from the models."""

from __future__ import annotations

import json
from pathlib import Path

import click


def render_schemas() -> dict[str, str]:
    """File name -> text of every schema, exactly as checked in under ``schemas/``."""
    from pipeline.events import json_schemas

    return {
        f"{kind}.json": json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for kind, schema in json_schemas().items()
    }


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Directory to write the schemas to.",
)
@click.option("--check", is_flag=True, help="Exit 1 if the files differ from the models.")
def schemas(out: Path, check: bool) -> None:
    """Write one JSON Schema per event kind, generated from pipeline/events.py.

    Producers in other languages validate against these files; `--check` is what CI runs
    to catch a model change without regenerated schemas.
    """
    rendered = render_schemas()
    if check:
        stale = [name for name, text in rendered.items() if _read(out / name) != text]
        if stale:
            raise click.ClickException(
                f"schemas out of date in {out}: {', '.join(stale)}; run `megawatch schemas`"
            )
        click.echo(f"{len(rendered)} schemas in {out} match the models")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text)
    click.echo(f"wrote {len(rendered)} schemas to {out}")


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None
