"""The catalog encodes the facts: cross-checked against the checkpoints' config.json."""

from __future__ import annotations

import json

import pytest

from deploy_kit.catalog import Catalog
from tests.conftest import REPO

CONFIG_DIR = REPO / "tests" / "fixtures" / "configs"
CONFIGS = {
    "deepseek-v4-flash": "deepseek-ai--DeepSeek-V4-Flash_config.json",
    "deepseek-v4-pro": "deepseek-ai--DeepSeek-V4-Pro_config.json",
}
ARCH_KEYS = (
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "q_lora_rank",
    "o_lora_rank",
    "o_groups",
    "n_routed_experts",
    "n_shared_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "sliding_window",
    "index_topk",
    "vocab_size",
    "max_position_embeddings",
)


@pytest.mark.parametrize("model_id", sorted(CONFIGS))
def test_arch_matches_config_json(catalog: Catalog, model_id: str) -> None:
    config = json.loads((CONFIG_DIR / CONFIGS[model_id]).read_text())
    arch = catalog.models[model_id].arch
    for key in ARCH_KEYS:
        assert getattr(arch, key) == config[key], key
    ratios = config["compress_ratios"][: config["num_hidden_layers"]]
    kinds = {"swa": ratios.count(0), "csa": ratios.count(4), "hca": ratios.count(128)}
    assert arch.layer_kinds == kinds


def test_kv_layouts_cover_every_layer(catalog: Catalog) -> None:
    for model in catalog.models.values():
        layout = catalog.layout_of(model)
        kinds = model.arch.layer_kinds
        swa = sum(
            g.layers for g in layout.groups if g.kind == "sliding_window" and g.block_tokens == 64
        )
        full = next(g for g in layout.groups if g.kind == "full")
        assert swa == model.arch.num_hidden_layers  # every layer keeps a sliding-window cache
        assert full.layers == kinds["csa"] * 2 + kinds["hca"]  # CSA KV + indexer, HCA KV


def test_every_entry_has_a_source(catalog: Catalog) -> None:
    for entry in [
        *catalog.models.values(),
        *catalog.checkpoints.values(),
        *catalog.gpus.values(),
        *catalog.layouts.values(),
        *catalog.preset_groups,
    ]:
        assert entry.source.strip()


def test_presets_required_by_the_issue(catalog: Catalog) -> None:
    names = set(catalog.presets)
    for gpu in (
        "H100",
        "H200",
        "H20",
        "B200",
        "B300",
        "RTX-PRO-6000",
        "MI300X",
        "MI325X",
        "MI355X",
    ):
        for count in (1, 2, 4, 8):
            assert f"{count}x{gpu}" in names
    for name in (
        "4xGB200",
        "4xGB300",
        "2x8xH100",
        "2x8xH200",
        "4x8xH100",
        "1xGB10",
        "2xGB10",
        "3xGB10",
        "8xA100",
    ):
        assert name in names


def test_gpu_lookup_accepts_aliases(catalog: Catalog) -> None:
    assert catalog.gpu("h200").id == "h200"
    assert catalog.gpu("RTX PRO 6000").id == "rtx-pro-6000"
    assert catalog.gpu("rtxpro6000").id == "rtx-pro-6000"


def test_checkpoint_lookup_by_hf_id(catalog: Catalog) -> None:
    assert catalog.checkpoint("deepseek-ai/DeepSeek-V4-Pro").id == "deepseek-v4-pro"
    assert catalog.checkpoint("nvidia/DeepSeek-V4-Flash-NVFP4").requires_arch
