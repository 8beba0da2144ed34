"""The words of the domain that the edges speak, re-exported here so an edge imports ``app`` and never a domain
package (the ``mobile_api-adapter`` and ``signaling-adapter`` contracts in ``.importlinter``).

Only values: enums that appear in requests and responses, the stream as use cases return it, and the few errors an
edge maps by type rather than by their ``code`` and ``status`` (every ``HubError`` carries both). No service, no
store. A new entry belongs here only if an edge must name the type itself.
"""

from __future__ import annotations

from accounts.models import Role as Role
from cluster.errors import NodeFullError as NodeFullError
from gifts.models import GoalKind as GoalKind
from loyalty.models import RedemptionStatus as RedemptionStatus
from loyalty.models import RewardKind as RewardKind
from recordings.models import RecordingState as RecordingState
from rooms.chat_models import ReportStatus as ReportStatus
from rooms.models import Stream as Stream
from rooms.models import StreamStatus as StreamStatus
from rooms.overlays import OverlayBinding as OverlayBinding
from sfu.errors import InvalidSdpError as InvalidSdpError
from wallet.accounts import Currency as Currency
from wallet.models import CashoutStatus as CashoutStatus

__all__ = [
    "CashoutStatus",
    "Currency",
    "GoalKind",
    "InvalidSdpError",
    "NodeFullError",
    "OverlayBinding",
    "RecordingState",
    "RedemptionStatus",
    "ReportStatus",
    "RewardKind",
    "Role",
    "Stream",
    "StreamStatus",
]
