"""Which screens' keys the help screen lists (titled, in the order a person meets them) and
a keymap in the config may remap by id; and how a key's name is written for a person."""

from __future__ import annotations

from podium.widgets.scrollback import Scrollback

from .dashboard import DashboardScreen
from .diff_screen import DiffScreen
from .inbox_screen import InboxScreen
from .journal_screen import JournalScreen
from .plan_screen import PlanScreen
from .result_screen import ResultScreen

# (title, screen class) for the help screen, in the order a person meets them.
KEY_GROUPS: list[tuple[str, type]] = [
    ("Dashboard and the focused worker", DashboardScreen),
    ("Scrollback (pageup, the mouse wheel)", Scrollback),
    ("Escalation inbox (e)", InboxScreen),
    ("Result screen (o)", ResultScreen),
    ("Journal screen (J)", JournalScreen),
    ("Plan screen (P)", PlanScreen),
    ("Diff view (D)", DiffScreen),
]
KEY_NAMES = {"question_mark": "?", "slash": "/", "right_square_bracket": "]", "left_square_bracket": "["}
