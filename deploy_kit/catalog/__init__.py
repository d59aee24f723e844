"""The catalog: models, checkpoints, GPUs, KV layouts and presets, loaded from YAML data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from deploy_kit.catalog.documents import CATALOG_DIR, load_documents
from deploy_kit.errors import InputError
from deploy_kit.spec import (
    Base,
    Checkpoint,
    CustomGpu,
    GpuSpec,
    HardwareFile,
    HardwareProfile,
    KvLayout,
    LegacyModel,
    ModelCard,
    PresetGroup,
    parse_hardware_shorthand,
)
from deploy_kit.yamlio import load_yaml_file, parse_yaml, validation_message


class _ModelsFile(Base):
    models: list[ModelCard] = Field(description="Model cards")
    legacy_models: list[LegacyModel] = Field(
        default_factory=list, description="Earlier releases, for lint only"
    )
    formats: dict[str, float] = Field(description="Bytes per parameter per weight format")
    checkpoints: list[Checkpoint] = Field(description="Published weights")


class _GpusFile(Base):
    gpus: list[GpuSpec] = Field(description="GPU table")


class _LayoutsFile(Base):
    layouts: list[KvLayout] = Field(description="KV layouts")


class _PresetsFile(Base):
    groups: list[PresetGroup] = Field(description="Preset families")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class Catalog:
    """Read-only view of the catalog with the lookups every command needs."""

    def __init__(
        self,
        models: list[ModelCard],
        formats: dict[str, float],
        checkpoints: list[Checkpoint],
        gpus: list[GpuSpec],
        layouts: list[KvLayout],
        preset_groups: list[PresetGroup],
        legacy_models: Sequence[LegacyModel] = (),
    ) -> None:
        self.models = {m.id: m for m in models}
        self.legacy = {m.id: m for m in legacy_models}
        self.formats = formats
        self.checkpoints = {c.id: c for c in checkpoints}
        self.gpus = {g.id: g for g in gpus}
        self.layouts = {layout.id: layout for layout in layouts}
        self.preset_groups = preset_groups
        self._gpu_names: dict[str, str] = {}
        for g in gpus:
            for name in [g.id, g.name, *g.aliases]:
                self._gpu_names.setdefault(_norm(name), g.id)
        self._check_references()
        self.presets = self._expand_presets()

    def _check_references(self) -> None:
        for c in self.checkpoints.values():
            if c.model not in self.models:
                raise InputError(f"catalog: checkpoint {c.id} names unknown model {c.model}")
            for fmt in (c.weights.experts, c.weights.rest):
                if fmt not in self.formats:
                    raise InputError(f"catalog: checkpoint {c.id} uses unknown format {fmt}")
        for legacy in self.legacy.values():
            for fmt in (legacy.weights.experts, legacy.weights.rest):
                if fmt not in self.formats:
                    raise InputError(f"catalog: model {legacy.id} uses unknown format {fmt}")
        for m in self.models.values():
            if m.kv_layout not in self.layouts:
                raise InputError(f"catalog: model {m.id} names unknown KV layout {m.kv_layout}")
            for gid in m.verified_gpus:
                if gid not in self.gpus:
                    raise InputError(f"catalog: model {m.id} verifies unknown GPU {gid}")

    def _expand_presets(self) -> dict[str, HardwareProfile]:
        presets: dict[str, HardwareProfile] = {}
        for group in self.preset_groups:
            gpu = self.gpus[group.gpu]
            short = gpu.aliases[0] if gpu.aliases else gpu.id
            for nodes in group.nodes:
                for count in group.counts:
                    name = f"{nodes}x{count}x{short}" if nodes > 1 else f"{count}x{short}"
                    if gpu.id == "gb10" or (count == 1 and nodes > 1):
                        # One GPU per box (DGX Spark, GH200): people say "2xGB10", not "2x1xGB10".
                        name = f"{nodes}x{short}"
                    presets[name] = HardwareProfile(
                        name=name,
                        gpu=gpu,
                        gpus_per_node=count,
                        nodes=nodes,
                        interconnect=group.interconnect,
                        network=group.network if nodes > 1 else "none",
                        network_gbps=group.network_gbps,
                        source=group.source,
                    )
        return presets

    # -- lookups -------------------------------------------------------------------------------

    def gpu(self, name: str) -> GpuSpec:
        gid = self._gpu_names.get(_norm(name))
        if gid is None:
            known = ", ".join(
                sorted(g.aliases[0] if g.aliases else g.id for g in self.gpus.values())
            )
            raise InputError(
                f"unknown GPU {name!r}; known: {known}", hint="or describe it in a YAML file"
            )
        return self.gpus[gid]

    def checkpoint(self, name: str) -> Checkpoint:
        """A checkpoint by short id, Hugging Face id or model id (its default checkpoint)."""
        key = name.strip().lower()
        for c in self.checkpoints.values():
            if key in (c.id, c.hf_id.lower()):
                return c
        if key in self.models:
            return self.checkpoints[key]
        legacy = self.legacy_model(name)
        if legacy is not None:
            raise InputError(
                f"{name!r} is {legacy.name}, a legacy model: deploy-kit plans only DeepSeek V4; "
                "its catalog keeps this model so `deploy-kit lint` can check files that serve it",
                hint="plan deepseek-v4-flash or deepseek-v4-pro",
            )
        known = ", ".join(sorted(self.checkpoints))
        raise InputError(f"unknown model {name!r}; known: {known}")

    def legacy_model(self, name: str) -> LegacyModel | None:
        """A legacy model by short id, Hugging Face id, or the last part of either (a local
        copy's directory); None when the name is not one."""
        key = name.strip().rstrip("/").lower()
        base = key.rsplit("/", 1)[-1]
        for m in self.legacy.values():
            if key in (m.id, m.hf_id.lower()) or base in (m.id, m.hf_id.lower().rsplit("/")[-1]):
                return m
        return None

    def model_of(self, checkpoint: Checkpoint) -> ModelCard:
        return self.models[checkpoint.model]

    def layout_of(self, model: ModelCard) -> KvLayout:
        return self.layouts[model.kv_layout]

    def hardware(self, spec: str) -> HardwareProfile:
        """A profile from a preset name, a `[NODESx]COUNTxGPU` shorthand or a YAML file path."""
        text = spec.strip()
        if not text:
            raise InputError("hardware is empty; give a preset such as 8xH200 or a YAML file")
        if text[0] in "-+" or re.match(r"^0+\s*[xX*]", text):
            # Preset names are matched without punctuation, so "-8xH100" would pass as 8xH100.
            raise InputError(
                f"cannot read hardware {text!r}: node and GPU counts are positive whole numbers "
                "(e.g. 8xH100 or 2x8xH100)"
            )
        for name, profile in self.presets.items():
            if _norm(name) == _norm(text):
                return profile
        path = Path(text)
        if text.endswith((".yaml", ".yml", ".json")) or path.exists():
            return self.hardware_from_file(path)
        try:
            short = parse_hardware_shorthand(text)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        gpu = self.gpu(short.gpu)
        base = self._closest_group(gpu.id)
        multi = short.nodes > 1
        return HardwareProfile(
            name=f"{short.nodes}x{short.gpus_per_node}x{short.gpu}" if multi else text,
            gpu=gpu,
            gpus_per_node=short.gpus_per_node,
            nodes=short.nodes,
            interconnect=base.interconnect if base else "nvlink",
            network=("infiniband" if base is None or base.network == "none" else base.network)
            if multi
            else "none",
            source="shorthand",
        )

    def _closest_group(self, gpu_id: str) -> PresetGroup | None:
        for group in self.preset_groups:
            if group.gpu == gpu_id:
                return group
        return None

    def hardware_from_file(self, path: Path) -> HardwareProfile:
        data = load_yaml_file(path, what="hardware file")
        return self.hardware_from_data(data, origin=str(path))

    def hardware_from_data(self, data: Any, *, origin: str) -> HardwareProfile:
        if not isinstance(data, dict):
            raise InputError(f"{origin}: expected a mapping with gpu, gpus_per_node, nodes")
        try:
            hw = HardwareFile.model_validate(data)
        except ValidationError as exc:
            raise InputError(validation_message(exc, origin=origin)) from None
        if isinstance(hw.gpu, CustomGpu):
            c = hw.gpu
            gpu = GpuSpec(
                id=f"custom-{_norm(c.name) or 'gpu'}",
                name=c.name,
                vendor=c.vendor,
                arch=c.arch,
                sm=c.sm,
                memory_gb=c.memory / 1e9,
                usable_mib=c.memory // 1024**2,
                bandwidth_tbps=c.bandwidth_tbps,
                bf16_tflops=c.bf16_tflops,
                fp8_tflops=c.bf16_tflops * 2 if c.fp8 else None,
                fp4_tflops=c.bf16_tflops * 4 if c.fp4 else None,
                k8s_resource=c.k8s_resource
                or ("amd.com/gpu" if c.vendor == "amd" else "nvidia.com/gpu"),
                gpu_hour_usd=c.gpu_hour_usd,
                source=f"custom GPU from {origin}",
            )
        else:
            gpu = self.gpu(hw.gpu)
        group = self._closest_group(gpu.id)
        network = hw.network or (
            ("infiniband" if group is None or group.network == "none" else group.network)
            if hw.nodes > 1
            else "none"
        )
        try:
            return HardwareProfile(
                name=hw.name or Path(origin).stem,
                gpu=gpu,
                gpus_per_node=hw.gpus_per_node,
                nodes=hw.nodes,
                interconnect=hw.interconnect or (group.interconnect if group else "pcie"),
                network=network,
                network_gbps=hw.network_gbps,
                gpu_hour_usd=hw.gpu_hour_usd,
                source=origin,
            )
        except ValidationError as exc:
            raise InputError(validation_message(exc, origin=origin)) from None


@cache
def load_catalog() -> Catalog:
    """Load and validate the packaged catalog (cached)."""
    docs = load_documents()
    try:
        models = _ModelsFile.model_validate(docs["models.yaml"])
        gpus = _GpusFile.model_validate(docs["gpus.yaml"])
        layouts = _LayoutsFile.model_validate(docs["kv_layouts.yaml"])
        presets = _PresetsFile.model_validate(docs["presets.yaml"])
    except ValidationError as exc:
        raise InputError(validation_message(exc, origin="catalog")) from None
    return Catalog(
        models.models,
        models.formats,
        models.checkpoints,
        gpus.gpus,
        layouts.layouts,
        presets.groups,
        models.legacy_models,
    )


__all__ = ["CATALOG_DIR", "Catalog", "load_catalog", "parse_yaml"]
