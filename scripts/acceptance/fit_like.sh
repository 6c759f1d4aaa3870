#!/usr/bin/env bash
# Acceptance: how far `golfrt fit --like` lands from real artifacts, beside the Gaussian
# projection, on runs this machine can make. For each script (the baseline: int8, quantile clip,
# auto codec; prism: int6, SDClip, GPTQ, brotli) trains the cpu preset at two widths for BUDGET
# seconds each, then projects each width's artifact size from the *other* width's artifact
# (--like), and with Gaussian rows, against the real size. A run whose artifact exists is reused.
# Prints the table docs/artifact.md quotes.
#
#   scripts/acceptance/fit_like.sh        BUDGET=120 SCRIPTS="baseline prism" WIDTHS="128 192" scripts/acceptance/fit_like.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
golfrt=${GOLFRT:-build/golfrt}
budget=${BUDGET:-90}
scripts=${SCRIPTS:-baseline prism}
read -r w1 w2 <<<"${WIDTHS:-128 192}"
root=${OUT:-runs/fit_like}
[[ -x "$golfrt" ]] || { echo "fit_like: $golfrt not found; build first (scripts/build.sh)" >&2; exit 1; }
GOLFRT=$golfrt scripts/prepare_default_data.sh >/dev/null
data=data/nlp-corpus-sp1024
mkdir -p "$root"

for s in $scripts; do
  for w in $w1 $w2; do
    run="$root/$s-$w"
    if [[ ! -f "$run/artifact.bin" ]]; then
      echo "fit_like: training $s at dim $w for $budget s" >&2
      "$golfrt" train "examples/$s.lua" --preset cpu --set "dim=$w" --data "$data" --time-budget "$budget" \
        --out "$run" --quiet >"$run.log" 2>&1 || { cat "$run.log" >&2; exit 1; }
    fi
  done
done

project() {  # script width [like-artifact]
  local like=()
  [[ -n "${3:-}" ]] && like=(--like "$3")
  "$golfrt" fit "examples/$1.lua" --preset cpu --vary dim --min "$2" --max "$2" --step "$2" --budget 1000000000 \
    "${like[@]}" --quiet | grep -oP "^  dim=$2: .* projected \K[0-9]+" | tail -1
}

printf '| script | width | real artifact | Gaussian projection | error | --like (artifact) | projection | error |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for s in $scripts; do
  for pair in "$w1 $w2" "$w2 $w1" "$w1 $w1"; do
    read -r from to <<<"$pair"
    real=$(stat -c %s "$root/$s-$to/artifact.bin")
    gauss=$(project "$s" "$to")
    like=$(project "$s" "$to" "$root/$s-$from/artifact.bin")
    awk -v s="$s" -v to="$to" -v from="$from" -v r="$real" -v g="$gauss" -v l="$like" 'BEGIN {
      printf "| %s | %d | %d | %d | %+.2f%% | dim %d%s | %d | %+.2f%% |\n", s, to, r, g, 100 * (g - r) / r, from,
             (from == to ? " (itself)" : ""), l, 100 * (l - r) / r }'
  done
done
