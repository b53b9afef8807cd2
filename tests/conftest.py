import http.server
import threading

import pytest

from classicnets.data import load_dataset


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""
    from classicnets.cli import run_cli

    def run(*args):
        code = run_cli([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


# A local HTTP server on 127.0.0.1 for download tests, serving files written by each test.
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # /broken/NAME: promise the whole file, send half, hang up
        if self.path.startswith("/broken/"):
            data = (self.server.root / self.path.removeprefix("/broken/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def translate_path(self, path):
        return str(self.server.root / path.lstrip("/"))

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    monkeypatch.setenv("CLASSICNETS_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("CLASSICNETS_OFFLINE", raising=False)
    monkeypatch.delenv("CLASSICNETS_MIRROR", raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.root = root
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
