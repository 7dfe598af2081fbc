"""The web page in a real headless Chromium: ask a question about the sample corpus, watch the
answer stream in, see a source and open its passage."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import chromium
from tests.serve.conftest import KEY


def test_ask_on_the_page_and_open_a_source(served):
    url, _ = served
    with chromium() as browser:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 120)
        key = browser.find_element(By.ID, "key")
        assert key.is_displayed()  # the server wants a key: the page asks for one
        key.send_keys(KEY)
        browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
        wait.until(lambda b: len(Select(b.find_element(By.ID, "system")).options) >= 3)
        Select(browser.find_element(By.ID, "system")).select_by_value("docs")
        browser.find_element(By.ID, "question").send_keys(
            "How many days per week can I work remotely?")
        browser.find_element(By.ID, "send").click()
        turn = wait.until(ready.presence_of_element_located(
            (By.CSS_SELECTOR, ".turn[data-done='true']")))
        assert turn.find_element(By.CSS_SELECTOR, ".answer").text.strip()
        assert not turn.find_elements(By.CSS_SELECTOR, ".error")
        source = turn.find_element(By.CSS_SELECTOR, ".sources a.source")
        assert "Remote Work Policy" in source.text
        passage = turn.find_element(By.CSS_SELECTOR, ".sources li .passage")
        assert not passage.is_displayed()
        source.click()
        assert passage.is_displayed() and "three days per week" in passage.text
        assert "prompt" in turn.find_element(By.CSS_SELECTOR, ".meta").text  # usage shown


def test_the_page_reports_a_wrong_key(served):
    url, _ = served
    with chromium() as browser:
        browser.get(url + "/")
        WebDriverWait(browser, 30).until(
            lambda b: "API key" in b.find_element(By.ID, "log").text)
