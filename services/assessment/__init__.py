"""Assessment (督查考核) for the 林长办: the daily roll-call, chiefs' duty, pace reminders and the
monthly scorecard, kept as a read model fed by the events patrol, incidents and notify publish.

So far this package holds the pure rules (`domain/`); the service around them — its consumers,
store, routes and process — is issue 18's remaining work (see docs/assessment.md)."""
