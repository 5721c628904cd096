"""Authorization: who may do what, decided in one place for every door.

- ``people``: the principals (persons configured once, API tokens, the bot) and the directory
  each door resolves its caller through;
- ``actions``: the guarded actions and the ``permissions:`` list of each;
- ``policy``: ``Authorizer.authorize(session, principal, action, target)``, called by every
  flow, and the audit of refusals;
- ``approval``: how many approvals a run needs (fixed at request, only up, never lowered by
  the one who asks).

docs/permissions.md describes the model, the defaults and the table of actions.
"""
