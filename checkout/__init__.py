"""checkout package."""
