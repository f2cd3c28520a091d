"""`check`: check a PCK's checksums and hash it in one read, remembered while the file is unchanged; the
SHA-256 of packed, merged and delta files is known without reading them again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sitesrv.compression import (
    CorruptError,
    FileEntry,
    Manifest,
    PckError,
    check,
    container,
    install,
    make_delta,
    merge,
    pack,
    read_manifest,
    verify,
)
from sitesrv.compression.known import (
    BODY,
    WHOLE,
    Memo,
    file_sha256,
    forget_all,
    identity,
    known_pck,
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite(path: Path, data: bytes) -> None:
    """Write the file in place, as a person or a broken disk might; the next second, so the
    change shows on any file system's timestamps."""
    before = path.stat().st_mtime_ns
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def damage_behind_identity(path: Path, at: float) -> None:
    """Flip a bit at this fraction of the file, then put its time back: same identity."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def pck(tmp_path: Path, kit) -> Path:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    return pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path


def test_check_gives_the_manifest_of_verify_and_the_files_sha256(pck: Path, kit) -> None:
    checked = check(pck, package_id=kit.PKG, version=1)
    assert checked.sha256 == sha256(pck) == file_sha256(pck)[1]
    assert checked.error is None and checked.result() == verify(pck, package_id=kit.PKG)
    assert file_sha256(pck)[0] == pck.stat().st_size


def test_check_refuses_any_damage_after_packing_without_decompressing(pck: Path, kit) -> None:
    """A flipped bit anywhere in the body fails the body's checksum, whatever it hit; the
    full `verify` may name the decoder's or the tar reader's problem first."""
    data = bytearray(pck.read_bytes())
    data[100] ^= 0x10
    rewrite(pck, bytes(data))
    with pytest.raises(PckError):
        verify(pck, package_id=kit.PKG, version=1)
    checked = check(pck, package_id=kit.PKG, version=1)
    assert checked.manifest is None and checked.sha256 == sha256(pck)
    with pytest.raises(CorruptError, match="SHA-256 of the body differs"):
        checked.result()
    with pytest.raises(PckError, match="holds version 1 of package"):
        check(pck, package_id=kit.PKG, version=2).result()


def test_check_does_not_decompress_the_content(pck: Path, kit,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the manifest's frame is decompressed: the content, and each file's SHA-256, wait
    for the DP install, which hashes every byte of a PCK that was only checked."""
    forget_all()  # what packing remembered
    decoded = _count_decoded(monkeypatch)
    assert check(pck, package_id=kit.PKG, version=1).error is None
    with container.ContainerReader(pck) as reader:
        trailer = reader.trailer
    assert decoded == [trailer.body_length - trailer.manifest_offset]
    assert known_pck(identity(pck.stat()), kit.PKG, 1) == BODY


def test_a_file_changed_since_is_read_again(pck: Path, kit) -> None:
    assert check(pck, package_id=kit.PKG, version=1).error is None
    known = file_sha256(pck)[1]
    data = bytearray(pck.read_bytes())
    data[len(data) // 2] ^= 0x01
    rewrite(pck, bytes(data))  # same size, same inode: only the time says it changed
    assert file_sha256(pck)[1] == sha256(pck) != known
    assert isinstance(check(pck, package_id=kit.PKG, version=1).error, PckError)


def test_delta_and_merge_outputs_hash_as_their_bytes(tmp_path: Path, kit, pck: Path) -> None:
    v2 = kit.write_tree(tmp_path / "v2", {**kit.SAMPLE, "new.txt": b"new in 2\n"})
    dlt = make_delta(pck, v2, tmp_path / "CEN00001.DLT.2", kit.PKG, 2).path
    merged = merge(pck, dlt, tmp_path / "merged.PCK").path
    for path in (pck, dlt, merged):
        assert file_sha256(path) == (path.stat().st_size, sha256(path))


def test_verdicts_of_many_waiting_payloads_are_all_remembered(tmp_path: Path, kit) -> None:
    """A Despooler retrying 20 instructions that wait for their package information reads none
    of their payloads again: a payload damaged behind the memory's back (same size and time)
    still has its first verdict, so it was not read."""
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    pcks = [pack(source, tmp_path / f"CEN{n:05X}.PCK", kit.PKG, 1).path for n in range(20)]
    for path in pcks:
        assert check(path, package_id=kit.PKG, version=1).error is None
    for path in pcks:
        damage_behind_identity(path, 1 / 2)
    assert [check(path, package_id=kit.PKG, version=1).error for path in pcks] == [None] * 20


def test_asking_again_about_an_unchanged_file_does_not_open_it(pck: Path, kit,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    """A Despooler's retry finds the verdict by the file's identity alone."""
    first = check(pck, package_id=kit.PKG, version=1)

    def no_open(path, *args, **kwargs):
        raise AssertionError(f"{path} was opened again")

    monkeypatch.setattr(os, "open", no_open)  # the PCK readers open through os.open
    assert check(pck, package_id=kit.PKG, version=1) is first


def test_a_link_put_in_place_of_a_checked_file_is_never_taken_for_it(pck: Path, kit) -> None:
    """The identity is the name's own (lstat): a link to the very file checked is refused as
    a link, not answered from memory."""
    assert check(pck, package_id=kit.PKG, version=1).error is None
    kept = pck.with_name("kept.PCK")
    os.replace(pck, kept)
    pck.symlink_to(kept)
    with pytest.raises(OSError, match="symbolic link"):
        check(pck, package_id=kit.PKG, version=1)


def test_the_memory_forgets_the_oldest_by_weight_and_keeps_the_newest() -> None:
    memo: Memo[int] = Memo(10, weigh=lambda value: value)
    for key in "abc":
        memo.put(key, 4)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 4, 4)
    memo.put("huge", 50)  # heavier than the limit: kept alone, as the newest
    assert len(memo) == 1 and memo.get("huge") == 50


@pytest.mark.parametrize("how", [WHOLE, BODY])
def test_an_install_of_a_pck_it_knows_still_refuses_damage(tmp_path: Path, kit, pck: Path,
                                                           how: str) -> None:
    """This process packed the PCK (WHOLE), or checked its body as a Despooler does (BODY), so
    Distribution Manager's install onto a DP does not take the SHA-256 of every byte again;
    the install of a BODY one hashes its files, and then it is known WHOLE too. Damage put
    there behind the identity (same size and time) is still refused, by the compressed frames'
    own checksums, and nothing is installed; the undamaged PCK installs."""
    if how == BODY:
        forget_all()
        assert check(pck, package_id=kit.PKG, version=1).error is None
    assert known_pck(identity(pck.stat()), kit.PKG, 1) == how
    install(pck, tmp_path / "good", kit.PKG, version=1)
    assert sorted(p.name for p in (tmp_path / "good" / kit.PKG).rglob("*")) == sorted(
        p.name for p in (tmp_path / "src").rglob("*"))
    damage_behind_identity(pck, 1 / 8)
    assert known_pck(identity(pck.stat()), kit.PKG, 1) == WHOLE
    with pytest.raises(CorruptError):
        install(pck, tmp_path / "damaged", kit.PKG, version=1)
    assert not (tmp_path / "damaged" / kit.PKG).exists()


def test_a_pck_that_misdeclares_a_file_is_never_known_whole(tmp_path: Path, kit) -> None:
    """Its checksums hold but its manifest gives a file another SHA-256 (a broken or hostile
    packer): a reader that catches the file's error and reads on to the end still leaves it
    unknown, so no install, and no copy of it, ever skips hashing its files."""
    data = b"the file's real bytes\n"
    path = tmp_path / "CEN00003.PCK"
    with open(path, "wb") as fh:
        writer = container.ContainerWriter(fh)
        writer.add_file("setup.exe", len(data), 0, False, [data])
        writer.add_file("z.txt", len(data), 0, False, [data])
        writer.finish(Manifest(package_id=kit.PKG, version=1, entries=(
            FileEntry("setup.exe", len(data), 0, False, "0" * 64),
            FileEntry("z.txt", len(data), 0, False, hashlib.sha256(data).hexdigest()))))
    forget_all()
    caught = []
    with container.ContainerReader(path) as reader:
        for entry, chunks in reader.content():
            try:
                for _ in chunks:
                    pass
            except CorruptError as error:
                caught.append((entry.path, str(error)))
    assert [name for name, _ in caught] == ["setup.exe"]
    assert known_pck(identity(path.stat()), kit.PKG, 1) is None
    assert check(path, package_id=kit.PKG, version=1).error is None  # as a Despooler stores it
    assert known_pck(identity(path.stat()), kit.PKG, 1) == BODY
    for dp in ("dp1", "dp2"):
        with pytest.raises(CorruptError, match="'setup.exe' does not match its SHA-256"):
            install(path, tmp_path / dp, kit.PKG, version=1)


def test_a_pck_known_from_another_package_or_version_is_hashed(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    path = pack(source, tmp_path / "CEN00002.PCK", kit.PKG, 1).path
    assert known_pck(identity(path.stat()), kit.PKG, 2) is None
    assert known_pck(identity(path.stat()), kit.PKG, 1) == WHOLE
    assert check(path, package_id=kit.PKG, version=1).error is None
    assert known_pck(identity(path.stat()), kit.PKG, 1) == WHOLE  # a check keeps what it knew


def test_an_install_hashes_only_a_pck_it_does_not_know_whole(
        tmp_path: Path, kit, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes the install's reader hashes: the manifest's only for a PCK this process
    packed, or installed with every file hashed, or a copy of one; the files' for one whose
    body it checked; every byte again for one it does not know."""
    source = kit.write_tree(tmp_path / "big", {"big.bin": os.urandom(200_000)})
    pck = pack(source, tmp_path / "CEN00002.PCK", kit.PKG, 1).path
    hashed = [0]
    real = hashlib.sha256

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self._sha = real(data)
            hashed[0] += len(data)

        def update(self, data: bytes) -> None:
            hashed[0] += len(data)
            self._sha.update(data)

        def __getattr__(self, name: str):
            return getattr(self._sha, name)

    monkeypatch.setattr(container.hashlib, "sha256", Counting)
    install(pck, tmp_path / "known", kit.PKG, version=1)
    known_bytes = hashed[0]
    forget_all()
    hashed[0] = 0
    install(pck, tmp_path / "unknown", kit.PKG, version=1)
    unknown_bytes = hashed[0]
    forget_all()
    assert check(pck, package_id=kit.PKG, version=1).error is None  # as a Despooler checks
    assert known_pck(identity(pck.stat()), kit.PKG, 1) == BODY
    hashed[0] = 0
    install(pck, tmp_path / "checked", kit.PKG, version=1)
    checked_bytes = hashed[0]
    # Every file of it hashed and held: the next install, and a copy sent on, as the next
    # site's Despooler stores it (same bytes, another file), hash only the manifest.
    hashed[0] = 0
    install(pck, tmp_path / "again", kit.PKG, version=1)
    again_bytes = hashed[0]
    copy = tmp_path / "child" / "CEN00002.PCK"
    copy.parent.mkdir()
    copy.write_bytes(pck.read_bytes())
    assert check(copy, package_id=kit.PKG, version=1).error is None
    assert known_pck(identity(copy.stat()), kit.PKG, 1) == WHOLE
    hashed[0] = 0
    install(copy, tmp_path / "copy", kit.PKG, version=1)
    copy_bytes = hashed[0]
    # The files' 200,000 random bytes compress to about as many: the body hashed or not.
    assert known_bytes < 10_000 < 200_000 < checked_bytes < 210_000 < 400_000 < unknown_bytes
    assert again_bytes < 10_000 and copy_bytes < 10_000
    assert (tmp_path / "copy" / kit.PKG / "big.bin").read_bytes() == (source / "big.bin").read_bytes()


def test_a_manifest_is_decoded_once_per_unchanged_file(tmp_path: Path, kit, pck: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A second reader of the very same file, or of a file with the same manifest frame (a
    copy, or the file changed in its content only), takes the manifest the first one checked;
    a file whose manifest frame changed, even in place with its size and modification time put
    back, or another file renamed over it, is decoded again."""
    forget_all()
    decoded = _count_decoded(monkeypatch)
    first = read_manifest(pck)
    assert read_manifest(pck) == first and len(decoded) == 1
    copy = tmp_path / "copy.PCK"
    copy.write_bytes(pck.read_bytes())
    assert read_manifest(copy) == first and len(decoded) == 1
    damage_behind_identity(pck, 0.01)  # in the content: the manifest frame is the same
    assert read_manifest(pck) == first and len(decoded) == 1
    with container.ContainerReader(copy) as reader:
        trailer = reader.trailer
    middle = (trailer.manifest_offset + trailer.body_length) / 2 / copy.stat().st_size
    damage_behind_identity(copy, middle)  # the status change time tells, then the bytes
    with pytest.raises(CorruptError):
        read_manifest(copy)
    assert len(decoded) == 2
    v2 = kit.write_tree(tmp_path / "v2", {**kit.SAMPLE, "new.txt": b"new in 2\n"})
    os.chmod(pck, 0o644)
    pack(v2, pck, kit.PKG, 2)
    assert read_manifest(pck).version == 2 and len(decoded) == 3
    assert read_manifest(pck).version == 2 and len(decoded) == 3


def _count_decoded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the compressed frames every ContainerReader decodes from now on."""
    decoded: list[int] = []
    real = container.ContainerReader._stream

    def counting(self, source):
        decoded.append(source.left)
        return real(self, source)

    monkeypatch.setattr(container.ContainerReader, "_stream", counting)
    return decoded
