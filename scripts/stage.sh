# Sourced by scripts/test.sh and scripts/demo.sh: `stage NAME CMD...` runs CMD between two
# "== NAME" lines, the second with the stage's time in seconds.
stage() {
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name"
  "$@"
  echo "== $name: $((SECONDS - t0)) s"
}
