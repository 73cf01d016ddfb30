#!/usr/bin/env bash
# The way it is often done today: one shell script per file, each tool reading the file again.
#   copy into the archive, sha256sum, ffprobe (container, streams, every packet's keyframe flag),
#   ffmpeg decoding keyframes only (-skip_frame nokey) and keeping one thumbnail at most every 10 s,
#   320 px on the long side (what fieldrec's thumbnail stage makes by default).
# e2e.py runs it over a drop as `xargs -P JOBS -n 1 bench/baseline.sh SRC_ROOT OUT`.
set -euo pipefail
root=$1 out=$2 src=$3
rel=${src#"$root"/}
dir="$out/$rel.d"
mkdir -p "$dir"
cp "$src" "$dir/original"
sha256sum "$src" > "$dir/sha256"
ffprobe -v error -show_format -show_streams -of json "$src" > "$dir/probe.json"
ffprobe -v error -select_streams v:0 -show_entries packet=pts_time,flags -of csv=p=0 "$src" > "$dir/packets.csv"
ffmpeg -v error -nostdin -y -skip_frame nokey -i "$src" -an \
  -vf "select='isnan(prev_selected_t)+gte(t-prev_selected_t\,10)',scale='if(gte(iw,ih),320,-2)':'if(gte(iw,ih),-2,320)'" \
  -fps_mode vfr -q:v 4 "$dir/thumb-%05d.jpg"
