"""The web console at ``/console``: server-rendered pages over the ledger's rollups, with
uPlot (vendored in ``static/vendor``) drawing the charts. No outside fetches; see
docs/console.md."""
