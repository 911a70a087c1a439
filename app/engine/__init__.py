"""The pure rule engine: no web framework, server or Kubernetes client imports (a test checks).

Import from the submodules: `app.engine.evaluate.Engine`, `app.engine.rules.load_catalog`.
"""
