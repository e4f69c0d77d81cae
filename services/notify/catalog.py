"""Loads the message templates (services/notify/templates/<lang>.yaml) once at start-up.

A broken template file stops the service at start with the file and the fault named; nothing here
renders a message (that is domain/messages.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.notify.domain.messages import Catalog, CatalogError

TEMPLATES_DIR = Path(__file__).with_name("templates")


def load_catalog(directory: Path | None = None) -> Catalog:
    directory = directory or TEMPLATES_DIR
    languages: dict[str, Any] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CatalogError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise CatalogError(f"{path}: expected a mapping at the top")
        languages[path.stem] = doc
    try:
        return Catalog(languages)
    except CatalogError as exc:
        raise CatalogError(f"{directory}: {exc}") from exc
