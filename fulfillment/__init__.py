"""fulfillment package."""
