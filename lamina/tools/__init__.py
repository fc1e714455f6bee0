"""Cost tools: what a function costs, its best memory size, its cold starts, and what a
rewrite saves.

Every tool is a client of a running Lamina's HTTP API (through
:class:`lamina.cli.client.Client`), except the ledger reports, which read the ledger file.
Pure parts (statistics, pricing, recommendations, summaries) are separate from the drivers
that invoke functions, so they are tested without a server:

=================  ==========================================================
``stats``          percentiles, trimming and distributions
``report_line``    the numbers of a REPORT line
``lambda_api``     the few Lambda API calls the tools make
``preserve``       snapshot a function's configuration and put it back
``payloads``       payloads, weights and the order they are sent in
``tuning``         power tuning's per-size figures and recommendation (pure)
``tuner``          power tuning's driver
``coldstart``      the cold-start benchmark (summary pure, driver beside it)
``compare``        one workload on two implementations
``cost_report``    ``lamina cost``: ledger totals, projections, break-even
``charts``         matplotlib figures (PNG, SVG)
``html_report``    one self-contained HTML file of charts and tables
``progress``       progress bars on stderr
``workloads``      the paired examples' sample events
=================  ==========================================================
"""
