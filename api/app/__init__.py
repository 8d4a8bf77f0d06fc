"""The application layer: every use case, taking the caller (docs/architecture.md).

Import what you need from its modules (`api.app.service.Chronicle`, `api.app.caller.Caller`,
`api.app.bodies`); this package file imports nothing, so no module of the layer depends on
another through it.
"""
