#!/usr/bin/env bash
# Acceptance for the first seed architectures (SEEDS.md §1-2): the table of seed_table.sh (cpu
# presets, a few minutes each on 2 cores), at least 15% below unigram and decode reproducing it.
#
#   scripts/acceptance/seeds1.sh                 SCRIPTS="frugendorff" scripts/acceptance/seeds1.sh
exec "$(dirname "$0")/seed_table.sh" seeds1 ${SCRIPTS:-frugendorff micro_crawler prism}
