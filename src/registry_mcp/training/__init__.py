"""Train the digits models and register them with their cards."""
