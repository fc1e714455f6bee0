"""Durable asynchronous (``Event``) invocation: queue, retries, destinations, config API."""
