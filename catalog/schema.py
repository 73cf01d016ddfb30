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
    ("start_time", TS),
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
])

SIGHTINGS = pa.schema([
    ("sha256", pa.string()),             # null when the source could not be read at all
    ("source_path", pa.string()),
    ("size", pa.int64()),
    ("mtime", TS_UTC),
    ("mtime_ns", pa.int64()),
    ("status", pa.string()),
    ("error_message", pa.string()),
    ("run_id", pa.string()),
    ("seen_at", TS_UTC),
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
    "derivatives": DERIVATIVES,
}

