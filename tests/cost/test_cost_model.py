"""The cost model against published figures and hand-computed cases."""

import dataclasses

import pytest

from tunewise.config import CostSettings
from tunewise.cost.plan import finetune_plan, pretrain_plan
from tunewise.cost.prices import CostError, Gpu, load_prices
from tunewise.cost.serving import (
    DAYS_PER_MONTH,
    Footprint,
    Hosting,
    Workload,
    api_monthly,
    break_even,
    roofline_seconds,
)
from tunewise.cost.training import (
    ModelSize,
    Shape,
    flops_per_token,
    lora_parameters,
    mfu,
    model_size,
    synthesis_cost,
    training_cost,
    training_memory,
)
from tunewise.train.pretrain import llama_config, parameters

PRICES = load_prices()


def test_llama_7b_pretraining_matches_its_published_gpu_hours():
    # Touvron et al. 2023, table 15: LLaMA-7B, 1T tokens, 82,432 A100-80GB GPU-hours. At the 45%
    # MFU tunewise assumes for the A100, 6·N·D reproduces it within 5%.
    n = parameters(llama_config("7b"))
    assert n == pytest.approx(6.74e9, rel=0.005)
    c = training_cost(n, 1e12, PRICES.gpu("a100-80gb"), 0.45)
    assert c.flops == pytest.approx(6 * n * 1e12)
    assert c.gpu_hours == pytest.approx(82_432, rel=0.05)
    assert c.usd == pytest.approx(c.gpu_hours * PRICES.gpu("a100-80gb").price_per_hour)


def test_nanogpt_gpt2_124m_mfu_on_one_a100():
    # nanoGPT's transformer_sizing notebook: GPT-2 124M (12 layers, 768 wide, 1024 context,
    # vocabulary 50257, tied embeddings), 20 × 5 sequences per 0.755 s iteration on one A100
    # (312 TFLOP/s bf16) is "37.14%" MFU. N excludes the position embeddings (PaLM's formula).
    layers, d, ctx, vocab = 12, 768, 1024, 50257
    n = vocab * d + layers * (12 * d * d + 2 * d) + d  # tokens, blocks (attn 4d², mlp 8d², 2 LN), LN
    per_token = flops_per_token(n, layers=layers, hidden=d, seq_len=ctx)
    assert per_token * ctx == pytest.approx(875_062_886_400, rel=1e-6)  # the notebook's palm_flops
    tokens_per_s = 100 * ctx / 0.755
    assert mfu(per_token, tokens_per_s, 312e12) == pytest.approx(0.3714, abs=0.001)


def test_lora_skips_the_weight_gradients():
    assert flops_per_token(1000, method="lora") == 4000
    assert flops_per_token(1000, method="full") == flops_per_token(1000, method="pretrain") == 6000
    with pytest.raises(CostError, match="unknown training method"):
        flops_per_token(1, method="qlora-magic")


def test_break_even_by_hand():
    # API: 1,000 prompt + 100 answer tokens at $1 / $2 per 1M = $0.0012 per query.
    # GPU: $1/h → $730 a month; it serves a query in 0.5 device-seconds at 50% utilisation, so
    # one device answers 86,400 · 0.5 / 0.5 = 86,400 queries a day.
    api = PRICES.api_price("gpt-4o-mini")
    api = dataclasses.replace(api, input=1.0, output=2.0)
    per_query = api.per_query(1000, 100)
    assert per_query == pytest.approx(0.0012)
    gpu = Gpu("test", 1.0, 100.0, 1000.0, 80, "hand", "2026-11-26")
    hosting = Hosting(gpu, 0.5, 0.5, "hand")
    assert hosting.capacity_per_day() == pytest.approx(86_400)
    assert hosting.monthly(10) == pytest.approx(730)  # one device, however few queries
    assert hosting.monthly(86_401) == pytest.approx(1460)
    # $730 = q · $0.0012 · 30.4167 days  →  q = 20,000 queries a day
    assert break_even(per_query, hosting) == pytest.approx(730 / (0.0012 * 730 / 24))
    assert break_even(per_query, hosting) == pytest.approx(20_000)
    assert api_monthly(per_query, 20_000) == pytest.approx(hosting.monthly(20_000))
    # a device too slow to ever beat the API: 5 s per query, capacity 8,640/day < 20,000
    assert break_even(per_query, Hosting(gpu, 5.0, 0.5, "hand")) is None
    assert DAYS_PER_MONTH == pytest.approx(30.4167, rel=1e-4)


def test_roofline_by_hand():
    # 1B parameters in 2 GB (bf16), no KV cache, on 100 TFLOP/s at 50% and 1,000 GB/s:
    # prefill 2e9 · 500 / 5e13 = 0.02 s; a decode step reads 2 GB = 2 ms (compute 2e9·4/5e13 =
    # 0.16 ms is less), 100 tokens / batch 4 → 100 · 2 ms / 4 = 0.05 s.
    model = Footprint(10**9, 2 * 10**9, 0)
    gpu = Gpu("test", 1.0, 100.0, 1000.0, 80, "hand", "2026-11-26")
    assert roofline_seconds(model, gpu, Workload(500, 100), batch=4, mfu=0.5) == \
        pytest.approx(0.02 + 0.05)
    # with a KV cache of 1 MB per token the step also reads 4 sequences × 550 tokens × 1 MB
    kv = Footprint(10**9, 2 * 10**9, 10**6)
    assert roofline_seconds(kv, gpu, Workload(500, 100), batch=4, mfu=0.5) == \
        pytest.approx(0.02 + 100 * (2e9 + 4 * 550 * 1e6) / 1e12 / 4)
    # compute-bound decoding: a huge batch
    assert roofline_seconds(model, gpu, Workload(0, 1), batch=10_000, mfu=0.5) == \
        pytest.approx(2e9 * 10_000 / 5e13 / 10_000)
    with pytest.raises(CostError, match="do not fit"):
        roofline_seconds(Footprint(10**11, 2 * 10**11, 0), gpu, Workload(1, 1))
    with pytest.raises(CostError, match="measured throughput only"):
        roofline_seconds(model, PRICES.gpu("cpu-2vcpu"), Workload(1, 1))


def test_price_table_is_dated_and_sourced():
    assert {"gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1-nano", "claude-3-haiku",
            "gemini-2.0-flash", "gpt-3.5-turbo-2023-03"} <= set(PRICES.api)
    assert {"a10g", "l4", "a100-40gb", "a100-80gb", "h100"} <= set(PRICES.gpus)
    for entry in [*PRICES.api.values(), *PRICES.gpus.values()]:
        assert entry.source and len(entry.date) == 10, entry
    # March 2023: gpt-3.5-turbo at $0.002 per 1K tokens, in and out
    old = PRICES.api_price("gpt-3.5-turbo-2023-03")
    assert old.per_query(1000, 0) == old.per_query(0, 1000) == pytest.approx(0.002)


def test_user_prices_override_key_by_key(tmp_path):
    mine = tmp_path / "prices.toml"
    mine.write_text('[gpu.l4]\nprice_per_hour = 0.5\n\n[api.in-house]\ninput = 0.01\noutput = 0.02'
                    '\ncontext = 8192\nsource = "our contract"\ndate = "2026-11-01"\n')
    prices = load_prices(mine)
    assert prices.gpu("l4").price_per_hour == 0.5
    assert prices.gpu("l4").bandwidth_gbs == PRICES.gpu("l4").bandwidth_gbs  # the rest is kept
    assert prices.api_price("in-house").input == 0.01
    assert str(mine) in prices.files
    mine.write_text('[gpu.new]\nprice_per_hour = 1.0\n')
    with pytest.raises(CostError, match=r"\[gpu.new\]: missing peak_tflops"):
        load_prices(mine)
    mine.write_text('[tpu.v5]\nprice_per_hour = 1.0\n')
    with pytest.raises(CostError, match="unknown table"):
        load_prices(mine)
    with pytest.raises(CostError, match="no GPU 'b200'"):
        PRICES.gpu("b200")


def test_synthesis_cost_is_teacher_tokens_times_price():
    teacher = PRICES.api_price("gpt-4o-mini")
    assert synthesis_cost(2_000_000, 500_000, teacher) == pytest.approx(2 * 0.15 + 0.5 * 0.60)


def test_footprint_of_the_bundled_gguf_and_a_safetensors_folder(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from tunewise.cost.footprint import footprint
    from tunewise.models.local import bundled_gguf

    smol = footprint(bundled_gguf())
    assert smol.parameters == pytest.approx(134.5e6, rel=0.01)  # SmolLM2-135M
    assert 0.5 < smol.weight_bytes / smol.parameters < 0.8  # Q4_1 with some 8-bit tensors
    assert smol.kv_bytes_per_token == 2 * 30 * 3 * 64 * 2  # 30 layers, 3 KV heads of 64, fp16
    model = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=2))
    model.save_pretrained(tmp_path / "tiny", safe_serialization=True)
    f = footprint(tmp_path / "tiny")
    assert f.parameters == sum(p.numel() for p in model.parameters())
    assert f.weight_bytes == 4 * f.parameters  # float32
    assert f.kv_bytes_per_token == 2 * 2 * 2 * 8 * 2  # 2 layers, 2 KV heads of 8
    with pytest.raises(CostError, match="cannot size"):
        footprint(tmp_path)


# --- plans at real scale ------------------------------------------------------------------------

def test_llama2_70b_pretraining_plan_matches_its_published_gpu_hours():
    # Touvron et al. 2023b (Llama 2), table 2: 70B, 2T tokens, 1,720,320 A100-80GB GPU-hours.
    p = pretrain_plan("70b", tokens=2 * 10**12, count=2048)
    assert p.parameters == pytest.approx(68.98e9, rel=0.005)
    a100 = next(d for d in p.devices if d["device"] == "a100-80gb")
    assert a100["device_hours"] == pytest.approx(1_720_320, rel=0.1)
    assert a100["days"] == pytest.approx(a100["device_hours"] / 2048 / 24)
    assert p.memory_per_gpu == pytest.approx(16 * p.parameters / 2048)
    assert pretrain_plan("13b").parameters == pytest.approx(13.0e9, rel=0.01)
    assert pretrain_plan("34b").parameters == pytest.approx(33.7e9, rel=0.01)  # CodeLlama-34B


def test_alpaca_finetune_plan_is_within_half_of_the_published_three_hours():
    # Stanford Alpaca: LLaMA-7B, full fine-tune on 52,002 examples, 3 epochs, batch 4 per GPU,
    # max length 512, FSDP over 8 A100-80GB, "3 hours". Its templated examples average ~540
    # characters (the dataset's 46.2 MB over 52,002 rows, each stored plain and templated), ~150
    # LLaMA tokens. The default fine-tuning MFU (0.06) was set from this run, so this checks the
    # arithmetic — tokens, FLOPs, GPUs — not an independent prediction.
    p = finetune_plan(model_size("7b"), 52_002 * 150 * 3, PRICES.gpu("a100-80gb"), "full", gpus=8,
                      seq_len=512, micro_batch=4, checkpointing=False, mfu=CostSettings().finetune_mfu)
    assert p.fits and p.hours == pytest.approx(3.0, rel=0.5)
    assert p.flops == pytest.approx(6 * p.size.parameters * 52_002 * 150 * 3)
    assert p.usd == pytest.approx(p.hours * 8 * 1.79)
    fewest = finetune_plan(model_size("7b"), 1e6, PRICES.gpu("a100-80gb"), "full", seq_len=512,
                           micro_batch=4)
    # 16 bytes × 6.74B = 108 GB: one 80 GB GPU cannot hold it; two can, without checkpointing
    assert fewest.gpus == 2 and not fewest.checkpointing
    assert fewest.memory.state == pytest.approx(16 * 6.74e9 / 2, rel=0.01)


def test_training_memory_by_hand():
    shape = Shape(hidden=8, layers=2, heads=2, kv_heads=1, mlp=16, vocab=10)
    # per layer: q, o 2·64, k, v 2·8·4, gate/up/down 3·8·16, two norms 2·8; embeddings in and out
    # 2·10·8; final norm 8
    assert shape.parameters == 2 * 592 + 160 + 8 == 1352
    size = ModelSize("toy", shape.parameters, shape)
    full = training_memory(size, "full", seq_len=4, micro_batch=2, gpus=2, checkpointing=False)
    assert (full.weights, full.gradients, full.optimizer) == (1352, 1352, 8112)
    # a token: 12·8 + 4·4 + 8·16 = 240 bytes a layer, 2 layers, + 8·10 of logits; 8 tokens
    assert full.activations == full.activations_without == 8 * (2 * 240 + 80)
    # checkpointing: each layer's input (2·8 bytes), one layer recomputed, the logits
    assert full.activations_with == 8 * (2 * 2 * 8 + 240 + 80)
    eager = training_memory(size, "full", seq_len=4, micro_batch=2, flash=False, checkpointing=False)
    assert eager.activations == 8 * (2 * (240 + 2 * 2 * 4) + 80)  # softmax: 2 bytes·heads·seq_len
    # LoRA r=2 on the 7 linears: r·(in + out) = 2·(16+12+12+16+24+24+24) = 256 a layer
    lora = training_memory(size, "lora", seq_len=4, micro_batch=2, lora_r=2)
    assert lora_parameters(shape, 2) == 512
    assert (lora.weights, lora.gradients, lora.optimizer) == (2 * 1352 + 4 * 512, 4 * 512, 8 * 512)
    with pytest.raises(CostError, match="unknown training method"):
        training_memory(size, "prefix-tuning", 4, 1)


def test_model_size_from_a_count_or_a_config(tmp_path):
    import json

    three = model_size("3e9")
    assert three.parameters == 3_000_000_000 and "preset" in three.note
    assert model_size("2.7b").parameters == 2_700_000_000
    config = {"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 10}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert model_size(str(tmp_path)).parameters == 1352
    with pytest.raises(CostError, match="unknown model size 'big'"):
        model_size("big")
