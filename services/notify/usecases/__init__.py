"""The notify service's use cases, one concern a module: chain notifications (events in),
inbox, alerts, subscriptions, webhook outbox and dispatch. Each takes the store port, publisher,
clock and settings it needs explicitly; none talks to a database or a socket itself."""
