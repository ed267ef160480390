"""The app's catalog of courses, loaded once per process (Flask glue around ``content.loader``)."""

from __future__ import annotations

from flask import current_app

from content.loader import Catalog, load_catalog

_KEY = "kalanso.catalog"


def get_catalog() -> Catalog:
    """The validated courses; raises ``ContentError`` if the files are broken."""
    catalog = current_app.extensions.get(_KEY)
    if catalog is None:
        catalog = current_app.extensions[_KEY] = load_catalog(
            current_app.config["KALANSO_COURSES_DIR"], current_app.config["KALANSO"].contacts
        )
    return catalog
