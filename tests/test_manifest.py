"""``tv2tv.manifest``: a command removes only files it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tv2tv.manifest import MANIFEST_FILE, ForeignFilesError, Manifest


def test_reset_removes_only_its_own_files(tmp_path: Path) -> None:
    m = Manifest(tmp_path, "tool")
    data = m.reset("data")                                    # absent: claimed, nothing to remove
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "a.bin").write_text("a")
    m.record("data")
    assert Manifest(tmp_path, "tool").entries["data"] == {"complete": True, "files": ["data/sub/a.bin"]}
    Manifest(tmp_path, "tool").reset("data")                  # all of it was written here
    assert not data.exists()


def test_foreign_files_are_named_and_kept(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("user")
    (tmp_path / "report.md").write_text("user")
    m = Manifest(tmp_path, "tool")
    with pytest.raises(ForeignFilesError, match=r"data holds files tool did not write \(data/mine.txt\) "
                                                r"\(also in report.md\).*nothing was deleted"):
        m.check(["data", "report.md", "absent"])
    with pytest.raises(ForeignFilesError):
        m.reset("data")
    assert (tmp_path / "data" / "mine.txt").read_text() == "user" and not (tmp_path / MANIFEST_FILE).exists()
    (tmp_path / "data" / "mine.txt").unlink()
    with pytest.raises(ForeignFilesError, match="report.md"):
        m.reset("report.md")
    m.claim("data")                                           # an empty folder holds nothing foreign


def test_a_file_added_after_the_command_finished_is_foreign(tmp_path: Path) -> None:
    m = Manifest(tmp_path, "tool")
    m.reset("bench").mkdir()
    (tmp_path / "bench" / "results.json").write_text("{}")
    m.record("bench")
    (tmp_path / "bench" / "notes.txt").write_text("user")
    assert Manifest(tmp_path, "tool").foreign("bench") == ["bench/notes.txt"]


def test_an_interrupted_claim_counts_as_its_own(tmp_path: Path) -> None:
    m = Manifest(tmp_path, "tool")
    m.reset("runs").mkdir()
    (tmp_path / "runs" / "last.ckpt").write_text("half")     # killed before record()
    again = Manifest(tmp_path, "tool")
    assert again.foreign("runs") == []
    again.reset("runs")
    assert not (tmp_path / "runs").exists()


def test_links_are_listed_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious.txt").write_text("keep")
    m = Manifest(tmp_path / "out", "tool")
    m.reset("data").mkdir(parents=True)
    (tmp_path / "out" / "data" / "link").symlink_to(tmp_path / "elsewhere")
    assert m.files("data") == ["data/link"]
    m.reset("data")
    assert (tmp_path / "elsewhere" / "precious.txt").read_text() == "keep"


def test_another_tools_manifest_is_refused(tmp_path: Path) -> None:
    Manifest(tmp_path, "tool").record("x")
    with pytest.raises(ValueError, match="was not written by other"):
        Manifest(tmp_path, "other")
    (tmp_path / MANIFEST_FILE).write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="was not written by tool"):
        Manifest(tmp_path, "tool")
