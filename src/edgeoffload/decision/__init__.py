"""The decision engine (pure): task and context features, estimators, policies."""
