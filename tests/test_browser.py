"""The built book opened in headless Chromium, page by page.

The book is served from a temporary copy of _build/html on 127.0.0.1. The
published pages load MathJax from a CDN; this copy points them at the npm
`mathjax` package that `make setup` installs, so the test needs no network.
Every other host is made unresolvable, so a page that depends on one fails.
Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
MATHJAX = ROOT / ".venv" / "npm" / "node_modules" / "mathjax" / "es5"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")


def _requirements_missing() -> str | None:
    if not (HTML / "index.html").exists():
        return "the book is not built (make test builds it first)"
    for path in (CHROMIUM, CHROMEDRIVER, MATHJAX / "tex-mml-chtml.js"):
        if not Path(path).exists():
            return f"{path} is missing (make setup installs it)"
    return None


MISSING = _requirements_missing()
if MISSING and os.environ.get("CI"):
    raise RuntimeError(f"the browser test cannot run in CI: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


CDN_MATHJAX = re.compile(r'src="https://[^"]*mathjax[^"]*/(tex-[a-z-]+\.js)"')


def make_offline_copy(source: Path, target: Path) -> None:
    """Copy the site and point its MathJax script at a local copy."""
    shutil.copytree(source, target)
    shutil.copytree(MATHJAX, target / "_static" / "mathjax")
    for page in target.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        depth = len(page.relative_to(target).parts) - 1
        local = "../" * depth + "_static/mathjax/"
        new = CDN_MATHJAX.sub(lambda m: f'src="{local}{m.group(1)}"', text)
        if new != text:
            page.write_text(new, encoding="utf-8")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site") / "html"
    make_offline_copy(HTML, root)
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--window-size=1280,1600",
        # every host but ours fails at once, so a page that needs one shows
        # a console error instead of hanging
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Visible text outside code, math and scripts, as the reader sees it.
VISIBLE_TEXT_JS = """
const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'MJX-CONTAINER',
                      'MJX-ASSISTIVE-MML', 'NOSCRIPT', 'TEXTAREA']);
const parts = [];
const walk = (node) => {
  if (node.nodeType === Node.TEXT_NODE) { parts.push(node.textContent); return; }
  if (node.nodeType !== Node.ELEMENT_NODE || skip.has(node.tagName)) return;
  if (node.classList.contains('highlight')) return;
  for (const child of node.childNodes) walk(child);
};
walk(document.querySelector('main') || document.body);
return parts.join('');
"""

WAIT_FOR_MATHJAX_JS = """
const done = arguments[arguments.length - 1];
if (!window.MathJax || !MathJax.startup) { done('no MathJax'); return; }
MathJax.startup.promise.then(() => done('ok'), (e) => done('error: ' + e));
"""

IMAGES_JS = """
return Array.from(document.images).map(
    img => [img.getAttribute('src'), img.complete, img.naturalWidth]);
"""


def check_page(driver, url: str, screenshot: Path | None = None) -> list[str]:
    """Open one page and return its problems (an empty list if none)."""
    driver.get_log("browser")  # drop messages of earlier pages
    driver.get(url)
    problems = []
    has_math = bool(driver.find_elements("css selector", ".math"))
    if has_math:
        state = driver.execute_async_script(WAIT_FOR_MATHJAX_JS)
        if state != "ok":
            problems.append(f"MathJax did not typeset: {state}")
        if not driver.find_elements("css selector", "mjx-container"):
            problems.append("math on the page but nothing typeset by MathJax")
    text = driver.execute_script(VISIBLE_TEXT_JS)
    # After MathJax has run, a dollar sign or a TeX command left in the text
    # is math the reader sees raw (e.g. inline math with dollarmath off).
    raw = re.search(r"\$|\\[A-Za-z]+", text)
    if raw:
        where = raw.start()
        problems.append(f"raw LaTeX visible: {text[max(0, where - 40):where + 40]!r}")
    for src, complete, width in driver.execute_script(IMAGES_JS):
        if not complete or width == 0:
            problems.append(f"image does not load: {src}")
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"console error: {entry['message']}")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
    return problems


@pytest.mark.parametrize("name", toc_pages())
def test_page_renders_in_a_real_browser(site, browser, name):
    _, base = site
    shot = SCREENSHOTS / f"{name.replace('/', '_')}.png"
    assert check_page(browser, f"{base}/{name}.html", shot) == []


def test_navigation_reaches_every_chapter(site, browser):
    _, base = site
    browser.get(f"{base}/index.html")
    links = browser.find_elements("css selector", "nav a.reference.internal")
    reached = {link.get_attribute("href").split("#")[0] for link in links}
    for name in toc_pages()[1:]:
        assert f"{base}/{name}.html" in reached, f"no navigation link to {name}"


def test_the_checker_catches_broken_math_and_images(site, browser):
    """Point the checker at a deliberately broken page: it must complain."""
    root, base = site
    good = (root / "book" / "notation.html").read_text(encoding="utf-8")
    heading_end = good.index("</h1>") + len("</h1>")
    broken = (
        good[:heading_end]
        + '<p>Raw: $\\frac{1}{2}$</p><img src="missing.png" alt="x">'
        + good[heading_end:]
    )
    (root / "book" / "broken.html").write_text(broken, encoding="utf-8")
    problems = check_page(browser, f"{base}/book/broken.html")
    assert any("raw LaTeX" in p for p in problems), problems
    assert any("missing.png" in p for p in problems), problems


@pytest.mark.parametrize("name", ["book/lsgan_mnist", "book/mixture_of_gaussians"])
def test_animations_play(site, browser, name):
    """The training animations are on their pages and advance when played."""
    _, base = site
    browser.get(f"{base}/{name}.html")
    players = browser.find_elements("css selector", "div.animation")
    assert players, f"no animation on {name}"
    frame = players[0].find_element("css selector", "img")
    first = frame.get_attribute("src")
    assert browser.execute_script("return arguments[0].naturalWidth", frame) > 0
    players[0].find_element("css selector", "button[title='Next frame']").click()
    assert frame.get_attribute("src") != first, "the animation did not advance"
