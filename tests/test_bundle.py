"""No lost work: atomic bundle writes, edited files kept, interrupted runs leave the old bundle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from deploy_kit.errors import EditedFileError, InputError
from deploy_kit.renderer import bundle
from deploy_kit.renderer.bundle import MANIFEST, write_bundle


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_first_write_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "b"
    report = write_bundle(out, {"a.yaml": "a: 1\n", "sub/b.txt": "b\n"})
    assert sorted(report.written) == ["a.yaml", "sub/b.txt"]
    assert (out / MANIFEST).is_file()
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)


def test_rerender_updates_only_what_changed(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    report = write_bundle(out, {"a.yaml": "a: 2\n", "b.yaml": "b: 1\n"})
    assert report.written == ["a.yaml"] and report.unchanged == ["b.yaml"]
    assert (out / "a.yaml").read_text() == "a: 2\n"


def test_edited_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    (out / "a.yaml").write_text("a: 1  # my tuning\n")
    before = _tree(out)
    with pytest.raises(EditedFileError) as err:
        write_bundle(out, {"a.yaml": "a: 2\n", "b.yaml": "b: 2\n"})
    assert str(out / "a.yaml") in err.value.message
    assert _tree(out) == before


def test_force_keeps_a_backup(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n"})
    (out / "a.yaml").write_text("mine\n")
    report = write_bundle(out, {"a.yaml": "a: 2\n"}, force=True)
    assert report.backups == ["a.yaml.bak"]
    assert (out / "a.yaml.bak").read_text() == "mine\n"
    assert (out / "a.yaml").read_text() == "a: 2\n"


def test_foreign_file_in_the_way_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "a.yaml").write_text("a person's file\n")
    with pytest.raises(EditedFileError):
        write_bundle(out, {"a.yaml": "a: 1\n"})


def test_stale_files_removed_unless_edited(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"old.yaml": "x\n", "old2.yaml": "y\n", "keep.yaml": "k\n"})
    (out / "old2.yaml").write_text("edited\n")
    report = write_bundle(out, {"keep.yaml": "k\n"})
    assert report.removed == ["old.yaml"] and report.kept_edited == ["old2.yaml"]
    assert not (out / "old.yaml").exists() and (out / "old2.yaml").exists()


def test_person_files_beside_the_bundle_survive(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n"})
    (out / ".env").write_text("HF_TOKEN=secret\n")
    write_bundle(out, {"a.yaml": "a: 2\n"})
    assert (out / ".env").read_text() == "HF_TOKEN=secret\n"


def test_disk_full_leaves_previous_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n", "b.yaml": "b: 1\n"})
    before = _tree(out)
    real = Path.write_bytes
    calls = {"n": 0}

    def full(self: Path, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        write_bundle(out, {"a.yaml": "a: 2\n", "b.yaml": "b: 2\n"})
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no staging debris


def test_sigterm_mid_write_leaves_previous_bundle(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n"})
    before = _tree(out)
    script = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from pathlib import Path
        from deploy_kit.renderer import bundle
        real = Path.write_bytes
        def slow(self, data):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            return real(self, data)
        Path.write_bytes = slow
        bundle.write_bundle(Path({str(out)!r}), {{"a.yaml": "a: 2\\n", "c.yaml": "c\\n"}})
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0
    assert _tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_interrupted_swap_is_restored(tmp_path: Path) -> None:
    out = tmp_path / "b"
    write_bundle(out, {"a.yaml": "a: 1\n"})
    out.rename(tmp_path / f".b.prev-{os.getpid() + 1}")  # died between the two renames
    write_bundle(out, {"a.yaml": "a: 1\n"})
    assert (out / "a.yaml").read_text() == "a: 1\n"


@pytest.mark.parametrize("bad", ["../escape.yaml", "/abs.yaml", "a/../../x", ""])
def test_paths_outside_the_bundle_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError):
        write_bundle(tmp_path / "b", {bad: "x"})


def test_out_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        write_bundle(f, {"a": "b"})


def test_signal_handlers_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with bundle._signals_as_exceptions():
        pass
    assert signal.getsignal(signal.SIGTERM) == before
