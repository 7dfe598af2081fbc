#!/usr/bin/env bash
# Level 3 at toy scale: a byte-level BPE tokenizer and a LLaMA-style model trained from scratch
# on the 5,183 SciFact abstracts for a bounded time, validation perplexity against the unigram
# baseline of the same tokenizer. SIZE (default 3m), STEPS (default 300: the cosine schedule spans
# them) and MINUTES (default 15, a safety stop) set the run; a rerun resumes from the last
# checkpoint. The loss curve is in bench/out/pretrain-scifact/pretrain.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TUNEWISE_REGISTRY=bench/out/models.toml
DATA=${TUNEWISE_DATA:-../shared/data}
${TUNEWISE:-tunewise} pretrain --corpus "$DATA/scifact/corpus.jsonl" --size "${SIZE:-3m}" \
  --out bench/out/pretrain-scifact --max-minutes "${MINUTES:-15}" --max-steps "${STEPS:-300}" \
  --seq-len 256 --batch-size 16 --name pt-scifact
