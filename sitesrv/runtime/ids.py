"""Names a component gives the files it creates: SMS-looking random names and temp names.

SMS names many files with 8 random upper-case letters and digits (`Z3AWAX9I.PKG`: Q245579,
Q319189). Components take them from here, never from `random` or `uuid`, so in step mode they come
from the seed. Temp names come from a counter, never from a pid or the time, for the same reason.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import string
from collections.abc import Iterable
from pathlib import Path

from sitesrv.files.folders import lexists
from sitesrv.lab.boxes import WORK_DIR  # claimed files: a new name must not collide there either

ALPHABET = string.ascii_uppercase + string.digits
NAME_LENGTH = 8


class Ids:
    """One component's name source at one site; used by one thread at a time (the one running
    the component's unit)."""

    def __init__(self, rng: random.Random, writer: str) -> None:
        self._rng = rng
        self._writer = writer
        self._temps = itertools.count(1)

    def random_chars(self, length: int = NAME_LENGTH, alphabet: str = ALPHABET) -> str:
        """Random characters from the seeded RNG, e.g. for `ds_` + 5 lower-case letters."""
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def random_name(self, folder: Path | str, suffix: str = "", *, prefix: str = "",
                    also: Iterable[Path | str] = ()) -> str:
        """`<8 random>` + suffix such that `prefix` + it names no file in `folder` or its
        claimed work, nor in the folders `also` (where the file goes next): the file is
        published as `prefix` + the name (`P00_Z3AWAX9I.STA`).

        Windows would see `Z3AWAX9I.PKG` and `z3awax9i.pkg` as one file, so the upper- and
        lower-case spellings are both checked.
        """
        places = (f"{folder}{os.sep}{prefix}", f"{folder}{os.sep}{WORK_DIR}{os.sep}{prefix}",
                  *(f"{other}{os.sep}{prefix}" for other in also))
        while True:
            name = self.random_chars() + suffix
            spellings = dict.fromkeys((name, name.upper(), name.lower()))
            if not any(lexists(where + spelling)
                       for where in places for spelling in spellings):
                return name

    def name_for(self, key: str, suffix: str = "") -> str:
        """A random-looking 8-character name that is the same every time for the same key.

        Output that must look random but is derived from an input (`<random>.PKG` dropped for an
        instruction) takes its name from here, so redoing the step after a crash overwrites the
        first output instead of adding a second one.
        """
        digest = hashlib.blake2b(f"{self._writer}/{key}".encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(NAME_LENGTH):
            number, digit = divmod(number, len(ALPHABET))
            chars.append(ALPHABET[digit])
        return "".join(chars) + suffix

    def temp_name(self, final_name: str) -> str:
        """A private name beside the final one: a dot-file scanners ignore, unique per writer."""
        return f".{final_name}.{self._writer}.{next(self._temps):06d}.tmp"
