#!/bin/sh
# ctest spec_doc_fresh: regenerates the spec reference with the built labrun
# (built-in plugins only) and fails when docs/SPEC.md differs.
#   check_spec_doc.sh LABRUN SOURCE_DIR OUT_FILE
set -eu
labrun=$1
source_dir=$2
out=$3
unset LABRUN_PLUGIN_PATH
"$labrun" spec-doc -o "$out"
if ! diff -u "$source_dir/docs/SPEC.md" "$out"; then
  echo "docs/SPEC.md is stale (a schema or plugin parameter changed)." >&2
  echo "Refresh it from the source folder with:" >&2
  echo "  build/bin/labrun spec-doc -o docs/SPEC.md" >&2
  exit 1
fi
