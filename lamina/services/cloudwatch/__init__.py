"""CloudWatch metrics (``AWS/Lambda``): GetMetricStatistics, GetMetricData, ListMetrics read
from the ledger's per-minute rollups."""
