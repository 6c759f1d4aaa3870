#!/usr/bin/env bash
# Acceptance for the second seed architectures (SEEDS.md §3-5): the table of seed_table.sh for
# fractal.lua (on the bytes260 data), biodna.lua and combiner.lua, each at least 15% below unigram
# with decode reproducing it; for combiner.lua also the chunked last-position score without and
# with the combiner (`golfrt decode --eval last --chunk 2048`).
#
#   scripts/acceptance/seeds2.sh                 SCRIPTS="biodna" scripts/acceptance/seeds2.sh
exec "$(dirname "$0")/seed_table.sh" seeds2 ${SCRIPTS:-fractal biodna combiner}
