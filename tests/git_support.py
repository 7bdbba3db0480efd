"""Real Git repositories for tests: a working copy that pushes to a bare repository, served over file:// or HTTP."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from textwrap import dedent

HELLO = '''
from jobruntime import Job
from .helpers import GREETING

name = "Git jobs"


class Hello(Job):
    class Meta:
        name = "Hello"
        has_sensitive_variables = False

    def run(self, data, commit):
        self.log_success(message=GREETING)
        return GREETING
'''


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout.strip()


class Repository:
    """A working copy whose ``push()`` commits everything and updates the bare repository at ``bare``."""

    def __init__(self, root: Path, name: str = "team") -> None:
        self.work = root / f"{name}-work"
        self.bare = root / f"{name}.git"
        self.work.mkdir(parents=True)
        git(self.work, "init", "-q", "-b", "main")
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def write(self, path: str, text: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dedent(text))

    def remove(self, path: str) -> None:
        git(self.work, "rm", "-q", path)

    def push(self, message: str = "change") -> str:
        """Commit everything and push ``main``; returns the new commit."""
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        git(self.work, "push", "-q", str(self.bare), "main")
        return git(self.work, "rev-parse", "HEAD")


def hello_repository(root: Path, greeting: str = "hello v1", name: str = "team") -> Repository:
    """A repository whose ``jobs/hello.py`` imports its greeting from the sibling ``jobs/helpers.py``."""
    repository = Repository(root, name)
    repository.write("jobs/__init__.py", "")
    repository.write("jobs/hello.py", HELLO)
    repository.write("jobs/helpers.py", f"GREETING = {greeting!r}\n")
    repository.push("first")
    return repository


@contextmanager
def http_git_server(project_root: Path, token: str) -> Iterator[str]:
    """``git http-backend`` behind a local HTTP server that answers 401 unless given ``token`` (Basic auth).

    Yields the base URL; a repository ``<project_root>/x.git`` is at ``<url>/x.git``.
    """
    expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {
                "GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
                "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_ADDR": "127.0.0.1",
                "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            output = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, payload = output.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode().split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
