"""Widgets: the dock, the options page, the installer dialog. Work happens in tasks, not here."""
