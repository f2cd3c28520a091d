"""Whatever valid record a component builds, the file it writes reads back as the same record."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.formats.strategies import KINDS


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_every_valid_record_round_trips(kind: str, data: st.DataObject) -> None:
    module, records = KINDS[kind]
    record = data.draw(records)
    text = module.dumps(record)
    assert module.parse(text, f"x.{kind}") == record
    assert module.decode(module.encode(record), f"x.{kind}") == record
    assert module.parse(text.replace("\n", "\r\n"), f"x.{kind}") == record
