#!/usr/bin/env bash
# Level 2 end to end on the sample corpus, bundled models only: the bundled SmolLM2-135M writes
# question/answer pairs from the ingested chunks (teacher), LoRA fine-tunes itself on them, and
# the evaluation harness compares base, base+RAG, fine-tuned and fine-tuned+RAG on the 32 sample
# questions. About 30 minutes on 2 cores. Resumable: every step skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TUNEWISE_REGISTRY=bench/out/models.toml
TW=${TUNEWISE:-tunewise}
OUT=bench/out/sample-ft
STORE=sqlite:bench/out/sample.db
$TW ingest sample/corpus --store $STORE
$TW data synth --teacher local --per-chunk 3 --out $OUT/synth.jsonl --store $STORE
$TW data import $OUT/synth.jsonl --out $OUT/data --val-fraction 0.15
$TW data stats $OUT/data/train.jsonl --model local
[ -f $OUT/model/finetune.json ] || $TW finetune --data $OUT/data/train.jsonl --val $OUT/data/val.jsonl \
  --out $OUT/model --epochs 3 --batch-size 4 --max-length 256 --name ft-sample
$TW eval run --systems local,local+rag,ft-sample,ft-sample+rag --questions sample/questions.jsonl \
  --max-tokens 48 --out bench/out/runs/sample-ft --store $STORE
$TW eval summary bench/out/runs/sample-ft --output markdown
