"""Pages from Jinja2 templates: autoescaped, translated through the one seam, times through ``site``."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from pipeline.common import i18n
from pipeline.common.units import human_bytes
from pipeline.records.users import ROLE_NAMES
from pipeline.web import site

TEMPLATES = Path(__file__).resolve().parent / "templates"


def page_language() -> str:
    """``lang`` of the pages: the language in use (``zh-CN`` or ``en``)."""
    return i18n.html_lang()


def environment(config) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(gettext=lambda m: i18n.translations().gettext(m),
                                  ngettext=lambda s, p, n: i18n.translations().ngettext(s, p, n), newstyle=True)
    zone = site.site_zone(config)
    env.filters["site_time"] = lambda value, seconds=False: site.show(value, zone, seconds=seconds)
    env.filters["bytes"] = lambda n: human_bytes(n or 0)
    env.filters["duration"] = _duration
    env.filters["short"] = lambda sha: (sha or "")[:12]
    # an enumerated value (a status, a gap's kind, a retention class) as people read it; the
    # attributes and links keep the English word
    env.filters["word"] = lambda value: i18n.pgettext("value", str(value)) if value not in (None, "") else ""
    env.globals["role_name"] = lambda role: i18n._(ROLE_NAMES.get(role, role))
    env.globals["page_language"] = page_language
    env.globals["zone_name"] = str(zone)
    return env


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return i18n._("{n} s").format(n=f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}")
    if seconds < 3600:
        return i18n._("{m} min {s} s").format(m=int(seconds // 60), s=int(seconds % 60))
    return i18n._("{h} h {m} min").format(h=int(seconds // 3600), m=int(seconds % 3600 // 60))


def page(env: Environment, name: str, context: dict, status: int = 200) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**context), status_code=status)
