# Sourced by the scripts: a persistent cargo target dir outside the clone, so
# rebuilds (and CI runs in fresh clones) are incremental.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/skiff-target}"
for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
  case ":$PATH:" in *":$d:"*) ;; *) [ -d "$d" ] && PATH="$d:$PATH" ;; esac
done
export PATH
