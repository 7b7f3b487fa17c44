"""Built-in plugins of the gateway, imported as ``gateway_plugins``.

The folder is ``plugins/`` in the source tree; it is installed under the
distinct import name ``gateway_plugins`` (see pyproject.toml) because a
top-level package called ``plugins`` would collide with any other project's.
Each module is registered through the ``gateway.plugins`` entry-point group,
exactly like a third-party plugin.
"""
