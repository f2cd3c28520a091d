"""Damaged or foreign files are refused before anything is installed."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.compression import (
    CorruptError,
    PackageMismatchError,
    PckError,
    TrailerError,
    check,
    install,
    pack,
    read_manifest,
    verify,
)
from sitesrv.compression.known import forget_all
from sitesrv.compression.trailer import TRAILER_SIZE

_counter = itertools.count()


@pytest.fixture
def pck(tmp_path: Path, kit) -> Path:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    return pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 3).path


def _damaged_copy(pck: Path, data: bytes) -> Path:
    path = pck.with_name(f"damaged{next(_counter)}.PCK")
    path.write_bytes(data)
    return path


def test_intact_file_verifies(pck: Path, kit) -> None:
    manifest = verify(pck, package_id=kit.PKG, version=3)
    assert len(manifest.files) == 4


def test_every_truncation_is_refused(pck: Path) -> None:
    data = pck.read_bytes()
    damaged = _damaged_copy(pck, b"")
    for length in range(len(data)):
        damaged.write_bytes(data[:length])
        with pytest.raises(TrailerError, match="truncated") as caught:
            verify(damaged)
        assert str(damaged) in str(caught.value)


def _verify(path: Path, kit) -> object:
    return verify(path)


def _check_before_storing(path: Path, kit) -> object:
    """What a receiving Despooler checks without decompressing (the trailer, the manifest, the
    compressed body's SHA-256)."""
    forget_all()  # a rewrite within one tick of the file's clock keeps its identity
    return check(path, package_id=kit.PKG, version=3).result()


@pytest.mark.parametrize("read", [_verify, _check_before_storing],
                         ids=["verify", "the check before a PCK is stored"])
def test_a_flipped_bit_in_any_byte_is_refused(pck: Path, kit, read) -> None:
    data = pck.read_bytes()
    damaged = _damaged_copy(pck, data)
    for offset in range(len(data)):
        flipped = bytearray(data)
        flipped[offset] ^= 1 << (offset % 8)
        damaged.write_bytes(flipped)
        with pytest.raises(PckError) as caught:
            read(damaged, kit)
        assert str(caught.value).startswith(f"{damaged}: "), offset


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(position=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_install_of_a_damaged_pck_leaves_the_installed_version(
    tmp_path: Path, kit, pck: Path, position: float, bit: int
) -> None:
    share = tmp_path / "share"
    install(pck, share, kit.PKG)
    before = kit.snapshot(share)
    data = bytearray(pck.read_bytes())
    data[int(position * len(data))] ^= 1 << bit
    damaged = _damaged_copy(pck, bytes(data))

    with pytest.raises(PckError):
        install(damaged, share, kit.PKG)

    assert kit.snapshot(share) == before
    assert not [t for t in threading.enumerate() if t.name == "pck-readahead"]


def test_missing_trailer_is_named(pck: Path) -> None:
    damaged = _damaged_copy(pck, pck.read_bytes()[:-TRAILER_SIZE])
    with pytest.raises(TrailerError, match="no trailer at the end of the file"):
        verify(damaged)


def test_bytes_appended_after_the_trailer_are_refused(pck: Path) -> None:
    damaged = _damaged_copy(pck, pck.read_bytes() + b"\0")
    with pytest.raises(TrailerError):
        verify(damaged)


def test_damaged_trailer_is_named(pck: Path) -> None:
    data = bytearray(pck.read_bytes())
    data[-40] ^= 0x10  # inside the trailer's fields
    with pytest.raises(TrailerError, match="trailer is damaged"):
        verify(_damaged_copy(pck, bytes(data)))


def test_damaged_content_is_named(pck: Path) -> None:
    data = bytearray(pck.read_bytes())
    data[20] ^= 0x01  # inside the content frame
    with pytest.raises(CorruptError) as caught:
        verify(_damaged_copy(pck, bytes(data)))
    assert "damaged" in str(caught.value) or "does not match" in str(caught.value)


def test_another_package_or_version_is_refused(pck: Path, tmp_path: Path, kit) -> None:
    with pytest.raises(PackageMismatchError, match="holds package CEN00001, expected CEN00002"):
        verify(pck, package_id="CEN00002")
    with pytest.raises(PackageMismatchError, match="holds version 3 of package CEN00001"):
        verify(pck, package_id=kit.PKG, version=4)
    with pytest.raises(PackageMismatchError):
        install(pck, tmp_path / "share", "CEN00002")
    with pytest.raises(PackageMismatchError):
        install(pck, tmp_path / "share", kit.PKG, version=2)
    assert not (tmp_path / "share" / "CEN00002").exists()


def test_a_file_that_is_not_a_pck_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.PCK"
    text.write_text("hello " * 100)
    with pytest.raises(TrailerError):
        read_manifest(text)
    with pytest.raises(FileNotFoundError):
        verify(tmp_path / "absent.PCK")


def test_read_manifest_does_not_need_the_content(pck: Path) -> None:
    data = bytearray(pck.read_bytes())
    data[20] ^= 0x01
    damaged = _damaged_copy(pck, bytes(data))

    assert read_manifest(damaged) == read_manifest(pck)
    with pytest.raises(CorruptError):
        verify(damaged)
