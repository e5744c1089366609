"""The three wire-compatible API families and the OpenAPI documents."""
