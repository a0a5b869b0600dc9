"""The journey map (the worker's /map/) in a real browser: Debian's chromium, headless,
driven by Selenium through Debian's chromedriver (`make browser` installs both).

`check_journey_map` opens the page, reads every number it shows and compares each with
its view's answer (asked through the worker, as `journeys query` would) for the range
and filters the page shows; then changes filters and checks again; and saves a
screenshot."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from pipeline.journey_map.data import DIMENSIONS, VIEWS, MapFilters, view_sql
from tests.support import WorkerProcess, wait_until

#: Chromium's flags for a closed network (no background connections) and a root user.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1900",
)


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless Debian chromium under chromedriver, quit on exit."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "chromium and chromedriver are missing: run `make browser`"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()


#: Everything the page shows, read in one go: the page redraws itself every 10 s, and a
#: script runs between redraws, so a snapshot is never half of one drawing and half of
#: the next (element by element, Selenium once read an element the redraw had replaced).
SNAPSHOT = """
const text = (node) => node.textContent.trim();
const cells = (row) => Object.fromEntries(
    [...row.querySelectorAll("td[data-field]")].map((td) => [td.dataset.field, text(td)]));
const all = (selector) => [...document.querySelectorAll(selector)];
const shown = document.body.dataset, status = document.getElementById("status");
const form = document.getElementById("filters");
return {
  renders: Number(shown.renders),
  error: status.className === "error" ? text(status) : "",
  filters: Object.fromEntries(
      ["from", "to", "channel", "campaign", "segment"].map((n) => [n, shown[n] || ""])),
  funnel: all("#funnel tbody tr[data-stage]").map((row) => [row.dataset.stage, cells(row)]),
  sessions: all("#session-funnel tbody tr[data-step]").map((row) => [row.dataset.step, cells(row)]),
  watch: all("#step-watch tbody tr[data-step]").map((row) => [row.dataset.step, cells(row)]),
  watchPoints: all("#step-watch tbody tr[data-step]").map((row) => [row.dataset.step,
      row.querySelector("polyline.rate").getAttribute("points").split(" ").length]),
  flows: all("#sankey g.flow").map(
      (g) => [g.dataset.source, g.dataset.target, text(g.querySelector(".flow-count"))]),
  nodes: all("#sankey g.node .node-count").map((t) => [t.parentNode.dataset.node, text(t)]),
  alerts: all("#alerts tr.episode").map((row) => [row.dataset.alertId, cells(row)]),
  timeline: all("#timeline rect.episode").map((bar) => bar.dataset.alertId).sort(),
  options: Object.fromEntries(["channel", "campaign", "segment"].map(
      (n) => [n, [...form.elements[n].options].map((o) => o.value).slice(1)])),
};
"""

#: Set form fields and announce each change, as a user's choice or typing does.
CHANGE = """
const form = document.getElementById("filters");
for (const [name, value] of Object.entries(arguments[0])) {
  const field = form.elements[name];
  if (field.tagName === "SELECT" && ![...field.options].some((o) => o.value === value)) {
    throw new Error(`no option ${value} for ${name}`);
  }
  field.value = value;
  field.dispatchEvent(new Event("change", { bubbles: true }));
}
"""


@dataclass(frozen=True)
class Shown:
    """One drawing of the page: its filters and every number on it, as text."""

    renders: int
    error: str
    filters: MapFilters
    funnel: dict[str, dict[str, str]]
    sessions: dict[str, dict[str, str]]  # the session funnel, by step
    watch: dict[str, dict[str, str]]  # the step watch, by stage or step
    watch_points: dict[str, int]  # points of each step's rate line
    flows: dict[tuple[str, str], str]
    nodes: dict[str, str]
    alerts: dict[str, dict[str, str]]
    timeline: list[str]
    options: dict[str, list[str]]


class JourneyMapPage:
    """The page in the browser, read through `Shown` snapshots."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    def shown(self) -> Shown:
        got = self.driver.execute_script(SNAPSHOT)
        return Shown(
            renders=got["renders"],
            error=got["error"],
            filters=MapFilters.parse(got["filters"]),
            funnel=dict(got["funnel"]),
            sessions=dict(got["sessions"]),
            watch=dict(got["watch"]),
            watch_points=dict(got["watchPoints"]),
            flows={(source, target): n for source, target, n in got["flows"]},
            nodes=dict(got["nodes"]),
            alerts=dict(got["alerts"]),
            timeline=got["timeline"],
            options=got["options"],
        )

    def wait_for_render(self, after: int, **filters: str) -> Shown:
        """The first drawing after number `after` that shows `filters`."""

        def drawn() -> Shown | None:
            now = self.shown()
            assert not now.error, now.error
            chosen = {name: getattr(now.filters, _field(name)) for name in filters}
            wanted = {name: _typed(name, value) for name, value in filters.items()}
            return now if now.renders > after and chosen == wanted else None

        return wait_until(drawn, 60, f"the journey map to draw {filters or 'its data'}")  # type: ignore[no-any-return]

    def change(self, **values: str) -> Shown:
        """Set filters as a user would and wait for the page to show the data for them."""
        before = self.shown().renders
        self.driver.execute_script(CHANGE, values)
        return self.wait_for_render(before, **values)


def _field(name: str) -> str:
    return {"from": "first", "to": "last"}.get(name, name)


def _typed(name: str, value: str) -> object:
    return date.fromisoformat(value) if name in ("from", "to") else value


def check_journey_map(worker: WorkerProcess, screenshot: Path) -> dict[str, Any]:
    """Open the worker's journey map, check every number against the views for the
    default range, a channel and a range of the incident's days; save a screenshot.
    Returns what the views answered for the default range."""
    with chromium(screenshot.parent / "chromium-profile") as driver:
        driver.get(f"http://127.0.0.1:{worker.web_port}/map")  # redirected to /map/
        page = JourneyMapPage(driver)
        first = page.wait_for_render(0)
        [latest] = worker.query("SELECT toDate(max(event_time)) AS day FROM stage_transitions")
        default = first.filters
        assert str(default.last) == latest["day"], "the default range ends with the data"
        assert default.last is not None and default.first is not None
        assert (default.last - default.first).days == 27, "four weeks"
        answered = page_matches_views(first, worker)
        assert answered["funnel"][0]["customers"] > 0 and answered["flows"]
        assert answered["sessions"][0]["sessions"] > 0, "sessions entered the funnel"
        assert answered["watch"], "the detector's windows are shown"

        channel = first.options["channel"][0]  # the channel that moved most customers
        narrowed = page_matches_views(page.change(channel=channel), worker)
        assert sum(r["customers"] for r in narrowed["funnel"]) < sum(
            r["customers"] for r in answered["funnel"]
        ), "the channel filter narrows the funnel"
        driver.save_screenshot(str(screenshot))

        day = default.first.isoformat()
        segment = first.options["segment"][0]
        page_matches_views(
            page.change(channel="", segment=segment, **{"from": day, "to": day}), worker
        )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return answered


def page_matches_views(shown: Shown, worker: WorkerProcess) -> dict[str, list[dict[str, Any]]]:
    """Assert that each number of one drawing of the page is its view's answer for the
    filters it shows; the views' rows."""
    filters = shown.filters
    views = {}
    for part in VIEWS:
        parameters = filters.parameters(part)
        views[part] = worker.query(view_sql(part, parameters), parameters)
    funnel = shown.funnel
    assert list(funnel) == [row["stage"] for row in views["funnel"]]
    for row, dropoff in zip(views["funnel"], views["dropoff"], strict=True):
        cells = funnel[row["stage"]]
        assert number(cells["customers"]) == row["customers"], (row, cells)
        assert rate_matches(cells["conversion_from_previous"], row["conversion_from_previous"])
        assert number(cells["passed"]) == dropoff["passed"], (dropoff, cells)
        assert number(cells["dropped_off"]) == dropoff["dropped_off"], (dropoff, cells)
        assert rate_matches(cells["dropoff_rate"], dropoff["dropoff_rate"]), (dropoff, cells)
    assert list(shown.sessions) == [row["step"] for row in views["sessions"]]
    for row in views["sessions"]:
        cells = shown.sessions[row["step"]]
        assert number(cells["sessions"]) == row["sessions"], (row, cells)
        assert rate_matches(cells["share_of_sessions"], row["share_of_sessions"]), (row, cells)
    assert list(shown.watch) == [row["stage"] for row in views["watch"]]
    for row in views["watch"]:
        cells = shown.watch[row["stage"]]
        for field in ("windows", "sessions", "dropped", "anomalous_windows", "episodes"):
            assert number(cells[field]) == row[field], (field, row, cells)
        for field in ("dropoff_rate", "latest_rate", "latest_baseline"):
            assert rate_matches(cells[field], row[field]), (field, row, cells)
        assert shown.watch_points[row["stage"]] == len(row["rates"]), row
    assert {pair: number(text) for pair, text in shown.flows.items()} == {
        (row["source"], row["target"]): row["customers"] for row in views["flows"]
    }
    if views["flows"]:  # (an empty range draws no diagram)
        assert {stage: number(text) for stage, text in shown.nodes.items()} == {
            row["stage"]: row["customers"] for row in views["funnel"]
        }
    alerts = shown.alerts
    assert list(alerts) == [row["alert_id"] for row in views["alerts"]]
    assert shown.timeline == sorted(alerts)
    for row in views["alerts"]:
        cells = alerts[row["alert_id"]]
        assert cells["fired_at"] == minute(row["fired_at"]), (row, cells)
        assert cells["resolved_at"] == (
            minute(row["resolved_at"]) if row["resolved_at"] else "still firing"
        )
        assert rate_matches(cells["observed_rate"], row["observed_rate"]), (row, cells)
        assert rate_matches(cells["baseline_rate"], row["baseline_rate"]), (row, cells)
        assert number(cells["sessions"]) == row["sessions"]
    for dimension in DIMENSIONS:
        offered = [row["value"] for row in views["options"] if row["dimension"] == dimension]
        chosen = getattr(filters, dimension)
        if chosen and chosen not in offered:  # kept, though no customer of it moved here
            offered.insert(0, chosen)
        assert shown.options[dimension] == offered, dimension
    return views


def number(text: str) -> int:
    return int(text.replace(",", ""))


def rate_matches(text: str, rate: float | None) -> bool:
    """A rate shown as a percentage with one decimal ('17.8%', or an en dash for none)."""
    if rate is None:
        return text == "\u2013"
    return text.endswith("%") and abs(float(text[:-1]) / 100 - rate) <= 0.0005 + 1e-9


def minute(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
