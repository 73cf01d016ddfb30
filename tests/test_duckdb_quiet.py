"""DuckDB draws a progress bar on stdout when it believes a person is watching (``python -c``, a
notebook) and a query runs over 2 s: stdout carries fieldrec's JSON and CSV alone, so every
connection fieldrec opens turns it off. Asked in a ``python -c`` process, where DuckDB's own
default is on (the test checks that it is, so that it cannot pass for nothing)."""

import subprocess
import sys

from catalog.store import Catalog

PROBE = """
import sys, duckdb
from catalog.query import Scan, connect
ask = "SELECT current_setting('enable_progress_bar')"
print(duckdb.connect(':memory:').execute(ask).fetchone()[0])
print(connect(sys.argv[1]).execute(ask).fetchone()[0])
print(Scan(sys.argv[1]).con.execute(ask).fetchone()[0])
"""


def test_fieldrec_connections_draw_no_progress_bar(tmp_path):
    Catalog(tmp_path).create()
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"], out
