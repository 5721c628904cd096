"""Executable runbooks: the file format, validation, dry-runs, approvals, durable runs, undo.

``models`` is the runbook file schema, ``loader`` reads and checks files, ``templating``
renders ``with:`` parameters, ``engine`` executes runs step by step with every state committed,
``service``/``flows`` are the doors' entry points and ``worker`` runs runs in the background.
"""
