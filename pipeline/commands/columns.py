"""What a listing prints, column by column: the columns and the dialect ``commands.tabular`` writes
them in. Apart from the printer so a command can name its columns without importing Arrow when
only its arguments are parsed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """How a command writes values: ``options.emit``'s way (``EMIT``) or ``fieldrec gaps``'s (``GAPS``)."""
    yes_no: tuple[str, str] = ("True", "False")   # booleans in tables and CSV
    csv_float: str = "fixed"                        # fixed (2 places) | repr
    json_float: str = "round"                       # round (3 places) | repr
    csv_newline: str = "\n"
    width: str = "display"                          # display (terminal columns) | chars (str.ljust)


EMIT = Dialect()
GAPS = Dialect(yes_no=("yes", "no"), csv_float="repr", json_float="repr", csv_newline="\r\n")


@dataclass(frozen=True)
class Col:
    """A column to print: ``kind`` text | instant | reading | int | float | bool. A ``reading`` is an
    instant shown as a device's clock read it: ``zone_col`` names the column holding each row's
    zone label (``zones`` maps labels to zones)."""
    name: str
    kind: str = "text"
    zone_col: str | None = None
