"""Configuration: the YAML's schema, loading with file:line positions, env references, validation, aliases."""
