"""Checks of the project's files: environment, book configuration, notebooks."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


def requirement_lines():
    text = (ROOT / "requirements.txt").read_text().splitlines()
    return sorted(line.strip() for line in text if line.strip() and line[0] != "#")


def test_environment_yml_lists_the_pip_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip_section) == requirement_lines()
    assert all("==" in line for line in requirement_lines())


def test_myst_keeps_dollarmath_next_to_amsmath():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    extensions = config["parse"]["myst_enable_extensions"]
    assert "amsmath" in extensions and "dollarmath" in extensions
    assert config["execute"]["execute_notebooks"] == "off"


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_toc_entry_exists_and_every_notebook_is_in_the_toc():
    files = toc_files()
    for name in files:
        matches = [ROOT / f"{name}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(p.exists() for p in matches), f"{name} in _toc.yml has no file"
    listed = {str((ROOT / f).with_suffix(".ipynb")) for f in files}
    for notebook in NOTEBOOKS:
        assert str(notebook) in listed, f"{notebook.name} is not in _toc.yml"


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_carries_the_outputs_of_a_clean_run(path):
    """nbval checks nothing in a cell without stored outputs: every code cell
    must have run, in order, without errors, and figures must be stored."""
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, f"{path.name}: a code cell has not been run"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: cells run out of order"
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} stores no figure"
    for cell in code:
        source = "".join(cell["source"])
        if "fig" in source and "= plot" in source:
            kinds = {k for o in cell["outputs"] for k in o.get("data", {})}
            assert "image/png" in kinds, f"{path.name}: a figure cell has no image"
        for output in cell["outputs"]:
            if output["output_type"] != "execute_result":
                continue  # a shown figure stores "<Figure size ...>" beside its PNG
            text = "".join(output.get("data", {}).get("text/plain", ""))
            assert "matplotlib" not in text and "<Figure size" not in text, (
                f"{path.name}: a cell returns a matplotlib object, whose text "
                "differs from run to run"
            )


def setup_cell_source():
    import lsgan_lib

    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return (
        "# Setup: on Colab this installs the course library; elsewhere it is a no-op.\n"
        "import importlib.util, subprocess, sys\n"
        f'REPO = "{url}"\n'
        'if importlib.util.find_spec("lsgan_lib") is None:\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q",\n'
        f'                    f"lsgan_lib @ git+{{REPO}}@v{lsgan_lib.__version__}"],\n'
        "                   check=True)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_the_pinned_library_non_editably(path):
    """Same setup cell everywhere: a pinned, non-editable install from the
    repository at the tag of the library's version, only when it is missing
    (an editable or unpinned install needs a runtime restart on Colab or
    silently imports an older version)."""
    nb = json.loads(path.read_text())
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "".join(first["source"]) == setup_cell_source()


def test_every_citation_is_in_the_one_bibliography():
    """A {cite} key missing from references.bib, or a second bibliography
    directive, breaks the -W build; this names the culprit directly."""
    import re

    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,\s]+),", bib))
    sources = {p: p.read_text() for p in (ROOT / "book").rglob("*")
                if p.suffix in (".md", ".ipynb") and ".ipynb_checkpoints" not in p.parts}
    cited = set()
    for path, text in sources.items():
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in keys, f"{path.name} cites unknown {key.strip()!r}"
                cited.add(key.strip())
    directives = [p.name for p, text in sources.items() if "{bibliography}" in text]
    assert directives == ["bibliography.md"]
    assert cited, "no citations found: the pattern is wrong"
