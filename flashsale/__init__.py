"""flashsale — the shell: settings, the HTTP app, the CLI and the local stack."""

__version__ = "0.1.0"
