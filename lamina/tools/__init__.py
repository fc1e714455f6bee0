"""Cost tools: what a function costs, its best memory size, its cold starts, and what a
rewrite saves. Their commands (``lamina cost / tune / compare / bench coldstart``) are in
:mod:`lamina.cli.tools`.

Every tool is a client of a running Lamina's HTTP API (through
:mod:`lamina.client`), except the ledger reports, which read the ledger file.
Pure parts (statistics, pricing, recommendations, summaries) are separate from the drivers
that invoke functions, so they are tested without a server:

==================  =========================================================
``stats``           percentiles, trimming and distributions
``preserve``        snapshot a function's configuration and put it back
``payloads``        payloads, weights and the order they are sent in
``tuning``          power tuning's per-size figures and recommendation (pure)
``tuner``           power tuning's driver
``coldstart``       the cold-start benchmark (summary pure, driver beside it)
``compare``         one workload on two implementations
``cost_report``     ``lamina cost``: ledger rows, months, projections, break-even
``cost_source``     where ``lamina cost`` reads from: the ledger file or the API
``workloads``       the paired examples and their sample events
``charts``          matplotlib figures (PNG, SVG)
``html_report``     one self-contained HTML page of charts and tables
``reports``         each tool's charts and HTML sections, and writing them
``*_report``,       text and JSON renderings of each tool's results
``*_text``
``formatting``      money, milliseconds and ratios for people
``progress``        progress bars on stderr
==================  =========================================================
"""
