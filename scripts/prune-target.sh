#!/usr/bin/env bash
# Keeps the persistent cargo target dir (scripts/env.sh) from filling the disk.
# Every clone path builds its own copy of the workspace crates and cargo never
# deletes stale artifacts, so the dir only grows; a build that runs out of space
# fails half-way (linker bus error, "No space left on device"). When the debug
# artifacts pass SKIFF_TARGET_MAX_GB or the disk has less than SKIFF_MIN_FREE_GB
# free, they are removed and the next build starts clean (about ten minutes).
set -euo pipefail
source "$(dirname "$0")/env.sh"
max_gb="${SKIFF_TARGET_MAX_GB:-25}"
min_free_gb="${SKIFF_MIN_FREE_GB:-15}"
debug="$CARGO_TARGET_DIR/debug"
[ -d "$debug" ] || exit 0
used_gb=$(( $(du -sk "$debug" | cut -f1) / 1048576 ))
free_gb=$(( $(df -Pk "$CARGO_TARGET_DIR" | awk 'NR==2 {print $4}') / 1048576 ))
if [ "$used_gb" -ge "$max_gb" ] || [ "$free_gb" -lt "$min_free_gb" ]; then
  echo "prune-target: $debug holds ${used_gb} GB, ${free_gb} GB free on its disk: removing it" >&2
  rm -rf "$debug"
fi
