"""The HTTP service: JSON under /v1, HTML pages for people, OpenAPI at /docs."""
