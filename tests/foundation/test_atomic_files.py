"""Atomic replacement (sitesrv.files.atomic) on a fake file system (pyfakefs): what a reader of
the folder sees after a write, a failed write, or a write that meets a leftover temp file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from sitesrv.files.atomic import Durability, rename_into_place, replace_file, write_temp
from sitesrv.files.readonly import remove_file
from sitesrv.files.regular import read_limited
from sitesrv.testing import files

FOLDER = Path("/lab/ZZZ/SMS/state")


@pytest.fixture
def folder(fs: object) -> Path:
    FOLDER.mkdir(parents=True)
    return FOLDER


def full_disk(f: BinaryIO) -> None:
    f.write(b"the first half")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("durability", list(Durability))
def test_a_replace_writes_over_the_temp_a_killed_attempt_left(folder: Path,
                                                              durability: Durability) -> None:
    dest, tmp = folder / "paused.json", folder / ".paused.json.tmp"
    dest.write_bytes(b"old")
    tmp.write_bytes(b'{"half": ')  # the attempt before was killed mid-write
    replace_file(dest, b'{"P00": true}', durability, tmp=tmp)
    assert dest.read_bytes() == b'{"P00": true}'
    assert files(folder) == ["paused.json"]


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temp(folder: Path) -> None:
    dest, tmp = folder / "paused.json", folder / ".paused.json.tmp"
    dest.write_bytes(b"old")
    with pytest.raises(OSError, match="No space left"):
        replace_file(dest, full_disk, Durability.FILE, tmp=tmp)
    assert dest.read_bytes() == b"old"
    assert files(folder) == ["paused.json"]


def test_an_exclusive_temp_never_writes_over_another_writers_file(folder: Path) -> None:
    theirs = folder / ".A.SNI.SEC-SMS_PROBE.000001.tmp"
    theirs.write_bytes(b"another writer's half")
    with pytest.raises(FileExistsError):
        write_temp(theirs, b"mine", Durability.NONE, exclusive=True)
    assert theirs.read_bytes() == b"another writer's half"  # neither overwritten nor deleted
    assert files(folder) == [theirs.name]


def test_a_failed_temp_write_removes_only_its_own_temp(folder: Path) -> None:
    tmp = folder / ".A.SNI.SEC-SMS_PROBE.000002.tmp"
    with pytest.raises(OSError, match="No space left"):
        write_temp(tmp, full_disk, Durability.FILE, exclusive=True)
    assert files(folder) == []


def test_content_comes_as_bytes_chunks_or_a_writer_function(folder: Path) -> None:
    replace_file(folder / "a", [b"one ", b"two ", b"three"], Durability.NONE, tmp=folder / ".a")
    replace_file(folder / "b", lambda f: f.write(b"written by a function"), Durability.NONE,
                 tmp=folder / ".b")
    replace_file(folder / "c", b"", Durability.NONE, tmp=folder / ".c")
    assert [(folder / n).read_bytes() for n in "abc"] == [
        b"one two three", b"written by a function", b""]
    assert files(folder) == ["a", "b", "c"]


def test_renaming_into_place_moves_the_file_between_folders(folder: Path) -> None:
    other = folder.parent / "inboxes" / "despoolr.box" / "receive"
    other.mkdir(parents=True)
    tmp = folder / "2_001ZZZ.TMP"
    tmp.write_bytes(b"instruction")
    (other / "2_001ZZZ.SNI").write_bytes(b"an older attempt")
    rename_into_place(tmp, other / "2_001ZZZ.SNI", Durability.FILE_AND_DIR)
    assert files(folder) == [] and files(other) == ["2_001ZZZ.SNI"]
    assert (other / "2_001ZZZ.SNI").read_bytes() == b"instruction"


@pytest.mark.parametrize("content", [b"x" * 300, [b"x" * 150, b"y" * 150]],
                         ids=["bytes", "chunks"])
def test_a_disk_that_fills_during_the_write_leaves_no_temp(fs, folder: Path,
                                                           content: object) -> None:
    """Bytes fail at their write; chunks wait in the file object's buffer and fail when it is
    flushed, as the file is finished: either way the temp goes with the error."""
    fs.set_disk_usage(200, path=str(folder))
    tmp = folder / ".paused.json.tmp"
    with pytest.raises(OSError, match="No space left"):
        write_temp(tmp, content, Durability.NONE, exclusive=True)
    assert files(folder) == []


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege")
def test_a_removal_given_the_look_it_made_still_clears_read_only_and_never_follows_a_link(
        tmp_path: Path) -> None:
    """`remove_file` with the caller's lstat (ctx.remove): a read-only file goes, a link goes
    and its target keeps its mode, and a file gone since the look is no error."""
    kept = tmp_path / "kept.PCK"
    kept.write_bytes(b"x")
    os.chmod(kept, 0o444)
    link = tmp_path / "link.PCK"
    link.symlink_to(kept)
    for path in (link, kept):
        remove_file(path, os.lstat(path).st_mode)
        assert not os.path.lexists(path)
        if path == link:
            assert stat.S_IMODE(os.stat(kept).st_mode) == 0o444
    remove_file(kept, stat.S_IFREG | 0o444)  # gone since its look


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege")
def test_a_read_only_file_swapped_for_a_link_after_the_look_leaves_the_target_alone(
        tmp_path: Path) -> None:
    """The caller looked at a read-only file; a hostile writer then put a link to another
    read-only file in its place. The removal takes the link away and the target keeps its mode
    (chmod follows links, so the name is looked at again just before it)."""
    target = tmp_path / "SMSPKG.PCK"
    target.write_bytes(b"pck")
    os.chmod(target, 0o444)
    name = tmp_path / "X.SNI"
    name.write_bytes(b"x")
    os.chmod(name, 0o444)
    mode = os.lstat(name).st_mode
    os.unlink(name)
    os.symlink(target, name)
    remove_file(name, mode)
    assert not os.path.lexists(name)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o444


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need a privilege")
def test_whatever_has_a_temp_name_is_removed_never_written_through(tmp_path: Path) -> None:
    """The name is not looked at before the first create: the refused create is the look. A
    link (to a file, or to nothing) or a read-only leftover under the temp name goes, and the
    temp is a new file; an exclusive temp is refused and changes nothing."""
    target = tmp_path / "outside.txt"
    target.write_bytes(b"theirs")
    os.chmod(target, 0o444)
    leftover = tmp_path / "leftover.tmp"
    leftover.write_bytes(b"half")
    os.chmod(leftover, 0o444)
    (tmp_path / "link.tmp").symlink_to(target)
    (tmp_path / "dangling.tmp").symlink_to(tmp_path / "nothing.txt")
    with pytest.raises(FileExistsError):
        write_temp(tmp_path / "link.tmp", b"mine", Durability.NONE, exclusive=True)
    for name in ("link.tmp", "dangling.tmp", "leftover.tmp"):
        tmp = tmp_path / name
        write_temp(tmp, b"mine", Durability.NONE, exclusive=False)
        assert not tmp.is_symlink() and tmp.read_bytes() == b"mine"
    assert target.read_bytes() == b"theirs" and stat.S_IMODE(target.stat().st_mode) == 0o444
    assert not (tmp_path / "nothing.txt").exists()


@pytest.mark.skipif(not hasattr(os, "O_NONBLOCK"), reason="no non-blocking opens (Windows)")
def test_a_read_that_would_block_is_waited_for(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_regular` leaves its descriptor non-blocking (a regular file ignores it); a file
    system that answers EAGAIN all the same is read blocking, whole."""
    target = tmp_path / "state.json"
    target.write_bytes(b"x" * 100)
    real_read, refused = os.read, []

    def read_once_refused(fd: int, n: int) -> bytes:
        if not refused:
            refused.append(os.get_blocking(fd))
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", read_once_refused)
    assert read_limited(target, 1000) == b"x" * 100
    assert refused == [False]


def test_what_each_durability_syncs() -> None:
    assert [(d.syncs_files, d.syncs_folders) for d in Durability] == [
        (False, False), (True, False), (True, True)]
