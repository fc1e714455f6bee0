"""Lamina's benchmarks: warm invoke latency and throughput, cold starts per runtime.

``python -m bench.invoke`` starts a real Lamina server, deploys the example functions
through the Lambda API and drives them over loopback with a deliberately cheap client
(raw sockets), next to a bare asyncio server that shows the floor any Python HTTP
server on this machine pays. See ``docs/benchmarks.md`` for what is measured and how.
"""
