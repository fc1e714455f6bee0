"""What every AWS-compatible service shares (see docs/services.md).

``errors`` turns errors into answers per protocol (the one mapping); ``awsjson`` and
``query`` parse requests of the JSON and query protocols; ``query_service`` answers a
query service's actions in member XML (IAM, CloudFormation); ``sigv4`` reads a request's
credential scope; ``routing`` says how a service is mounted on Lamina's port;
``rawresponse`` renders answers that need full control of their header lines.
"""
