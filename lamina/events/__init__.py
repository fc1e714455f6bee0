"""Event sources: what makes functions run (see docs/events.md).

One package per source — ``asyncinvoke`` (durable Event invokes), ``schedule``,
``sqs`` and ``esm`` (queues and their pollers), ``s3`` (objects and notifications),
``http`` (function URLs and API routes) — all invoking through one injected coroutine
(:mod:`lamina.events.invoker`) and composed by :mod:`lamina.events.sources`.
"""
