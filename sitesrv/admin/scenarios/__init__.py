"""The field reports as scenarios a lab plays end to end (`sitesrv scenario`, docs/scenarios.md)."""

from __future__ import annotations

from sitesrv.admin.scenarios.courier import COURIER
from sitesrv.admin.scenarios.kb936465 import (
    DP_ADDED_AT_THE_CENTRAL_SITE,
    KB936465,
    NOT_FROM_THE_NEAREST_SITE,
)
from sitesrv.admin.scenarios.reports import (
    CHILD_LOST_ITS_PCK,
    DELTA_STUCK,
    DEMO,
    SMSUTILS,
    SMSUTILS_PRELOAD,
)
from sitesrv.admin.scenarios.story import Outcome, Scenario, Stage, play
from sitesrv.errors import UserError

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    DEMO, CHILD_LOST_ITS_PCK, DELTA_STUCK, SMSUTILS, SMSUTILS_PRELOAD, KB936465, NOT_FROM_THE_NEAREST_SITE,
    DP_ADDED_AT_THE_CENTRAL_SITE, COURIER)}


def scenario(name: str) -> Scenario:
    """The scenario called `name`, or a UserError that lists them."""
    try:
        return SCENARIOS[name.lower()]
    except KeyError:
        raise UserError(f"There is no scenario {name!r}; the scenarios are "
                        f"{', '.join(SCENARIOS)} ('sitesrv scenario list' says what each "
                        "shows).") from None


__all__ = ["SCENARIOS", "Outcome", "Scenario", "Stage", "play", "scenario"]
