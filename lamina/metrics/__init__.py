"""Lamina's metrics as people already watch them: Prometheus text at ``/metrics``.

Everything is read from the ledger's per-minute rollups and running totals
(:mod:`lamina.billing.rollups`) and from the scheduler's pool at scrape time; nothing here
runs on the invoke path.
"""
