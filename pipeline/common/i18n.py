"""The translation seam: every user-facing message goes through ``_`` (gettext, catalogs made with Babel).

Catalogs live in ``pipeline/locale/<lang>/LC_MESSAGES/fieldrec.po`` (compiled to ``.mo``). Until a
language is chosen with ``use_language``, messages are returned as written (English).
"""

from __future__ import annotations

import gettext as _gettext
from pathlib import Path

DOMAIN = "fieldrec"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"

_translations: _gettext.NullTranslations = _gettext.NullTranslations()


def use_language(language: str | None) -> _gettext.NullTranslations:
    """Switch every later ``_`` to ``language`` (e.g. ``zh_CN``); unknown languages fall back to English."""
    global _translations
    languages = [language.replace("-", "_")] if language else None
    _translations = _gettext.translation(DOMAIN, LOCALE_DIR, languages=languages, fallback=True)
    return _translations


def translations() -> _gettext.NullTranslations:
    return _translations


def _(message: str) -> str:
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)
