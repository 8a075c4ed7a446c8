"""A STAC catalogue's token, read from QGIS's authentication database at the moment a request is sent.

Why here and not in the settings: the plugin settings keep only the configuration's id (seven letters that open
nothing); the secret stays encrypted in QGIS's database under the user's master password, is read on the main
thread when Search or Detect is pressed (QGIS may ask for the master password), and goes to the engine over its
pipe only. It is never logged, never put in a layer's source, a project or an error message.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsAuthMethodConfig


class CredentialError(Exception):
    """The chosen authentication configuration cannot give a token; the message says what to do."""


def bearer_token(config_id: str) -> str | None:
    """The token of authentication configuration `config_id` (None when none is chosen).

    Which field holds it depends on the method the user picked in QGIS's dialog: ESRI-Token's token, an API
    header's Authorization value (QGIS 3.34+), or a Basic configuration's password (the user name is ignored).
    """
    if not config_id:
        return None
    manager = QgsApplication.authManager()
    config = QgsAuthMethodConfig()
    if config_id not in manager.configIds() or not manager.loadAuthenticationConfig(config_id, config, True):
        raise CredentialError(
            f"the authentication configuration {config_id} cannot be read (deleted, or QGIS's master password was "
            "not given); choose another one in Find scenes, or none for a public catalogue"
        )
    header = config.config("Authorization") or config.config("authorization")
    token = config.config("token") or header.removeprefix("Bearer ").strip() or config.config("password")
    if not token:
        raise CredentialError(
            f"the authentication configuration {config.name()!r} holds no token: give the token as its password "
            "(Basic) or token (ESRI-Token)"
        )
    return token
