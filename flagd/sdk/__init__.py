"""The Python SDK: local evaluation kept in sync over Server-Sent Events."""
