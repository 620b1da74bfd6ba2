"""What consumes the decisions: Slack rendering and the notifier, the decision store and the enforcer."""
