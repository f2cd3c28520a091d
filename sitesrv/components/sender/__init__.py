"""Standard Sender (SMS_LAN_SENDER, sender.log): send requests to other sites' SMS_SITE share.

`component.py` is the component; `transfer.py` one send in progress.
"""

from sitesrv.components.sender.component import Sender

__all__ = ["Sender"]
