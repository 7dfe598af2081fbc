"""report.html in a real headless Chromium: the plots and tables render with real size."""

from selenium.webdriver.common.by import By

from tests.browser import chromium
from tunewise.report.build import build_report
from tunewise.report.render import write_report


def test_report_renders_in_chromium(decision_run, tmp_path):
    run, settings = decision_run
    report = build_report(run, settings)
    html_path, _ = write_report(report, tmp_path)
    with chromium() as browser:
        browser.get(html_path.as_uri())
        assert "decision report" in browser.title
        verdict = browser.find_element(By.CSS_SELECTOR, "#recommendation .level")
        assert verdict.is_displayed() and "Level 1: RAG with an API model" in verdict.text
        for plot in ("#plot-quality", "#plot-monthly", "#plot-latency"):
            svg = browser.find_element(By.CSS_SELECTOR, f"{plot} svg")
            assert svg.is_displayed()
            assert svg.size["width"] > 400 and svg.size["height"] > 100, (plot, svg.size)
            # drawn marks, not an empty frame: lines and markers are SVG paths
            assert len(svg.find_elements(By.CSS_SELECTOR, "path")) > 10, plot
        monthly = browser.find_element(By.CSS_SELECTOR, "#plot-monthly svg").text
        assert "break-even vs" in monthly and "queries per day" in monthly
        quality_rows = browser.find_elements(By.CSS_SELECTOR, "table.quality tbody tr")
        assert len(quality_rows) >= 8
        cost_rows = browser.find_elements(By.CSS_SELECTOR, "table.costs tbody tr")
        assert len(cost_rows) == len(report.rows)
        assert all(r.is_displayed() for r in cost_rows)
        assert browser.execute_script(
            "return document.querySelectorAll('#provenance li').length") == len(report.provenance)
        assert browser.get_screenshot_as_png()[:4] == b"\x89PNG"
