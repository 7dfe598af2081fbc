"""The web page in a real headless Chromium: ask a question about the sample corpus, watch the
answer stream in, see a source and open its passage."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser import chromium
from tests.serve.conftest import KEY


def _ask(browser, url: str, question: str):
    """Open the page, give the key, ask `question` of `docs`; (the wait, the finished turn)."""
    browser.get(url + "/")
    wait = WebDriverWait(browser, 120)
    key = browser.find_element(By.ID, "key")
    assert key.is_displayed()  # the server wants a key: the page asks for one
    key.send_keys(KEY)
    browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
    wait.until(lambda b: len(Select(b.find_element(By.ID, "system")).options) >= 3)
    Select(browser.find_element(By.ID, "system")).select_by_value("docs")
    browser.find_element(By.ID, "question").send_keys(question)
    browser.find_element(By.ID, "send").click()
    return wait, wait.until(ready.presence_of_element_located(
        (By.CSS_SELECTOR, ".turn[data-done='true']")))


def test_ask_on_the_page_and_open_a_source(served):
    url, _ = served
    with chromium() as browser:
        _, turn = _ask(browser, url, "How many days per week can I work remotely?")
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


def test_manage_documents_and_read_a_report_on_the_page(served, tmp_path):
    """Upload several files at once (one refused, with its reason; one already there), see the
    collection's documents with their chunk counts, delete one, and open a decision report."""
    url, _ = served
    good = tmp_path / "bike-policy.txt"
    good.write_text("Kestrel employees may lease one e-bike through the company every three years.")
    broken = tmp_path / "scan.pdf"
    broken.write_bytes(b"%PDF-1.7 this is not a PDF")
    with chromium() as browser:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 120)
        browser.find_element(By.ID, "key").send_keys(KEY)
        browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
        browser.find_element(By.CSS_SELECTOR, "#library summary").click()
        browser.find_element(By.ID, "files").send_keys(f"{good}\n{broken}")
        finished = "#uploads li.done, #uploads li.refused"
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, finished)) == 2)
        results = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#uploads li")]
        assert any(r.startswith("bike-policy.txt: ingested, 1 chunks") for r in results)
        assert any(r.startswith("scan.pdf: refused:") and "PDF" in r for r in results)
        browser.find_element(By.ID, "files").send_keys(str(good))
        wait.until(lambda b: any("unchanged" in li.text for li in
                                 b.find_elements(By.CSS_SELECTOR, "#uploads li")))
        # the table is redrawn after each upload and delete: read it, and click, in one step
        rows = wait.until(lambda b: [r for r in b.execute_script(
            "return [...document.querySelectorAll('#documents tbody tr')]"
            ".map(r => [...r.children].map(c => c.textContent))") if r[0] == "bike-policy.txt"])
        assert rows[0][1] == "1"  # its chunks; shown by name, no server path
        browser.execute_script(
            "[...document.querySelectorAll('#documents tbody tr')]"
            ".find(r => r.children[0].textContent === 'bike-policy.txt')"
            ".querySelector('button.delete').click()")
        wait.until(lambda b: "bike-policy.txt" not in b.find_element(By.ID, "documents").text)
        wait.until(lambda b: b.find_element(By.ID, "reports").text == "pilot")
        browser.execute_script("document.querySelector('#reports button').click()")
        frame = browser.find_element(By.ID, "report")
        wait.until(lambda b: frame.is_displayed())
        browser.switch_to.frame(frame)
        assert "Recommended: level 1" in browser.find_element(By.TAG_NAME, "h1").text


def test_a_cited_pdf_page_opens_from_the_answer(served, tmp_path):
    """Upload a PDF whose second page holds the answer; ask on the page; the source's "open"
    link fetches the original with the key and opens it at #page=2 (the PDF viewer's anchor)."""
    import requests

    from tests.hostile_files import OSPREY, pdf_of

    url, _ = served
    up = requests.post(url + "/v1/documents", headers={"Authorization": f"Bearer {KEY}"},
                       files={"file": ("osprey.pdf", pdf_of(OSPREY), "application/pdf")})
    assert up.status_code == 201, up.text
    with chromium() as browser:
        wait, turn = _ask(browser, url, "What is the Osprey boiler service code for a blocked flue?")
        cited = [li for li in turn.find_elements(By.CSS_SELECTOR, ".sources li")
                 if "osprey" in li.text and "page 2" in li.text]
        assert cited, turn.text
        opened = cited[0].find_element(By.CSS_SELECTOR, "a.open-file")
        assert opened.get_attribute("href").endswith(f"/v1/documents/{up.json()['id']}/file#page=2")
        before = set(browser.window_handles)
        opened.click()
        wait.until(lambda b: len(b.window_handles) > len(before))
        browser.switch_to.window((set(browser.window_handles) - before).pop())
        assert browser.current_url.startswith("blob:") and browser.current_url.endswith("#page=2")
    requests.delete(f"{url}/v1/documents/{up.json()['id']}", headers={"Authorization": f"Bearer {KEY}"})


def test_the_page_keeps_the_key_for_its_tab_only_and_runs_no_inline_script(served):
    """The key lives in sessionStorage (never localStorage, where a later page of the origin
    could read it), and the page's Content-Security-Policy stops an injected inline script."""
    import requests

    url, _ = served
    page = requests.get(url + "/", timeout=30)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    with chromium() as browser:
        browser.get(url + "/")
        browser.execute_script("localStorage.setItem('tunewise.key', 'left by an old version')")
        browser.get(url + "/")
        key = browser.find_element(By.ID, "key")
        key.send_keys(KEY)
        browser.execute_script("document.getElementById('key').dispatchEvent(new Event('change'))")
        WebDriverWait(browser, 60).until(
            lambda b: len(Select(b.find_element(By.ID, "system")).options) >= 3)
        assert browser.execute_script("return localStorage.getItem('tunewise.key')") is None
        assert browser.execute_script("return sessionStorage.getItem('tunewise.key')") == KEY
        browser.execute_script(
            "const s = document.createElement('div');"
            "s.innerHTML = '<img src=x onerror=\"document.title=`owned`\">';"
            "document.body.appendChild(s);")
        WebDriverWait(browser, 5).until(
            lambda b: b.execute_script("return document.images.length") > 0)
        assert browser.title != "owned"  # the inline handler did not run
