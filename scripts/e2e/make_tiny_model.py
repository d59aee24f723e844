"""Build a tiny random-weight Llama-style model directory for the vLLM CPU end-to-end test.

Only config.json and the tokenizer are written: `vllm serve DIR --load-format dummy` fills the
weights with random values, so nothing is downloaded. Run with a Python that has `tokenizers`
(the e2e venv has it): python make_tiny_model.py OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

# ChatML markers, Hermes tool-call tags (the hermes tool parser looks these tokens up in the
# vocabulary and refuses to start without them) and the think tags the reasoning parser splits on.
ADDED_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
]
SPECIAL = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}
VOCAB_SIZE = 2048

# ChatML with tools in the Hermes layout. `thinking` (the switch the DeepSeek V4 template reads
# from chat_template_kwargs) opens a <think> block in the generation prompt; without it the
# assistant turn starts plain, so a reasoning parser that honours the same switch sees no reasoning.
CHAT_TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{%- endif %}"
    "You may call one or more functions. Signatures inside <tools></tools>:\n<tools>"
    "{%- for tool in tools %}\n{{ tool | tojson }}{%- endfor %}\n</tools>\n"
    'Return each call as <tool_call>{"name": NAME, "arguments": ARGS}</tool_call>'
    "<|im_end|>\n"
    "{%- elif messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' %}"
    "{%- elif message.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ message.content }}\n</tool_response><|im_end|>\n"
    "{%- elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{%- for call in message.tool_calls %}<tool_call>\n"
    '{"name": "{{ call.function.name }}", "arguments": '
    "{{ call.function.arguments if call.function.arguments is string "
    "else call.function.arguments | tojson }}}\n</tool_call>"
    "{%- endfor %}<|im_end|>\n"
    "{%- else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{%- if thinking is defined and thinking %}<think>\n{%- endif %}"
    "{%- endif %}"
)


def corpus() -> list[str]:
    """Training text: words, digits and JSON punctuation, enough for a small BPE vocabulary."""
    words = [
        *[
            "the",
            "weather",
            "in",
            "paris",
            "is",
            "sunny",
            "and",
            "warm",
            "today",
            "city",
            "temperature",
            "celsius",
        ],
        *[
            "hello",
            "world",
            "say",
            "ok",
            "reply",
            "answer",
            "question",
            "tool",
            "call",
            "function",
            "name",
            "arguments",
        ],
        *[
            "true",
            "false",
            "null",
            "think",
            "reason",
            "step",
            "first",
            "then",
            "finally",
            "json",
            "object",
            "array",
        ],
    ]
    lines = [" ".join(words[i:] + words[:i]) for i in range(len(words))]
    lines += ['{"city": "Paris", "unit": "celsius", "days": 3, "ok": true}'] * 20
    lines += [" ".join(str(n) for n in range(k, k + 40)) for k in range(0, 400, 40)]
    lines += ["{}[]:,\"'.-_!?()<>/=+*#%&|\\\n\t"] * 10
    return lines


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(ADDED_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIAL])
    tok.add_tokens(
        [AddedToken(t, normalized=False, special=False) for t in ADDED_TOKENS if t not in SPECIAL]
    )
    tok.save(str(out / "tokenizer.json"))
    vocab = tok.get_vocab_size()
    ids = {t: tok.token_to_id(t) for t in ADDED_TOKENS}
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": 4096,
                "bos_token": None,
                "eos_token": "<|im_end|>",
                "pad_token": "<|endoftext|>",
                "unk_token": None,
                "chat_template": CHAT_TEMPLATE,
                "added_tokens_decoder": {
                    str(i): {
                        "content": t,
                        "lstrip": False,
                        "normalized": False,
                        "rstrip": False,
                        "single_word": False,
                        "special": t in SPECIAL,
                    }
                    for t, i in ids.items()
                },
            },
            indent=2,
        )
    )
    # Head size 64 (256 / 4): the CPU attention backend accepts 32, 64, 80, 96, 112, 128 ...
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 256,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "vocab_size": vocab,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    (out / "generation_config.json").write_text(
        json.dumps({"eos_token_id": ids["<|im_end|>"], "bos_token_id": ids["<|endoftext|>"]})
    )
    print(f"tiny model in {out}: vocab {vocab}, head size 64, 2 layers")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny_model.py OUT_DIR")
    build(Path(sys.argv[1]))
