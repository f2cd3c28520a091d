"""A packed tree comes back exactly: names, bytes, empty files and folders, attributes."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.compression import extract, install, pack, read_manifest, verify
from sitesrv.compression.entrysafety import fold
from sitesrv.compression.manifest import MANIFEST_NAME, DirEntry, Manifest

_names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\:", max_codepoint=0x2FFFF
    ),
    min_size=1,
    max_size=10,
).filter(lambda n: n not in (".", "..", MANIFEST_NAME) and len(n.encode()) < 200)
_files = st.binary(max_size=300) | st.tuples(st.just("ro"), st.binary(max_size=50))
_trees = st.recursive(
    _files,
    lambda children: st.lists(
        st.tuples(_names, children), max_size=5, unique_by=lambda t: fold(t[0])
    ).map(dict),
    max_leaves=15,
).filter(lambda t: isinstance(t, dict))

_counter = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(tree=_trees)
def test_any_tree_survives_pack_install_and_extract(tmp_path: Path, kit, tree) -> None:
    work = tmp_path / str(next(_counter))
    source = kit.write_tree(work / "src", tree)
    result = pack(source, work / "CEN00001.PCK", kit.PKG, 1)

    install(result.path, work / "share", kit.PKG)
    extract(result.path, work / "extracted")

    assert kit.read_tree(work / "share" / kit.PKG) == tree
    assert kit.read_tree(work / "extracted") == tree
    assert set(kit.mtimes(work / "share" / kit.PKG).values()) <= {kit.MTIME_NS}
    assert read_manifest(result.path) == result.manifest
    assert os.listdir(work / "share") == [kit.PKG]


def test_manifest_records_what_sms_tracks(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)

    manifest = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 4).manifest

    assert (manifest.package_id, manifest.version) == (kit.PKG, 4)
    by_path = {e.path: e for e in manifest.entries}
    assert sorted(by_path) == [
        "Empty Folder",
        "docs/guide.txt",
        "docs/old",
        "empty.dat",
        "readme.txt",
        "setup.exe",
    ]
    assert isinstance(by_path["docs/old"], DirEntry)
    readme = by_path["readme.txt"]
    assert (readme.size, readme.readonly, readme.mtime_ns) == (16, True, kit.MTIME_NS)
    assert readme.sha256 == hashlib.sha256(b"Read me first.\r\n").hexdigest()


def test_pack_reports_source_and_compressed_size(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"a.bin": bytes(5000), "b.txt": b"x"})

    result = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1)

    assert result.source_size == 5001
    assert result.source_kbytes == 5  # "The size of package CEN00001 is 5 KBytes"
    assert result.compressed_size == result.path.stat().st_size
    assert result.compressed_kbytes == -(-result.compressed_size // 1024)


def test_same_tree_gives_identical_bytes(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)

    first = pack(source, tmp_path / "one.PCK", kit.PKG, 1, threads=1).path.read_bytes()
    second = pack(source, tmp_path / "two.PCK", kit.PKG, 1).path.read_bytes()

    assert first == second


def test_compression_level_is_honoured(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", {"t.txt": b"".join(b"%d," % i for i in range(50000))})

    fast = pack(source, tmp_path / "fast.PCK", kit.PKG, 1, level=1)
    small = pack(source, tmp_path / "small.PCK", kit.PKG, 1, level=19)

    assert small.compressed_size < fast.compressed_size
    assert verify(small.path).files == fast.manifest.files
    with pytest.raises(ValueError, match="level"):
        pack(source, tmp_path / "bad.PCK", kit.PKG, 1, level=22)


@pytest.mark.skipif(not (shutil.which("tar") and shutil.which("zstd")), reason="needs tar, zstd")
def test_standard_tar_and_zstd_read_a_pck(tmp_path: Path, kit) -> None:
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    pck = pack(source, tmp_path / "CEN00001.PCK", kit.PKG, 1).path
    out = tmp_path / "out"
    out.mkdir()

    listing = subprocess.run(
        ["tar", "--zstd", "-tf", str(pck)], check=True, capture_output=True, text=True
    ).stdout
    subprocess.run(["tar", "--zstd", "-xf", str(pck), "-C", str(out)], check=True)

    assert listing.splitlines()[-1] == MANIFEST_NAME
    (out / MANIFEST_NAME).unlink()
    assert kit.read_tree(out) == kit.SAMPLE


def test_a_compressor_kept_from_an_earlier_pack_writes_the_same_bytes(tmp_path: Path, kit) -> None:
    """Packs share a compressor (container._take_compressor): a PCK is the same file whether
    its compressor is new or kept from the pack before, of a small tree or of several jobs."""
    import random

    from sitesrv.compression import container

    rng = random.Random(7)
    trees = [kit.SAMPLE, {"big.bin": rng.randbytes(3 << 20) + bytes(3 << 20), "a.txt": b"a"}]
    for n, tree in enumerate(trees):
        source = kit.write_tree(tmp_path / f"src{n}", tree)
        container._drop_spare()
        fresh = pack(source, tmp_path / f"fresh{n}.PCK", kit.PKG, 1).path
        assert container._spare is not None  # kept for the next pack
        kept = pack(source, tmp_path / f"kept{n}.PCK", kit.PKG, 1).path
        other = pack(source, tmp_path / f"other{n}.PCK", kit.PKG, 1, level=5).path
        again = pack(source, tmp_path / f"again{n}.PCK", kit.PKG, 1).path
        assert kept.read_bytes() == fresh.read_bytes() == again.read_bytes()
        assert other.read_bytes() != fresh.read_bytes()


def test_a_compressor_over_its_bound_is_not_kept(tmp_path: Path, kit,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A compressor's buffers grow with its largest pack and the cores: one holding more than
    SPARE_BYTES is freed with its writer. A finished writer keeps no hold on the one it gave."""
    from sitesrv.compression import container

    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    container._drop_spare()
    monkeypatch.setattr(container, "SPARE_BYTES", 0)
    pack(source, tmp_path / "a.PCK", kit.PKG, 1)
    assert container._spare is None
    monkeypatch.undo()
    with open(tmp_path / "b.PCK", "wb") as fh:
        writer = container.ContainerWriter(fh)
        writer.finish(Manifest(package_id=kit.PKG, version=1, entries=()))
    assert container._spare is not None and not hasattr(writer, "_cctx")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_after_a_pack_packs_with_a_compressor_of_its_own(tmp_path: Path, kit) -> None:
    """The kept compressor's worker threads do not exist in a forked child (a site server
    process): it is freed before the fork, so the child's pack makes its own."""
    child = textwrap.dedent(
        """
        import os, sys
        from sitesrv.compression import pack
        src, work = sys.argv[1], sys.argv[2]
        first = pack(src, work + "/parent.PCK", "CEN00001", 1).path
        pid = os.fork()
        if pid == 0:
            pack(src, work + "/child.PCK", "CEN00001", 1)
            os._exit(0)
        os._exit(os.waitpid(pid, 0)[1])
        """
    )
    source = kit.write_tree(tmp_path / "src", kit.SAMPLE)
    subprocess.run([sys.executable, "-c", child, str(source), str(tmp_path)], check=True,
                   timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert (tmp_path / "child.PCK").read_bytes() == (tmp_path / "parent.PCK").read_bytes()
