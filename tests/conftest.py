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
