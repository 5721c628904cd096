"""Alert sources: parsers of monitoring webhooks into one ``NormalizedAlert``.

One module per sender (alertmanager, grafana, pagerduty, datadog, generic), the shared model
(``model.py``), the fingerprint rule (``fingerprint.py``), request authentication
(``auth.py``) and the kind → parser registry (``registry.py``). Pure code: no database, no
HTTP server; the webhook endpoint in the core calls ``registry.parse_webhook``.
"""
