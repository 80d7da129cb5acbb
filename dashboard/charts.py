"""Plotly figures for the pages, built from dashboard.queries' rows, and their HTML.

The HTML never embeds or fetches plotly.js: the app serves the copy bundled in the plotly
package (see PLOTLY_JS_DIR), so the charts work offline in the analysts' private subnet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio

from clickstream.contract import EVENT_NAMES
from dashboard.queries import (
    CHANNELS,
    ActiveDay,
    Cohort,
    DateRange,
    EventCount,
    FunnelDay,
    FunnelSummary,
    HeatmapCell,
    LoadRun,
    ProductMetric,
    ProductRow,
    TrafficDay,
    TrafficRow,
    UsersDay,
)

PLOTLY_JS_DIR = Path(plotly.__file__).parent / "package_data"  # holds plotly.min.js
TEMPLATE = "plotly_white"
STEP_LABELS = {
    "page_view": "Page view",
    "product_view": "Product view",
    "add_to_cart": "Add to cart",
    "checkout": "Checkout",
    "purchase": "Purchase",
}
# One colour per event name of the contract, in its order.
EVENT_COLOURS = dict(
    zip(
        EVENT_NAMES,
        ("#4c78a8", "#72b7b2", "#54a24b", "#e45756", "#f58518", "#b279a2", "#9d755d", "#bab0ac"),
        strict=True,
    )
)
# One colour per channel (the channel_group macro's values), in their order.
CHANNEL_COLOURS = dict(
    zip(
        CHANNELS,
        (
            "#4c78a8", "#54a24b", "#f58518", "#e45756", "#72b7b2",
            "#b279a2", "#eeca3b", "#9d755d", "#bab0ac",
        ),
        strict=True,
    )
)  # fmt: skip
NEW_COLOUR = "#72b7b2"
RETURNING_COLOUR = "#4c78a8"
METRIC_LABELS: dict[ProductMetric, str] = {
    "views": "Views",
    "add_to_carts": "Add-to-carts",
    "purchases": "Purchase events",
    "revenue": "Revenue",
}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def to_html(figure: go.Figure, div_id: str) -> str:
    """The figure as a <div> and the script that draws it with the page's plotly.js."""
    html: str = pio.to_html(
        figure,
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config={"displaylogo": False, "responsive": True},
    )
    return html


def _layout(figure: go.Figure, height: int = 360, **extra: object) -> go.Figure:
    figure.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": -0.15},
        **extra,
    )
    return figure


def _daily_axis(figure: go.Figure, days: int) -> None:
    """Dates, not midnights: a tick on whole days, 8 ticks at most, level (a half-width chart
    has room for 8 dates side by side; slanted, they ran into the legend below)."""
    every = max(1, -(-days // 8))
    figure.update_xaxes(type="date", tickformat="%b %d", dtick=every * DAY_MS, tickangle=0)


def funnel_figure(summary: FunnelSummary) -> go.Figure:
    figure = go.Figure(
        go.Funnel(
            y=[STEP_LABELS[step.step] for step in summary.steps],
            x=[step.sessions for step in summary.steps],
            texttemplate="%{value:,}<br>%{percentPrevious:.0%} of previous",
            marker={"color": [EVENT_COLOURS[step.step] for step in summary.steps]},
        )
    )
    return _layout(figure, title="Sessions reaching each step")


def conversion_trend_figure(days: Sequence[FunnelDay]) -> go.Figure:
    figure = go.Figure()
    series = (
        ("Session conversion", [day.session_conversion_rate for day in days]),
        ("View → cart", [day.add_to_cart_rate for day in days]),
        ("Cart → checkout", [day.checkout_rate for day in days]),
        ("Checkout → purchase", [day.purchase_rate for day in days]),
    )
    dates = [day.session_date for day in days]
    for name, rates in series:
        figure.add_trace(go.Scatter(x=dates, y=rates, name=name, mode="lines+markers"))
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    _daily_axis(figure, len(days))
    return _layout(figure, title="Conversion by day (session start date, UTC)")


def top_products_figure(rows: Sequence[ProductRow], by: ProductMetric) -> go.Figure:
    # Largest at the top: plotly draws horizontal bars bottom-up.
    ordered = list(reversed(rows))
    labels = [f"{row.product_name or row.product_id} ({row.product_id})" for row in ordered]
    values = [
        float(row.ranked_revenue.amount) if by == "revenue" else getattr(row, by) for row in ordered
    ]
    figure = go.Figure(go.Bar(x=values, y=labels, orientation="h", marker_color="#4c78a8"))
    figure.update_yaxes(automargin=True)
    title = f"Top products by {METRIC_LABELS[by].lower()}"
    if by == "revenue" and rows:
        currency = rows[0].ranked_revenue.currency
        figure.update_xaxes(tickformat=",.0f", title=f"revenue ({currency})")
        title += f" in {currency}"
    height = max(260, 26 * len(rows) + 80)
    return _layout(figure, height=height, title=title)


def _events_by_name(counts: Sequence[EventCount], kind: str) -> go.Figure:
    figure = go.Figure()
    for name, colour in EVENT_COLOURS.items():
        points = [count for count in counts if count.event_name == name]
        if not points:
            continue
        x = [point.period for point in points]
        y = [point.events for point in points]
        if kind == "bar":
            figure.add_trace(go.Bar(x=x, y=y, name=name, marker_color=colour))
        else:
            figure.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines", line_color=colour))
    return figure


def events_per_hour_figure(
    counts: Sequence[EventCount], bars_over: DateRange | None = None
) -> go.Figure:
    """Lines by event name; or, for a range of about a day (`bars_over`), stacked bars an hour
    wide over the whole range, so that a few hours with events still read as hours of a day."""
    if bars_over is None:
        return _layout(_events_by_name(counts, "line"), title="Events per hour (UTC)")
    figure = _events_by_name(counts, "bar")
    figure.update_traces(width=0.9 * HOUR_MS, offset=0.05 * HOUR_MS)  # from hh:00 to hh:54
    figure.update_layout(barmode="stack")
    figure.update_xaxes(
        type="date",
        range=[bars_over.start_at, bars_over.end_before],
        tickformat="%H:%M\n%b %d",
        dtick=3 * HOUR_MS,
    )
    return _layout(figure, title="Events per hour (UTC)")


def events_per_day_figure(counts: Sequence[EventCount]) -> go.Figure:
    figure = _events_by_name(counts, "bar")
    figure.update_layout(barmode="stack")
    _daily_axis(figure, len({count.period for count in counts}))
    return _layout(figure, title="Events per day (UTC)")


def heatmap_figure(cells: Sequence[HeatmapCell]) -> go.Figure:
    grid = [[0] * 24 for _ in WEEKDAYS]
    for cell in cells:
        grid[cell.day_of_week - 1][cell.hour_of_day] = cell.events
    figure = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(range(24)),
            y=list(WEEKDAYS),
            colorscale="Blues",
            hovertemplate="%{y} %{x}:00 UTC: %{z} events<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(dtick=2, title="hour of day (UTC)")
    return _layout(figure, title="Events by hour of day \u00d7 day of week")


def active_days_figure(days: Sequence[ActiveDay]) -> go.Figure:
    dates = [day.event_date for day in days]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=dates, y=[d.users for d in days], name="active users"))
    figure.add_trace(go.Scatter(x=dates, y=[d.sessions for d in days], name="sessions"))
    figure.add_trace(
        go.Scatter(x=dates, y=[d.logged_in_users for d in days], name="logged-in users")
    )
    figure.update_traces(mode="lines+markers")
    figure.update_yaxes(rangemode="tozero")
    _daily_axis(figure, len(days))
    return _layout(figure, title="Active users and sessions per day (UTC)")


def _short(value: int) -> str:
    """12 -> '12', 16976 -> '17k', 2_400_000 -> '2.4M'."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.0f}k"
    return str(value)


def loads_figure(loads: Sequence[LoadRun]) -> go.Figure:
    """Lines loaded and rejected by each loader run, oldest on the left. Each run is labelled
    with its date and time on two short lines, so that no label is cut; a run that found
    nothing new still has its label and a 0."""
    ordered = list(reversed(loads))
    when = [load.loaded_at.strftime("%m-%d<br>%H:%M:%S") for load in ordered]
    figure = go.Figure()
    for name, colour, values, show_zero in (
        ("lines loaded", "#4c78a8", [load.lines_loaded for load in ordered], True),
        ("lines rejected", "#e45756", [load.lines_rejected for load in ordered], False),
    ):
        figure.add_trace(
            go.Bar(
                x=when,
                y=values,
                name=name,
                marker_color=colour,
                # Short labels ("17k"), so that they keep a readable size above narrow bars.
                text=[_short(value) if value or show_zero else "" for value in values],
                textposition="outside",
                textfont={"size": 11},
                cliponaxis=False,
            )
        )
    figure.update_xaxes(type="category", tickangle=0, automargin=True)
    figure.update_yaxes(rangemode="tozero")
    figure.update_layout(barmode="group")
    figure = _layout(figure, height=320, title="Lines loaded and rejected (UTC)")
    figure.update_layout(legend={"orientation": "h", "y": -0.3})
    return figure


# ---------------------------------------------------------------- Acquisition


def _channel_colour(channel: str) -> str:
    return CHANNEL_COLOURS.get(channel, "#bab0ac")


def channels_figure(rows: Sequence[TrafficRow]) -> go.Figure:
    """Sessions by channel (bars, most first) and each channel's conversion (dots, right axis)."""
    labels = [row.label for row in rows]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=labels,
            y=[row.sessions for row in rows],
            name="sessions",
            marker_color=[_channel_colour(label) for label in labels],
        )
    )
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=[row.conversion_rate for row in rows],
            name="conversion",
            mode="markers",
            marker={"color": "#222222", "size": 10, "symbol": "diamond"},
            yaxis="y2",
        )
    )
    figure.update_xaxes(automargin=True)  # room for the channels' names, whole
    figure.update_layout(
        yaxis={"title": "sessions", "rangemode": "tozero"},
        yaxis2={
            "title": "conversion",
            "overlaying": "y",
            "side": "right",
            "tickformat": ".1%",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    figure = _layout(figure, title="Sessions and conversion by channel")
    # the legend above the plot: below, it would cover the channels' names when they slant
    figure.update_layout(legend={"y": 1.0, "yanchor": "bottom", "x": 1.0, "xanchor": "right"})
    return figure


def revenue_by_channel_figure(rows: Sequence[TrafficRow]) -> go.Figure:
    ordered = sorted(rows, key=lambda row: (row.revenue.amount, row.label))  # largest on top
    currency = rows[0].revenue.currency if rows else ""
    figure = go.Figure(
        go.Bar(
            x=[float(row.revenue.amount) for row in ordered],
            y=[row.label for row in ordered],
            orientation="h",
            marker_color=[_channel_colour(row.label) for row in ordered],
        )
    )
    figure.update_xaxes(tickformat=",.0f", title=f"revenue ({currency})")
    figure.update_yaxes(automargin=True)
    return _layout(figure, title=f"Revenue by channel ({currency})")


def sessions_by_channel_per_day_figure(days: Sequence[TrafficDay]) -> go.Figure:
    figure = go.Figure()
    for channel in CHANNELS:
        points = [day for day in days if day.channel == channel]
        if points:
            figure.add_trace(
                go.Bar(
                    x=[point.session_date for point in points],
                    y=[point.sessions for point in points],
                    name=channel,
                    marker_color=_channel_colour(channel),
                )
            )
    figure.update_layout(barmode="stack")
    _daily_axis(figure, len({day.session_date for day in days}))
    return _layout(figure, title="Sessions per day by channel (session start, UTC)")


def share_figure(rows: Sequence[TrafficRow], title: str) -> go.Figure:
    """Sessions by a small dimension (device class, browser) as a donut."""
    figure = go.Figure(
        go.Pie(
            labels=[row.label for row in rows],
            values=[row.sessions for row in rows],
            hole=0.45,
            sort=False,
            textinfo="label+percent",
        )
    )
    figure = _layout(figure, height=320, title=title)
    figure.update_layout(showlegend=False)
    return figure


# ---------------------------------------------------------------- Audience


def new_and_returning_figure(days: Sequence[UsersDay]) -> go.Figure:
    dates = [day.activity_date for day in days]
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=dates,
            y=[day.returning_users for day in days],
            name="returning users",
            marker_color=RETURNING_COLOUR,
        )
    )
    figure.add_trace(
        go.Bar(
            x=dates, y=[day.new_users for day in days], name="new users", marker_color=NEW_COLOUR
        )
    )
    figure.update_layout(barmode="stack")
    _daily_axis(figure, len(days))
    return _layout(figure, title="New and returning users per day (UTC)")


def cohort_label(cohort: Cohort) -> str:
    return f"{cohort.cohort_week:%Y-%m-%d} ({cohort.users:,})"


def retention_figure(cohorts: Sequence[Cohort]) -> go.Figure:
    """Cohorts (newest at the bottom) by weeks since the first visit: the share of the
    cohort active in that week. Weeks the data has not reached are blank; a week still in
    progress is marked with an asterisk."""
    widest = max((len(cohort.weeks) for cohort in cohorts), default=0)
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    for cohort in cohorts:
        row: list[float | None] = [None] * widest
        labels = [""] * widest
        for week in cohort.weeks:
            row[week.weeks_since_first_visit] = week.retention_rate
            mark = "*" if week.status == "in progress" else ""
            rate = week.retention_rate
            labels[week.weeks_since_first_visit] = "" if rate is None else f"{rate:.0%}{mark}"
        z.append(row)
        text.append(labels)
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"week {week}" for week in range(widest)],
            y=[cohort_label(cohort) for cohort in cohorts],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"tickformat": ".0%"},
            hovertemplate="cohort %{y}, %{x}: %{text} active<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", type="category", automargin=True)
    height = max(260, 34 * len(cohorts) + 120)
    return _layout(
        figure,
        height=height,
        title="Weekly cohorts (first visit, users): share active N weeks later",
    )


def order_values_figure(days: Sequence[TrafficDay]) -> go.Figure:
    """Average order value and revenue per session by day, from the days' totals."""
    dates = [day.session_date for day in days]
    currency = days[0].revenue.currency if days else ""
    figure = go.Figure()
    for name, values in (
        ("average order value", [day.average_order_value for day in days]),
        ("revenue per session", [day.revenue_per_session for day in days]),
    ):
        figure.add_trace(
            go.Scatter(
                x=dates,
                y=[None if value is None else float(value.amount) for value in values],
                name=name,
                mode="lines+markers",
            )
        )
    figure.update_yaxes(rangemode="tozero", tickformat=",.2f", title=currency)
    _daily_axis(figure, len(days))
    return _layout(figure, title=f"Order value and revenue per session by day ({currency})")
