# Sourced by the scripts: a persistent cargo target dir outside the clone, so
# rebuilds (and CI runs in fresh clones) are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skiff-target}"
# A CI run builds a fresh clone once: incremental caches (gigabytes per clone
# path) would only fill the disk.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
  case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$d:$PATH" ;; esac
done
export PATH
