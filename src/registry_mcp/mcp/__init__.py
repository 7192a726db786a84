"""The MCP server: tool declarations, the approval flow, result types, HTTP transport."""
