"""flagd: a self-hosted, fully transparent feature flag platform."""

__version__ = "0.1.0"
