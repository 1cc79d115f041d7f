"""Reader feedback on the related block: impressions and clicks (stored, rolled up per hour), A/B
variants of the query-time parameters, and the click-through report."""

from .stats import format_report, report, two_proportion_test, wilson_interval
from .store import FeedbackStore, RolledUp
from .variants import CONTROL, Variant, Variants

__all__ = ["CONTROL", "FeedbackStore", "RolledUp", "Variant", "Variants", "format_report", "report",
           "two_proportion_test", "wilson_interval"]
