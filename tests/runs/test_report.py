"""`report`: one HTML file holding everything it shows (no link or image outside it), with every
section, escaped text, and a page a real browser draws."""
import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from classicnets import record
from classicnets.config import RunConfig
from classicnets.errors import UserError
from classicnets.runs.report import REPORT, build_report, write_report
from classicnets.runs.run import train_run
from classicnets.train import TrainConfig

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What a test reads from a page: the tags, every src/href, the section ids, text per section."""

    def __init__(self, text: str):
        super().__init__()
        self.tags, self.links, self.ids, self.text = [], [], [], {}
        self._section = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.links += [(tag, attrs[a]) for a in ("src", "href", "action", "data", "poster") if a in attrs]
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "section":
            self._section = attrs.get("id")
        if tag == "link" or (tag == "meta" and attrs.get("http-equiv")):
            self.links.append((tag, attrs.get("href") or attrs.get("content") or ""))

    def handle_data(self, data):
        self.text[self._section] = self.text.get(self._section, "") + data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "lenet-run"
    train_run(RunConfig(train=TrainConfig(epochs=2)), out=path, log=lambda s: None)
    config = json.loads((path / record.CONFIG).read_text())
    config["recipe"] = {"name": "lenet <b>course</b>", "from_recipe": ["lr", "batch_size"], "overridden": ["epochs"]}
    (path / record.CONFIG).write_text(json.dumps(config))
    results = json.loads((path / record.RESULTS).read_text())
    results["course"] = {"metric": "val_acc", "value": 0.99, "epochs": 12, "source": "course, chapter 3",
                         "quote": "<script>alert('the course')</script> reaches 99%"}
    (path / record.RESULTS).write_text(json.dumps(results))
    shutil.copy(path / record.CURVES, path / "confusion-test.png")  # a confusion image, as evaluate names it
    return path


def test_the_report_is_self_contained_and_has_every_section(run, cli):
    code, out, err = cli("report", run)
    assert code == 0, err
    assert out.strip() == f"Saved {run / REPORT}"
    page = Page((run / REPORT).read_text(encoding="utf-8"))
    assert {"overview", "course", "recipe", "curves", "confusion", "layers", "environment"} <= set(page.ids)
    assert page.links, "the page has images and anchors"
    for tag, link in page.links:  # nothing is fetched from anywhere: only data: URIs and anchors in the page
        assert link.startswith(("data:image/png;base64,", "#")), (tag, link[:60])
        if link.startswith("#"):
            assert link[1:] in page.ids
    images = [base64.b64decode(link.split(",", 1)[1]) for tag, link in page.links if tag == "img"]
    assert len(images) == 2 and all(img.startswith(PNG) for img in images)  # curves and the confusion matrix
    assert images[0] == (run / record.CURVES).read_bytes()
    assert "script" not in page.tags and "iframe" not in page.tags and "link" not in page.tags


def test_sections_show_the_recipe_the_course_the_layers_and_the_environment(run):
    page = Page(build_report(run))
    assert "<b>" not in page.tags and "lenet <b>course</b>" in page.text["recipe"]  # escaped, shown as written
    assert "overridden" in page.text["recipe"] and "1 overridden" in page.text["recipe"]
    results = json.loads((run / record.RESULTS).read_text())
    final_val = float((run / record.METRICS).read_text().splitlines()[-1].split(",")[4])
    course = page.text["course"]
    assert "99.00%" in course and f"{100 * final_val:.2f}%" in course
    assert f"{100 * (final_val - 0.99):+.2f} points" in course
    assert "<script>alert('the course')</script>" in course and "course, chapter 3" in course
    assert "Total params: 53,002" in page.text["layers"] and "features.0 (Conv2d)" in page.text["layers"]
    env = json.loads((run / record.CONFIG).read_text())["environment"]
    assert env["torch"] in page.text["environment"] and "classicnets.train_run" in page.text["environment"]
    assert f"{100 * results['test_acc']:.2f}%" in page.text["overview"]


def test_an_unfinished_or_damaged_run_still_gets_a_report(run, tmp_path):
    stopped = tmp_path / "stopped"
    shutil.copytree(run, stopped)
    for name in (record.RESULTS, record.WEIGHTS, record.CURVES, "confusion-test.png"):
        (stopped / name).unlink()
    page = Page(build_report(stopped))
    assert "interrupted" in page.text[None]
    assert [tag for tag, link in page.links if tag == "img"] == ["img"]  # the curves, drawn from metrics.csv
    assert "Drawn from metrics.csv (2 epochs)" in page.text["curves"]
    assert "classicnets evaluate" in page.text["confusion"]
    assert "Total params: 53,002" in page.text["layers"]  # built from model.json, no weights needed

    (stopped / record.CARD).write_text("{not json")
    (stopped / record.METRICS).write_text("nonsense")
    page = Page(write_report(stopped).read_text(encoding="utf-8"))
    assert "problems" in page.ids and "model.json is not readable JSON" in page.text[None]
    assert "No layer table" in page.text["layers"] and "No curves" in page.text["curves"]


def test_a_directory_that_is_not_a_run_is_refused(tmp_path, cli):
    with pytest.raises(UserError, match="not a run directory"):
        build_report(tmp_path)
    code, _, err = cli("report", tmp_path / "missing")
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def test_a_headless_browser_draws_the_page(run, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:  # .ci/run installs Debian's chromium where apt-get works
        pytest.skip(f"no headless browser to render report.html: none of {', '.join(BROWSERS)} is on PATH "
                    f"(Debian: apt-get install chromium)")
    from PIL import Image, ImageStat

    page = write_report(run)
    shot = tmp_path / "shot.png"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,2000",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), f"{browser} wrote no screenshot (status {proc.returncode}): {proc.stderr[-2000:]}"
    with Image.open(shot) as img:
        gray = img.convert("L")
        assert img.size == (1200, 2000)
        assert ImageStat.Stat(gray).stddev[0] > 10  # not one flat colour: text, tables and figures drawn
        dark = sum(gray.histogram()[:128])
        assert dark > 0.005 * 1200 * 2000  # enough dark pixels to be text and lines
