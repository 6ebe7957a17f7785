"""The storefront (``/``) and ops dashboard (``/ops``) pages: static HTML/CSS/JS served by the
front, no framework, no build step, no CDN. :data:`routes` is what the app mounts."""

from __future__ import annotations

from flashsale.front.pages.routes import routes

__all__ = ["routes"]
