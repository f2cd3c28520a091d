"""Crafted tar headers and manifests: whatever the bytes, the only error is a FormatError.

A container with correct checksums and trailer can still carry any tar and any manifest (an
attacker can compute SHA-256s too), so the tar header reader and the manifest parser are the
last line. They may refuse the bytes; they must never crash with another exception, which
would escape the component instead of sending the file to `corrupt/`.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitesrv.compression import CorruptError, read_manifest, verify
from sitesrv.compression.manifest import MANIFEST_FORMAT, Manifest
from sitesrv.compression.tarstream import TarFormatError, TarReader, _header
from sitesrv.errors import FormatError

FIXTURE_OK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def _pax_member(name: str, data: bytes, pax: dict[str, str], size: int | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    info.pax_headers = pax
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data + bytes(
        -len(data) % 512
    )


def _container_with_content(tmp_path: Path, kit, content_tar: bytes, files: dict[str, bytes],
                            name: str = "crafted.PCK") -> Path:
    """A sealed container whose manifest lists `files` and whose content is `content_tar`."""
    members = [(kit.tar_info(path), data) for path, data in files.items()]
    doc = {"format": MANIFEST_FORMAT, "package_id": kit.PKG, "version": 1,
           "entries": kit.craft_entries(members)}
    manifest = json.dumps(doc).encode()
    return kit.raw_container(tmp_path / name, content_tar,
                             kit.manifest_member(manifest) + bytes(1024), manifest)


def _container_with_manifest(tmp_path: Path, kit, manifest: bytes,
                             name: str = "crafted.PCK") -> Path:
    return kit.raw_container(tmp_path / name, b"", kit.manifest_member(manifest) + bytes(1024),
                             manifest)


# --- the crafted files the review found --------------------------------------------------------


@pytest.mark.parametrize("size", ["²", "٣", "1" * 5000],
                         ids=["superscript-two", "arabic-indic-three", "5000-digits"])
def test_a_pax_size_that_is_not_ascii_digits_is_corrupt(tmp_path: Path, kit, size: str) -> None:
    content = _pax_member("a.txt", b"hi", {"size": size}) + bytes(1024)
    crafted = _container_with_content(tmp_path, kit, content, {"a.txt": b"hi"})
    with pytest.raises(CorruptError) as caught:
        verify(crafted)
    assert str(caught.value).startswith(f"{crafted}: bad PAX size ")


def test_a_pax_record_length_with_thousands_of_digits_is_corrupt(tmp_path: Path, kit) -> None:
    record = b"9" * 5000 + b" path=a.txt\n"
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = len(record)
    content = (header.tobuf(tarfile.USTAR_FORMAT) + record + bytes(-len(record) % 512)
               + _pax_member("a.txt", b"hi", {}) + bytes(1024))
    crafted = _container_with_content(tmp_path, kit, content, {"a.txt": b"hi"})
    with pytest.raises(CorruptError) as caught:
        verify(crafted)
    assert str(caught.value) == f"{crafted}: malformed PAX record"


def test_a_negative_member_size_is_corrupt(tmp_path: Path, kit) -> None:
    block = bytearray(_pax_member("a.txt", b"", {})[:512])
    block[124:136] = b"\xff" * 12  # base-256: -1
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % tarfile.calc_chksums(bytes(block))[0]
    crafted = _container_with_content(tmp_path, kit, bytes(block) + bytes(1024), {"a.txt": b""})
    with pytest.raises(CorruptError) as caught:
        verify(crafted)
    assert str(caught.value) == f"{crafted}: negative size -1 in the header of member 'a.txt'"


@pytest.mark.parametrize("depth", [2000, 100_000])
def test_a_deeply_nested_manifest_is_corrupt(tmp_path: Path, kit, depth: int) -> None:
    manifest = (b'{"format": "%s", "entries": ' % MANIFEST_FORMAT.encode() + b"[" * depth
                + b"]" * depth + b"}")
    crafted = _container_with_manifest(tmp_path, kit, manifest)
    with pytest.raises(CorruptError) as caught:
        read_manifest(crafted)
    assert str(caught.value) == f"{crafted}: malformed manifest (its JSON is nested too deeply)"


# --- anything at all ---------------------------------------------------------------------------

pax_values = st.one_of(st.text(max_size=12), st.integers(-(10**30), 10**30).map(str))
pax_headers = st.dictionaries(
    st.sampled_from(["size", "path", "hdrcharset", "GNU.sparse.size", "mtime", "linkpath"]),
    pax_values, max_size=3,
)
tar_types = st.sampled_from([tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                             tarfile.LNKTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                             tarfile.FIFOTYPE, b"Z"])


@st.composite
def tar_members(draw: st.DrawFn) -> bytes:
    info = tarfile.TarInfo(draw(st.text(min_size=1, max_size=20)))
    info.type = draw(tar_types)
    data = draw(st.binary(max_size=600))
    info.size = draw(st.one_of(st.just(len(data)), st.integers(0, 2000)))
    info.pax_headers = draw(pax_headers)
    try:
        header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    except (ValueError, UnicodeError):
        header = bytes(512)
    return header + data + bytes(-len(data) % 512)


@st.composite
def tar_streams(draw: st.DrawFn) -> bytes:
    """Plausible tars (members, then perhaps the end blocks), some with bytes flipped."""
    stream = bytearray(b"".join(draw(st.lists(tar_members(), max_size=4))))
    if draw(st.booleans()):
        stream += bytes(1024)
    for _ in range(draw(st.integers(0, 3))):
        if stream:
            stream[draw(st.integers(0, len(stream) - 1))] = draw(st.integers(0, 255))
    return bytes(stream)


def _read_all(data: bytes) -> None:
    tar = TarReader(io.BytesIO(data).read)
    for _ in range(100):
        if tar.next_member() is None:
            return
        for _chunk in tar.data(256):
            pass


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=3000), tar_streams()))
def test_the_tar_reader_raises_only_tar_format_errors(data: bytes) -> None:
    try:
        _read_all(data)
    except TarFormatError as exc:
        assert str(exc)  # says what is wrong


@FIXTURE_OK
@given(content=st.one_of(st.binary(max_size=2000), tar_streams()))
def test_any_content_tar_gives_a_verified_package_or_a_format_error(
    tmp_path: Path, kit, content: bytes
) -> None:
    crafted = _container_with_content(tmp_path, kit, content, {"a.txt": b"hi"})
    try:
        verify(crafted)
    except FormatError as exc:
        assert str(exc).startswith(f"{crafted}: ")


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["format", "package_id", "version", "entries", "delta", "type", "path",
                             "size", "mtime_ns", "readonly", "sha256", "base_version",
                             "base_manifest_sha256", "shipped", "deleted", "x"]),
            inner, max_size=6),
    ),
    max_leaves=25,
)


@st.composite
def manifest_docs(draw: st.DrawFn) -> bytes:
    """JSON that looks more or less like a manifest, or no JSON at all."""
    doc = draw(json_values)
    if isinstance(doc, dict) and draw(st.booleans()):
        doc = {**doc, "format": MANIFEST_FORMAT}
    text = json.dumps(doc).encode()
    return draw(st.one_of(st.just(text), st.binary(max_size=200),
                          st.integers(0, 5000).map(lambda n: b"[" * n + b"]" * n)))


@settings(max_examples=200, deadline=None)
@given(manifest_docs())
def test_the_manifest_parser_raises_only_value_errors(data: bytes) -> None:
    try:
        Manifest.from_json(data)
    except ValueError as exc:
        assert str(exc).startswith(("malformed manifest", "manifest is not valid JSON",
                                    "unknown manifest format")), exc


@FIXTURE_OK
@given(manifest=manifest_docs())
def test_any_manifest_gives_a_package_or_a_format_error(
    tmp_path: Path, kit, manifest: bytes
) -> None:
    crafted = _container_with_manifest(tmp_path, kit, manifest)
    try:
        read_manifest(crafted)
        verify(crafted)
    except FormatError as exc:
        assert str(exc).startswith(f"{crafted}: ")


def _member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict") + bytes(size) + bytes(-size % 512)


def test_a_header_read_before_is_read_again_when_a_byte_changed() -> None:
    """Header blocks are remembered by their bytes (tarstream._header): a block read before and
    then changed (another size, a damaged byte) is parsed afresh, never taken from memory."""
    first = _member("a.txt", 10)
    assert TarReader(io.BytesIO(first).read).next_member().size == 10
    assert TarReader(io.BytesIO(first).read).next_member().size == 10  # remembered
    assert TarReader(io.BytesIO(_member("a.txt", 11)).read).next_member().size == 11
    damaged = bytearray(first)
    damaged[0] ^= 0x01  # the name, without fixing the header's checksum
    with pytest.raises(TarFormatError, match="invalid tar header"):
        TarReader(io.BytesIO(bytes(damaged)).read).next_member()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(min_size=512, max_size=512), tar_streams()))
def test_a_remembered_header_is_what_tarfile_reads(data: bytes) -> None:
    """Whether first read or remembered, a block gives tarfile's own reading or its refusal."""
    block = data[:512].ljust(512, b"\0")
    try:
        info = tarfile.TarInfo.frombuf(block, "utf-8", "strict")
    except (tarfile.HeaderError, UnicodeDecodeError, ValueError):
        expected = None
    else:
        expected = (info.type, info.size, info.name, info.isdir())
    for _ in range(2):
        try:
            found = _header(block)
        except TarFormatError:
            found = None
        assert found == expected
