"""`sitesrv pck list|verify|extract`: readable output; errors as `sitesrv: <message>`, exit 2."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitesrv.cli.main import cli
from sitesrv.compression import make_delta, pack
from sitesrv.compression.manifest import MANIFEST_FORMAT


@pytest.fixture
def pck(tmp_path: Path, kit) -> Path:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    return pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 3).path


def _run(*args: object) -> tuple[int, str]:
    """Run `sitesrv pck ARGS` as a user would; returns the exit status and stdout + stderr."""
    result = CliRunner().invoke(cli, ["pck", *(str(a) for a in args)], catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_list_shows_package_version_and_entries(pck: Path) -> None:
    code, out = _run("list", pck)

    lines = out.splitlines()
    assert code == 0
    assert lines[0] == ("package CEN00001 version 3 (PCK): 4 files, 2 empty folders, 13258 bytes")
    assert lines[1].startswith("dir ") and lines[1].endswith(" Empty Folder/")
    readme = next(line for line in lines if line.endswith(" readme.txt"))
    assert readme.split()[:5] == ["file", "ro", "16", "2004-11-09", "11:33:20"]


def test_list_of_a_delta_marks_shipped_and_deleted_files(tmp_path: Path, kit, pck: Path) -> None:
    source = tmp_path / "src"
    (source / "setup.exe").unlink()
    (source / "docs" / "guide.txt").write_text("new guide")
    dlt = make_delta(pck, source, tmp_path / "CEN00001.DLT.4", kit.PKG, 4).path

    code, out = _run("list", dlt)

    assert code == 0
    assert out.splitlines()[0].startswith("package CEN00001 version 4 (DLT from version 3): ")
    assert "1 shipped, 1 deleted" in out.splitlines()[0]
    assert any(
        line.startswith("+ file") and line.endswith(" docs/guide.txt") for line in out.splitlines()
    )
    assert any(
        line.startswith("  file") and line.endswith(" readme.txt") for line in out.splitlines()
    )
    assert out.splitlines()[-1] == "- deleted setup.exe"


def test_verify_accepts_a_good_file(pck: Path) -> None:
    code, out = _run("verify", pck, "--package", "CEN00001", "--version", "3")
    assert code == 0
    assert (
        out
        == f"{pck}: OK, package CEN00001 version 3 (PCK): 4 files, 2 empty folders, 13258 bytes\n"
    )


def test_verify_refuses_a_damaged_file_with_status_2(pck: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.PCK"
    damaged.write_bytes(pck.read_bytes()[:-1])

    code, out = _run("verify", damaged)

    assert code == 2
    assert out.startswith(f"sitesrv: {damaged}: ")
    assert "truncated" in out


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--package", "CEN00002"], "expected CEN00002"), (["--version", "2"], "expected 2")],
)
def test_verify_refuses_another_package_or_version(pck: Path, option, message) -> None:
    code, out = _run("verify", pck, *option)
    assert code == 2
    assert message in out


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    for command in ("list", "verify"):
        code, out = _run(command, tmp_path / "absent.PCK")
        assert code == 2
        assert out == f"sitesrv: {tmp_path / 'absent.PCK'}: No such file or directory\n"


def test_extract_writes_the_files(pck: Path, tmp_path: Path, kit) -> None:
    code, out = _run("extract", pck, tmp_path / "out")

    assert code == 0
    assert out.startswith("Extracted 4 files of package CEN00001 version 3 (PCK)")
    assert kit.read_tree(tmp_path / "out") == kit.SAMPLE


def test_extract_refuses_a_folder_with_content(pck: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("mine")

    code, out = _run("extract", pck, tmp_path / "out")

    assert code == 2
    assert out == f"sitesrv: {tmp_path / 'out'} exists and is not an empty folder\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


def test_extract_into_a_folder_whose_parent_is_missing_names_that_parent(
        pck: Path, tmp_path: Path) -> None:
    """The message named the extraction's temp folder `x.sitesrv-new` (a bug hunt found it)."""
    dest = tmp_path / "nodir" / "sub" / "x"
    code, out = _run("extract", pck, dest)
    assert code == 2
    assert out == (f"sitesrv: {dest.parent} is not a folder, so {dest} cannot be made in it. "
                   "Pass a DEST whose parent folder exists.\n")
    assert not (tmp_path / "nodir").exists()


def test_extract_refuses_a_bad_container_and_writes_nothing(tmp_path: Path, kit) -> None:
    crafted = kit.craft_container(
        tmp_path / "evil.PCK", [(kit.tar_info("../escaped.txt"), b"pwned")]
    )

    code, out = _run("extract", crafted, tmp_path / "out")

    assert code == 2
    assert out.startswith(f"sitesrv: {crafted}: refused entry '../escaped.txt'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.PCK"]


def test_a_crafted_pax_size_is_a_user_error(tmp_path: Path, kit) -> None:
    info = tarfile.TarInfo("a.txt")
    info.size = 2
    info.pax_headers = {"size": "²"}
    content = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict") + b"hi" + bytes(510 + 1024)
    manifest = json.dumps({
        "format": MANIFEST_FORMAT, "package_id": kit.PKG, "version": 1,
        "entries": kit.craft_entries([(kit.tar_info("a.txt"), b"hi")]),
    }).encode()
    crafted = kit.raw_container(tmp_path / "crafted.PCK", content,
                                kit.manifest_member(manifest) + bytes(1024), manifest)

    code, out = _run("verify", crafted)

    assert code == 2
    assert out == f"sitesrv: {crafted}: bad PAX size '²'\n"
