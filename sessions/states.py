"""A worker's states, named once: the supervisor, the app and the command line all ask
"is it still going?" and must agree (a state missing from one copy was a bug once)."""

ACTIVE = ("starting", "running", "paused", "waiting")
ENDED = ("done", "failed", "interrupted", "lost", "blocked", "needs-review")
