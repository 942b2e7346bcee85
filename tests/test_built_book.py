"""Checks of the built HTML book in _build/html (`make test` builds it first)."""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"

pytestmark = pytest.mark.skipif(
    not (HTML / "index.html").exists(),
    reason="the book is not built; `make test` builds it before the tests",
)


def toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc["parts"]:
        pages += [c["file"] for c in part["chapters"]]
    return pages


class Page(HTMLParser):
    """Collects links, images and the visible text outside math and code."""

    SKIP = {"script", "style", "pre", "code", "mjx-container"}

    def __init__(self):
        super().__init__()
        self.links, self.images, self.text = [], [], []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        classes = (attrs.get("class") or "").split()
        skip = tag in self.SKIP or "math" in classes or "highlight" in classes
        if tag not in ("img", "br", "meta", "link", "input", "hr"):
            self.stack.append(skip)

    def handle_endtag(self, tag):
        if tag not in ("img", "br", "meta", "link", "input", "hr") and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not any(self.stack):
            self.text.append(data)


def parse(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


@pytest.mark.parametrize("name", toc_pages())
def test_every_chapter_is_built(name):
    assert (HTML / f"{name}.html").exists()


@pytest.mark.parametrize("name", toc_pages())
def test_no_broken_internal_links_or_images(name):
    path = HTML / f"{name}.html"
    page = parse(path)
    for ref in page.links + page.images:
        url = urlparse(ref)
        if url.scheme or url.netloc or not url.path:
            continue
        target = (path.parent / unquote(url.path)).resolve()
        assert target.exists(), f"{name}.html links to missing {ref}"


@pytest.mark.parametrize("name", toc_pages())
def test_no_raw_latex_outside_math(name):
    text = "".join(parse(HTML / f"{name}.html").text)
    assert "$$" not in text and "\\begin{" not in text and "\\frac" not in text
    assert "$" not in text, f"{name}: a dollar sign outside math: {text[text.find('$')-60:text.find('$')+60]!r}"


def test_mnist_chapter_shows_its_figures():
    page = parse(HTML / "book" / "lsgan_mnist.html")
    figures = [src for src in page.images if "_images/" in src]
    assert len(figures) >= 5, figures


def notebook_pages():
    return [p for p in toc_pages() if (ROOT / f"{p}.ipynb").exists()]


@pytest.mark.parametrize("name", notebook_pages())
def test_launch_and_download_buttons_point_at_real_files(name):
    """A Colab link whose path or branch is wrong opens 'notebook not found'."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]
    prefix = (
        "https://colab.research.google.com/github/"
        + urlparse(repo["url"]).path.strip("/")
        + f"/blob/{repo['branch']}/"
    )
    html = (HTML / f"{name}.html").read_text(encoding="utf-8")
    colab = [link for link in parse(HTML / f"{name}.html").links
             if link.startswith("https://colab.research.google.com/")]
    assert colab, f"{name} has no Colab button"
    for link in colab:
        assert link.startswith(prefix), link
        assert (ROOT / link[len(prefix):]).is_file(), f"{link} names no file"
    assert f"_sources/{name}.ipynb" in html, f"{name} has no .ipynb download"
    assert (HTML / "_sources" / f"{name}.ipynb").is_file()
