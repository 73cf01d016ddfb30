"""What the pages show, asked of DuckDB over the catalog (plus the spool), one cursor per request.

Every query filters and aggregates in DuckDB (over ``snapshot``'s copy, current at each request),
so a page costs about the same with 100 or 100,000 recordings; Python sees only the rows a page lists. Device times are converted with the
device's configured clock offset (``compliance``) in SQL as epoch seconds, which no session
time zone can change.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pipeline.web import site
from pipeline.web.snapshot import rows as query_rows

UTC = timezone.utc


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Reader:
    def __init__(self, service):
        self.service = service
        self.config = service.config
        self._con = None

    @property
    def con(self):
        if self._con is None:
            self._con = self.service.snapshot.cursor(self.service.outbox)
        return self._con

    def rows(self, sql: str, params: list | None = None) -> list[dict]:
        return query_rows(self.con, sql, params)

    def value(self, sql: str, params: list | None = None):
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def table(self, name: str) -> list[dict]:
        return self.rows(f'SELECT * FROM "{name}"')

    # -- device clocks ---------------------------------------------------------------------------
    def offset_sql(self, column: str = "device_id") -> str:
        """Seconds a device's clock runs ahead of UTC, as SQL (each device's zone at its current offset:
        exact for a zone without daylight saving such as Asia/Shanghai)."""
        from pipeline.common.clock import now_utc
        from pipeline.common.times import offset_s

        zones, now = self.config.zones(), now_utc()
        cases = [(d, offset_s(now, zones.device(d)[0]) / 3600) for d, _, _ in zones.devices]
        default = f"{offset_s(now, zones.device(None)[0]):.1f}"
        if not cases:
            return default
        whens = " ".join(f"WHEN {_literal(d)} THEN {h * 3600:.1f}" for d, h in cases)
        return f"(CASE {column} {whens} ELSE {default} END)"

    def utc_epoch(self, column: str, device: str = "device_id") -> str:
        return f"(epoch({column}) - {self.offset_sql(device)})"

    def delay_h(self) -> str:
        return f"((epoch(ingested_at) - {self.utc_epoch('coalesce(end_time, start_time)')}) / 3600.0)"

    # -- today's docking ------------------------------------------------------------------------------
    def docking(self, start: datetime, end: datetime) -> list[dict]:
        late = self.config.compliance.late_after_hours
        return self.rows(f"""
            SELECT device_id, count(*) AS files, sum(size) AS bytes, sum(coalesce(duration_s, 0)) AS media_s,
                   min(ingested_at) AS first_at, max(ingested_at) AS last_at, count_if(status <> 'ok') AS damaged,
                   count_if({self.delay_h()} > {late}) AS late,
                   string_agg(DISTINCT officer_id, ', ' ORDER BY officer_id) AS officers
            FROM recordings WHERE ingested_at >= $1 AND ingested_at < $2
            GROUP BY device_id ORDER BY device_id NULLS LAST""", [start, end])

    def late_uploads(self, start: datetime, end: datetime, limit: int) -> list[dict]:
        late = self.config.compliance.late_after_hours
        return self.rows(f"""
            SELECT sha256, source_name, device_id, officer_id, start_time, end_time, ingested_at,
                   {self.delay_h()} AS delay_h
            FROM recordings WHERE ingested_at >= $1 AND ingested_at < $2 AND {self.delay_h()} > {late}
            ORDER BY delay_h DESC LIMIT {int(limit)}""", [start, end])

    # -- gaps ---------------------------------------------------------------------------------------------
    def gaps_sql(self) -> str:
        """Every gap once, with ``current``, ``explained``, ``given`` and ``needs_explanation``: the rule
        of ``pipeline.rules.sessions`` (a pause longer than the session break needs an explanation only
        when both recordings around it are marked important, belong to one case by hash, or a case's
        device or officer window overlaps it; every other gap needs one), as `fieldrec gaps` decides it."""
        start = f"coalesce(epoch(g.start_utc), {self.utc_epoch('g.start_time', 'g.device_id')})"
        end = f"coalesce(epoch(g.end_utc), {self.utc_epoch('coalesce(g.end_time, g.start_time)', 'g.device_id')})"
        return f"""
        WITH st AS (SELECT gap_id, arg_max(state, evaluated_at) AS state FROM gap_state GROUP BY gap_id),
             ex AS (SELECT gap_id, bool_or(source = 'spoken' OR approved_by IS NOT NULL) AS explained,
                           count(*) AS given, arg_max(reason, explained_at) AS last_reason
                    FROM explanations GROUP BY gap_id),
             imp AS (SELECT sha256 FROM recordings WHERE important),
             asg AS (SELECT *, coalesce(case_id, 'class ' || retention_class) AS holder FROM assignments
                     WHERE coalesce(retention_class, '') <> 'routine'),
             g AS (SELECT * FROM gaps QUALIFY row_number() OVER (PARTITION BY gap_id ORDER BY detected_at) = 1)
        SELECT g.*, coalesce(st.state, 'open') = 'open' AS current, coalesce(ex.explained, false) AS explained,
               coalesce(ex.given, 0) AS given, ex.last_reason,
               (g.kind <> 'between_files' OR g.duration_s IS NULL OR g.duration_s <= {float(self.config.gaps.session_break_s)}
                OR (g.before_sha256 IN (SELECT sha256 FROM imp) AND g.after_sha256 IN (SELECT sha256 FROM imp))
                OR EXISTS (SELECT 1 FROM asg a1 JOIN asg a2 USING (holder)
                           WHERE a1.selector = 'sha256' AND a2.selector = 'sha256'
                             AND a1.sha256 = g.before_sha256 AND a2.sha256 = g.after_sha256)
                OR EXISTS (SELECT 1 FROM asg a WHERE a.selector IN ('device', 'officer') AND NOT coalesce(a.important, false)
                             AND ((a.selector = 'device' AND a.device_id = g.device_id)
                                  OR (a.selector = 'officer' AND a.officer_id = g.officer_id))
                             AND epoch(a.range_start) < {end} AND epoch(a.range_end) > {start})
               ) AS needs_explanation
        FROM g LEFT JOIN st USING (gap_id) LEFT JOIN ex USING (gap_id)"""

    def waiting_gaps(self, limit: int, officer_id: str | None = None) -> tuple[list[dict], int]:
        where = "WHERE current AND needs_explanation AND NOT explained" + (" AND officer_id = $1" if officer_id else "")
        params = [officer_id] if officer_id else []
        rows = self.rows(f"SELECT * FROM ({self.gaps_sql()}) {where} ORDER BY start_time DESC NULLS LAST "
                         f"LIMIT {int(limit)}", params)
        total = self.value(f"SELECT count(*) FROM ({self.gaps_sql()}) {where}", params)
        return rows, total

    def gap(self, gap_id: str) -> dict | None:
        rows = self.rows(f"SELECT * FROM ({self.gaps_sql()}) WHERE gap_id = $1", [gap_id])
        return rows[0] if rows else None

    def explanations(self, gap_id: str) -> list[dict]:
        return self.rows("""SELECT e.*, s.statement_id, s.file_name, s.size AS statement_size
                            FROM explanations e LEFT JOIN statements s USING (explanation_id)
                            WHERE e.gap_id = $1 ORDER BY explained_at""", [gap_id])

    def gaps_of(self, sha256: str) -> list[dict]:
        return self.rows(f"SELECT * FROM ({self.gaps_sql()}) WHERE $1 IN (sha256, before_sha256, after_sha256) "
                         "ORDER BY start_time", [sha256])

    # -- devices ----------------------------------------------------------------------------------------
    def device_span(self, device_id: str, start: datetime, end: datetime) -> tuple[list[dict], list[dict]]:
        """A device's recordings and current gaps that overlap [start, end) (UTC)."""
        lo, hi = start.timestamp(), end.timestamp()
        recs = self.rows(f"""
            SELECT sha256, source_name, kind, status, device_id, officer_id, start_time, end_time, duration_s, size,
                   error_stage, error_message, ingested_at, {self.delay_h()} AS delay_h
            FROM recordings WHERE device_id = $1 AND start_time IS NOT NULL
              AND {self.utc_epoch('start_time')} < {hi} AND {self.utc_epoch('coalesce(end_time, start_time)')} >= {lo}
            ORDER BY start_time""", [device_id])
        gaps = self.rows(f"""SELECT * FROM ({self.gaps_sql()}) WHERE device_id = $1 AND current AND start_time IS NOT NULL
              AND {self.utc_epoch('start_time')} < {hi} AND {self.utc_epoch('coalesce(end_time, start_time)')} >= {lo}
            ORDER BY start_time""", [device_id])
        return recs, gaps

    def device_days(self, device_id: str, limit: int = 60) -> list[datetime]:
        """The UTC starts of a device's latest recordings, one per device-clock day (for navigation)."""
        rows = self.rows(f"""SELECT max(start_time) AS t FROM recordings WHERE device_id = $1 AND start_time IS NOT NULL
                             GROUP BY CAST(start_time AS DATE) ORDER BY t DESC LIMIT {int(limit)}""", [device_id])
        return [site.device_to_site(r["t"], device_id, self.config) for r in rows]

    def devices(self) -> list[dict]:
        return self.rows("""SELECT device_id, count(*) AS files, max(ingested_at) AS last_at FROM recordings
                            WHERE device_id IS NOT NULL GROUP BY device_id ORDER BY device_id""")

    # -- one recording --------------------------------------------------------------------------------
    def recording(self, sha256: str) -> dict | None:
        rows = self.rows(f"SELECT *, {self.delay_h()} AS delay_h FROM recordings WHERE sha256 = $1 LIMIT 1", [sha256])
        return rows[0] if rows else None

    def thumbnails(self, sha256: str) -> list[dict]:
        return self.rows("SELECT DISTINCT pts_s, format FROM thumbnails WHERE sha256 = $1 ORDER BY pts_s", [sha256])

    def proxy(self, sha256: str) -> dict | None:
        rows = self.rows("""SELECT * FROM derivatives WHERE parent_sha256 = $1 AND status = 'ok'
                            ORDER BY created_at DESC LIMIT 1""", [sha256])
        return rows[0] if rows else None

    # -- audit ---------------------------------------------------------------------------------------------
    def access_log(self, limit: int, user: str | None = None, sha: str | None = None) -> list[dict]:
        where, params = [], []
        if user:
            params.append(user)
            where.append(f'"by" = ${len(params)}')
        if sha:
            params.append(sha + "%")
            where.append(f"sha256 LIKE ${len(params)}")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self.rows(f"SELECT * FROM access_log {clause} ORDER BY \"at\" DESC LIMIT {int(limit)}", params)

    def auth_events(self, limit: int) -> list[dict]:
        return self.rows(f"SELECT * FROM auth_events ORDER BY \"at\" DESC LIMIT {int(limit)}")

    def latest_verify(self, limit: int) -> tuple[dict | None, list[dict], list[dict]]:
        run = self.rows("SELECT run_id, max(checked_at) AS checked_at, count(*) AS items FROM fixity "
                        "GROUP BY run_id ORDER BY checked_at DESC LIMIT 1")
        if not run:
            return None, [], []
        rid = run[0]["run_id"]
        counts = self.rows("SELECT status, count(*) AS n FROM fixity WHERE run_id = $1 GROUP BY status ORDER BY n DESC",
                           [rid])
        problems = self.rows(f"SELECT * FROM fixity WHERE run_id = $1 AND status <> 'ok' ORDER BY item "
                             f"LIMIT {int(limit)}", [rid])
        return run[0], counts, problems

    # -- cases ------------------------------------------------------------------------------------------------
    def case_events(self) -> list[dict]:
        return self.rows("SELECT * FROM cases ORDER BY \"at\", recorded_at")

    def assignments(self, case_id: str) -> list[dict]:
        return self.rows("SELECT * FROM assignments WHERE case_id = $1 ORDER BY \"at\"", [case_id])

    def case_recordings(self, case_id: str, limit: int) -> list[dict]:
        """Recordings a case's assignments select (by hash; by device or officer in a UTC range)."""
        return self.rows(f"""
            WITH a AS (SELECT * FROM assignments WHERE case_id = $1)
            SELECT DISTINCT r.sha256, r.source_name, r.device_id, r.officer_id, r.start_time, r.duration_s, r.kind
            FROM recordings r JOIN a ON
                 (a.selector = 'sha256' AND r.sha256 = a.sha256)
              OR (a.selector IN ('device', 'officer', 'important')
                  AND (NOT coalesce(a.important, false) OR r.important)
                  AND ((a.selector = 'device' AND r.device_id = a.device_id)
                       OR (a.selector = 'officer' AND r.officer_id = a.officer_id)
                       OR (a.selector = 'important' AND r.important))
                  AND {self.utc_epoch('r.start_time', 'r.device_id')} <= epoch(a.range_end)
                  AND {self.utc_epoch('coalesce(r.end_time, r.start_time)', 'r.device_id')} >= epoch(a.range_start))
            ORDER BY r.start_time LIMIT {int(limit)}""", [case_id])

    def known_sha(self, sha256: str) -> bool:
        return bool(self.value("SELECT count(*) FROM recordings WHERE sha256 = $1", [sha256]))

    def statement(self, statement_id: str) -> dict | None:
        """A statement's row with its bytes (the copy leaves them out): from its archive object, or
        from the parts (rows written before statements became objects), or from the spool."""
        import pyarrow.dataset as ds

        from catalog.store import Catalog
        from pipeline.records import statements

        rows = self.rows("SELECT * FROM statements WHERE statement_id = $1 LIMIT 1", [statement_id])
        if not rows:
            return None
        row = rows[0]
        spooled = [r for r in self.service.outbox.rows("statements") if r["statement_id"] == statement_id]
        if spooled:
            row = {**row, "content": spooled[0]["content"]}
        elif not row.get("archive_path"):
            found = Catalog(self.service.archive).rows("statements", ["content"],
                                                       filter=ds.field("statement_id") == statement_id)
            row = {**row, "content": found[0]["content"] if found else None}
        data = statements.content(self.service.archive, row)
        return {**row, "content": data} if data is not None else None

    def close(self) -> None:
        if self._con is not None:
            self._con.close()

