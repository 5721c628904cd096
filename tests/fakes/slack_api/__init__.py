"""A fake Slack Web API over real HTTP, for tests of the production slack_sdk client.

Slack cannot run here; this server speaks the published request/response shapes of the
methods the bot uses, so ``AsyncWebClient(base_url=server.api_url)`` is tested over the wire:

- ``GET``/``POST /api/<method>``; arguments from the query string, a form-encoded body or a
  JSON body (slack_sdk uses all three), booleans as ``true``/``1``;
- the token from ``Authorization: Bearer`` or a ``token`` argument: none → ``not_authed``,
  unknown → ``invalid_auth`` (HTTP 200, ``ok: false``, like Slack);
- a small workspace (users, user groups, channels with members, messages, pins, bookmarks,
  modal views) so calls have the effects and the errors Slack gives (``name_taken``,
  ``channel_not_found``, ``not_in_channel``, ``users_not_found``, ``message_not_found``,
  ``already_pinned``, ``invalid_trigger_id``, ``hash_conflict``...);
- scripted failures: an outage (HTTP 503 for every call), the next N calls failing with a
  status, 429 with ``Retry-After``, an ``ok: false`` error for a method, and connection
  refused (``FakeSlackServer.refusing_connections`` closes the port and reopens it);
- every call recorded in order (method, arguments without the token, time, HTTP status,
  response) for assertions.

One module per method family (``conversations``, ``chat``, ``users``, ``views``) over the shared
state in ``workspace``; ``server`` combines them into ``FakeSlack`` and serves it. Import from
this package, not from the modules.
"""

from tests.fakes.slack_api.server import FakeSlack, FakeSlackServer, serve_fake_slack
from tests.fakes.slack_api.workspace import DEFAULT_TOKEN, Call, SlackError

__all__ = ["DEFAULT_TOKEN", "Call", "FakeSlack", "FakeSlackServer", "SlackError", "serve_fake_slack"]
