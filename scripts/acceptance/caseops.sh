#!/usr/bin/env bash
# Acceptance for CaseOps (issue 20): the round trip text → transform → inverse == text on the whole
# default corpus, and the val sidecar charging each document its original UTF-8 bytes
# (tests/caseops_test.cc, which skips without the corpus; here a missing corpus fails).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/fetch_corpus.sh"
GOLFRT_REQUIRE_CORPUS=1 "$root/build/tests/caseops_test" --gtest_filter='CaseOps.*'
