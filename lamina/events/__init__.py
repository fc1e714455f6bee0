"""Event sources: what makes functions run (see docs/events.md).

One package per source — ``asyncinvoke`` (durable Event invokes), ``schedule`` (rules
firing), ``esm`` (queue pollers), ``s3`` (bucket notifications to functions), ``http``
(function URLs and API routes) — all invoking through one injected coroutine
(:mod:`lamina.events.invoker`) and composed by :mod:`lamina.events.sources`. The AWS
services they connect to functions (SQS, S3, EventBridge) are :mod:`lamina.services`.
"""
