"""Templates and the Markdown that job descriptions are written in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from jobruntime.web.ui.session import CSRF_FIELD, csrf_token

_MARKDOWN = MarkdownIt("commonmark", {"html": False})  # raw HTML and scripts are shown as text
_HERE = Path(__file__).parent


def markdown(text: str | None) -> Markup:
    """Markdown to HTML with raw HTML disabled; link targets such as ``javascript:`` are refused by markdown-it."""
    return Markup(_MARKDOWN.render(text or "").strip())


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True,
                                 undefined=jinja2.StrictUndefined)
ENVIRONMENT.filters.update(markdown=markdown, pretty_json=pretty_json)


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered page; every page gets the signed-in username and the CSRF field for its forms."""
    html = ENVIRONMENT.get_template(template).render(
        request=request, username=request.session.get("username"), csrf_field=CSRF_FIELD,
        csrf_token=csrf_token(request), **context)
    return HTMLResponse(html, status_code=status_code)


STATIC_DIRECTORY = _HERE / "static"
