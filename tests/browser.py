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
from datetime import datetime
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

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


class JourneyMapPage:
    """What the page shows, read from its DOM."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    def renders(self) -> int:
        return int(self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-renders") or 0)

    def wait_for_render(self, after: int) -> None:
        """Until the page drew data it fetched after its render number `after`."""
        wait_until(lambda: self.renders() > after, 60, "the journey map to render")
        status = self.driver.find_element(By.ID, "status")
        assert "error" not in (status.get_attribute("class") or ""), status.text

    def filters(self) -> MapFilters:
        """The range and filters the page shows its numbers for."""
        shown = self.driver.find_element(By.TAG_NAME, "body")
        return MapFilters.parse(
            {
                name: shown.get_attribute(f"data-{name}") or ""
                for name in ("from", "to", *DIMENSIONS)
            }
        )

    def change(self, **values: str) -> None:
        """Set filters as a user would (a select's option, a date typed in) and wait
        for the page to show the data for them."""
        before = self.renders()
        for name, value in values.items():
            field = self.driver.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:  # a date input: its value set and its change announced, as typing does
                self.driver.execute_script(
                    "arguments[0].value = arguments[1];"
                    "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
                    field,
                    value,
                )
        shown = lambda: all(  # noqa: E731
            self.driver.find_element(By.TAG_NAME, "body").get_attribute(f"data-{name}") == value
            for name, value in values.items()
        )
        wait_until(lambda: self.renders() > before and shown(), 60, f"the map for {values}")

    def options(self, name: str) -> list[str]:
        field = Select(self.driver.find_element(By.NAME, name))
        return [option.get_attribute("value") or "" for option in field.options][1:]

    def funnel(self) -> dict[str, dict[str, str]]:
        return {
            row.get_attribute("data-stage") or "": {
                cell.get_attribute("data-field") or "": cell.text
                for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]")
            }
            for row in self.driver.find_elements(By.CSS_SELECTOR, "#funnel tbody tr")
        }

    def flows(self) -> dict[tuple[str, str], str]:
        return {
            (
                g.get_attribute("data-source") or "",
                g.get_attribute("data-target") or "",
            ): g.find_element(By.CLASS_NAME, "flow-count").text
            for g in self.driver.find_elements(By.CSS_SELECTOR, "#sankey g.flow")
        }

    def nodes(self) -> dict[str, str]:
        """Each stage of the flow diagram and the count shown on it."""
        return {
            g.get_attribute("data-node") or "": g.find_element(By.CLASS_NAME, "node-count").text
            for g in self.driver.find_elements(By.CSS_SELECTOR, "#sankey g.node[data-node]")
            if g.find_elements(By.CLASS_NAME, "node-count")
        }

    def alerts(self) -> dict[str, dict[str, str]]:
        return {
            row.get_attribute("data-alert-id") or "": {
                cell.get_attribute("data-field") or "": cell.text
                for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]")
            }
            for row in self.driver.find_elements(By.CSS_SELECTOR, "#alerts tr.episode")
        }

    def timeline(self) -> list[str]:
        bars = self.driver.find_elements(By.CSS_SELECTOR, "#timeline rect.episode")
        return sorted(bar.get_attribute("data-alert-id") or "" for bar in bars)


def check_journey_map(worker: WorkerProcess, screenshot: Path) -> dict[str, Any]:
    """Open the worker's journey map, check every number against the views for the
    default range, a channel and a range of the incident's days; save a screenshot.
    Returns what the views answered for the default range."""
    with chromium(screenshot.parent / "chromium-profile") as driver:
        driver.get(f"http://127.0.0.1:{worker.web_port}/map")  # redirected to /map/
        page = JourneyMapPage(driver)
        page.wait_for_render(0)
        [latest] = worker.query("SELECT toDate(max(event_time)) AS day FROM stage_transitions")
        default = page.filters()
        assert str(default.last) == latest["day"], "the default range ends with the data"
        assert default.last is not None and default.first is not None
        assert (default.last - default.first).days == 27, "four weeks"
        answered = page_matches_views(page, worker)
        assert answered["funnel"][0]["customers"] > 0 and answered["flows"]

        channel = page.options("channel")[0]  # the channel that moved most customers
        page.change(channel=channel)
        narrowed = page_matches_views(page, worker)
        assert sum(r["customers"] for r in narrowed["funnel"]) < sum(
            r["customers"] for r in answered["funnel"]
        ), "the channel filter narrows the funnel"
        driver.save_screenshot(str(screenshot))

        first = default.first.isoformat()
        segment = page.options("segment")[0]
        page.change(channel="", segment=segment, **{"from": first, "to": first})
        page_matches_views(page, worker)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return answered


def page_matches_views(
    page: JourneyMapPage, worker: WorkerProcess
) -> dict[str, list[dict[str, Any]]]:
    """Assert that each number the page shows is its view's answer for the page's
    filters; the views' rows."""
    filters = page.filters()
    views = {}
    for part in VIEWS:
        parameters = filters.parameters(part)
        views[part] = worker.query(view_sql(part, parameters), parameters)
    funnel = page.funnel()
    assert list(funnel) == [row["stage"] for row in views["funnel"]]
    for row, dropoff in zip(views["funnel"], views["dropoff"], strict=True):
        shown = funnel[row["stage"]]
        assert number(shown["customers"]) == row["customers"], (row, shown)
        assert rate_matches(shown["conversion_from_previous"], row["conversion_from_previous"])
        assert number(shown["passed"]) == dropoff["passed"], (dropoff, shown)
        assert number(shown["dropped_off"]) == dropoff["dropped_off"], (dropoff, shown)
        assert rate_matches(shown["dropoff_rate"], dropoff["dropoff_rate"]), (dropoff, shown)
    assert {pair: number(text) for pair, text in page.flows().items()} == {
        (row["source"], row["target"]): row["customers"] for row in views["flows"]
    }
    if views["flows"]:  # (an empty range draws no diagram)
        assert {stage: number(text) for stage, text in page.nodes().items()} == {
            row["stage"]: row["customers"] for row in views["funnel"]
        }
    alerts = page.alerts()
    assert list(alerts) == [row["alert_id"] for row in views["alerts"]]
    assert page.timeline() == sorted(alerts)
    for row in views["alerts"]:
        shown = alerts[row["alert_id"]]
        assert shown["fired_at"] == minute(row["fired_at"]), (row, shown)
        assert shown["resolved_at"] == (
            minute(row["resolved_at"]) if row["resolved_at"] else "still firing"
        )
        assert rate_matches(shown["observed_rate"], row["observed_rate"]), (row, shown)
        assert rate_matches(shown["baseline_rate"], row["baseline_rate"]), (row, shown)
        assert number(shown["sessions"]) == row["sessions"]
    for dimension in DIMENSIONS:
        offered = [row["value"] for row in views["options"] if row["dimension"] == dimension]
        chosen = getattr(filters, dimension)
        if chosen and chosen not in offered:  # kept, though no customer of it moved here
            offered.insert(0, chosen)
        assert page.options(dimension) == offered, dimension
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
