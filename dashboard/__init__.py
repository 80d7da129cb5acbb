"""Analytics dashboards (Shiny for Python) over the warehouse's marts: docs/dashboard.md."""
