"""A scheduled job: runs on an EventBridge schedule (rate or cron) and reports what it did.

The event is EventBridge's "Scheduled Event"; its `time` is the tick the run belongs to
(a tick missed during a restart arrives late with its own time).
"""

import datetime


def handler(event, context):
    tick = event["time"]
    rule = event["resources"][0].rsplit("/", 1)[-1]
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print(f"rule {rule}: nightly cleanup for the tick at {tick}, running at {now}")
    return {"rule": rule, "tick": tick, "detailType": event["detail-type"], "cleaned": 0}
