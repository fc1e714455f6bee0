"""Clients of a running Lamina: what ``cli/``, ``tools/``, ``sam/`` and the bench speak.

Everything here talks to Lamina over its HTTP API, exactly as a user of AWS would, and
imports nothing of ``cli/``, ``tools/`` or ``sam/`` (they are its callers):

================  ===============================================================
``http``          one signed HTTP request, its answer, and the error it raises
``lambda_api``    the Lambda API calls the tools and the bench make (typed outcomes)
``report_line``   the REPORT line of an invoke's log tail, parsed into numbers
``boto``          boto3 clients for every service on the one endpoint (``lamina up``)
================  ===============================================================
"""
