"""The HTTP server: an OpenAI-compatible API over every system, document routes, a web page."""
