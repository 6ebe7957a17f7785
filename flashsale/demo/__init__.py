"""The demo sale: catalog by the marketer CLI, real processes, a crowd of shoppers, a report."""

from flashsale.demo.run import DemoConfig, run_demo

__all__ = ["DemoConfig", "run_demo"]
