"""The compiled JSON copy of the catalog: current, equal to the YAML, ignored when stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deploy_kit.catalog import documents
from deploy_kit.catalog.documents import CATALOG_DIR, CATALOG_FILES, COMPILED
from deploy_kit.errors import InputError
from deploy_kit.yamlio import load_yaml_file


def _yaml_documents(directory: Path) -> dict[str, object]:
    return {n: load_yaml_file(directory / n, trusted=True) for n in CATALOG_FILES}


def _copy_catalog(tmp_path: Path) -> Path:
    for name in (*CATALOG_FILES, COMPILED.name):
        shutil.copy(CATALOG_DIR / name, tmp_path / name)
    return tmp_path


def test_compiled_copy_is_current() -> None:
    assert COMPILED.read_text(encoding="utf-8") == documents.compile_documents(), (
        "deploy_kit/catalog/compiled.json is stale: run python scripts/gen_catalog.py"
    )


def test_loaded_documents_equal_the_yaml() -> None:
    assert documents.load_documents() == _yaml_documents(CATALOG_DIR)


def test_a_stale_copy_is_ignored(tmp_path: Path) -> None:
    where = _copy_catalog(tmp_path)
    gpus = where / "gpus.yaml"
    text = gpus.read_text(encoding="utf-8")
    assert "name: H200 SXM 141GB" in text
    gpus.write_text(text.replace("name: H200 SXM 141GB", "name: H200 SXM 141GB edited", 1), "utf-8")
    loaded = documents.load_documents(where)
    names = [g["name"] for g in loaded["gpus.yaml"]["gpus"]]
    assert "H200 SXM 141GB edited" in names
    assert loaded == _yaml_documents(where)


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"sha256": "x"}', b"[]"])
def test_a_broken_copy_falls_back_to_the_yaml(tmp_path: Path, content: bytes) -> None:
    where = _copy_catalog(tmp_path)
    (where / COMPILED.name).write_bytes(content)
    assert documents.load_documents(where) == _yaml_documents(where)


def test_a_missing_copy_falls_back_to_the_yaml(tmp_path: Path) -> None:
    where = _copy_catalog(tmp_path)
    (where / COMPILED.name).unlink()
    assert documents.load_documents(where) == _yaml_documents(where)


def test_the_copy_is_read_when_current(tmp_path: Path) -> None:
    # Prove the fast path is taken: a current digest with different documents wins.
    where = _copy_catalog(tmp_path)
    body = documents.compile_documents(where).replace("H200 SXM 141GB", "FROM-THE-COPY", 1)
    (where / COMPILED.name).write_text(body, encoding="utf-8")
    names = [g["name"] for g in documents.load_documents(where)["gpus.yaml"]["gpus"]]
    assert "FROM-THE-COPY" in names


def test_values_json_cannot_carry_are_refused(tmp_path: Path) -> None:
    where = _copy_catalog(tmp_path)
    layouts = where / "kv_layouts.yaml"
    layouts.write_text(layouts.read_text(encoding="utf-8") + "added: 2026-11-28\n", "utf-8")
    with pytest.raises(InputError, match="JSON cannot carry"):
        documents.compile_documents(where)
