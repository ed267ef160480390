"""Dashboard and API users: accounts, roles, the scope an agent may see, API tokens and the audit log.

One rule decides what a user may see: ``accounts.scope.listener_clause(user)``, applied to every
query, page, export, API call and SMS look-up that reads listeners.
"""
