"""One fine-tuning run of a tiny model, for test_distributed.py: run directly for one process, or
under torch.distributed.run for several. Arguments: TOKENIZER_DIR OUT BATCH_PER_PROCESS [FSDP]."""

import sys

from tests.conftest import QUESTIONS
from tests.train.conftest import tiny_llama
from tunewise.train.finetune import FinetuneRecipe, finetune


def main() -> None:
    from transformers import AutoTokenizer

    tokenizer_dir, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fsdp = sys.argv[4] if len(sys.argv) > 4 else ""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = FinetuneRecipe(method="full", max_steps=4, batch_size=batch, max_length=128,
                            logging_steps=1, learning_rate=1e-3, warmup_ratio=0.0,
                            scheduler="constant", shuffle=False, save_steps=100, gguf="none",
                            fsdp=fsdp,
                            # float32: bf16 autocast rounds differently when the batch is split
                            # across processes, and this compares weights to 1e-4
                            precision="fp32")
    result = finetune(QUESTIONS, out, config, model=tiny_llama(tokenizer), tokenizer=tokenizer)
    print("losses", result.losses)


if __name__ == "__main__":
    main()
