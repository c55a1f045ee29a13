#!/usr/bin/env bash
# `make run`: start FitsFlow as a web service on http://127.0.0.1:8080 with its data under
# ./fitsflow-data (uploads, outputs, the job queue and the URL-signing secret). Ctrl-C stops it
# gracefully. Any FITSFLOW_* variable set in the environment applies (docs/serve.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export FITSFLOW_LISTEN="${FITSFLOW_LISTEN:-127.0.0.1:8080}"
export FITSFLOW_DATA_DIR="${FITSFLOW_DATA_DIR:-$PWD/fitsflow-data}"
cat >&2 <<MSG
FitsFlow: http://${FITSFLOW_LISTEN}  (data in ${FITSFLOW_DATA_DIR}; Ctrl-C stops)
  try:  curl -s -X POST http://${FITSFLOW_LISTEN}/api/sessions
        curl -s 'http://${FITSFLOW_LISTEN}/FitsFlow-2-Trigger?session_id=SID&filename=aia.fits&contentType=application/octet-stream'
MSG
exec ./build/fitsflow serve
