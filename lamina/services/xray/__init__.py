"""X-Ray's read API (``BatchGetTraces``, ``GetTraceSummaries``) over :mod:`lamina.xray`'s traces."""
