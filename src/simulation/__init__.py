"""The simulation run: the whole story, composed from the registry, serving and the agent."""
