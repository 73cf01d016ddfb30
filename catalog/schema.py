"""The catalog schema: every table fieldrec writes, defined once, with a version number.

Tables are Parquet (zstd) datasets under ``ARCHIVE/catalog/<table>/``. Names of tables and
columns are a contract with scripts and other tools: add, never rename.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1

TS = pa.timestamp("us")            # device time: as the device wrote it, no time zone
TS_UTC = pa.timestamp("us", tz="UTC")

STATUSES = ("ok", "damaged", "unreadable")
KINDS = ("video", "audio", "photo", "other")

RECORDINGS = pa.schema([
    ("sha256", pa.string()),
    ("xxh3_128", pa.string()),
    ("size", pa.int64()),
    ("kind", pa.string()),
    ("container", pa.string()),
    ("duration_s", pa.float64()),
    ("media_start_s", pa.float64()),     # first timestamp in the file (container time base)
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("start_time", TS),                  # the device's wall clock (in time_zone, at utc_offset_s)
    ("end_time", TS),
    ("time_source", pa.string()),        # filename | creation_time | exif | none
    ("identity_source", pa.string()),    # filename | none
    ("sequence", pa.int64()),
    ("name_time", TS),                   # start time in the file name, if any
    ("container_time", TS),              # creation_time tag or EXIF DateTimeOriginal, if any
    ("video_codec", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("fps", pa.float64()),
    ("rotation", pa.int32()),
    ("audio_codec", pa.string()),
    ("sample_rate", pa.int32()),
    ("channels", pa.int32()),
    ("bit_rate", pa.int64()),
    ("packet_count", pa.int64()),
    ("keyframe_count", pa.int64()),
    ("creation_time", pa.string()),      # container tag, verbatim
    ("tags_json", pa.string()),          # all container tags
    ("source_name", pa.string()),        # file name when first seen
    ("status", pa.string()),             # ok | damaged | unreadable
    ("error_stage", pa.string()),
    ("error_message", pa.string()),
    ("archive_path", pa.string()),       # relative to the archive root
    ("processed_on", pa.string()),       # Ray node id that processed the file
    ("run_id", pa.string()),
    ("ingested_at", TS_UTC),
    ("decode_errors", pa.int32()),       # chosen keyframes (or the photo) that failed to decode
    ("thumbnail_count", pa.int32()),     # rows in `thumbnails`; null when the stage was off
    # When it was recorded, placed in time (null in rows ingested before these columns existed:
    # readers place start_time by its time_source then, see pipeline.records.clocks):
    ("start_utc", TS_UTC),               # the instant recording started (from time_source)
    ("end_utc", TS_UTC),                 # start_utc + duration_s
    ("utc_offset_s", pa.int32()),        # the device's clock ran at UTC + this at the start
    ("time_zone", pa.string()),          # the device's zone the offset came from (IANA name or +HH:MM)
    ("zone_source", pa.string()),        # which setting named it: site | device | legacy
    ("container_time_zone", pa.string()),  # how container_time was read: UTC | local
    ("naming_profile", pa.string()),     # the profile whose pattern matched the file name
    ("source_name_bytes", pa.binary()),  # the file name's exact bytes (source_name is readable text:
                                         # bytes that are not UTF-8 are written \xNN there)
    ("important", pa.bool_()),           # the recorder marked the file important (_IMP, _I, 重要 in its name)
])

# Why a source was not processed to its end; null when it was (whatever its status).
FAILURES = ("read_error", "not_a_file", "link_out", "stage_error", "worker_died", "timed_out")

SIGHTINGS = pa.schema([
    ("sha256", pa.string()),             # null when the source could not be read at all
    ("source_path", pa.string()),        # readable text: bytes that are not UTF-8 are written \xNN
    ("size", pa.int64()),
    ("mtime", TS_UTC),
    ("mtime_ns", pa.int64()),
    ("status", pa.string()),
    ("error_message", pa.string()),
    ("run_id", pa.string()),
    ("seen_at", TS_UTC),
    ("source_path_bytes", pa.binary()),  # the path's exact bytes, as the file system gave them
    ("link_target", pa.string()),        # a symbolic link: where it points (readable text)
    ("failure", pa.string()),            # one of FAILURES, or null
    ("error_stage", pa.string()),        # the stage that failed or was running (checksum, demux, ...)
    # Who and when this file's name says (identical bytes docked under two names keep both):
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("name_time", TS),                   # the time in the name, as the device's clock wrote it
    ("naming_profile", pa.string()),
    ("important", pa.bool_()),
])

STREAMS = pa.schema([
    ("sha256", pa.string()),
    ("stream_index", pa.int32()),
    ("type", pa.string()),
    ("codec", pa.string()),
    ("profile", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("fps", pa.float64()),
    ("rotation", pa.int32()),
    ("sample_rate", pa.int32()),
    ("channels", pa.int32()),
    ("bit_rate", pa.int64()),
    ("time_base", pa.string()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("packets", pa.int64()),
    ("keyframes", pa.int64()),
    ("bytes", pa.int64()),
])

KEYFRAMES = pa.schema([
    ("sha256", pa.string()),
    ("stream_index", pa.int32()),
    ("pts_s", pa.float64()),
    ("byte_pos", pa.int64()),
    ("size", pa.int64()),
])

RUNS = pa.schema([
    ("run_id", pa.string()),
    ("command", pa.string()),
    ("started_at", TS_UTC),
    ("finished_at", TS_UTC),
    ("host", pa.string()),
    ("ray_address", pa.string()),
    ("sources", pa.list_(pa.string())),
    ("files_seen", pa.int64()),
    ("files_new", pa.int64()),
    ("files_duplicate", pa.int64()),
    ("files_skipped", pa.int64()),
    ("files_ok", pa.int64()),
    ("files_damaged", pa.int64()),
    ("files_unreadable", pa.int64()),
    ("bytes_ok", pa.int64()),
    ("bytes_damaged", pa.int64()),
    ("bytes_unreadable", pa.int64()),
    ("media_s_ok", pa.float64()),
    ("media_s_damaged", pa.float64()),
    ("bytes_read", pa.int64()),
    ("wall_s", pa.float64()),
    ("outcome", pa.string()),            # finished | failed | interrupted
    ("config_json", pa.string()),
    ("schema_version", pa.int32()),
    ("fieldrec_version", pa.string()),
    ("engine", pa.string()),             # local (worker processes of this machine) | ray | none (nothing ran)
])

DISCS = pa.schema([                      # one row per staged disc (written by `fieldrec disc stage`)
    ("label", pa.string()),              # volume label, unique in the archive
    ("set_id", pa.string()),             # the plan the disc belongs to
    ("disc_index", pa.int32()),          # N of M
    ("disc_count", pa.int32()),
    ("media", pa.string()),              # dvd | bd25 | bd50 | bd100 | mdisc-* | custom
    ("capacity_bytes", pa.int64()),
    ("case_ids", pa.list_(pa.string())),
    ("files", pa.int64()),               # payload files (originals and derivatives)
    ("bytes", pa.int64()),               # payload bytes (Payload-Oxum)
    ("manifest_sha256", pa.string()),    # SHA-256 of manifest-sha256.txt: names the disc's content
    ("image_sha256", pa.string()),       # SHA-256 of the ISO image, when one was made
    ("image_bytes", pa.int64()),
    ("staged_path", pa.string()),
    ("created", TS_UTC),
    ("plan_json", pa.string()),          # the plan's entry for this disc, verbatim
    ("fieldrec_version", pa.string()),
])

DISC_FILES = pa.schema([                 # which file is on which disc, under which name
    ("label", pa.string()),
    ("sha256", pa.string()),             # the original's SHA-256 (also for its derivatives)
    ("role", pa.string()),               # original | proxy | thumbnail
    ("disc_path", pa.string()),          # path on the disc, e.g. data/DEV1/20240314T101500_OFF7_ab12cd34.mp4
    ("size", pa.int64()),
    ("file_sha256", pa.string()),        # SHA-256 of the file as written on the disc
])

DISC_VERIFICATIONS = pa.schema([         # appended by `fieldrec disc verify --archive`, never edited
    ("label", pa.string()),
    ("verified_at", TS_UTC),
    ("target", pa.string()),             # the folder, image or mount point read
    ("target_kind", pa.string()),        # folder | iso
    ("result", pa.string()),             # ok | failed
    ("files_checked", pa.int64()),
    ("bytes_checked", pa.int64()),
    ("problems", pa.list_(pa.string())),
    ("manifest_sha256", pa.string()),
    ("host", pa.string()),
])

GAP_KINDS = ("within_file", "between_files", "overlap", "clock", "damaged_tail")

# One row per gap the first time it is detected; never edited. Whether a gap is current is the
# latest ``gap_state`` event for its gap_id (none yet: current). See pipeline/rules/gap_events.py.
GAPS = pa.schema([
    ("gap_id", pa.string()),             # stable across runs for the same gap
    ("kind", pa.string()),               # within_file | between_files | overlap | clock | damaged_tail
    ("reason", pa.string()),             # forward_jump | backwards | truncated | not_openable | pause | overlap | before_earliest | ...
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("start_time", TS),                  # device time, like recordings.start_time
    ("end_time", TS),
    ("duration_s", pa.float64()),        # null when the length cannot be known
    ("sha256", pa.string()),             # the file, for within_file, damaged_tail and clock
    ("before_sha256", pa.string()),      # between_files and overlap: the recordings either side
    ("after_sha256", pa.string()),
    ("offset_s", pa.float64()),          # within the file, seconds from its first timestamp
    ("stream", pa.string()),             # stream indexes, e.g. "0" or "0,1"
    ("detail", pa.string()),             # one readable sentence
    ("detected_run_id", pa.string()),
    ("detected_at", TS_UTC),
    ("start_utc", TS_UTC),               # start_time and end_time as instants (null in older rows)
    ("end_utc", TS_UTC),
])

GAP_STATE = pa.schema([
    ("gap_id", pa.string()),
    ("state", pa.string()),              # open | closed
    ("run_id", pa.string()),
    ("evaluated_at", TS_UTC),
])

EXPLANATIONS = pa.schema([
    ("explanation_id", pa.string()),
    ("gap_id", pa.string()),
    ("source", pa.string()),             # spoken (note when recording resumed) | report (written)
    ("reason", pa.string()),
    ("explained_by", pa.string()),
    ("approved_by", pa.string()),        # team lead approving a written report; null if not (yet)
    ("explained_at", TS_UTC),
])

GAP_REFRESHES = pa.schema([             # one row per gap refresh (pipeline.records.gaprefresh)
    ("run_id", pa.string()),             # the run that refreshed
    ("refreshed_at", TS_UTC),
    ("mode", pa.string()),               # full (every device's timeline) | incremental (only what new recordings touch)
    ("basis", pa.string()),              # SHA-256 of what gaps depend on besides recordings ([gaps], device zones)
    ("recordings", pa.int64()),          # recordings in the catalog when it ran
    ("runs", pa.list_(pa.string())),     # the runs whose recordings it took in
    ("devices", pa.int64()),             # devices whose timelines it walked (in part)
    ("new_gaps", pa.int64()),
    ("events", pa.int64()),              # gap_state events it wrote
    ("wall_s", pa.float64()),
])

GAP_WAITING = pa.schema([               # one row per ingest end summary (pipeline.records.gapwaiting): derived
    ("run_id", pa.string()),             # the run whose summary counted
    ("computed_at", TS_UTC),
    ("basis", pa.string()),              # gaprefresh.basis when it counted (settings, zones, attributions)
    ("decide", pa.bool_()),              # whether anything could make a long pause need an explanation
    ("parts", pa.string()),              # JSON: table -> the part names it read (gaps, gap_state, assignments, ...)
    ("devices", pa.list_(pa.string())),  # every device with a gap
    ("waiting", pa.list_(pa.string())),  # the current gaps that need an explanation and have none accepted
])

GAP_SURVEY = pa.schema([                # per gap refresh, each device's older recordings in figures (pipeline.records.gapsurvey): derived
    ("run_id", pa.string()),             # the refresh (its run) they are as of: every recording it took in
    ("device_id", pa.string()),          # as stored (attributions change the refresh's basis)
    ("kind", pa.string()),
    ("time_zone", pa.string()),          # the zone its recordings were stored in (one row per zone)
    ("recordings", pa.int64()),
    ("start_null", pa.int64()),          # of those, stored without their instant
    ("first_min", TS_UTC),               # the earliest and latest start whose clock can be right
    ("first_max", TS_UTC),
    ("seq_max", pa.int64()),             # the highest and lowest sequence number
    ("seq_min", pa.int64()),
    ("numbered_max", TS_UTC),            # the latest start of a numbered recording
])

FIXITY = pa.schema([                    # one row per item a `fieldrec verify` looked at, and per problem
    ("run_id", pa.string()),             # the verify run
    ("checked_at", TS_UTC),
    ("item", pa.string()),               # path relative to the archive
    ("kind", pa.string()),               # object | catalog | manifest
    ("status", pa.string()),             # ok | changed | missing | untracked | unreadable | chain | signature
    ("expected_sha256", pa.string()),    # as the ledger (manifests) records it
    ("actual_sha256", pa.string()),      # as re-hashed now; null when not re-hashed
    ("size", pa.int64()),
    ("manifest", pa.string()),           # the manifest that tracks the item
    ("message", pa.string()),
])

THUMBNAILS = pa.schema([
    ("sha256", pa.string()),
    ("pts_s", pa.float64()),             # keyframe time in the file's own clock (0 for a photo)
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("format", pa.string()),             # webp | jpeg
    ("image", pa.binary()),              # the encoded image
])

DERIVATIVES = pa.schema([               # files made from an original (review proxies); never replace it
    ("parent_sha256", pa.string()),      # the original (recordings.sha256)
    ("kind", pa.string()),               # proxy-video (H.264/AAC MP4) | proxy-audio (AAC M4A)
    ("params", pa.string()),             # JSON of the settings that shape the file
    ("params_hash", pa.string()),        # first 12 hex digits of SHA-256 of params; in the file name
    ("status", pa.string()),             # ok | skipped (no proxy, by design) | failed (tried, could not)
    ("error_message", pa.string()),      # why skipped or failed
    ("sha256", pa.string()),             # of the derived file
    ("size", pa.int64()),
    ("archive_path", pa.string()),       # relative to the archive root
    ("container", pa.string()),
    ("video_codec", pa.string()),
    ("audio_codec", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("rotation", pa.int32()),            # display rotation carried over from the original
    ("duration_s", pa.float64()),
    ("parent_duration_s", pa.float64()),
    ("video_frames", pa.int64()),
    ("decode_errors", pa.int64()),       # packets of the original the decoder rejected
    ("silence_s", pa.float64()),         # audio gaps of the original filled with silence
    ("time_offset_s", pa.float64()),     # proxy time = original time - this (MPEG-TS clocks start anywhere)
    ("cpu_s", pa.float64()),             # CPU seconds spent making it (all threads)
    ("wall_s", pa.float64()),
    ("processed_on", pa.string()),
    ("run_id", pa.string()),
    ("created_at", TS_UTC),
])

TABLES: dict[str, pa.Schema] = {
    "recordings": RECORDINGS,
    "sightings": SIGHTINGS,
    "streams": STREAMS,
    "keyframes": KEYFRAMES,
    "runs": RUNS,
    "discs": DISCS,
    "disc_files": DISC_FILES,
    "disc_verifications": DISC_VERIFICATIONS,
    "gaps": GAPS,
    "gap_state": GAP_STATE,
    "explanations": EXPLANATIONS,
    "gap_refreshes": GAP_REFRESHES,
    "gap_waiting": GAP_WAITING,
    "gap_survey": GAP_SURVEY,
    "fixity": FIXITY,
    "thumbnails": THUMBNAILS,
    "derivatives": DERIVATIVES,
}


# -- retention, cases, device ledger, controlled access (append-only event tables) -------------
# Current state (is a case open? which files does it hold? who held a device?) is computed from
# these events when read; no row is ever edited. Times are UTC unless the column says otherwise.

RETENTION_CLASSES = ("routine", "case", "permanent", "other")
CASE_EVENTS = ("open", "close", "reopen")

CASES = pa.schema([
    ("case_id", pa.string()),
    ("event", pa.string()),              # open | close | reopen
    ("retention_class", pa.string()),    # case | permanent (on open; null on later events)
    ("title", pa.string()),
    ("note", pa.string()),
    ("at", TS_UTC),
    ("by", pa.string()),
    ("recorded_at", TS_UTC),             # when the event was written (``at`` may be back-dated)
])

ASSIGNMENTS = pa.schema([
    ("assignment_id", pa.string()),
    ("case_id", pa.string()),            # null: a class assigned without a case
    ("retention_class", pa.string()),    # case (from the case) | permanent | other | routine
    ("duration_days", pa.int64()),       # `other` only: kept this long from recording
    ("selector", pa.string()),           # sha256 | device | officer
    ("sha256", pa.string()),
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("range_start", TS_UTC),             # device / officer selectors: recordings overlapping
    ("range_end", TS_UTC),               # [range_start, range_end], compared in UTC
    ("note", pa.string()),
    ("at", TS_UTC),
    ("by", pa.string()),
    ("important", pa.bool_()),           # only recordings the recorder marked important (selector
                                         # "important": every marked recording in the range)
])

PURGES = pa.schema([
    ("purge_id", pa.string()),
    ("sha256", pa.string()),
    ("archive_path", pa.string()),       # the file removed (the original, or one of its proxies); catalog rows stay
    ("size", pa.int64()),
    ("retention_class", pa.string()),
    ("retain_until", TS_UTC),
    ("reason", pa.string()),
    ("approval_ref", pa.string()),
    ("approved_by", pa.string()),
    ("purged_at", TS_UTC),
    ("host", pa.string()),
    ("kind", pa.string()),               # original | proxy (a review proxy of the purged original); null: original
])

DEVICE_EVENTS = ("register", "return", "fault", "repair")

# The device ledger's other events (handovers have their own table): registration, a return that
# ends a holder's period, a fault and its repair. A later registration updates the fields it gives.
DEVICE_EVENT_LOG = pa.schema([
    ("event_id", pa.string()),
    ("device_id", pa.string()),
    ("event", pa.string()),              # register | return | fault | repair
    ("at", TS_UTC),
    ("by", pa.string()),
    ("note", pa.string()),
    ("model", pa.string()),              # register only
    ("serial", pa.string()),
    ("unit", pa.string()),               # the unit (department) the device belongs to
    ("recorded_at", TS_UTC),
])

# Who recorded a file, said by a person when no naming profile could (or to correct one): the
# latest row per sha256 wins; the recording's own row and its original name are never changed.
ATTRIBUTIONS = pa.schema([
    ("attribution_id", pa.string()),
    ("sha256", pa.string()),
    ("device_id", pa.string()),
    ("officer_id", pa.string()),
    ("reason", pa.string()),
    ("by", pa.string()),
    ("at", TS_UTC),
])

HANDOVERS = pa.schema([
    ("device_id", pa.string()),
    ("officer_id", pa.string()),         # the holder from ``at`` on
    ("at", TS_UTC),
    ("by", pa.string()),
    ("note", pa.string()),
    ("recorded_at", TS_UTC),
])

ACCESS_LOG = pa.schema([
    ("access_id", pa.string()),
    ("action", pa.string()),             # export | view (thumbnail, playback) | download
    ("sha256", pa.string()),
    ("size", pa.int64()),
    ("destination", pa.string()),        # the file written
    ("approval_ref", pa.string()),
    ("by", pa.string()),
    ("reason", pa.string()),
    ("at", TS_UTC),
    ("host", pa.string()),
    # Added with the review service (null in CLI rows written before it):
    ("request_id", pa.string()),         # the access request whose grant allowed it (or null: role allows)
    ("content", pa.string()),            # original | thumbnail | proxy | statement | bag
    ("byte_range", pa.string()),         # the bytes served, "START-END" (inclusive), or null for all
    ("client", pa.string()),             # the remote address the service saw
])

TABLES.update({
    "cases": CASES,
    "assignments": ASSIGNMENTS,
    "purges": PURGES,
    "handovers": HANDOVERS,
    "access_log": ACCESS_LOG,
    "device_events": DEVICE_EVENT_LOG,
    "attributions": ATTRIBUTIONS,
})

# -- the archive's trust: its settings and files moved aside ---------------------------------------

SETTINGS_CHANGES = pa.schema([           # one row per change of ARCHIVE/fieldrec.toml (`fieldrec config set`)
    ("change_id", pa.string()),
    ("run_id", pa.string()),             # the run whose manifest seals the new settings file
    ("key", pa.string()),                # section.key; "*" when the whole file was written
    ("old_value", pa.string()),          # JSON; null when the file was created or adopted
    ("new_value", pa.string()),          # JSON
    ("event", pa.string()),              # created (with the archive) | adopted (older archive) | set
    ("by", pa.string()),
    ("reason", pa.string()),
    ("at", TS_UTC),
    ("host", pa.string()),
    ("settings_sha256", pa.string()),    # the settings file as written by this change
])

QUARANTINE = pa.schema([                 # one row per untracked file moved aside (`fieldrec quarantine`)
    ("quarantine_id", pa.string()),      # one id per command run; the files lie under quarantine/<id>/
    ("path", pa.string()),               # where it was, relative to the archive
    ("moved_to", pa.string()),           # where it is now, relative to the archive
    ("kind", pa.string()),               # object | catalog
    ("sha256", pa.string()),
    ("size", pa.int64()),
    ("by", pa.string()),
    ("reason", pa.string()),
    ("at", TS_UTC),
    ("host", pa.string()),
])

TABLES.update({
    "settings_changes": SETTINGS_CHANGES,
    "quarantine": QUARANTINE,
})

# -- the review service: accounts, access requests and their decisions, statements, sign-ins -------
# Append-only like the rest: an account's roles, a request's state and whether a grant is current
# are computed from the events when read (pipeline/records/users.py, pipeline/records/access.py).

ROLES = ("officer", "clerk", "approver", "auditor", "admin")
REQUEST_ACTIONS = ("view", "export", "purge")
REQUEST_TARGETS = ("recording", "case", "expired")
DECISIONS = ("grant", "deny", "revoke")

USERS = pa.schema([                      # one row per change of an account
    ("event_id", pa.string()),
    ("user_id", pa.string()),            # the sign-in name
    ("event", pa.string()),              # add | roles | disable | enable | password
    ("display_name", pa.string()),
    ("roles", pa.list_(pa.string())),    # the roles from this event on (add, roles)
    ("officer_id", pa.string()),         # links an officer's account to recordings.officer_id
    ("at", TS_UTC),
    ("by", pa.string()),                 # the account or the operating-system user who made it
    ("note", pa.string()),
])

CREDENTIALS = pa.schema([                # one row per password set; never readable through `fieldrec sql`
    ("event_id", pa.string()),
    ("user_id", pa.string()),
    ("password_hash", pa.string()),      # argon2id encoded hash (salt and parameters inside)
    ("set_at", TS_UTC),
    ("by", pa.string()),
])

ACCESS_REQUESTS = pa.schema([
    ("request_id", pa.string()),         # REQ-...: the approval reference `export` and `purge` take
    ("action", pa.string()),             # view | export | purge
    ("target_kind", pa.string()),        # recording | case | expired (purge: whatever is past retention)
    ("target", pa.string()),             # sha256 | case_id | null
    ("reason", pa.string()),
    ("requested_by", pa.string()),       # user_id
    ("requested_at", TS_UTC),
    ("client", pa.string()),             # remote address, or "cli"
])

ACCESS_DECISIONS = pa.schema([
    ("decision_id", pa.string()),
    ("request_id", pa.string()),
    ("decision", pa.string()),           # grant | deny | revoke
    ("valid_from", TS_UTC),              # grant: the period it allows
    ("valid_until", TS_UTC),
    ("note", pa.string()),
    ("decided_by", pa.string()),         # user_id, never the requester
    ("decided_at", TS_UTC),
])

STATEMENTS = pa.schema([                 # a written statement attached to an explanation
    ("statement_id", pa.string()),
    ("explanation_id", pa.string()),
    ("gap_id", pa.string()),
    ("file_name", pa.string()),          # as uploaded, cleaned
    ("media_type", pa.string()),         # application/pdf | image/jpeg | image/png | text/plain
    ("size", pa.int64()),
    ("sha256", pa.string()),
    ("content", pa.binary()),            # the bytes, in rows written before statements became objects
    ("uploaded_by", pa.string()),
    ("uploaded_at", TS_UTC),
    ("archive_path", pa.string()),       # objects/ab/cd/<sha256>: the statement as an archived object
])

AUTH_EVENTS = pa.schema([                # sign-ins, sign-outs and refusals of the service
    ("event_id", pa.string()),
    ("event", pa.string()),              # login | logout | login_failed | login_throttled | expired
    ("user_id", pa.string()),            # as typed for a failure (bounded, cleaned)
    ("client", pa.string()),
    ("at", TS_UTC),
])

TABLES.update({
    "users": USERS,
    "credentials": CREDENTIALS,
    "access_requests": ACCESS_REQUESTS,
    "access_decisions": ACCESS_DECISIONS,
    "statements": STATEMENTS,
    "auth_events": AUTH_EVENTS,
})

# Tables `fieldrec sql` (catalog/query.py) does not expose: password hashes stay out of queries.
PRIVATE_TABLES = frozenset({"credentials"})

# The order a compaction writes a table's rows in: the common reads (one device over a time, one
# recording's rows, one gap's events) then find them together, in few row groups of few files. A
# table not named keeps the order its parts had. Rows with equal keys keep their order.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "recordings": ("device_id", "start_utc", "start_time", "sha256"),
    "gaps": ("device_id", "start_utc", "gap_id"),
    "gap_state": ("gap_id", "evaluated_at"),
    "gap_refreshes": ("refreshed_at",),
    "gap_waiting": ("computed_at",),
    "gap_survey": ("run_id", "device_id", "kind", "time_zone"),
    "explanations": ("gap_id", "explained_at"),
    "sightings": ("sha256", "seen_at"),
    "streams": ("sha256", "stream_index"),
    "keyframes": ("sha256", "stream_index", "pts_s"),
    "thumbnails": ("sha256", "pts_s"),
    "derivatives": ("parent_sha256", "created_at"),
    "handovers": ("device_id", "at"),
    "fixity": ("checked_at",),
    "access_log": ("at",),
}
