"""The review loop of findings (疑点推送 → 说明/申诉 → 复核 → 认定/追回, docs/review.md).

``workflow``: the steps, each a ``finding_event`` with who, when and what, and the rules of who
may take which step when; ``calendar``: working days and the county's deadline; ``attachments``:
the files a step carries, checked and stored by content; ``exceptions``: accepted practice a
dismissal may record, which the rule runs honour. The web console, the command line and (later)
the API call these functions and nothing else."""
