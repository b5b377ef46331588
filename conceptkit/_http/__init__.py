"""HTTP: declared exposures, generated routes, the JSON boundary, middleware and OpenAPI."""
