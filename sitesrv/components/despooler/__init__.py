"""Despooler (SMS_DESPOOLER, despool.log): what other sites' senders deliver to this site.

`component.py` is the component; `receive.py` one received instruction and its payload;
`content.py` compressed files stored or merged; `route.py` instructions passed on; `retry.py`
the retry of an instruction that cannot run yet.
"""

from sitesrv.components.despooler.component import Despooler

__all__ = ["Despooler"]
