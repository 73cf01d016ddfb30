"""The review service (`fieldrec serve`): accounts, access requests and grants, audited viewing.

Rooms: ``app`` (the Starlette application and its route table), ``auth`` (sessions, sign-in
throttling, CSRF), ``guard`` (the one wrapper every route goes through), ``reads`` (DuckDB over
the catalog, per request), ``content`` (thumbnails, proxies and statements, logged before a
byte is served), ``render`` (Jinja2 with the translation seam and the site-time filter),
``site`` (the site time zone), ``routes/`` (one module per page group).
"""
