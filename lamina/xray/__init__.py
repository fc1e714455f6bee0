"""X-Ray for functions with active tracing: the daemon endpoint their SDKs send segments to,
the traces kept from them, and the X-Ray API that reads them (docs/metrics.md, "X-Ray").

- :mod:`lamina.xray.documents` checks what a function sends (pure);
- :mod:`lamina.xray.traces` keeps traces, bounded (the invocation's own segment, made from
  its ledger record, with the function's subsegments under it);
- :mod:`lamina.xray.segments` makes documents and OTLP spans (pure);
- :mod:`lamina.xray.daemon` receives the UDP datagrams and knows which traces each
  environment was handed.
"""
