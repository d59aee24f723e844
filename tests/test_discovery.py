"""Discovery: committed `kubectl get nodes -o json` and *-smi fixtures to hardware profiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deploy_kit.catalog import Catalog
from deploy_kit.errors import EnvironmentMissing, InputError, PinnedKnobError, PlanError
from deploy_kit.inventory import (
    GpuObservation,
    NodePool,
    parse_amd_smi_static_json,
    parse_nodes_inventory,
    parse_nvidia_smi_csv,
    parse_rocm_smi_json,
)
from deploy_kit.planner import pools as discovery
from deploy_kit.planner import search as planner
from deploy_kit.spec import HardwareProfile, Knobs
from tests.helpers import run_cli

FIXTURES = Path(__file__).parent / "fixtures"
NODES = FIXTURES / "nodes"
SMI = FIXTURES / "smi"


def _discover(name: str, catalog: Catalog) -> discovery.Discovery:
    return discovery.discover_inventory(parse_nodes_inventory((NODES / name).read_text()), catalog)


def _without_source(p: HardwareProfile) -> HardwareProfile:
    return p.model_copy(update={"source": "", "gpu": p.gpu.model_copy(update={"source": ""})})


# --- node fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("nodes-h100x2.json", [("gpu-h100", "2x8xH100", "h100-sxm", 2, 8, "roce")]),
        ("nodes-h200x1.json", [("h200-pool", "8xH200", "h200", 1, 8, "none")]),
        ("nodes-b200x2.json", [("NVIDIA-B200-x8", "2x8xB200", "b200", 2, 8, "infiniband")]),
        (
            "nodes-mixed.json",
            [
                ("gpu-h100", "2x8xH100", "h100-sxm", 2, 8, "roce"),
                ("h200", "8xH200", "h200", 1, 8, "none"),
            ],
        ),
        ("nodes-amd-mi300x.json", [("BM.GPU.MI300X.8", "2x8xMI300X", "mi300x", 2, 8, "ethernet")]),
        ("nodes-none.json", []),
        ("nodes-unknown-gpu.json", [("h100nvl", "1xNVIDIA-H100-NVL", None, 1, 1, "none")]),
    ],
)
def test_fixture_profiles(
    catalog: Catalog, fixture: str, expected: list[tuple[object, ...]]
) -> None:
    found = _discover(fixture, catalog)
    got = [
        (
            d.pool,
            d.profile.name,
            d.catalog_gpu,
            d.profile.nodes,
            d.profile.gpus_per_node,
            d.profile.network,
        )
        for d in found.profiles
    ]
    assert got == expected
    assert found.skipped == ()
    assert discovery.profiles_from_inventory(
        parse_nodes_inventory((NODES / fixture).read_text()), catalog
    ) == list(found.profiles)


def test_mixed_pools_keep_scheduling_facts(catalog: Catalog) -> None:
    found = _discover("nodes-mixed.json", catalog)
    h100, h200 = found.profiles
    assert len(h100.nodes) == 2 and len(h100.excluded_nodes) == 1
    assert any("cordoned" in w for w in h100.warnings)
    assert h100.node_selector == {"eks.amazonaws.com/nodegroup": "gpu-h100"}
    assert h200.node_selector == {"karpenter.sh/nodepool": "h200"}
    assert [t.key for t in h200.taints] == ["nvidia.com/gpu"]
    assert len(found.cpu_only_nodes) == 2


def test_amd_pool_uses_amd_resource(catalog: Catalog) -> None:
    (d,) = _discover("nodes-amd-mi300x.json", catalog).profiles
    assert d.profile.gpu.vendor == "amd" and d.profile.gpu.k8s_resource == "amd.com/gpu"
    assert d.profile.interconnect == "infinity-fabric"
    assert any("Ethernet" in w for w in d.warnings)


def test_unknown_gpu_becomes_custom_gpu_with_label_memory_and_a_warning(catalog: Catalog) -> None:
    (d,) = _discover("nodes-unknown-gpu.json", catalog).profiles
    gpu = d.profile.gpu
    assert d.catalog_gpu is None and gpu.id.startswith("custom-")
    assert gpu.usable_mib == 95830
    assert (gpu.arch, gpu.sm, gpu.vendor) == ("hopper", "90", "nvidia")
    assert gpu.fp8 and not gpu.fp4
    (warning,) = d.warnings
    assert "not in the catalog" in warning and "95830 MiB" in warning


def test_no_gpu_cluster_has_no_profiles(catalog: Catalog) -> None:
    found = _discover("nodes-none.json", catalog)
    assert found.profiles == () and found.total_nodes == 3 and len(found.cpu_only_nodes) == 3


def _pool(**over: object) -> NodePool:
    base: dict[str, object] = {
        "name": "p",
        "pool_label": None,
        "vendor": "nvidia",
        "gpu_resource": "nvidia.com/gpu",
        "gpu_product": "NVIDIA-H100-80GB-HBM3",
        "product_label": "nvidia.com/gpu.product",
        "gpus_per_node": 8,
        "memory_mib": 81559,
        "compute_capability": "9.0",
        "node_names": ("n1",),
    }
    return NodePool.model_validate({**base, **over})


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"gpu_product": None, "product_label": None}, "no product label"),
        ({"gpu_product": "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb"}, "MIG"),
        ({"gpu_product": "NVIDIA-Mystery", "memory_mib": None}, "no memory label"),
        (
            {"gpu_product": "NVIDIA-Mystery", "compute_capability": None},
            "unknown architecture",
        ),
        ({"node_names": (), "unschedulable_nodes": ("n1",)}, "no node can take"),
        ({"gpus_per_node": 128}, "exceeds"),
    ],
)
def test_unusable_pools_are_skipped_with_a_reason(
    catalog: Catalog, over: dict[str, object], reason: str
) -> None:
    inv = parse_nodes_inventory({"kind": "List", "items": []}).model_copy(
        update={"pools": (_pool(**over),)}
    )
    found = discovery.discover_inventory(inv, catalog)
    assert found.profiles == ()
    (skipped,) = found.skipped
    assert reason in skipped.reason


def test_label_memory_far_from_catalog_is_warned(catalog: Catalog) -> None:
    inv = parse_nodes_inventory({"kind": "List", "items": []}).model_copy(
        update={"pools": (_pool(memory_mib=40000),)}
    )
    (d,) = discovery.discover_inventory(inv, catalog).profiles
    assert d.catalog_gpu == "h100-sxm"
    assert any("40000 MiB" in w and "catalog figure" in w for w in d.warnings)


# --- profile files ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(p.name for p in NODES.glob("*.json")))
def test_profile_yaml_reads_back_equal(catalog: Catalog, tmp_path: Path, fixture: str) -> None:
    for d in _discover(fixture, catalog).profiles:
        path = tmp_path / f"{d.pool}.yaml"
        path.write_text(discovery.profile_yaml(d.profile, catalog=catalog, comment="from test"))
        back = catalog.hardware_from_file(path)
        assert _without_source(back) == _without_source(d.profile)


def test_profile_yaml_of_presets_and_overrides(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    for name in ("8xH200", "2x8xH100", "2xGB10", "4xGB200"):
        preset = catalog.presets[name].model_copy(update={"gpu_hour_usd": 1.25})
        path.write_text(discovery.profile_yaml(preset))
        back = catalog.hardware_from_file(path)
        assert _without_source(back) == _without_source(preset)
    custom = catalog.hardware("8xH200").model_copy(update={"network_gbps": 400.0})
    path.write_text(discovery.profile_yaml(custom, catalog=catalog))
    assert catalog.hardware_from_file(path).network_gbps == 400.0


def test_discovered_h100_profile_plans(catalog: Catalog, tmp_path: Path) -> None:
    (d,) = _discover("nodes-h100x2.json", catalog).profiles
    path = tmp_path / "hw.yaml"
    path.write_text(discovery.profile_yaml(d.profile, catalog=catalog))
    p = planner.plan(catalog, "deepseek-v4-flash", catalog.hardware(str(path)), Knobs())
    assert (p.hardware.nodes, p.hardware.gpus_per_node, p.hardware.gpu.id) == (2, 8, "h100-sxm")


# --- choosing among pools -----------------------------------------------------------------------


def test_choose_pool_picks_most_capacity_and_explains(catalog: Catalog) -> None:
    profiles = _discover("nodes-mixed.json", catalog).profiles
    choice = discovery.choose_pool(profiles, "deepseek-v4-flash", Knobs(), catalog)
    profile, reason, rejected = choice
    ranked = discovery.rank_pools(profiles, "deepseek-v4-flash", Knobs(), catalog)
    best = ranked[0]
    assert best.plan is not None and profile == best.pool.profile
    assert reason.startswith(f"chose pool {best.pool.pool} ({profile.name})")
    assert "concurrent requests" in reason
    (other,) = rejected
    assert other.pool != best.pool.pool and other.fits
    assert other.reason.startswith(f"pool {other.pool}")
    assert (other.max_concurrency_total or 0) <= (best.outcome.max_concurrency_total or 0)


def test_choose_pool_prefers_a_pool_that_fits(catalog: Catalog) -> None:
    nvl = _discover("nodes-unknown-gpu.json", catalog).profiles
    h200 = _discover("nodes-h200x1.json", catalog).profiles
    profile, reason, rejected = discovery.choose_pool(
        [*nvl, *h200], "deepseek-v4-flash", Knobs(), catalog
    )
    assert profile.name == "8xH200" and "h200-pool" in reason
    (lost,) = rejected
    assert lost.pool == "h100nvl" and not lost.fits and lost.failure == "no-fit"
    assert "no plan fits" in lost.reason


def test_choose_pool_concurrency_target_outranks_context(catalog: Catalog) -> None:
    profiles = [
        *_discover("nodes-mixed.json", catalog).profiles,
        *_discover("nodes-b200x2.json", catalog).profiles,
    ]
    ranked = discovery.rank_pools(profiles, "deepseek-v4-pro", Knobs(concurrency=100), catalog)
    best, *rest = ranked
    assert best.pool.pool == "NVIDIA-B200-x8"
    assert (best.outcome.max_concurrency_total or 0) >= 100
    # the others keep a longer context but miss the target, so they lose
    assert all((r.outcome.max_model_len or 0) > (best.outcome.max_model_len or 0) for r in rest)
    assert all("below the target 100" in r.outcome.reason for r in rest)


def test_choose_pool_errors(catalog: Catalog) -> None:
    with pytest.raises(EnvironmentMissing):
        discovery.choose_pool([], "deepseek-v4-flash", Knobs(), catalog)
    nvl = _discover("nodes-unknown-gpu.json", catalog).profiles
    with pytest.raises(PlanError, match="fits none of the 1 GPU pool"):
        discovery.choose_pool(nvl, "deepseek-v4-flash", Knobs(), catalog)
    h200 = _discover("nodes-h200x1.json", catalog).profiles
    with pytest.raises(PinnedKnobError):
        discovery.choose_pool(h200, "deepseek-v4-flash", Knobs(tp=3), catalog)
    with pytest.raises(InputError, match="unknown model"):
        discovery.choose_pool(h200, "no-such-model", Knobs(), catalog)


# --- one machine --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obs", "name", "gpu"),
    [
        (
            lambda: parse_nvidia_smi_csv((SMI / "nvidia-smi-h100x8.csv").read_text()),
            "8xH100",
            "h100-sxm",
        ),
        (
            lambda: parse_nvidia_smi_csv((SMI / "nvidia-smi-h200x8.csv").read_text()),
            "8xH200",
            "h200",
        ),
        (lambda: parse_nvidia_smi_csv((SMI / "nvidia-smi-gb10.csv").read_text()), "1xGB10", "gb10"),
        (
            lambda: parse_rocm_smi_json((SMI / "rocm-smi-mi300x.json").read_text()),
            "8xMI300X",
            "mi300x",
        ),
        (
            lambda: parse_amd_smi_static_json((SMI / "amd-smi-static-mi300x.json").read_text()),
            "8xMI300X",
            "mi300x",
        ),
    ],
)
def test_profile_from_observations(catalog: Catalog, obs: object, name: str, gpu: str) -> None:
    observations = obs()  # type: ignore[operator]
    profile = discovery.profile_from_observations(observations, catalog)
    assert (profile.name, profile.gpu.id, profile.nodes) == (name, gpu, 1)


def test_local_unknown_and_mixed_gpus(catalog: Catalog) -> None:
    unknown = GpuObservation(
        product="NVIDIA H100 NVL",
        vendor="nvidia",
        memory_mib=95830,
        count=2,
        compute_capability="9.0",
    )
    small = GpuObservation(product="NVIDIA L40S", vendor="nvidia", memory_mib=46068, count=1)
    d = discovery.local_profile([small, unknown], catalog, name="box")
    assert d.profile.gpus_per_node == 2 and d.catalog_gpu is None
    assert d.profile.gpu.usable_mib == 95830
    assert any("ignored 1 x NVIDIA L40S" in w for w in d.warnings)
    assert any("not in the catalog" in w for w in d.warnings)
    with pytest.raises(EnvironmentMissing, match="no GPU"):
        discovery.profile_from_observations([], catalog)
    blind = GpuObservation(product="Mystery GPU", vendor="nvidia", memory_mib=None, count=1)
    with pytest.raises(InputError, match="custom GPU"):
        discovery.profile_from_observations([blind], catalog)
    amd = GpuObservation(
        product="AMD Instinct MI308X",
        vendor="amd",
        memory_mib=196608,
        count=8,
        gfx_version="gfx942",
    )
    p = discovery.profile_from_observations([amd], catalog)
    assert (p.gpu.arch, p.gpu.vendor, p.gpu.k8s_resource) == ("cdna3", "amd", "amd.com/gpu")


# --- CLI ----------------------------------------------------------------------------------------


def test_acceptance_discover_h100_file_then_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fixture = str(NODES / "nodes-h100x2.json")
    code, out, _ = run_cli(capsys, "discover", "--from-file", fixture)
    assert code == 0 and "2x8xH100" in out and "gpu-h100" in out
    code, out, _ = run_cli(capsys, "discover", "--from-file", fixture, "-o", "yaml")
    assert code == 0
    hw = tmp_path / "hw.yaml"
    hw.write_text(out)
    code, out, err = run_cli(capsys, "plan", "--hardware", str(hw), "-o", "json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["hardware"]["name"] == "2x8xH100"
    assert (plan["hardware"]["nodes"], plan["hardware"]["gpus_per_node"]) == (2, 8)


def test_discover_out_json_and_pool_choice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fixture = str(NODES / "nodes-mixed.json")
    out_file = tmp_path / "h200.yaml"
    code, _, err = run_cli(
        capsys, "discover", "--from-file", fixture, "--pool", "h200", "--out", str(out_file), "-q"
    )
    assert code == 0 and err == ""
    assert "name: 8xH200" in out_file.read_text()
    code, out, err = run_cli(capsys, "discover", "--from-file", fixture, "-o", "json")
    rows = json.loads(out)
    assert [r["pool"] for r in rows] == ["gpu-h100", "h200"]
    assert "choose another with --pool" in err and "warning: node" in err
    code, _, err = run_cli(capsys, "discover", "--from-file", fixture, "--pool", "nope")
    assert code == 2 and "gpu-h100, h200" in err


def test_discover_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "discover", "--from-file", str(NODES / "nodes-none.json"))
    assert code == 4 and "no usable GPU node pool" in err and "3 without GPUs" in err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    code, _, err = run_cli(capsys, "discover", "--from-file", str(junk))
    assert code == 2 and "not valid JSON" in err
    code, _, err = run_cli(capsys, "discover", "--from-file", str(junk), "--kubeconfig", str(junk))
    assert code == 2
    yaml_nodes = tmp_path / "nodes.yaml"
    yaml_nodes.write_text(json.dumps(json.loads((NODES / "nodes-h200x1.json").read_text())))
    code, out, _ = run_cli(capsys, "discover", "--from-file", str(yaml_nodes), "-o", "yaml")
    assert code == 0 and "name: 8xH200" in out


def test_discover_local(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    fake_local = types.ModuleType("deploy_kit.local.up")
    obs = parse_nvidia_smi_csv((SMI / "nvidia-smi-h200x8.csv").read_text())
    fake_local.detect_gpus = lambda: obs  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "deploy_kit.local.up", fake_local)
    code, out, _ = run_cli(capsys, "discover", "--local", "-o", "yaml")
    assert code == 0 and "name: 8xH200" in out
    monkeypatch.setitem(sys.modules, "deploy_kit.local.up", None)
    code, _, err = run_cli(capsys, "discover", "--local")
    assert code == 4 and "local GPU detection is unavailable" in err
    code, _, err = run_cli(capsys, "discover", "--local", "--from-file", "x.json")
    assert code == 2
