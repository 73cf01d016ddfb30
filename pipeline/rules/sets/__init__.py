"""The rules over whole columns: every recording at once, with Arrow compute and numpy.

The same answers as the per-row rules one folder up (``clocks``, ``custody``, ``retention``,
``gap_events``), which stay the reference: ``tests/test_set_rules.py`` compares the two on random
catalogs. Pure like them: tables in, tables out, no storage read. What depends on a zone's rules
or on a few thousand events (cases) is asked of the reference once per distinct value.
"""
