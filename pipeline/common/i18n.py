"""The translation seam: every user-facing message goes through ``_`` (gettext catalogs kept with Babel).

Catalogs are the ``.po`` files under ``pipeline/locale/<lang>/LC_MESSAGES/fieldrec.po``, read at
start-up (no compiled ``.mo`` to keep in step); ``make messages`` extracts the messages from the code
(``babel.cfg``) and merges them into the catalogs. The language is chosen once per process by
``use_language``: ``--lang``, else the archive's setting (``site.language``), else
``LC_ALL``/``LC_MESSAGES``/``LANG``; English (the messages as written) when none names a language we
have. Machine-read output (CSV and JSON column names, catalog columns, BagIt tags, exit codes) is
never translated.

Text defined at import time (a module's help text, a table of labels) is marked with ``N_`` and
translated where it is used (``_(HELP)``): modules are imported before the language is chosen. Words
that mean something else in another place (a column heading, a value of an enumerated column) are
looked up with a context: ``pgettext("column", "device_id")``.
"""

from __future__ import annotations

import gettext as _gettext
import os
from functools import lru_cache
from pathlib import Path
from typing import Mapping

DOMAIN = "fieldrec"
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
LANGUAGES = ("en", "zh_CN")          # what the UI offers; en is the source language


class _PoTranslations(_gettext.NullTranslations):
    """gettext over a Babel catalog read from a ``.po`` file."""

    def __init__(self, catalog):
        super().__init__()
        self._catalog = catalog
        self._messages = {}
        for message in catalog:
            if message.id and message.string and not message.fuzzy:
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                self._messages[(message.context, msgid)] = message

    def gettext(self, message: str) -> str:
        return self.pgettext(None, message)

    def pgettext(self, context: str | None, message: str) -> str:
        found = self._messages.get((context, message))
        if found is None:
            return message
        return found.string if isinstance(found.string, str) else found.string[0]

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        found = self._messages.get((None, singular))
        if found is None or isinstance(found.string, str):
            return singular if n == 1 else plural
        index = self._catalog.plural_func(n) if len(found.string) > 1 else 0
        return found.string[index] or (singular if n == 1 else plural)


@lru_cache(maxsize=None)
def _load(language: str) -> _gettext.NullTranslations:
    from babel.messages.pofile import read_po

    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return _gettext.NullTranslations()
    with open(path, "rb") as fh:
        return _PoTranslations(read_po(fh, locale=language))


def normalize(language: str | None) -> str | None:
    """``zh-CN``, ``zh_CN.UTF-8``, ``zh`` -> ``zh_CN``; ``en_US`` -> ``en``; None for unknown ones."""
    if not language:
        return None
    base = language.split(".")[0].split("@")[0].replace("-", "_")
    if base.lower().startswith("zh"):
        return "zh_CN"
    if base.lower().startswith("en") or base in ("C", "POSIX"):
        return "en"
    return None


def from_environment(env: Mapping[str, str] = os.environ) -> str | None:
    """The language the environment asks for, as gettext reads it (LC_ALL, LC_MESSAGES, LANG)."""
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(key):
            return normalize(env[key])
    return None


_current = "en"
_translations: _gettext.NullTranslations = _gettext.NullTranslations()


def use_language(language: str | None) -> str:
    """Switch every later ``_`` to ``language`` (``zh-CN``, ``zh_CN``, ``en``…); returns the one in use."""
    global _current, _translations
    chosen = normalize(language) or "en"
    _current = chosen
    _translations = _gettext.NullTranslations() if chosen == "en" else _load(chosen)
    return chosen


def current_language() -> str:
    return _current


def html_lang() -> str:
    """The ``lang`` attribute of a page in the current language (``zh-CN`` or ``en``)."""
    return _current.replace("_", "-")


def translations() -> _gettext.NullTranslations:
    return _translations


def _(message: str) -> str:
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in ``context`` (``column``, ``value``...): the same English word may be two Chinese ones."""
    return _translations.pgettext(context, message)


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it now (it is translated where it is shown)."""
    return message


def NP_(context: str, message: str) -> str:
    """``N_`` with a context: translated later with ``pgettext(context, message)``."""
    return message
