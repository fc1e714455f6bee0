"""HTTP for functions: function URLs and API routes, with API Gateway's payloads 1.0 and 2.0."""
