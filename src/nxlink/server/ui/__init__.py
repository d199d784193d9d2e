"""The web dashboard under ``/ui/``: pages drawn by the server from the API's own answers.

Each page asks the same work the API endpoints do (``State.answers``: parse, service, store,
render), for the signed-in session's account, on the same database threads; so a total, a rate
or a refusal on a page is, byte for byte, what the API answers. Where the API has no operation
(a task's contacts, its call activity, its callbacks), the page reads the store directly,
account by account. See :mod:`nxlink.server.ui.pages` for the routes and
:mod:`nxlink.server.ui.session` for signing in and CSRF.
"""

from nxlink.server.ui.pages import ui_routes

__all__ = ["ui_routes"]
