"""The Shiny app: four pages (Funnel, Products, Activity, Data health) sharing one date range.

Data comes from dashboard.queries, figures from dashboard.charts. Every page renders inside
`_guarded`, which turns "warehouse unreachable" and "no marts yet" into one friendly sentence
on the page; any other error is logged and shown as Shiny's sanitized message, never a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import plotly.graph_objects as go
from psycopg2.extensions import connection
from shiny import App, Inputs, Outputs, Session, reactive, render, ui
from starlette.requests import Request

from clickstream.errors import WarehouseUnreachableError
from dashboard import charts, queries
from dashboard.queries import (
    DateRange,
    MartsNotBuiltError,
    ProductFilter,
    TrafficFilter,
    TrafficRow,
)

log = logging.getLogger("dashboard")

TITLE = "Clickstream analytics"
UNREACHABLE_MESSAGE = (
    "The warehouse cannot be reached right now, so there is nothing to show; "
    "check that it is running (make services-status) and reload the page."
)
NOT_BUILT_MESSAGE = (
    "No data yet: the warehouse has not been built. Run `make demo` (or `make hourly` once "
    "raw events have arrived), then reload the page."
)
NO_EVENTS_MESSAGE = "No data yet: the warehouse holds no events. Load some, then reload the page."
# The loader runs hourly: a load older than this means the pipeline is late.
FRESHNESS_LIMIT = timedelta(hours=2)
MISSING = "\u2013"  # an en dash where a value is missing
# Compact value boxes: eight of them fit a laptop screen's width in two rows at most.
STYLE = """
.kpi .value-box-area { padding: 0.6rem 0.9rem !important; }
.kpi .value-box-title { font-size: 0.9rem; margin-bottom: 0.2rem; }
.kpi .value-box-value {
    font-size: 1.35rem; font-weight: 600; margin-bottom: 0.1rem; white-space: nowrap;
}
.kpi .kpi-moment { font-size: 1.05rem; }
.empty-state { margin-top: 1rem; }
"""
# plotly sizes a chart when it is drawn; a page that is still laying out (a scrollbar
# appearing, a tab being shown) would leave it too wide or too narrow, so fit the visible
# charts to their cards again once Shiny has put new content in or a tab has been shown.
RESIZE_CHARTS_JS = """
function fitCharts() {
    if (!window.Plotly) return;
    document.querySelectorAll('.tab-pane.active .js-plotly-plot').forEach(function (chart) {
        window.Plotly.Plots.resize(chart);
    });
}
$(document).on('shiny:value shown.bs.tab', function () { setTimeout(fitCharts, 60); });
"""
ALL = ""  # the select inputs' "every category / brand / channel / device" choice
TRAFFIC_FILTER_SCOPE = (
    "Channel and device apply to Funnel, Acquisition and Audience's orders; Products and "
    "Activity count every session (their marts are not split by channel)."
)


# ---------------------------------------------------------------- formatting


def count(value: int) -> str:
    return f"{value:,}"


def plural(value: int, noun: str) -> str:
    """'1 purchase event', '3 purchase events'."""
    return f"{count(value)} {noun}{'' if value == 1 else 's'}"


def share(part: int, whole: int) -> float | None:
    return None if not whole else part / whole


def percent(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1%}"


def money(value: queries.Money) -> str:
    """An amount with its currency (ISO 4217 code): EUR 1,234.50."""
    return f"{value.currency} {value.amount:,.2f}"


def money_compact(value: queries.Money) -> str:
    """An amount short enough for a value box: EUR 980.50, EUR 10.2k, EUR 1.67M."""
    amount = value.amount
    if abs(amount) >= 1_000_000:
        return f"{value.currency} {amount / 1_000_000:,.2f}M"
    if abs(amount) >= 10_000:
        return f"{value.currency} {amount / 1_000:,.1f}k"
    return money(value)


def money_or_missing(value: queries.Money | None) -> str:
    return MISSING if value is None else money(value)


def duration(seconds: float | None) -> str:
    """'45 s', '2 min 05 s'."""
    if seconds is None:
        return MISSING
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


def age(delta: timedelta | None) -> str:
    if delta is None:
        return "never"
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def utc(moment: datetime | None) -> str:
    return MISSING if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------- small UI pieces


def empty_state(message: str) -> ui.Tag:
    return ui.div(ui.p(message, class_="lead mb-0"), class_="alert alert-secondary empty-state")


def kpi(
    kpi_id: str, title: str, value: str, note: str | None = None, *, moment: bool = False
) -> ui.Tag:
    """A value box whose value the browser test reads by id (`kpi-<kpi_id>`); `moment` sets
    a date and time in a smaller type, so that it fits on one line."""
    extra = [ui.p(note, class_="small mb-0")] if note else []
    value_tag = ui.span(value, id=f"kpi-{kpi_id}", class_="kpi-moment" if moment else None)
    return ui.value_box(title, value_tag, *extra, class_="kpi")


def kpi_row(*boxes: ui.Tag) -> ui.Tag:
    return ui.layout_column_wrap(*boxes, width="170px", fill=False, gap="0.75rem")


def chart_card(title: str, content: ui.TagChild) -> ui.Tag:
    return ui.card(ui.card_header(title), content, full_screen=True)


def figure_card(title: str, figure: go.Figure, div_id: str) -> ui.Tag:
    """A card with a plotly figure, drawn in the browser in the <div> `div_id`."""
    return chart_card(title, ui.HTML(charts.to_html(figure, div_id)))


def table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> ui.Tag:
    numeric = [index for index, _ in enumerate(headers) if index > 0]
    return ui.tags.table(
        ui.tags.thead(
            ui.tags.tr(
                *(
                    ui.tags.th(header, class_="text-end" if index in numeric else None)
                    for index, header in enumerate(headers)
                )
            )
        ),
        ui.tags.tbody(
            *(
                ui.tags.tr(
                    *(
                        ui.tags.td(cell, class_="text-end" if index in numeric else None)
                        for index, cell in enumerate(row)
                    )
                )
                for row in rows
            )
        ),
        id=table_id,
        class_="table table-sm table-striped",
    )


def _guarded(build: Callable[[connection], ui.Tag]) -> ui.Tag:
    """Run `build` with a warehouse connection; a friendly sentence when that cannot work."""
    try:
        with queries.warehouse() as conn:
            return build(conn)
    except WarehouseUnreachableError as error:
        log.warning("dashboard: %s", error)
        return empty_state(UNREACHABLE_MESSAGE)
    except MartsNotBuiltError as error:
        log.warning("dashboard: %s", error)
        return empty_state(NOT_BUILT_MESSAGE)


def _no_rows_in_range(what: str, dates: DateRange) -> ui.Tag:
    return empty_state(
        f"No {what} between {dates.start:%Y-%m-%d} and {dates.end:%Y-%m-%d} (UTC). "
        "Choose other dates, or “All dates” in the sidebar."
    )


def _sessions_of(where: TrafficFilter) -> str:
    """'sessions', or 'Paid Search sessions on mobile' when the filter is set."""
    return "sessions" if not where.is_set else where.describe()


def _traffic_filter_notes(where: TrafficFilter) -> list[ui.Tag]:
    if not where.is_set:
        return []
    return [
        note(
            "traffic-filter-note",
            f"Only {where.describe()} (the sidebar's channel and device filter; "
            "figures from fct_traffic_daily).",
        )
    ]


# ---------------------------------------------------------------- page notes


def note(note_id: str, text: str) -> ui.Tag:
    """A sentence that explains what a page shows (or leaves out), for people and tests."""
    return ui.p(text, id=note_id, class_="small text-muted mb-2")


def _day_list(days: Sequence[tuple[date, int]], what: str) -> str:
    return ", ".join(f"{day:%Y-%m-%d} ({count(size)} {what})" for day, size in days)


def partial_days_note(days: Sequence[tuple[date, int]], what: str, left_out_of: str) -> ui.Tag:
    return note(
        "partial-days",
        f"Partial {'day' if len(days) == 1 else 'days'}, left out of {left_out_of}: "
        f"{_day_list(days, what)}. A day is partial when it has under "
        f"{queries.PARTIAL_DAY_SHARE:.0%} of the {what} of the busiest day within a week of "
        "it: a few late or clock-skewed events, or the first or last hours of the data.",
    )


def one_day_note(note_id: str, day: date, what: str) -> ui.Tag:
    return ui.div(
        ui.p(
            f"One day only ({day:%Y-%m-%d}): a trend by day needs two full days or more, so {what}",
            id=note_id,
            class_="mb-0",
        ),
        class_="alert alert-info",
    )


# ---------------------------------------------------------------- pages


def funnel_page(
    conn: connection, dates: DateRange, where: TrafficFilter = queries.EVERY_SESSION
) -> ui.Tag:
    summary = queries.funnel_summary(conn, dates, where)
    if summary.sessions == 0:
        return _no_rows_in_range(_sessions_of(where), dates)
    full_days, partial_days = queries.split_partial_days(
        queries.funnel_daily(conn, dates, where), lambda day: day.sessions
    )
    by_step = {step.step: step for step in summary.steps}
    trend: ui.TagChild
    if len(full_days) < 2:
        trend = one_day_note(
            "trend-note",
            full_days[0].session_date,
            "this range has no conversion trend: the day's rates are the figures above.",
        )
    else:
        trend = ui.HTML(
            charts.to_html(charts.conversion_trend_figure(full_days), "chart-conversion")
        )
    notes = [
        *_traffic_filter_notes(where),
        note(
            "purchase-note",
            "Sessions with a purchase: sessions that contain at least one purchase event. "
            "The Products page counts purchase events and the units they bought.",
        ),
    ]
    if partial_days:
        notes.append(
            partial_days_note(
                [(day.session_date, day.sessions) for day in partial_days],
                "sessions",
                "the conversion trend",
            )
        )
    return ui.div(
        kpi_row(
            kpi("sessions", "Sessions", count(summary.sessions)),
            kpi(
                "purchasing-sessions",
                "Sessions with a purchase",
                count(by_step["purchase"].sessions),
            ),
            kpi("conversion", "Session conversion", percent(summary.session_conversion_rate)),
            kpi("cart-rate", "View → cart", percent(by_step["add_to_cart"].step_rate)),
            kpi("checkout-rate", "Cart → checkout", percent(by_step["checkout"].step_rate)),
            kpi("purchase-rate", "Checkout → purchase", percent(by_step["purchase"].step_rate)),
        ),
        *notes,
        ui.layout_columns(
            figure_card("Funnel", charts.funnel_figure(summary), "chart-funnel"),
            chart_card("Conversion trend", trend),
            col_widths=(5, 7),
        ),
        ui.card(
            ui.card_header("Funnel steps"),
            table(
                "funnel-table",
                ("step", "sessions", "of previous step", "of all sessions"),
                [
                    (
                        charts.STEP_LABELS[step.step],
                        count(step.sessions),
                        percent(step.step_rate),
                        percent(step.overall_rate),
                    )
                    for step in summary.steps
                ],
            ),
        ),
    )


def _revenue_kpis(revenue: Sequence[queries.Money]) -> list[ui.Tag]:
    """One box for the revenue, or one per currency: amounts in two currencies never add up."""
    if len(revenue) == 1:
        return [kpi("revenue", "Revenue", money_compact(revenue[0]), money(revenue[0]))]
    return [
        kpi(
            f"revenue-{amount.currency.lower()}",
            f"Revenue in {amount.currency}",
            money_compact(amount),
            money(amount),
        )
        for amount in revenue
    ]


def _currency_notes(totals: queries.ProductTotals, ranked: str | None) -> list[ui.Tag]:
    notes = []
    currencies = [amount.currency for amount in totals.revenue]
    if len(currencies) > 1:
        notes.append(
            note(
                "currency-note",
                f"Revenue is in {len(currencies)} currencies in these dates "
                f"({', '.join(currencies)}): each is shown on its own, never added up; "
                f"ranking by revenue uses {ranked}, the latest day's currency.",
            )
        )
    other = totals.purchases_in_other_currencies
    if other:
        notes.append(
            note(
                "other-currency-note",
                f"{plural(other, 'purchase event')} in another currency than "
                f"{' or '.join(currencies)} {'is' if other == 1 else 'are'} not in the revenue "
                "(amounts are never converted).",
            )
        )
    return notes


def products_page(
    conn: connection, dates: DateRange, where: ProductFilter, by: queries.ProductMetric
) -> ui.Tag:
    totals = queries.product_totals(conn, dates, where)
    if totals.products == 0:
        return _no_rows_in_range("product events for these filters", dates)
    top = queries.top_products(conn, dates, where, by=by, limit=15)
    ranked_currency = top[0].ranked_revenue.currency if top else None
    return ui.div(
        kpi_row(
            kpi("products", "Products seen", count(totals.products)),
            kpi("views", "Views", count(totals.views)),
            kpi("add-to-carts", "Add-to-carts", count(totals.add_to_carts)),
            kpi("purchases", "Purchase events", count(totals.purchases)),
            kpi("units", "Units", count(totals.units)),
            *_revenue_kpis(totals.revenue),
            kpi("view-to-cart", "View → cart", percent(totals.view_to_cart_rate)),
            kpi("cart-to-purchase", "Cart → purchase", percent(totals.cart_to_purchase_rate)),
        ),
        note(
            "purchase-note",
            "Purchase events: purchase events of these products (one per product in an "
            "order); units: the quantity they bought. Sessions with a purchase are on the "
            "Funnel page.",
        ),
        *_currency_notes(totals, ranked_currency),
        figure_card(
            f"Top {len(top)} products by {charts.METRIC_LABELS[by].lower()}",
            charts.top_products_figure(top, by),
            "chart-top-products",
        ),
        ui.card(
            ui.card_header("Top products"),
            table(
                "products-table",
                (
                    "product",
                    "category",
                    "brand",
                    "views",
                    "add-to-carts",
                    "purchase events",
                    "units",
                    "revenue",
                    "view → cart",
                    "cart → purchase",
                ),
                [
                    (
                        f"{row.product_name or MISSING} ({row.product_id})",
                        row.category or MISSING,
                        row.brand or MISSING,
                        count(row.views),
                        count(row.add_to_carts),
                        count(row.purchases),
                        count(row.units),
                        " · ".join(money(amount) for amount in row.revenue) or MISSING,
                        percent(row.view_to_cart_rate),
                        percent(row.cart_to_purchase_rate),
                    )
                    for row in top
                ],
            ),
        ),
    )


def _activity_charts(
    conn: connection, dates: DateRange, full_days: Sequence[queries.ActiveDay]
) -> list[ui.Tag]:
    hourly = queries.events_per_hour(conn, dates)
    if len(full_days) < 2:
        # One day: a single bar, dot and heatmap row say nothing; its hours do.
        day = full_days[0]
        return [
            one_day_note(
                "one-day-note",
                day.event_date,
                "the day is shown hour by hour. Its active users: "
                f"{count(day.users)} ({count(day.logged_in_users)} logged in), "
                f"sessions: {count(day.sessions)}.",
            ),
            figure_card(
                "Events per hour",
                charts.events_per_hour_figure(hourly, bars_over=dates),
                "chart-hourly",
            ),
        ]
    daily = queries.events_per_day(conn, dates)
    heatmap = queries.weekly_heatmap(conn, dates)
    return [
        ui.layout_columns(
            figure_card("Events per hour", charts.events_per_hour_figure(hourly), "chart-hourly"),
            figure_card("Events per day", charts.events_per_day_figure(daily), "chart-daily"),
            figure_card(
                "Hour of day \u00d7 day of week", charts.heatmap_figure(heatmap), "chart-heatmap"
            ),
            figure_card(
                "Active users and sessions", charts.active_days_figure(full_days), "chart-active"
            ),
            col_widths=(6, 6, 6, 6),
        )
    ]


def activity_page(conn: connection, dates: DateRange) -> ui.Tag:
    days = queries.active_days(conn, dates)
    if not days:
        return _no_rows_in_range("events", dates)
    full_days, partial_days = queries.split_partial_days(days, lambda day: day.events)
    peak = max(full_days, key=lambda day: (day.users, day.event_date))
    partial_note = (
        "1 partial day" if len(partial_days) == 1 else f"{len(partial_days)} partial days"
    )
    return ui.div(
        kpi_row(
            kpi("events", "Events", count(sum(day.events for day in days))),
            kpi(
                "days",
                "Full days",
                count(len(full_days)),
                f"and {partial_note}" if partial_days else None,
            ),
            kpi(
                "peak-users",
                "Most active users in a day",
                count(peak.users),
                f"on {peak.event_date:%Y-%m-%d}",
            ),
            kpi(
                "daily-sessions",
                "Sessions per full day (mean)",
                count(round(sum(day.sessions for day in full_days) / len(full_days))),
            ),
            kpi("new-clients", "New clients", count(sum(day.new_clients for day in days))),
        ),
        *(
            [
                partial_days_note(
                    [(day.event_date, day.events) for day in partial_days],
                    "events",
                    "the full days, the mean and the users and sessions chart",
                )
            ]
            if partial_days
            else []
        ),
        *_activity_charts(conn, dates, full_days),
    )


# ---------------------------------------------------------------- Acquisition


TRAFFIC_HEADERS = (
    "sessions",
    "share",
    "conversion",
    "orders",
    "revenue",
    "revenue / session",
    "bounce rate",
    "engaged time / session",
)


def traffic_table(
    table_id: str, dimension: str, rows: Sequence[queries.TrafficRow], total_sessions: int
) -> ui.Tag:
    """Rows of a traffic breakdown with every measure; `share`: of the range's sessions."""
    return table(
        table_id,
        (dimension, *TRAFFIC_HEADERS),
        [
            (
                row.label,
                count(row.sessions),
                percent(share(row.sessions, total_sessions)),
                percent(row.conversion_rate),
                count(row.orders),
                money(row.revenue),
                money_or_missing(row.revenue_per_session),
                percent(row.bounce_rate),
                duration(row.engaged_seconds_per_session),
            )
            for row in rows
        ],
    )


def traffic_card(title: str, content: ui.TagChild) -> ui.Tag:
    return ui.card(ui.card_header(title), content)


def acquisition_kpis(totals: queries.TrafficMeasures) -> ui.Tag:
    return kpi_row(
        kpi("sessions", "Sessions", count(totals.sessions)),
        kpi("conversion", "Session conversion", percent(totals.conversion_rate)),
        kpi("orders", "Orders", count(totals.orders)),
        kpi("revenue", "Revenue", money_compact(totals.revenue), money(totals.revenue)),
        kpi(
            "revenue-per-session", "Revenue / session", money_or_missing(totals.revenue_per_session)
        ),
        kpi("bounce-rate", "Bounce rate", percent(totals.bounce_rate)),
        kpi(
            "engaged-time",
            "Engaged time / session",
            duration(totals.engaged_seconds_per_session),
        ),
    )


def acquisition_page(conn: connection, dates: DateRange, where: TrafficFilter) -> ui.Tag:
    totals = queries.traffic_totals(conn, dates, where)
    if totals.sessions == 0:
        return _no_rows_in_range(_sessions_of(where), dates)

    def breakdown(by: queries.TrafficDimension, limit: int | None = None) -> list[TrafficRow]:
        return queries.traffic_breakdown(conn, dates, by, where, limit)

    channels = breakdown("channel")
    days = queries.traffic_by_day(conn, dates, where)
    day_count = len({day.session_date for day in days})
    trend: list[ui.Tag] = []
    if day_count > 1:
        trend = [
            figure_card(
                "Sessions per day by channel",
                charts.sessions_by_channel_per_day_figure(days),
                "chart-channel-days",
            )
        ]
    devices, browsers = breakdown("device_class"), breakdown("browser_family", 10)
    return ui.div(
        acquisition_kpis(totals),
        *_traffic_filter_notes(where),
        note(
            "acquisition-note",
            "Sessions by the channel, source, medium, campaign and landing page of their first "
            "event, and by device and browser; conversion: sessions with a purchase / "
            "sessions; orders and revenue: of those sessions (revenue in "
            f"{totals.revenue.currency}); a bounce: a session of one event. "
            f"{queries.NOT_SET}: the session had no such value (e.g. no UTM campaign).",
        ),
        ui.layout_columns(
            figure_card("Channels", charts.channels_figure(channels), "chart-channels"),
            figure_card(
                "Revenue by channel", charts.revenue_by_channel_figure(channels), "chart-revenue"
            ),
            col_widths=(7, 5),
        ),
        traffic_card(
            "Channels", traffic_table("channels-table", "channel", channels, totals.sessions)
        ),
        *trend,
        traffic_card(
            "Top 15 sources / media",
            traffic_table(
                "sources-table", "source / medium", breakdown("source_medium", 15), totals.sessions
            ),
        ),
        traffic_card(
            "Top 15 campaigns",
            traffic_table(
                "campaigns-table", "campaign", breakdown("campaign", 15), totals.sessions
            ),
        ),
        traffic_card(
            "Top 15 landing pages",
            traffic_table(
                "landing-pages-table",
                "landing page",
                breakdown("landing_page", 15),
                totals.sessions,
            ),
        ),
        ui.layout_columns(
            figure_card(
                "Devices", charts.share_figure(devices, "Sessions by device"), "chart-devices"
            ),
            figure_card(
                "Browsers", charts.share_figure(browsers, "Sessions by browser"), "chart-browsers"
            ),
            col_widths=(6, 6),
        ),
        ui.layout_columns(
            traffic_card(
                "Devices", traffic_table("devices-table", "device", devices, totals.sessions)
            ),
            traffic_card(
                "Top 10 browsers",
                traffic_table("browsers-table", "browser", browsers, totals.sessions),
            ),
            col_widths=(6, 6),
        ),
    )


# ---------------------------------------------------------------- Audience


def retention_table(cohorts: Sequence[queries.Cohort]) -> ui.Tag:
    """Cohorts by weeks since the first visit; '*' marks a week in progress."""
    widest = max((len(cohort.weeks) for cohort in cohorts), default=0)
    rows = []
    for cohort in cohorts:
        cells = [""] * widest
        for week in cohort.weeks:
            mark = "*" if week.status == "in progress" else ""
            cells[week.weeks_since_first_visit] = f"{percent(week.retention_rate)}{mark}"
        rows.append((f"{cohort.cohort_week:%Y-%m-%d}", count(cohort.users), *cells))
    return table(
        "retention-table",
        ("cohort (week of first visit)", "users", *(f"week {week}" for week in range(widest))),
        rows,
    )


def _week_one_note(week_one: queries.WeekRetention, last_day: date) -> str:
    if not week_one.cohorts:
        return (
            "no cohort in these dates has a complete week 1 yet "
            f"(the data ends {last_day:%Y-%m-%d})"
        )
    return (
        f"over the {plural(week_one.cohorts, 'cohort')} whose week 1 is complete "
        f"({count(week_one.active_users)} of {count(week_one.users)} users)"
    )


def audience_page(conn: connection, dates: DateRange, where: TrafficFilter) -> ui.Tag:
    days = queries.users_daily(conn, dates)
    data = queries.data_dates(conn)
    if not days or data is None:
        return _no_rows_in_range("active users", dates)
    last_day = data.every_day.end
    full_days, partial_days = queries.split_partial_days(days, lambda day: day.sessions)
    cohorts = queries.retention_cohorts(conn, dates, last_day)
    week_one = queries.week_retention(cohorts, 1)
    totals = queries.traffic_totals(conn, dates, where)
    order_days = queries.days_together(queries.traffic_by_day(conn, dates, where))
    sessions = sum(day.sessions for day in days)
    returning_sessions = sum(day.sessions_of_returning_users for day in days)
    mean_returning = (
        round(sum(day.returning_users for day in full_days) / len(full_days)) if full_days else 0
    )
    filter_notes = []
    if where.is_set:
        filter_notes = [
            note(
                "traffic-filter-note",
                f"Orders, order value and revenue per session: only {where.describe()} (the "
                "sidebar's filter). New and returning users and retention: every user (their "
                "marts are not split by channel or device).",
            )
        ]
    partial_notes = []
    if partial_days:
        partial_notes = [
            partial_days_note(
                [(day.activity_date, day.sessions) for day in partial_days],
                "sessions",
                "the mean of returning users",
            )
        ]
    return ui.div(
        kpi_row(
            kpi("new-users", "New users", count(sum(day.new_users for day in days))),
            kpi("returning-users", "Returning users per full day (mean)", count(mean_returning)),
            kpi(
                "returning-sessions",
                "Sessions of returning users",
                percent(share(returning_sessions, sessions)),
                f"of {plural(sessions, 'session')}",
            ),
            kpi(
                "week-1-retention",
                "Week-1 retention",
                percent(week_one.rate),
                f"{plural(week_one.cohorts, 'cohort')} with a whole week 1",
            ),
            kpi("orders", "Orders", count(totals.orders)),
            kpi("aov", "Average order value", money_or_missing(totals.average_order_value)),
            kpi(
                "revenue-per-session",
                "Revenue / session",
                money_or_missing(totals.revenue_per_session),
            ),
        ),
        *filter_notes,
        note(
            "audience-note",
            "Users are stitched across devices and visits: a browser whose visitor logs in "
            "counts as that user, its earlier anonymous visits too; a browser never logged in "
            "is a user of its own. New: the user's first visit was that day; returning: first "
            "seen on an earlier day. Week-1 retention: the share of a cohort (users whose "
            "first visit fell in one Monday-to-Sunday week, UTC) active in the week after, "
            f"{_week_one_note(week_one, last_day)}. Average order value: revenue / orders.",
        ),
        *partial_notes,
        ui.layout_columns(
            figure_card(
                "New and returning users",
                charts.new_and_returning_figure(days),
                "chart-new-returning",
            ),
            figure_card(
                "Retention by weekly cohort", charts.retention_figure(cohorts), "chart-retention"
            ),
            figure_card(
                "Order value and revenue per session",
                charts.order_values_figure(order_days),
                "chart-order-values",
            ),
            ui.card(
                ui.card_header("Weekly cohorts"),
                ui.div(retention_table(cohorts), class_="table-responsive"),
                ui.p(
                    "Share of each cohort active N weeks after its first visit's week. "
                    f"* the week is in progress (the data ends {last_day:%Y-%m-%d}); blank: not "
                    "reached yet.",
                    id="retention-note",
                    class_="small text-muted mb-0",
                ),
            ),
            col_widths=(6, 6, 6, 6),
        ),
    )


def freshness_banner(health: queries.DataHealth) -> ui.Tag:
    fresh = health.load_age is not None and health.load_age <= FRESHNESS_LIMIT
    text = (
        f"Fresh: the last load was {age(health.load_age)}."
        if fresh
        else f"Stale: the last load was {age(health.load_age)}; the loader runs hourly, so the "
        "pipeline may be stopped."
    )
    return ui.div(
        ui.p(text, class_="mb-0", id="freshness"),
        class_=f"alert {'alert-success' if fresh else 'alert-warning'}",
    )


def health_kpis(health: queries.DataHealth) -> ui.Tag:
    last = health.last_load
    return kpi_row(
        kpi(
            "last-load",
            "Last load (UTC)",
            utc(last.loaded_at if last else None),
            age(health.load_age),
            moment=True,
        ),
        kpi("latest-event", "Latest event hour (UTC)", utc(health.latest_event_at), moment=True),
        kpi("objects", "Raw objects loaded", count(health.objects_loaded)),
        kpi("lines-loaded", "Raw lines loaded", count(health.lines_loaded)),
        kpi("valid", "Valid events", count(health.valid_events)),
        kpi("invalid", "Invalid events", count(health.invalid_events)),
        kpi("duplicates", "Duplicates dropped", count(health.duplicate_events)),
        kpi(
            "rejected",
            "Rejected lines",
            count(health.lines_rejected),
            f"{plural(health.rejected_events, 'reason')} recorded",
        ),
    )


def recent_loads(loads: Sequence[queries.LoadRun]) -> ui.Tag:
    """The loader's last runs, as a chart and a table; a run that found no new object too."""
    if not loads:
        return empty_state("Nothing has been loaded yet.")
    return ui.layout_columns(
        figure_card("Lines per loader run", charts.loads_figure(loads), "chart-loads"),
        ui.card(
            ui.card_header(f"Last {len(loads)} loader runs"),
            table(
                "loads-table",
                ("loaded at (UTC)", "objects", "lines loaded", "lines rejected"),
                [
                    (
                        utc(load.loaded_at),
                        "0 (nothing new)" if load.objects == 0 else count(load.objects),
                        count(load.lines_loaded),
                        count(load.lines_rejected),
                    )
                    for load in loads
                ],
            ),
        ),
        col_widths=(6, 6),
    )


def health_page(conn: connection) -> ui.Tag:
    health = queries.data_health(conn)
    return ui.div(
        freshness_banner(health),
        health_kpis(health),
        recent_loads(health.recent_loads),
        ui.p(
            "Raw lines loaded = valid events + invalid events + duplicates dropped. "
            "Rejected lines never became raw lines (unreadable objects or lines); their reasons "
            "are in staging.rejected_events. A run that found no new object shows as "
            "\u201c0 (nothing new)\u201d. This page covers the whole warehouse, not the date "
            "range.",
            class_="text-muted small",
        ),
    )


# ---------------------------------------------------------------- the pages, in one table


class Choices:
    """What the person chose (sidebar and page controls), read when a page asks: a page
    re-renders only when an input it read changes."""

    def __init__(self, input: Inputs) -> None:
        self._input = input

    def dates(self) -> DateRange | None:
        start, end = self._input.dates()
        if start is None or end is None:
            return None
        return DateRange(start, end)

    def product_filter(self) -> ProductFilter:
        return ProductFilter(
            category=self._input.category() or None, brand=self._input.brand() or None
        )

    def traffic_filter(self) -> TrafficFilter:
        return TrafficFilter(
            channel=self._input.channel() or None, device_class=self._input.device() or None
        )

    def rank_by(self) -> queries.ProductMetric:
        chosen = self._input.rank_by()
        return next((metric for metric in queries.PRODUCT_METRICS if metric == chosen), "views")


@dataclass(frozen=True)
class StartState:
    """What the page starts with: the default dates and the Products filters' choices."""

    dates: DateRange
    categories: list[str]
    brands: list[str]


@dataclass(frozen=True)
class Page:
    title: str  # the tab's name
    output_id: str  # the Shiny output the page is drawn in
    # Draws the page. A dated page is called with the sidebar's dates, checked; an undated
    # one (it shows the whole warehouse) with None.
    build: Callable[[connection, DateRange | None, Choices], ui.Tag]
    dated: bool = True
    # Inputs of the page's own, above it.
    controls: Callable[[StartState], ui.Tag] | None = None
    # Whether the page follows the sidebar's channel and device filter (its marts are split
    # by channel and device); one that does not says so while the filter is set.
    follows_traffic_filter: bool = False


def _dated(
    build: Callable[[connection, DateRange, Choices], ui.Tag],
) -> Callable[[connection, DateRange | None, Choices], ui.Tag]:
    def build_with_dates(conn: connection, dates: DateRange | None, choices: Choices) -> ui.Tag:
        if dates is None:
            raise ValueError("a dated page was drawn without dates")
        return build(conn, dates, choices)

    return build_with_dates


def _choices(values: Sequence[str], everything: str) -> dict[str, str]:
    return {ALL: everything} | {value: value for value in values}


def product_controls(start: StartState) -> ui.Tag:
    return ui.layout_columns(
        ui.input_select("category", "Category", _choices(start.categories, "All categories")),
        ui.input_select("brand", "Brand", _choices(start.brands, "All brands")),
        ui.input_select("rank_by", "Rank by", {str(k): v for k, v in charts.METRIC_LABELS.items()}),
        col_widths=(4, 4, 4),
    )


PAGES = (
    Page(
        "Funnel",
        "funnel",
        _dated(lambda conn, dates, choices: funnel_page(conn, dates, choices.traffic_filter())),
        follows_traffic_filter=True,
    ),
    Page(
        "Acquisition",
        "acquisition",
        _dated(
            lambda conn, dates, choices: acquisition_page(conn, dates, choices.traffic_filter())
        ),
        follows_traffic_filter=True,
    ),
    Page(
        "Audience",
        "audience",
        _dated(lambda conn, dates, choices: audience_page(conn, dates, choices.traffic_filter())),
        follows_traffic_filter=True,
    ),
    Page(
        "Products",
        "products",
        _dated(
            lambda conn, dates, choices: products_page(
                conn, dates, choices.product_filter(), choices.rank_by()
            )
        ),
        controls=product_controls,
    ),
    Page("Activity", "activity", _dated(lambda conn, dates, _: activity_page(conn, dates))),
    Page("Data health", "health", lambda conn, _dates, _choices: health_page(conn), dated=False),
)


# ---------------------------------------------------------------- UI


def _start_state() -> StartState:
    """Default dates (the days with data, partial days at the ends left out; else today) and
    the Products filters' choices."""
    today = datetime.now(UTC).date()
    try:
        with queries.warehouse() as conn:
            dates = queries.data_dates(conn)
            return StartState(
                dates.default if dates else DateRange(today, today),
                queries.product_categories(conn),
                queries.product_brands(conn),
            )
    except (WarehouseUnreachableError, MartsNotBuiltError):
        return StartState(DateRange(today, today), [], [])


def app_ui(request: Request) -> ui.Tag:
    """Built per page load, so the date range defaults to the data there is now."""
    start = _start_state()
    panels = [
        ui.nav_panel(
            page.title,
            *([page.controls(start)] if page.controls else []),
            ui.output_ui(page.output_id),
        )
        for page in PAGES
    ]
    return ui.page_navbar(
        *panels,
        title=TITLE,
        id="page",
        window_title=TITLE,
        sidebar=ui.sidebar(
            ui.input_date_range(
                "dates", "Dates (UTC)", start=start.dates.start, end=start.dates.end
            ),
            ui.input_action_button("all_dates", "All dates", class_="btn-sm"),
            ui.input_select("channel", "Channel", _choices(queries.CHANNELS, "All channels")),
            ui.input_select("device", "Device", _choices(queries.DEVICE_CLASSES, "All devices")),
            ui.p(TRAFFIC_FILTER_SCOPE, class_="small text-muted", id="traffic-filter-scope"),
            ui.output_ui("data_note"),
            width=270,
        ),
        header=ui.head_content(ui.tags.script(src="plotly/plotly.min.js"), ui.tags.style(STYLE)),
    )


# ---------------------------------------------------------------- server


def describe_data(dates: queries.DataDates | None) -> ui.Tag:
    """The sidebar's sentence about the data there is."""
    if dates is None:
        return ui.p(NO_EVENTS_MESSAGE, class_="small text-muted")
    every = dates.every_day
    text = f"Events from {every.start:%Y-%m-%d} to {every.end:%Y-%m-%d}."
    left_out = dates.left_out_of_default
    if left_out:
        days = _day_list([(day.event_date, day.events) for day in left_out], "events")
        text += (
            f" Left out of the starting dates as partial (late or clock-skewed events): {days};"
            f" \u201cAll dates\u201d takes {'it' if len(left_out) == 1 else 'them'} in."
        )
    return ui.p(text + " All dates and hours are UTC.", class_="small text-muted", id="data-range")


def _render_page(page: Page, choices: Choices) -> ui.Tag:
    if not page.dated:
        return _guarded(lambda conn: page.build(conn, None, choices))
    dates = choices.dates()
    if dates is None:
        return empty_state("Choose a start and an end date in the sidebar.")
    if dates.start > dates.end:
        return empty_state("The start date is after the end date: swap them in the sidebar.")
    drawn = _guarded(lambda conn: page.build(conn, dates, choices))
    where = choices.traffic_filter()
    if page.follows_traffic_filter or not where.is_set:
        return drawn
    return ui.div(
        note(
            "traffic-filter-ignored",
            f"This page counts every session: the channel and device filter ({where.describe()}) "
            f"does not apply to it (its marts are not split by channel or device).",
        ),
        drawn,
    )


def _page_renderer(page: Page, choices: Choices) -> Callable[[], ui.Tag]:
    def render_page() -> ui.Tag:
        return _render_page(page, choices)

    return render_page


def server(input: Inputs, output: Outputs, session: Session) -> None:
    choices = Choices(input)

    for page in PAGES:  # one output per page, named by the table
        output(id=page.output_id)(render.ui(_page_renderer(page, choices)))

    @render.ui
    def data_note() -> ui.Tag:
        input.all_dates()  # re-read when asked for every date
        try:
            with queries.warehouse() as conn:
                return describe_data(queries.data_dates(conn))
        except (WarehouseUnreachableError, MartsNotBuiltError):
            # The page itself says why in full.
            return ui.p("No data to show.", class_="small text-muted", id="data-range")

    @reactive.effect
    @reactive.event(input.all_dates)
    def _choose_all_dates() -> None:
        try:
            with queries.warehouse() as conn:
                dates = queries.data_date_range(conn)
        except (WarehouseUnreachableError, MartsNotBuiltError):
            return
        if dates is not None:
            ui.update_date_range("dates", start=dates.start, end=dates.end)

    @reactive.effect
    @reactive.event(input.category, ignore_init=True)
    def _brands_of_category() -> None:
        category = input.category() or None
        try:
            with queries.warehouse() as conn:
                brands = queries.product_brands(conn, category)
        except (WarehouseUnreachableError, MartsNotBuiltError):
            return
        selected = input.brand() if input.brand() in brands else ALL
        ui.update_select("brand", choices=_choices(brands, "All brands"), selected=selected)


def create_app() -> App:
    app = App(app_ui, server, static_assets={"/plotly": charts.PLOTLY_JS_DIR})
    # Unexpected errors show this sentence on the page instead of their text.
    app.sanitize_errors = True
    app.sanitize_error_msg = (
        "Something went wrong drawing this panel; the details are in the dashboard's log."
    )
    return app


app = create_app()
