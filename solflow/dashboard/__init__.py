"""The live view of a running flow: ``solflow dashboard`` (web page and JSON API) and ``solflow top --watch``.

``view`` reads ``solflow.db`` (read-only) and the control store into the token table, a token's
detail and recent signals; ``watch`` notices the flow's commits and the user's block/follow changes;
``app`` serves the page (``static/``) and pushes a new view over Server-Sent Events after each
commit that changes it; ``terminal`` renders the same ranking for an 80-column terminal.
"""
