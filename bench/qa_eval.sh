#!/usr/bin/env bash
# End-to-end QA evaluation of the bundled local model, with and without RAG, through the CLI:
#   bash bench/qa_eval.sh xquad     # XQuAD-en: 240 paragraphs ingested, 952 test questions
#   bash bench/qa_eval.sh pubmedqa  # PubMedQA: official 500-question test split, RAG over 1,000 abstracts
# LIMIT=N answers only the first N test questions (default: all; 952 for XQuAD, 500 for PubMedQA).
# Runs resume: rerun the same command after an interruption, or with a larger LIMIT to extend
# it. Outputs go to bench/out/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
DATA=${TUNEWISE_DATA:-../shared/data}
OUT=bench/out
TW=${TUNEWISE:-tunewise}
case "${1:?usage: qa_eval.sh xquad|pubmedqa}" in
  xquad)
    $TW eval prepare "$DATA/xquad-en/xquad.en.json" --out $OUT/xquad --ingest --store sqlite:$OUT/xquad.db
    $TW eval retrieval --questions $OUT/xquad/test.jsonl -k 1,5 --store sqlite:$OUT/xquad.db
    $TW eval run --systems local,local+rag --questions $OUT/xquad/test.jsonl ${LIMIT:+--limit $LIMIT} \
      --max-tokens 32 --out $OUT/runs/xquad --store sqlite:$OUT/xquad.db
    ;;
  pubmedqa)
    $TW eval prepare "$DATA/pubmedqa" --out $OUT/pubmedqa --ingest --store sqlite:$OUT/pubmedqa.db
    $TW eval run --systems local,local+rag --questions $OUT/pubmedqa/test.jsonl ${LIMIT:+--limit $LIMIT} \
      --max-tokens 8 --out $OUT/runs/pubmedqa --store sqlite:$OUT/pubmedqa.db
    ;;
  *) echo "unknown set $1: xquad or pubmedqa" >&2; exit 2 ;;
esac
$TW eval summary $OUT/runs/$1 --output markdown
