"""LangGraph agent that reaches the registry only through MCP tools."""
